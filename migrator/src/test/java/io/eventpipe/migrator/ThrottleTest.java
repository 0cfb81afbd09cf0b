package io.eventpipe.migrator;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The pacing point's glue: a signal source that fails or throws never stops the copy, and each run measures anew. */
class ThrottleTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void tearDown() {
    await(vertx.close());
  }

  private Throttle throttle(IngestLatency source, List<String> decisions, int ceiling) {
    MigratorOptions.Throttling t = new MigratorOptions.Throttling(true, 1.5, 100, Duration.ofMillis(100), Duration.ofMillis(20),
        source, (limit, why) -> decisions.add(why));
    return new Throttle(vertx, MigratorOptions.defaults().withMaxJobsPerSecond(ceiling).withThrottling(t), () -> {
      throw new AssertionError("the test's source is used");
    }, Clock.systemUTC());
  }

  @Test
  void aFailingOrThrowingSignalKeepsTheCeilingAndTheCopyGoesOn() {
    AtomicInteger reads = new AtomicInteger();
    IngestLatency broken = nodes -> {
      if (reads.incrementAndGet() % 2 == 0) {
        throw new IllegalStateException("scrape blew up");
      }
      return Future.failedFuture("unreachable");
    };
    List<String> decisions = new CopyOnWriteArrayList<>();
    Throttle t = throttle(broken, decisions, 1_000_000);
    await(t.start(List.of(0, 1)));
    assertEquals(1_000_000, t.limit());
    assertTrue(t.reason().startsWith("no steady-state ingest latency was measured"), t.reason());
    int before = reads.get();
    io.eventpipe.testing.Waiting.eventually("more readings after the baseline", () -> reads.get() > before + 3);
    for (int i = 0; i < 10; i++) {
      await(t.pace(10)); // a millionth of a second per job: passes
    }
    assertEquals(1_000_000, t.limit(), "no signal: the rate holds");
    t.stop();
  }

  @Test
  void theCeilingCountsJobsNotDedupEntriesButASlowedThrottlePacesBoth() {
    double[] p99 = {10};
    IngestLatency source = nodes -> Future.succeededFuture(Map.of(0, p99[0]));
    List<String> decisions = new CopyOnWriteArrayList<>();
    Throttle t = throttle(source, decisions, 10); // --max-jobs-per-second 10
    await(t.start(List.of(0)));
    assertEquals(10, t.limit());
    assertTrue(t.paceDedup(5000).isComplete(), "at the ceiling a dedup page passes (10 entries/s would take 500 s)");
    assertTrue(!t.pace(1000).isComplete(), "a job batch waits for its slot at 10 jobs/s");
    t.stop();

    Throttle unlimited = throttle(source, decisions, 0);
    await(unlimited.start(List.of(0)));
    p99[0] = 100; // ingest suffers: the throttle cuts to its floor
    io.eventpipe.testing.Waiting.eventually("the throttle slowed", () -> unlimited.limit() == 100);
    assertTrue(!unlimited.paceDedup(5000).isComplete(), "below the ceiling a dedup page waits like a job batch");
    unlimited.stop();
  }

  @Test
  void aStartAfterAStopMeasuresANewBaseline() {
    AtomicInteger calls = new AtomicInteger();
    double[] p99 = {10};
    IngestLatency source = nodes -> {
      calls.incrementAndGet();
      return Future.succeededFuture(Map.of(0, p99[0]));
    };
    List<String> decisions = new CopyOnWriteArrayList<>();
    Throttle t = throttle(source, decisions, 0);
    await(t.start(List.of(0)));
    assertEquals("steady state: ingest p99 10 ms on node 0; copying at no limit", decisions.get(0));
    t.stop();
    int stopped = calls.get();
    p99[0] = 40; // a later run sees a busier cluster: that is its steady state, not an overload
    await(t.start(List.of(0)));
    assertTrue(calls.get() > stopped, "the second run read latency again");
    assertEquals("steady state: ingest p99 40 ms on node 0; copying at no limit", decisions.get(decisions.size() - 1));
    assertEquals(0, t.limit(), "no limit: 40 ms is this run's steady state");
    t.stop();
  }
}
