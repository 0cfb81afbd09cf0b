package io.eventpipe.autoscaler;

import java.time.Instant;
import java.util.Locale;

/**
 * What the policy decided at {@code at}: grow or shrink from {@code from} to {@code to} nodes, or hold at {@code from}.
 * {@code signal} names what caused it (a short stable word, also the metric's tag), {@code reason} says it in full.
 */
public record Decision(Instant at, Action action, int from, int to, Signal signal, String reason) {

  /** What to do. */
  public enum Action { GROW, SHRINK, HOLD }

  /** The signal that caused a decision: the tag of {@code autoscaler_decisions_total{action,signal}}. */
  public enum Signal {
    /** A queue more nodes can drain stayed older than the threshold for the whole window. */
    BACKLOG_AGE,
    /** The ingest rate stayed low enough for one node fewer, with no backlog, for the whole window. */
    UNDERUSED,
    /** The node count is outside min..max (the bounds changed). */
    BOUNDS,
    /** A migration runs: nothing is decided until it ends. */
    MIGRATION_RUNNING,
    /** A node did not answer: its signals are missing, and more nodes would not bring its partitions back. */
    NODE_UNREACHABLE,
    /** The backlog is in destinations that fail or do not move: more nodes cannot drain it. */
    FAILING_DESTINATION,
    /** A change is wanted but the last one was too recent. */
    COOLDOWN,
    /** A change is wanted but the cluster is at its bound. */
    AT_BOUND,
    /** A condition holds, but not yet for its whole window. */
    WINDOW,
    /** Nothing calls for a change. */
    STEADY;

    public String tag() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public boolean changes() {
    return action != Action.HOLD;
  }

  /** The decision log's line. */
  public String line() {
    return switch (action) {
      case GROW, SHRINK -> String.format(Locale.ROOT, "autoscaler: %s %d -> %d nodes (signal %s): %s",
          action.name().toLowerCase(Locale.ROOT), from, to, signal.tag(), reason);
      case HOLD -> String.format(Locale.ROOT, "autoscaler: hold at %d nodes (signal %s): %s", from, signal.tag(), reason);
    };
  }
}
