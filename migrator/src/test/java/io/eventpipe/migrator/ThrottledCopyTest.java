package io.eventpipe.migrator;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Assignment;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A real resize (one node's database to two, real PostgreSQL, the migrator's own copy) under an ingest latency the test
 * controls: the dedup copy in prepare and the job copy both slow to the floor while "ingest" suffers, speed up when it
 * recovers, and the migration still finishes with every job and dedup entry moved.
 */
class ThrottledCopyTest {

  private static final int PARTITIONS = 64;
  private static final int JOBS = 20_000;
  private static final double FLOOR = 2000;
  private static final Duration WAIT = Duration.ofMinutes(3);

  private final PgServer server = PgServer.get();
  private final List<PgDatabase> databases = new ArrayList<>();
  private Vertx vertx;

  @BeforeEach
  void setUp() {
    vertx = Vertx.vertx();
  }

  @AfterEach
  void tearDown() {
    await(vertx.close());
    databases.forEach(server::dropDatabase);
  }

  private PgConfig database(String prefix) {
    PgDatabase db = server.createDatabase(prefix);
    databases.add(db);
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  /** Ingest latency as the test says: 10 ms steady on both nodes, 40 ms on the target while {@code overloaded}. */
  private static final class Latency implements IngestLatency {
    final AtomicBoolean overloaded = new AtomicBoolean();
    final AtomicInteger reads = new AtomicInteger();

    @Override
    public Future<Map<Integer, Double>> p99Millis(java.util.Collection<Integer> nodes) {
      reads.incrementAndGet();
      return Future.succeededFuture(Map.of(0, 10.0, 1, overloaded.get() ? 40.0 : 10.0));
    }
  }

  @Test
  void theCopyAndTheDedupCopySlowWhileIngestSuffersAndStillMoveEverything() {
    PgConfig control = database("throttle_control");
    List<PgConfig> nodeDbs = List.of(database("throttle_node0"), database("throttle_node1"));
    List<Integer> moving = preload(nodeDbs.get(0));
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(PARTITIONS, 1));
    await(store.registerNode(1, "127.0.0.1:1"));
    await(store.heartbeat(1, true));

    Latency latency = new Latency();
    List<String> decisions = new CopyOnWriteArrayList<>();
    List<Double> limits = new CopyOnWriteArrayList<>();
    AtomicBoolean pacedDedup = new AtomicBoolean();
    AtomicBoolean pacedCopy = new AtomicBoolean();
    MigratorOptions.Throttling throttling = new MigratorOptions.Throttling(true, 1.5, FLOOR, Duration.ofMillis(300),
        Duration.ofMillis(50), latency, (limit, why) -> {
          limits.add(limit);
          decisions.add(why);
        });
    MigratorOptions options = MigratorOptions.defaults().withBatch(250).withLease(Duration.ofMillis(100))
        .withThrottling(throttling)
        .withHook(step -> {
          if (step.equals("prepared")) {
            latency.overloaded.set(true); // ingest suffers from the first copied row on
          }
        });
    List<Progress> seen = new CopyOnWriteArrayList<>();
    java.util.function.Consumer<Progress> progress = p -> {
      seen.add(p);
      if (p.throttled() && p.rateLimit() == FLOOR) {
        if (p.step().equals("prepared")) {
          pacedDedup.set(true);
        } else if (p.step().startsWith("copy")) {
          pacedCopy.set(true);
        }
      }
      if (pacedDedup.get() && pacedCopy.get()) {
        latency.overloaded.set(false); // both were seen waiting at the floor: ingest recovers
      }
    };
    try (NodeDatabases dbs = new NodeDatabases(vertx, nodeDbs::get, true)) {
      Migrator.Result r = await(new Migrator(vertx, store, dbs, options, progress).run(2, Migrator.Only.ALL), WAIT);

      assertTrue(pacedDedup.get(), "the dedup copy in prepare never waited at the floor: " + seen);
      assertTrue(pacedCopy.get(), "the job copy never waited at the floor: " + seen);
      assertTrue(decisions.get(0).startsWith("steady state: ingest p99 10 ms on node 0, 10 ms on node 1"), decisions.toString());
      assertTrue(decisions.stream().anyMatch(d -> d.startsWith("slowing to 2,000 jobs/s: ingest p99 40 ms vs 10 ms steady on node 1")),
          decisions.toString());
      assertTrue(limits.stream().allMatch(l -> l == 0 || l >= FLOOR), "below the floor: " + limits);
      assertTrue(decisions.stream().anyMatch(d -> d.startsWith("speeding up to ")), "never recovered: " + decisions);
      // the progress carries the current reason: at the floor, it says so and why
      assertTrue(seen.stream().anyMatch(p -> p.rateLimit() == FLOOR && p.throttleReason() != null
              && p.throttleReason().matches("(slowing to|holding at the floor) 2,000 jobs/s: ingest p99 40 ms vs 10 ms steady on node 1")),
          "the progress never said why it slowed: " + seen);

      assertEquals(JOBS, r.jobsMoved(), r.summary());
      NodeDatabases.Node target = await(dbs.node(1));
      NodeDatabases.Node source = await(dbs.node(0));
      assertEquals(JOBS, await(target.gw().count(moving))[0], "pending jobs on the target");
      assertEquals(0, await(source.gw().count(moving))[0], "pending jobs left on the source");
      List<JobsDb.DedupEntry> dedup = await(target.gw().exportDedup(moving, 0, null, JOBS + 1));
      assertEquals(JOBS, dedup.size(), "dedup entries on the target");
    } finally {
      await(store.closeAsync());
    }
  }

  /** Stores {@link #JOBS} ingest jobs (with message ids, so dedup entries too) on node 0, on partitions node 1 takes. */
  private List<Integer> preload(PgConfig pg) {
    List<Integer> moving = java.util.Arrays.stream(Assignment.compute(PARTITIONS, 2).partitionsOf(1)).boxed().toList();
    Pool pool = pg.createPool(vertx, 4);
    JobsDb gw = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("gw"), new SimpleMeterRegistry()));
    byte[] payload = "{\"type\":\"track\",\"event\":\"e\"}".getBytes(StandardCharsets.UTF_8);
    for (int i = 0; i < JOBS; i += 1000) {
      List<NewJob> request = new ArrayList<>();
      for (int k = i; k < i + 1000; k++) {
        request.add(new NewJob(moving.get(k % moving.size()), "user-" + (k % 997), "web", "", "m-" + k, Instant.now(), payload));
      }
      assertEquals(1000, await(gw.store(request)).stored());
    }
    await(gw.shutdown());
    await(pool.close());
    return moving;
  }
}
