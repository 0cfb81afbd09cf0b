package io.eventpipe.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** The Grafana dashboard shipped with the chart queries only metrics the services export. */
class DashboardTest {

  /**
   * The Prometheus names of the meters the node and proxy register (Micrometer: dots become underscores, counters
   * get _total, timers _seconds with _bucket/_count/_sum). Keep in step with the README's metric list.
   */
  private static final Set<String> EXPORTED = Set.of("gateway_requests_total", "gateway_events_total",
      "gateway_request_latency_seconds_bucket", "gateway_request_bytes", "jobsdb_store_latency_seconds_bucket",
      "jobsdb_pending_jobs", "jobsdb_datasets", "jobsdb_store_queued_jobs", "processor_events_total",
      "router_delivered_total", "router_failed_total", "router_aborted_total", "router_attempts_total",
      "router_delivery_latency_seconds_bucket", "router_pending_jobs", "router_oldest_pending_age_seconds",
      "node_ingest_misdirected_total", "proxy_forward_latency_seconds_bucket", "proxy_rerouted_batches_total",
      "proxy_topology_epoch");

  private static final Pattern METRIC = Pattern.compile("\\b([a-z]+_[a-z_]+)\\s*[{\\[(]?");
  private static final Set<String> PROMQL = Set.of("histogram_quantile", "label_values");

  @Test
  void panelsQueryExportedMetricsOnly() throws IOException {
    JsonNode dashboard = new ObjectMapper().readTree(Path.of("helm", "eventpipe", "dashboards", "eventpipe.json").toFile());
    assertEquals("eventpipe", dashboard.get("uid").asText());
    Set<String> used = new TreeSet<>();
    Set<Integer> ids = new HashSet<>();
    int queries = 0;
    for (JsonNode panel : dashboard.get("panels")) {
      assertTrue(ids.add(panel.get("id").asInt()), "panel ids are unique");
      for (JsonNode target : panel.path("targets")) {
        queries++;
        Matcher m = METRIC.matcher(target.get("expr").asText());
        while (m.find()) {
          if (!PROMQL.contains(m.group(1)) && m.group(1).contains("_")) {
            used.add(m.group(1));
          }
        }
      }
    }
    used.removeIf(name -> name.equals("rate_interval")); // $__rate_interval
    assertTrue(queries >= 10, "queries: " + queries);
    for (String name : used) {
      assertTrue(EXPORTED.contains(name), "the dashboard queries " + name + ", which no service exports");
    }
    // what the issue asks the dashboard to show
    for (String needed : List.of("gateway_events_total", "gateway_request_latency_seconds_bucket", "jobsdb_pending_jobs",
        "router_delivered_total", "router_failed_total", "router_aborted_total", "proxy_topology_epoch")) {
      assertTrue(used.contains(needed), needed);
    }
  }
}
