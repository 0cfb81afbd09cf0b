package io.eventpipe.testing;

import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * The whole history of a test's traffic, checked at the end: every SDK request the load sent and which of them were
 * acknowledged, every delivery attempt the sink saw with what it answered and who sent it, and the cluster's own
 * events (migration steps, faults injected). {@link #check()} classifies each user's anomalies:
 *
 * <ul>
 *   <li>{@link Kind#LOST}: acknowledged, never answered 2xx by the sink;
 *   <li>{@link Kind#REORDERED}: first delivered (2xx) after a later event of the same user had been delivered; a
 *       redelivery of an event already delivered is a duplicate, not a reorder;
 *   <li>{@link Kind#DUPLICATED}: delivered again after the sink had answered 2xx to an earlier delivery of it. A
 *       redelivery after a refusal (503) is the at-least-once retry the pipeline promises and never counts;
 *   <li>{@link Kind#UNSENT}: delivered, though the load never sent it.
 * </ul>
 *
 * A duplicate is legitimate only where a delivering process died between the sink's answer and recording it (kill -9),
 * so a test says which kinds fail it ({@link #assertNo}). The report of a failure prints the first anomaly's whole
 * history: its requests and acknowledgement, every delivery attempt of the user around it (node, job id, attempt,
 * the sink's answer, when), and the cluster's events from its acknowledgement to its last delivery. Pure Java,
 * thread-safe; times are the given clock's milliseconds.
 */
public final class HistoryChecker {

  /** An anomaly's class. */
  public enum Kind { LOST, REORDERED, DUPLICATED, UNSENT }

  /** One anomaly: its class, the user and event, and what shows it. */
  public record Anomaly(Kind kind, String user, long seq, String why) {
    @Override
    public String toString() {
      return kind + " " + user + " seq " + seq + ": " + why;
    }
  }

  /** A delivery attempt as the sink saw it: who sent it (the router's origin headers) and what it answered. */
  public record Delivery(String user, long seq, String node, String jobId, String attempt, int status, long atMillis) {
    boolean succeeded() {
      return status >= 200 && status < 300;
    }

    @Override
    public String toString() {
      return "seq " + seq + " at " + atMillis + " ms by node " + node + " job " + jobId + " attempt " + attempt
          + ", answered " + status;
    }
  }

  private record Request(long seq, String messageId, String request, long atMillis, boolean acked) {}

  private record Event(String what, long atMillis) {}

  private final LongSupplier clock;
  private final Map<String, List<Request>> requests = new HashMap<>();
  private final Map<String, List<Delivery>> deliveries = new HashMap<>();
  private final Map<String, Long> ackedUpTo = new HashMap<>();
  private final Set<String> deliveredOnce = new HashSet<>();
  private final List<Event> events = new ArrayList<>();

  /** @param clock milliseconds, for the times in the history (a test's elapsed time, or a fake clock) */
  public HistoryChecker(LongSupplier clock) {
    this.clock = clock;
  }

  /** The load sent {@code request} (an SDK attempt) carrying event {@code seq} of {@code user}. */
  public synchronized void sent(String user, long seq, String messageId, String request) {
    requests.computeIfAbsent(user, u -> new ArrayList<>()).add(new Request(seq, messageId, request, clock.getAsLong(), false));
  }

  /** The pipeline acknowledged {@code request}: from now on event {@code seq} of {@code user} must be delivered. */
  public synchronized void acked(String user, long seq, String messageId, String request) {
    requests.computeIfAbsent(user, u -> new ArrayList<>()).add(new Request(seq, messageId, request, clock.getAsLong(), true));
    ackedUpTo.merge(user, seq, Math::max);
  }

  /** The sink got a delivery attempt and answered {@code status}. */
  public synchronized void delivery(String user, long seq, String node, String jobId, String attempt, int status) {
    Delivery d = new Delivery(user, seq, node, jobId, attempt, status, clock.getAsLong());
    deliveries.computeIfAbsent(user, u -> new ArrayList<>()).add(d);
    if (d.succeeded()) {
      deliveredOnce.add(user + "\u0000" + seq);
    }
  }

  /** Something the cluster did (a migration step began, a process was killed, a connection cut), for the report. */
  public synchronized void event(String what) {
    long now = clock.getAsLong();
    if (events.isEmpty() || !events.get(events.size() - 1).what().equals(what)) {
      events.add(new Event(what, now));
    }
  }

  /** Acknowledged events that the sink has answered 2xx at least once. */
  public synchronized long deliveredAcked() {
    long n = 0;
    for (Map.Entry<String, Long> e : ackedUpTo.entrySet()) {
      for (long s = 1; s <= e.getValue(); s++) {
        if (deliveredOnce.contains(e.getKey() + "\u0000" + s)) {
          n++;
        }
      }
    }
    return n;
  }

  /** Acknowledged events, counting each user's 1..n (the load sends one at a time, in order). */
  public synchronized long acked() {
    return ackedUpTo.values().stream().mapToLong(Long::longValue).sum();
  }

  /** Every anomaly, users in name order, each user's in the order they show. */
  public synchronized List<Anomaly> check() {
    List<Anomaly> out = new ArrayList<>();
    Set<String> users = new java.util.TreeSet<>(ackedUpTo.keySet());
    users.addAll(deliveries.keySet());
    for (String user : users) {
      out.addAll(check(user));
    }
    return out;
  }

  private List<Anomaly> check(String user) {
    List<Anomaly> out = new ArrayList<>();
    Set<Long> sent = new HashSet<>();
    for (Request r : requests.getOrDefault(user, List.of())) {
      sent.add(r.seq());
    }
    Map<Long, Delivery> firstSuccess = new HashMap<>();
    Delivery highest = null;
    for (Delivery d : deliveries.getOrDefault(user, List.of())) {
      if (!sent.contains(d.seq())) {
        out.add(new Anomaly(Kind.UNSENT, user, d.seq(), "delivered (" + d + ") but never sent"));
        continue;
      }
      if (!d.succeeded()) {
        continue;
      }
      Delivery earlier = firstSuccess.get(d.seq());
      if (earlier != null) {
        out.add(new Anomaly(Kind.DUPLICATED, user, d.seq(), "delivered again (" + d + ") after the sink answered "
            + earlier.status() + " to " + earlier));
        continue;
      }
      firstSuccess.put(d.seq(), d);
      if (highest != null && highest.seq() > d.seq()) {
        out.add(new Anomaly(Kind.REORDERED, user, d.seq(), "first delivered (" + d + ") after seq " + highest.seq()
            + " had been (" + highest + ")"));
      }
      if (highest == null || d.seq() > highest.seq()) {
        highest = d;
      }
    }
    long upTo = ackedUpTo.getOrDefault(user, 0L);
    for (long s = 1; s <= upTo; s++) {
      if (!firstSuccess.containsKey(s)) {
        out.add(new Anomaly(Kind.LOST, user, s, "acknowledged, never delivered"));
      }
    }
    return out;
  }

  /** Counts of each kind in {@code anomalies}. */
  public static Map<Kind, Integer> counts(List<Anomaly> anomalies) {
    Map<Kind, Integer> n = new LinkedHashMap<>();
    for (Anomaly a : anomalies) {
      n.merge(a.kind(), 1, Integer::sum);
    }
    return n;
  }

  /**
   * Throws if any anomaly of {@code failing} kinds shows, with their counts, the first ten and the first one's
   * history ({@link #history}) followed by {@code evidence} applied to its user (what the databases say, say).
   */
  public void assertNo(Set<Kind> failing, java.util.function.Function<String, String> evidence) {
    List<Anomaly> all = check();
    List<Anomaly> bad = all.stream().filter(a -> failing.contains(a.kind())).toList();
    if (bad.isEmpty()) {
      return;
    }
    Anomaly first = bad.get(0);
    throw new AssertionError(bad.size() + " anomalies " + counts(bad) + " (of all kinds: " + counts(all) + "), first: "
        + bad.subList(0, Math.min(10, bad.size())) + "\n" + history(first) + evidence.apply(first.user()));
  }

  /** {@link #assertNo} of every kind. */
  public void assertClean() {
    assertNo(EnumSet.allOf(Kind.class), u -> "");
  }

  /**
   * The anomaly's whole history: the event's requests (sent, acknowledged), every delivery attempt of the user's events
   * from two before it to two after it, and the cluster's events from the first request to the last of those attempts.
   */
  public synchronized String history(Anomaly a) {
    StringBuilder out = new StringBuilder("history of ").append(a).append('\n');
    long from = Long.MAX_VALUE;
    long to = Long.MIN_VALUE;
    out.append(" requests:\n");
    for (Request r : requests.getOrDefault(a.user(), List.of())) {
      if (r.seq() == a.seq()) {
        out.append("  ").append(r.acked() ? "acked " : "sent ").append(r.request()).append(" (messageId ")
            .append(r.messageId()).append(") at ").append(r.atMillis()).append(" ms\n");
        from = Math.min(from, r.atMillis());
      }
    }
    out.append(" deliveries of seq ").append(a.seq() - 2).append("..").append(a.seq() + 2).append(", as the sink saw them:\n");
    for (Delivery d : deliveries.getOrDefault(a.user(), List.of())) {
      if (Math.abs(d.seq() - a.seq()) <= 2) {
        out.append("  ").append(d.seq() == a.seq() ? "* " : "  ").append(d).append('\n');
        from = Math.min(from, d.atMillis());
        to = Math.max(to, d.atMillis());
      }
    }
    if (from == Long.MAX_VALUE) {
      from = 0;
    }
    if (to == Long.MIN_VALUE) {
      to = Long.MAX_VALUE; // never delivered: everything since
    }
    out.append(" the cluster meanwhile:\n");
    TreeMap<Long, List<String>> shown = new TreeMap<>();
    for (Event e : events) {
      if (e.atMillis() >= from && e.atMillis() <= to) {
        shown.computeIfAbsent(e.atMillis(), t -> new ArrayList<>()).add(e.what());
      }
    }
    shown.forEach((t, whats) -> whats.forEach(w -> out.append("  ").append(t).append(" ms ").append(w).append('\n')));
    return out.toString();
  }
}
