package io.eventpipe.migrator;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.micrometer.core.instrument.Timer;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The migrator's own signal against real HTTP servers that serve what a node's internal port serves ({@code /metrics}, no
 * token), found through the control store: a node that answers gives its recent p99; one that is down, answers an
 * error, or is not registered gives nothing, and the read never fails.
 */
@ExtendWith(PostgresExtension.class)
class NodeMetricsScrapeTest {

  @Test
  void readsEachReachableNodesRecentP99AndLeavesTheOthersOut(PgDatabase db) throws Exception {
    Vertx vertx = Vertx.vertx();
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    Timer gw = Timer.builder("jobsdb.store.latency").tag("queue", "gw").publishPercentileHistogram().register(registry);
    HttpServer node0 = await(vertx.createHttpServer().requestHandler(req -> {
      if (req.path().equals("/metrics")) {
        req.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape());
      } else {
        req.response().setStatusCode(404).end();
      }
    }).listen(0, "127.0.0.1"));
    HttpServer node2 = await(vertx.createHttpServer().requestHandler(req -> req.response().setStatusCode(500).end("no"))
        .listen(0, "127.0.0.1"));
    ControlStore control = await(ControlStore.open(vertx, new PgConfig(db.host(), db.port(), db.database(), db.user(),
        db.password())));
    try {
      await(control.initialize(16, 3));
      await(control.registerNode(0, "127.0.0.1:" + node0.actualPort()));
      await(control.registerNode(1, "127.0.0.1:1")); // down: nothing listens
      await(control.registerNode(2, "127.0.0.1:" + node2.actualPort()));
      IngestLatency scrape = IngestLatency.scrapeNodes(vertx, control);
      List<Integer> nodes = List.of(0, 1, 2, 3); // node 3 never registered

      for (int i = 0; i < 5000; i++) {
        gw.record(Duration.ofMillis(1)); // before the migrator looked: not in its window
      }
      assertEquals(Map.of(), await(scrape.p99Millis(nodes)), "the first scrape only primes");
      for (int i = 0; i < 990; i++) {
        gw.record(Duration.ofMillis(3));
      }
      for (int i = 0; i < 30; i++) {
        gw.record(Duration.ofMillis(60));
      }
      Map<Integer, Double> p99 = await(scrape.p99Millis(nodes));
      assertEquals(List.of(0), List.copyOf(p99.keySet()), "only node 0 has a signal: " + p99);
      assertTrue(p99.get(0) >= 60 && p99.get(0) < 90, "3 % at 60 ms since the last scrape: " + p99);
    } finally {
      await(control.closeAsync());
      await(vertx.close());
    }
  }
}
