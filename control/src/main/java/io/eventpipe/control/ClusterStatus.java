package io.eventpipe.control;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicReference;

/**
 * What an operator asks of the cluster as a whole, from the control store: the epoch and node count, the migration in
 * progress and how far it got, and the partitions whose owner is down (unavailable: their users get 503 until the node
 * is back or a migration drains it). The same view feeds {@code pipeline status}, the admin API and metrics.
 */
public final class ClusterStatus {

  /** A node is down when it has not renewed its heartbeat for this long. */
  public static final Duration LIVENESS = Duration.ofSeconds(15);

  /** One reading. */
  public record Snapshot(long epoch, int nodeCount, Optional<Migration> migration, Set<Integer> downNodes,
      int unavailablePartitions) {

    public JsonObject toJson() {
      JsonObject json = new JsonObject().put("epoch", epoch).put("nodes", nodeCount)
          .put("downNodes", new JsonArray(downNodes.stream().toList()))
          .put("unavailablePartitions", unavailablePartitions);
      json.put("migration", migration.map(ClusterStatus::migrationJson).orElse(null));
      return json;
    }
  }

  private ClusterStatus() {}

  /** The migration's progress as JSON (also used for finished ones). */
  public static JsonObject migrationJson(Migration m) {
    long copied = m.moves().stream().filter(Migration.Move::copied).count();
    return new JsonObject().put("id", m.id()).put("fromNodes", m.fromNodes()).put("toNodes", m.toNodes())
        .put("step", m.step().name().toLowerCase(java.util.Locale.ROOT)).put("partitions", m.moves().size())
        .put("partitionsCopied", copied).put("jobsMoved", m.jobsMoved())
        .put("startedAt", String.valueOf(m.startedAt())).put("updatedAt", String.valueOf(m.updatedAt()))
        .put("abortRequested", m.abortRequested()).put("error", m.error());
  }

  /** Reads the cluster's status. */
  public static Future<Snapshot> read(ControlStore store) {
    return store.current().compose(topology -> store.nodeCount().compose(count -> store.activeMigration()
        .compose(migration -> store.nodes().map(nodes -> {
          if (topology.isEmpty()) {
            return new Snapshot(0, 0, migration, Set.of(), 0);
          }
          Instant now = nodes.getKey();
          Set<Integer> live = new HashSet<>();
          for (NodeInfo n : nodes.getValue()) {
            if (n.live(now, LIVENESS)) {
              live.add(n.nodeId());
            }
          }
          Set<Integer> down = new TreeSet<>();
          int unavailable = 0;
          for (int owner : topology.get().owners()) {
            if (!live.contains(owner)) {
              down.add(owner);
              unavailable++;
            }
          }
          return new Snapshot(topology.get().epoch(), count, migration, down, unavailable);
        }))));
  }

  /**
   * Registers gauges refreshed every {@code every}: {@code cluster_unavailable_partitions} (owned by a node that is down:
   * stranded until it is back or migrated away), {@code migration_active}, {@code migration_partitions},
   * {@code migration_partitions_copied}, {@code migration_jobs_moved}, {@code migration_step} (0 planned .. 7 finished).
   * Returns the periodic timer's id.
   */
  public static long gauges(Vertx vertx, ControlStore store, MeterRegistry registry, Duration every) {
    AtomicReference<Snapshot> last = new AtomicReference<>();
    Gauge.builder("cluster.unavailable.partitions", last, r -> r.get() == null ? 0 : r.get().unavailablePartitions())
        .description("Partitions whose owner is down: stranded until the node is back or a migration drains it")
        .register(registry);
    Gauge.builder("migration.active", last, r -> r.get() != null && r.get().migration().isPresent() ? 1 : 0)
        .description("Whether a migration (a change of the node count) is in progress").register(registry);
    Gauge.builder("migration.partitions", last, r -> migration(r).map(m -> m.moves().size()).orElse(0))
        .description("Partitions the migration in progress moves").register(registry);
    Gauge.builder("migration.partitions.copied", last,
            r -> migration(r).map(m -> m.moves().stream().filter(Migration.Move::copied).count()).orElse(0L))
        .description("Partitions whose copy is complete").register(registry);
    Gauge.builder("migration.jobs.moved", last, r -> migration(r).map(Migration::jobsMoved).orElse(0L))
        .description("Jobs copied by the migration in progress").register(registry);
    Gauge.builder("migration.step", last, r -> migration(r).map(m -> m.step().ordinal()).orElse(-1))
        .description("Last completed step of the migration in progress (0 planned .. 7 finished), -1 for none").register(registry);
    Runnable refresh = () -> read(store).onSuccess(last::set);
    refresh.run();
    return vertx.setPeriodic(every.toMillis(), t -> refresh.run());
  }

  private static Optional<Migration> migration(AtomicReference<Snapshot> r) {
    Snapshot s = r.get();
    return s == null ? Optional.empty() : s.migration();
  }
}
