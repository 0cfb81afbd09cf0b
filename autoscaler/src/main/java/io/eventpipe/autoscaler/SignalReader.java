package io.eventpipe.autoscaler;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Takes one {@link Signals} reading: the topology and migration from the control store ({@link ControlStoreReader}),
 * then each node of the topology's {@code GET /internal/v1/status} (admin token), as {@code pipeline status} does.
 * A node that does not answer, answers with an error, or has no address yet is listed as unreachable.
 */
public final class SignalReader {

  private static final ObjectMapper JSON = new ObjectMapper();

  private final ControlStoreReader control;
  private final String adminToken;
  private final Clock clock;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  public SignalReader(ControlStoreReader control, String adminToken, Clock clock) {
    this.control = control;
    this.adminToken = adminToken;
    this.clock = clock;
  }

  /** A reading, or null when the cluster is not initialized yet. */
  @SuppressWarnings("unchecked")
  public Signals read() throws Exception {
    ControlStoreReader.Topology t = control.topology();
    if (t == null) {
      return null;
    }
    List<Signals.NodeSignals> nodes = new ArrayList<>();
    Map<Integer, String> unreachable = new TreeMap<>();
    for (int k = 0; k < t.nodes(); k++) {
      String address = t.addresses().get(k);
      if (address == null) {
        unreachable.put(k, "node " + k + " has no address in the control store");
        continue;
      }
      try {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://" + address + "/internal/v1/status"))
            .header("Authorization", "Bearer " + adminToken).timeout(Duration.ofSeconds(5)).GET().build(),
            HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() != 200) {
          unreachable.put(k, "node " + k + " at " + address + " answered " + r.statusCode());
          continue;
        }
        Map<String, Object> status = JSON.readValue(r.body(), Map.class);
        Object autoscaling = status.get("autoscaling");
        if (!(autoscaling instanceof Map)) {
          unreachable.put(k, "node " + k + " at " + address + " exports no autoscaling signals (an older version)");
          continue;
        }
        nodes.add(Signals.NodeSignals.fromStatus(k, (Map<String, Object>) autoscaling));
      } catch (java.io.IOException e) {
        unreachable.put(k, "node " + k + " at " + address + ": " + e);
      }
    }
    return new Signals(clock.instant(), t.nodes(), t.migration(), nodes, unreachable);
  }
}
