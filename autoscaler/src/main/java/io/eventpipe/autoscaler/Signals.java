package io.eventpipe.autoscaler;

import java.time.Instant;
import java.util.List;
import java.util.Map;

/**
 * One reading of everything a scaling decision looks at, taken at {@code at}: the topology's node count, whether a
 * migration runs, and each node's queues (from its status JSON, see {@link NodeSignals#fromStatus}). Counters are
 * totals since the node started; the policy turns them into rates between readings.
 *
 * @param nodes the node count of the current topology
 * @param migration the id of the migration in progress, or null
 * @param perNode the nodes that answered
 * @param unreachable the ordinals of nodes that did not answer, each with why
 */
public record Signals(Instant at, int nodes, String migration, List<NodeSignals> perNode, Map<Integer, String> unreachable) {

  public Signals {
    perNode = List.copyOf(perNode);
    unreachable = Map.copyOf(unreachable);
  }

  /** A queue of one node: its pending jobs and the age of the oldest, in seconds (0 when empty). */
  public record Queue(long pending, double oldestAgeSeconds) {}

  /**
   * A destination's delivery queue on one node, with its delivery counters: {@code delivered} events that succeeded,
   * {@code failed} attempts that failed and will be retried (totals since the node started).
   */
  public record Destination(long pending, double oldestAgeSeconds, long delivered, long failed) {}

  /**
   * One node's signals: the ingest queue (events not yet fanned out), the events it stored ({@code ingested}) and
   * fanned out ({@code fannedOut}) since it started, and each destination's delivery queue.
   */
  public record NodeSignals(int node, Queue ingest, long ingested, long fannedOut, Map<String, Destination> destinations) {

    public NodeSignals {
      destinations = Map.copyOf(destinations);
    }

    /**
     * Reads the {@code autoscaling} object of a node's status JSON ({@code GET /internal/v1/status}), parsed by
     * Jackson into maps: {@code {"ingest": {"pending", "oldestAgeSeconds"}, "ingestedEvents", "fannedOutEvents",
     * "destinations": {id: {"pending", "oldestAgeSeconds", "delivered", "failedAttempts"}}}}.
     */
    @SuppressWarnings("unchecked")
    public static NodeSignals fromStatus(int node, Map<String, Object> autoscaling) {
      Map<String, Object> ingest = (Map<String, Object>) autoscaling.getOrDefault("ingest", Map.of());
      Map<String, Object> dests = (Map<String, Object>) autoscaling.getOrDefault("destinations", Map.of());
      Map<String, Destination> out = new java.util.TreeMap<>();
      for (Map.Entry<String, Object> e : dests.entrySet()) {
        Map<String, Object> d = (Map<String, Object>) e.getValue();
        out.put(e.getKey(), new Destination(num(d, "pending"), dbl(d, "oldestAgeSeconds"), num(d, "delivered"),
            num(d, "failedAttempts")));
      }
      return new NodeSignals(node, new Queue(num(ingest, "pending"), dbl(ingest, "oldestAgeSeconds")),
          num(autoscaling, "ingestedEvents"), num(autoscaling, "fannedOutEvents"), out);
    }

    private static long num(Map<String, Object> m, String key) {
      Object v = m.get(key);
      return v instanceof Number n ? n.longValue() : 0;
    }

    private static double dbl(Map<String, Object> m, String key) {
      Object v = m.get(key);
      return v instanceof Number n ? n.doubleValue() : 0;
    }
  }
}
