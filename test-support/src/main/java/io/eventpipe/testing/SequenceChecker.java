package io.eventpipe.testing;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Checks a stream of (key, sequence number) observations, such as deliveries to a sink, for the pipeline's
 * promises: each key's first deliveries arrive in order 1, 2, 3, ... with no gap, and, at the end, every
 * expected event arrived. Redeliveries of an event already seen are allowed (at-least-once) and counted.
 * Thread-safe; shared by unit, integration and load tests.
 *
 * <p>An observation may carry a detail (who delivered it: node, job id, attempt); each key keeps the history of its
 * last {@value #HISTORY} observations, and a violation prints the key's history, so a failure says who sent what.
 */
public final class SequenceChecker {

  /** Observations kept per key for the report of a violation. */
  public static final int HISTORY = 200;

  private static final class KeyState {
    long max;
    long duplicates;
    final java.util.ArrayDeque<String> history = new java.util.ArrayDeque<>();
  }

  private final Map<String, KeyState> keys = new ConcurrentHashMap<>();
  private final List<String> violations = new ArrayList<>();
  private final List<String> violatingKeys = new ArrayList<>();

  /** Records that {@code seq} (1-based) of {@code key} was observed. */
  public void observe(String key, long seq) {
    observe(key, seq, null);
  }

  /**
   * Adds an attempt that is not a delivery (the sink refused it) to the key's history only, so the report shows every
   * attempt in the order the sink saw them.
   */
  public void note(String key, long seq, String detail) {
    KeyState st = keys.computeIfAbsent(key, k -> new KeyState());
    synchronized (st) {
      remember(st, seq, detail);
    }
  }

  private static void remember(KeyState st, long seq, String detail) {
    if (st.history.size() >= HISTORY) {
      st.history.removeFirst();
    }
    st.history.addLast(seq + (detail == null ? "" : " " + detail));
  }

  /** Records that {@code seq} (1-based) of {@code key} was observed, with who delivered it ({@code detail}). */
  public void observe(String key, long seq, String detail) {
    KeyState st = keys.computeIfAbsent(key, k -> new KeyState());
    synchronized (st) {
      remember(st, seq, detail);
      if (seq <= st.max) {
        st.duplicates++;
      } else if (seq == st.max + 1) {
        st.max = seq;
      } else {
        synchronized (violations) {
          if (violations.size() < 100) {
            violations.add("key " + key + ": got " + seq + " after " + st.max + (detail == null ? "" : " (" + detail + ")"));
          }
          if (!violatingKeys.contains(key)) {
            violatingKeys.add(key);
          }
        }
        st.max = Math.max(st.max, seq);
      }
    }
  }

  public long duplicates() {
    long n = 0;
    for (KeyState st : keys.values()) {
      synchronized (st) {
        n += st.duplicates;
      }
    }
    return n;
  }

  /** Total distinct events seen in order. */
  public long delivered() {
    long n = 0;
    for (KeyState st : keys.values()) {
      synchronized (st) {
        n += st.max;
      }
    }
    return n;
  }

  public long delivered(String key) {
    KeyState st = keys.get(key);
    if (st == null) {
      return 0;
    }
    synchronized (st) {
      return st.max;
    }
  }

  /** The keys that saw an out-of-order event, first violation first. */
  public List<String> violatingKeys() {
    synchronized (violations) {
      return List.copyOf(violatingKeys);
    }
  }

  /** The key's last observations, oldest first: "seq detail". */
  public List<String> history(String key) {
    KeyState st = keys.get(key);
    if (st == null) {
      return List.of();
    }
    synchronized (st) {
      return List.copyOf(st.history);
    }
  }

  public List<String> violations() {
    synchronized (violations) {
      return List.copyOf(violations);
    }
  }

  /** Throws if any key saw an out-of-order event, or if a key in {@code expected} did not get all its events. */
  public void assertComplete(Map<String, Long> expected) {
    List<String> problems = new ArrayList<>(violations());
    for (Map.Entry<String, Long> e : expected.entrySet()) {
      long got = delivered(e.getKey());
      if (got != e.getValue()) {
        problems.add("key " + e.getKey() + ": delivered " + got + " of " + e.getValue());
      }
    }
    for (String key : keys.keySet()) {
      if (!expected.containsKey(key)) {
        problems.add("unexpected key " + key);
      }
    }
    if (!problems.isEmpty()) {
      List<String> violating = violatingKeys();
      String first = violating.isEmpty() ? "" : "; deliveries of " + violating.get(0) + ", oldest first: "
          + history(violating.get(0));
      throw new AssertionError(problems.size() + " ordering/completeness problems, first: "
          + problems.subList(0, Math.min(10, problems.size())) + first);
    }
  }
}
