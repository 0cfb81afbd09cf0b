package io.eventpipe.migrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.OptionalDouble;
import org.junit.jupiter.api.Test;

/** The windowed p99 read from what a node's {@code /metrics} really exposes (a Prometheus registry, the node's timers). */
class LatencyWindowTest {

  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  // as PgJobsDb registers them: the gw queue is ingest, the rt queue is fan-out (not what the throttle protects)
  private final Timer gw = store(registry, "gw");
  private final Timer rt = store(registry, "rt");
  private final LatencyWindow window = new LatencyWindow(Duration.ofSeconds(5), 20);
  private Instant now = Instant.parse("2026-01-01T00:00:00Z");

  private static Timer store(PrometheusMeterRegistry registry, String queue) {
    return Timer.builder("jobsdb.store.latency").tag("queue", queue).publishPercentileHistogram().register(registry);
  }

  private static void record(Timer t, int count, long millis) {
    for (int i = 0; i < count; i++) {
      t.record(Duration.ofMillis(millis));
    }
  }

  private OptionalDouble scrape(PrometheusMeterRegistry from) {
    NodeMetricsScrape.Histogram h = NodeMetricsScrape.parse(from.scrape());
    window.add(now, h.bounds(), h.counts());
    now = now.plusSeconds(1);
    return window.p99Millis();
  }

  @Test
  void theWindowsP99FollowsRecentObservationsOnlyOfTheIngestQueue() {
    record(gw, 5000, 2); // the node's life before the migrator looked: not part of any window
    assertTrue(scrape(registry).isEmpty(), "the first scrape only primes");
    record(gw, 500, 2);
    record(rt, 500, 900); // a slow fan-out store must not count
    double steady = scrape(registry).orElseThrow();
    assertTrue(steady >= 2 && steady < 3, "p99 of 2 ms observations: " + steady);
    record(gw, 980, 2);
    record(gw, 20, 100); // 2 % at 100 ms: the p99 is in the tail
    double slow = scrape(registry).orElseThrow();
    assertTrue(slow >= 100 && slow < 150, "p99 with 2 % at 100 ms: " + slow);
    for (int i = 0; i < 4; i++) {
      record(gw, 100, 2); // 20 slow of at most 1,400: still above 1 %
      assertTrue(scrape(registry).orElseThrow() >= 100, "the slow second is still in the 5 s window");
    }
    record(gw, 100, 2);
    double after = scrape(registry).orElseThrow();
    assertTrue(after < 3, "the slow second left the window: " + after);
  }

  @Test
  void tooFewObservationsSayNothing() {
    scrape(registry);
    record(gw, 19, 50);
    assertTrue(scrape(registry).isEmpty(), "19 observations are below the 20 a p99 needs");
    record(gw, 1, 50);
    assertTrue(scrape(registry).isPresent());
  }

  @Test
  void aRestartedNodeStartsTheWindowOver() {
    scrape(registry);
    record(gw, 1000, 2);
    assertTrue(scrape(registry).isPresent());
    PrometheusMeterRegistry restarted = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Timer fresh = store(restarted, "gw");
    record(fresh, 10, 2);
    assertTrue(scrape(restarted).isEmpty(), "counters went down: a new process, nothing to subtract from");
    record(fresh, 100, 40);
    double p99 = scrape(restarted).orElseThrow();
    assertTrue(p99 >= 40 && p99 < 60, "p99 of the new process's observations: " + p99);
  }

  @Test
  void parseIgnoresOtherMetricsAndSumsSeriesByBound() {
    String text = """
        # TYPE jobsdb_store_latency_seconds histogram
        jobsdb_store_latency_seconds_bucket{queue="gw",le="0.001"} 3
        jobsdb_store_latency_seconds_bucket{pod="a",queue="gw",le="0.001"} 2
        jobsdb_store_latency_seconds_bucket{queue="gw",le="+Inf"} 10.0
        jobsdb_store_latency_seconds_bucket{queue="rt",le="0.001"} 700
        jobsdb_store_latency_seconds_bucket{subqueue="gw",le="0.001"} 700
        jobsdb_read_latency_seconds_bucket{queue="gw",le="0.001"} 700
        jobsdb_store_latency_seconds_count{queue="gw"} 10
        """;
    NodeMetricsScrape.Histogram h = NodeMetricsScrape.parse(text);
    assertEquals(2, h.bounds().length);
    assertEquals(0.001, h.bounds()[0]);
    assertEquals(Double.POSITIVE_INFINITY, h.bounds()[1]);
    assertEquals(5, h.counts()[0]);
    assertEquals(10, h.counts()[1]);
    assertNull(NodeMetricsScrape.parse("gateway_request_latency_seconds_bucket{le=\"0.001\"} 3\n"));
  }

  @Test
  void aTailPastTheLastFiniteBucketIsReportedAsThatBound() {
    LatencyWindow w = new LatencyWindow(Duration.ofSeconds(5), 1);
    double[] bounds = {0.01, 0.1, Double.POSITIVE_INFINITY};
    w.add(now, bounds, new long[] {0, 0, 0});
    w.add(now.plusSeconds(1), bounds, new long[] {0, 0, 100});
    assertEquals(100.0, w.p99Millis().orElseThrow(), 1e-9);
  }
}
