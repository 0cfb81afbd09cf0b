package io.eventpipe.migrator;

import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.jobsdb.PartitionMover;
import io.eventpipe.jobsdb.PgConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * The nodes' own databases, opened on demand: the migrator works on them directly, so a node that is down (or whose pod
 * is gone while its volume remains) can still be fenced and drained.
 */
public final class NodeDatabases implements AutoCloseable {

  /** One node's database: its partition record and its two queues. */
  public record Node(int ordinal, PgConfig pg, Pool pool, NodePartitions partitions, PartitionMover gw, PartitionMover rt) {
    List<PartitionMover> queues() {
      return List.of(gw, rt);
    }
  }

  private final Vertx vertx;
  private final IntFunction<PgConfig> locate;
  private final boolean allowNonDurable;
  private final Map<Integer, Future<Node>> open = new HashMap<>();

  /**
   * Node databases that must commit durably (the migrator writes jobs into them: a copy acknowledged by a
   * non-durable target could vanish after its source deleted it).
   *
   * @param locate node ordinal &rarr; its database (for example from a URL template with {@code {node}})
   */
  public NodeDatabases(Vertx vertx, IntFunction<PgConfig> locate) {
    this(vertx, locate, false);
  }

  /**
   * @param locate          node ordinal &rarr; its database
   * @param allowNonDurable open databases that do not commit durably too (tests on a throwaway server only)
   */
  public NodeDatabases(Vertx vertx, IntFunction<PgConfig> locate, boolean allowNonDurable) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.locate = Objects.requireNonNull(locate, "locate");
    this.allowNonDurable = allowNonDurable;
  }

  /** A URL template: {@code {node}} is replaced by the ordinal. */
  public static IntFunction<PgConfig> template(String urlTemplate) {
    if (!urlTemplate.contains("{node}")) {
      throw new IllegalArgumentException("the node database URL template must contain {node} (replaced by the node ordinal),"
          + " for example postgresql://user:pw@eventpipe-node-{node}-pg:5432/eventpipe; got " + PgConfig.parse(urlTemplate).redacted());
    }
    PgConfig.parse(urlTemplate.replace("{node}", "0")); // fail fast on a malformed URL
    return k -> PgConfig.parse(urlTemplate.replace("{node}", Integer.toString(k)));
  }

  /** Node {@code k}'s database, opened (and its schemas migrated) on first use. */
  public synchronized Future<Node> node(int k) {
    Future<Node> f = open.get(k);
    if (f == null || f.failed()) {
      PgConfig pg = locate.apply(k);
      Pool pool = pg.createPool(vertx, 4);
      f = Durability.read(pool)
          .map(d -> allowNonDurable ? d : d.requireDurable(pg.redacted(), "Fix the server; only for a test on a throwaway"
              + " server, run the migrator with --allow-non-durable-database"))
          .compose(d -> {
            // the three schemas are independent: their Flyway runs (about a second each here) go concurrently
            Future<NodePartitions> parts = NodePartitions.open(vertx, pg, pool);
            Future<PartitionMover> gw = PartitionMover.open(vertx, pg, pool, JobsDbOptions.defaults("gw"));
            Future<PartitionMover> rt = PartitionMover.open(vertx, pg, pool,
                JobsDbOptions.defaults("rt").withDedupWindow(java.time.Duration.ZERO));
            return Future.all(parts, gw, rt).map(x -> new Node(k, pg, pool, parts.result(), gw.result(), rt.result()));
          })
          .recover(e -> {
            pool.close();
            return Future.failedFuture(new MigrationException("cannot open node " + k + "'s database " + pg.redacted() + ": "
                + e.getMessage(), e));
          });
      open.put(k, f);
    }
    return f;
  }

  /** Opens the databases of {@code nodes} concurrently (the first open of each migrates its schemas). */
  public Future<Void> open(java.util.Collection<Integer> nodes) {
    List<Future<Node>> all = new ArrayList<>();
    for (int k : nodes) {
      all.add(node(k));
    }
    return Future.all(all).mapEmpty();
  }

  @Override
  public synchronized void close() {
    List<Future<Node>> all = new ArrayList<>(open.values());
    open.clear();
    for (Future<Node> f : all) {
      f.onSuccess(n -> n.pool().close());
    }
  }
}
