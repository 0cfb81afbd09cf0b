package io.eventpipe.loadtests.harness;

import java.util.List;
import java.util.Locale;

/**
 * The scenarios, each one command ({@code ./bench scenario NAME}): what happens to the cluster while the open-model
 * load runs. The fault, burst or resize starts at {@code -DfaultAtSeconds} (a third of the load by default) and shows
 * in the result as a band.
 */
public enum Scenario {
  /** The load alone. */
  STEADY("steady", 60, 1, false, false),
  /** The rate times {@code -DburstFactor} (5) for {@code -DburstSeconds} (30). */
  BURST("burst", 90, 1, false, false),
  /** The destination answers 503 to everything for {@code -DoutageSeconds} (60). */
  OUTAGE("outage", 120, 1, false, false),
  /** The destination answers after {@code -DslowMillis} (2000) for {@code -DslowSeconds} (30). */
  SLOW("slow", 90, 1, false, false),
  /** kill -9 of the whole cluster (launcher, nodes, PostgreSQL), restarted at once on its data. */
  KILL9("kill9", 60, 1, true, true),
  /** {@code pipeline scale} to one node more, under load. */
  SCALE_UP("scale-up", 90, 1, true, false),
  /** {@code pipeline scale} to one node fewer, under load (a one-node cluster is grown to two before the load). */
  SCALE_DOWN("scale-down", 90, 2, true, false),
  /**
   * One user whose every delivery the destination refuses, with a backlog of {@code -DbacklogEvents} (50,000) sent
   * at the start, beside the normal load; the user heals at the end of the load and its backlog drains.
   */
  FAILING_USER("failing-user", 60, 1, false, false),
  /**
   * {@code pipeline scale} to one node more, interrupted by kill -9 of it and of the whole cluster once the migration
   * reports progress (or after {@code -DinterruptAfterSeconds}, 60), then the cluster restarted and the scale rerun.
   */
  RESIZE_KILL9("resize-kill9", 90, 1, true, true),
  /**
   * Hostile clients ({@link HostileClients}: unknown keys, bodies over the cap, gzip bombs, slow uploads, poisonous
   * ids) for {@code -DhostileSeconds} (30) beside the normal load; any of theirs accepted fails the run.
   */
  HOSTILE("hostile", 90, 1, false, false);

  private final String id;
  private final double defaultSeconds;
  private final int defaultNodes;
  private final boolean needsControl;
  private final boolean killsProcesses;

  Scenario(String id, double defaultSeconds, int defaultNodes, boolean needsControl, boolean killsProcesses) {
    this.id = id;
    this.defaultSeconds = defaultSeconds;
    this.defaultNodes = defaultNodes;
    this.needsControl = needsControl;
    this.killsProcesses = killsProcesses;
  }

  public String id() {
    return id;
  }

  public double defaultSeconds() {
    return defaultSeconds;
  }

  public int defaultNodes() {
    return defaultNodes;
  }

  /** Needs a cluster the harness runs (kills or resizes it). */
  public boolean needsControl() {
    return needsControl;
  }

  /**
   * Kills delivering processes: a delivery the sink answered and its node had no time to record is made again after
   * the restart, the at-least-once the pipeline promises, so duplicates are reported and do not fail the run.
   */
  public boolean killsProcesses() {
    return killsProcesses;
  }

  /** The rate windows of its schedule (the burst). */
  public List<RateSchedule.Window> windows(ScenarioOptions o) {
    if (this != BURST) {
      return List.of();
    }
    long from = (long) (o.faultAtSeconds() * 1e9);
    return List.of(new RateSchedule.Window(from, from + (long) (o.burstSeconds() * 1e9), o.burstFactor()));
  }

  public static Scenario named(String name) {
    for (Scenario s : values()) {
      if (s.id.equals(name.toLowerCase(Locale.ROOT))) {
        return s;
      }
    }
    throw new IllegalArgumentException("unknown scenario '" + name + "' (known: " + String.join(", ", ids()) + ")");
  }

  public static List<String> ids() {
    return java.util.Arrays.stream(values()).map(Scenario::id).toList();
  }
}
