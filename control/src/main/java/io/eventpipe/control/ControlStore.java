package io.eventpipe.control;

import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.flywaydb.core.Flyway;

/**
 * The control store: the cluster's topology history (epoch, partition count, partition → node map) and the
 * nodes' internal addresses, in PostgreSQL. Every change is a new epoch and a {@code NOTIFY topology}, which
 * {@link TopologyWatcher}s follow.
 */
public final class ControlStore implements AutoCloseable {

  /** The LISTEN/NOTIFY channel of topology changes. */
  public static final String CHANNEL = "topology";
  /** The address of a node that has not registered yet; requests to it fail like requests to a down node. */
  public static final String UNREGISTERED = "unregistered:0";

  private final PgConfig pg;
  private final Pool pool;

  private ControlStore(PgConfig pg, Pool pool) {
    this.pg = pg;
    this.pool = pool;
  }

  /** Connects and migrates the schema (Flyway, on a worker thread). */
  public static Future<ControlStore> open(Vertx vertx, PgConfig pg) {
    return vertx.executeBlocking(() -> {
      Flyway.configure().dataSource(pg.jdbcUrl(), pg.user(), pg.password())
          .schemas("control").defaultSchema("control").locations("classpath:db/control").load().migrate();
      return new ControlStore(pg, pg.createPool(vertx, 4));
    }, false);
  }

  public PgConfig config() {
    return pg;
  }

  /** The current topology, or empty when the cluster was never initialized. */
  public Future<Optional<Topology>> current() {
    return pool.withConnection(conn -> currentIn(conn));
  }

  private static Future<Optional<Topology>> currentIn(SqlConnection conn) {
    return conn.query("SELECT epoch, owners FROM control.topology ORDER BY epoch DESC LIMIT 1").execute()
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.succeededFuture(Optional.empty());
          }
          Row r = rows.iterator().next();
          long epoch = r.getLong(0);
          Integer[] boxed = r.getArrayOfIntegers(1);
          int[] owners = new int[boxed.length];
          for (int i = 0; i < boxed.length; i++) {
            owners[i] = boxed[i];
          }
          return conn.query("SELECT node_id, address FROM control.nodes").execute().map(nodes -> {
            Map<Integer, String> addresses = new HashMap<>();
            for (Row n : nodes) {
              addresses.put(n.getInteger(0), n.getString(1));
            }
            for (int owner : owners) {
              addresses.putIfAbsent(owner, UNREGISTERED);
            }
            return Optional.of(Topology.of(epoch, owners, addresses));
          });
        });
  }

  /**
   * Creates epoch 1 with the balanced assignment of {@code partitions} over {@code nodeCount} nodes, unless a
   * topology exists already; then returns it, after checking that its partition count is the same (the
   * partition count is fixed at creation).
   */
  public Future<Topology> initialize(int partitions, int nodeCount) {
    Assignment assignment = Assignment.compute(partitions, nodeCount);
    return pool.withTransaction(conn -> conn.query("LOCK TABLE control.topology IN EXCLUSIVE MODE").execute()
        .compose(v -> currentIn(conn))
        .compose(existing -> {
          if (existing.isPresent()) {
            if (existing.get().partitionCount() != partitions) {
              throw new IllegalStateException("the cluster was created with " + existing.get().partitionCount()
                  + " partitions; the partition count cannot change (asked for " + partitions + ")");
            }
            return Future.succeededFuture(existing.get());
          }
          return insertEpoch(conn, 1, assignment.owners(), nodeCount, null).compose(v -> currentIn(conn)).map(Optional::get);
        }));
  }

  /** Publishes a new epoch with the given map (used by migrations). */
  public Future<Topology> publish(int[] owners, int nodeCount, String migration) {
    return pool.withTransaction(conn -> conn.query("LOCK TABLE control.topology IN EXCLUSIVE MODE").execute()
        .compose(v -> conn.query("SELECT coalesce(max(epoch), 0) FROM control.topology").execute())
        .compose(rows -> insertEpoch(conn, rows.iterator().next().getLong(0) + 1, owners, nodeCount, migration))
        .compose(v -> currentIn(conn)).map(Optional::get));
  }

  private static Future<Void> insertEpoch(SqlConnection conn, long epoch, int[] owners, int nodeCount, String migration) {
    Integer[] boxed = new Integer[owners.length];
    for (int i = 0; i < owners.length; i++) {
      boxed[i] = owners[i];
    }
    return conn.preparedQuery("INSERT INTO control.topology (epoch, partition_count, owners, node_count, migration)"
            + " VALUES ($1, $2, $3, $4, $5)")
        .execute(Tuple.of(epoch, owners.length, boxed, nodeCount, migration))
        .compose(v -> conn.query("NOTIFY " + CHANNEL + ", '" + epoch + "'").execute())
        .mapEmpty();
  }

  /** Records where a node listens for internal traffic, and tells the watchers. */
  public Future<Void> registerNode(int nodeId, String address) {
    return pool.withTransaction(conn -> conn.preparedQuery("INSERT INTO control.nodes (node_id, address) VALUES ($1, $2)"
            + " ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address, updated_at = now()")
        .execute(Tuple.of(nodeId, address))
        .compose(v -> conn.query("NOTIFY " + CHANNEL + ", 'nodes'").execute())
        .mapEmpty());
  }

  @Override
  public void close() {
    pool.close();
  }

  public Future<Void> closeAsync() {
    return pool.close();
  }
}
