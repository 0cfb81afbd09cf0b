package io.eventpipe.migrator;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.NodeInfo;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** {@link IngestLatency#scrapeNodes}: the nodes' {@code jobsdb_store_latency_seconds{queue="gw"}} histograms. */
final class NodeMetricsScrape implements IngestLatency {

  private static final Logger LOG = LoggerFactory.getLogger(NodeMetricsScrape.class);
  static final String METRIC = "jobsdb_store_latency_seconds_bucket";
  /** how far back a p99 looks: long enough for a tail at a few hundred requests per second, short enough to react */
  static final Duration WINDOW = Duration.ofSeconds(5);
  /** fewer observations in the window say nothing about a p99 */
  static final long MIN_SAMPLES = 20;
  private static final long TIMEOUT_MS = 2000;

  private final ControlStore control;
  private final HttpClient http;
  private final Map<Integer, LatencyWindow> windows = new HashMap<>();
  private final Map<Integer, String> lastProblem = new HashMap<>();

  NodeMetricsScrape(Vertx vertx, ControlStore control) {
    this.control = control;
    this.http = vertx.createHttpClient(new HttpClientOptions().setConnectTimeout((int) TIMEOUT_MS).setKeepAlive(true));
  }

  @Override
  public Future<Map<Integer, Double>> p99Millis(Collection<Integer> nodes) {
    return control.nodes().compose(snapshot -> {
      Map<Integer, String> addresses = new HashMap<>();
      for (NodeInfo n : snapshot.getValue()) {
        addresses.put(n.nodeId(), n.address());
      }
      List<Future<Void>> all = new ArrayList<>();
      Map<Integer, Double> out = new TreeMap<>();
      for (int node : nodes) {
        String address = addresses.get(node);
        if (address == null) {
          problem(node, "not registered in the control store");
          continue;
        }
        all.add(scrape(address).map(text -> {
          Histogram h = parse(text);
          if (h == null) {
            problem(node, "no " + METRIC + "{queue=\"gw\"} in its /metrics");
            return null;
          }
          synchronized (this) {
            LatencyWindow w = windows.computeIfAbsent(node, k -> new LatencyWindow(WINDOW, MIN_SAMPLES));
            w.add(Instant.now(), h.bounds(), h.counts());
            OptionalDouble p99 = w.p99Millis();
            if (p99.isPresent()) {
              out.put(node, p99.getAsDouble());
            }
            lastProblem.remove(node);
          }
          return (Void) null;
        }).recover(e -> {
          problem(node, "cannot scrape http://" + address + "/metrics: " + e.getMessage());
          return Future.succeededFuture();
        }));
      }
      return Future.join(all).transform(x -> Future.succeededFuture(out));
    });
  }

  private Future<String> scrape(String address) {
    return http.request(new RequestOptions().setMethod(HttpMethod.GET).setAbsoluteURI("http://" + address + "/metrics")
            .setIdleTimeout(TIMEOUT_MS))
        .compose(req -> req.send())
        .compose(resp -> resp.statusCode() == 200 ? resp.body().map(b -> b.toString(java.nio.charset.StandardCharsets.UTF_8))
            : Future.failedFuture("HTTP " + resp.statusCode()));
  }

  /** Logs a node's missing signal once per distinct problem (the throttle keeps its rate meanwhile). */
  private synchronized void problem(int node, String what) {
    if (!what.equals(lastProblem.put(node, what))) {
      LOG.warn("copy throttle: no ingest latency from node {} ({}); keeping the current rate", node, what);
    }
  }

  /** A histogram's buckets, summed over every series of the metric with {@code queue="gw"}. */
  record Histogram(double[] bounds, long[] counts) {}

  /**
   * Reads {@link #METRIC} for the gw queue from a Prometheus text exposition ({@code name{labels} value}); null when it
   * is absent.
   */
  static Histogram parse(String text) {
    TreeMap<Double, Long> buckets = new TreeMap<>();
    for (String line : text.split("\n")) {
      if (!line.startsWith(METRIC + "{")) {
        continue;
      }
      int close = line.indexOf('}');
      if (close < 0) {
        continue;
      }
      String labels = line.substring(METRIC.length() + 1, close);
      String le = label(labels, "le");
      if (le == null || !"gw".equals(label(labels, "queue"))) {
        continue;
      }
      String[] rest = line.substring(close + 1).trim().split("\\s+");
      try {
        double bound = le.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(le);
        long count = (long) Double.parseDouble(rest[0]);
        buckets.merge(bound, count, Long::sum);
      } catch (NumberFormatException e) {
        // a line we do not understand tells us nothing: skip it
      }
    }
    if (buckets.isEmpty()) {
      return null;
    }
    double[] bounds = new double[buckets.size()];
    long[] counts = new long[buckets.size()];
    int i = 0;
    for (Map.Entry<Double, Long> e : buckets.entrySet()) {
      bounds[i] = e.getKey();
      counts[i++] = e.getValue();
    }
    return new Histogram(bounds, counts);
  }

  private static String label(String labels, String name) {
    String key = name + "=\"";
    int at = 0;
    while (true) {
      int i = labels.indexOf(key, at);
      if (i < 0) {
        return null;
      }
      if (i == 0 || labels.charAt(i - 1) == ',' || labels.charAt(i - 1) == ' ') {
        int start = i + key.length();
        int end = labels.indexOf('"', start);
        return end < 0 ? null : labels.substring(start, end);
      }
      at = i + 1;
    }
  }
}
