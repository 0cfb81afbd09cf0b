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
 */
public final class SequenceChecker {

  private static final class KeyState {
    long max;
    long duplicates;
  }

  private final Map<String, KeyState> keys = new ConcurrentHashMap<>();
  private final List<String> violations = new ArrayList<>();

  /** Records that {@code seq} (1-based) of {@code key} was observed. */
  public void observe(String key, long seq) {
    KeyState st = keys.computeIfAbsent(key, k -> new KeyState());
    synchronized (st) {
      if (seq <= st.max) {
        st.duplicates++;
      } else if (seq == st.max + 1) {
        st.max = seq;
      } else {
        synchronized (violations) {
          if (violations.size() < 100) {
            violations.add("key " + key + ": got " + seq + " after " + st.max);
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
      throw new AssertionError(problems.size() + " ordering/completeness problems, first: "
          + problems.subList(0, Math.min(10, problems.size())));
    }
  }
}
