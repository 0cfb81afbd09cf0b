package io.eventpipe.autoscaler;

import io.eventpipe.autoscaler.Decision.Action;
import io.eventpipe.autoscaler.Decision.Signal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The autoscaler's decision: a pure function of the readings it was given ({@link #decide}) and of when the last
 * resize ended ({@link #resized}). No clock, no I/O: tests feed it recorded sequences of {@link Signals}.
 *
 * <p>Rules, in order (the first that applies decides):
 * <ol>
 *   <li>A migration runs: hold ({@code migration_running}); the windows start again after it.</li>
 *   <li>A node of the topology did not answer: hold ({@code node_unreachable}); its partitions are stranded until it
 *       is back, and more nodes would not change that.</li>
 *   <li>The node count is outside {@code min..max}: move one node towards the bound ({@code bounds}).</li>
 *   <li>Some queue that more nodes can drain stayed older than {@code upAge} at every reading for {@code upWindow}:
 *       grow by one ({@code backlog_age}), unless at {@code max} ({@code at_bound}) or within {@code cooldown} of the
 *       last resize ({@code cooldown}).</li>
 *   <li>The only old queues are destinations that fail or do not move: hold ({@code failing_destination}), naming
 *       them. A destination counts as failing when, over the window, at least {@code failingRatio} of its attempts
 *       failed, or it delivered nothing (its jobs wait in backoff, or it is invalid): work that more nodes cannot do.
 *       The ingest queue counts as stuck when no event was fanned out while it was old.</li>
 *   <li>The cluster stayed underused at every reading for {@code downWindow} (no queue that more nodes can drain is
 *       older than {@code downAge}, and the ingest rate is below {@code downEventsPerNode} times one node fewer):
 *       shrink by one ({@code underused}), with the same bound and cooldown checks.</li>
 *   <li>Otherwise hold ({@code window} while a condition builds up, {@code steady} when none does).</li>
 * </ol>
 * One node at a time: each resize is a migration, and the windows start again after it, measured on the new size.
 */
public final class ScalingPolicy {

  /**
   * The policy's settings.
   *
   * @param min fewest nodes
   * @param max most nodes
   * @param upAge a drainable queue older than this is backlog
   * @param upWindow how long backlog must last at every reading before a grow
   * @param downAge no drainable queue older than this, for the cluster to count as underused
   * @param downEventsPerNode underused also needs the ingest rate below this times (nodes - 1)
   * @param downWindow how long underuse must last before a shrink
   * @param cooldown no resize within this of the end of the last one
   * @param failingRatio a destination whose failed share of attempts over the window is at least this is failing
   */
  public record Config(int min, int max, Duration upAge, Duration upWindow, Duration downAge, double downEventsPerNode,
      Duration downWindow, Duration cooldown, double failingRatio) {

    public Config {
      if (min < 1 || max < min) {
        throw new IllegalArgumentException("autoscaling bounds " + min + ".." + max + " must satisfy 1 <= min <= max");
      }
      if (failingRatio <= 0 || failingRatio > 1) {
        throw new IllegalArgumentException("failing ratio " + failingRatio + " must be in (0, 1]");
      }
      if (downEventsPerNode < 0) {
        throw new IllegalArgumentException("down events per node " + downEventsPerNode + " must be at least 0");
      }
    }

    /** Defaults for a production cluster: grow on 30 s of backlog kept 2 minutes, shrink after 10 minutes of underuse. */
    public static Config defaults(int min, int max) {
      return new Config(min, max, Duration.ofSeconds(30), Duration.ofMinutes(2), Duration.ofSeconds(5), 200,
          Duration.ofMinutes(10), Duration.ofMinutes(5), 0.5);
    }
  }

  private final Config config;
  private final Deque<Signals> history = new ArrayDeque<>();
  private Instant upSince;
  private Instant downSince;
  private Instant lastResize;

  public ScalingPolicy(Config config) {
    this.config = config;
  }

  public Config config() {
    return config;
  }

  /** A resize ended (done or failed) at {@code at}: the cooldown counts from here, the windows start again. */
  public void resized(Instant at) {
    lastResize = at;
    restart();
  }

  private void restart() {
    history.clear();
    upSince = null;
    downSince = null;
  }

  /** Decides on a new reading (readings come in time order). */
  public Decision decide(Signals s) {
    Instant now = s.at();
    int n = s.nodes();
    if (s.migration() != null) {
      restart();
      return hold(now, n, Signal.MIGRATION_RUNNING, "migration " + s.migration() + " is in progress; deciding again after it");
    }
    if (!s.unreachable().isEmpty()) {
      restart();
      return hold(now, n, Signal.NODE_UNREACHABLE, "node(s) " + s.unreachable().keySet() + " did not answer ("
          + String.join("; ", s.unreachable().values()) + "): their partitions wait for them, more nodes would not serve"
          + " them; not deciding on partial signals");
    }
    if (n < config.min()) {
      return change(now, n, n + 1, Signal.BOUNDS, n + " nodes is below the minimum " + config.min());
    }
    if (n > config.max()) {
      return change(now, n, n - 1, Signal.BOUNDS, n + " nodes is above the maximum " + config.max());
    }
    Signals previous = history.peekLast();
    history.addLast(s);
    Duration keep = config.upWindow().compareTo(config.downWindow()) > 0 ? config.upWindow() : config.downWindow();
    while (history.size() > 2 && Duration.between(history.peekFirst().at(), now).compareTo(keep) > 0) {
      history.removeFirst();
    }
    Assessment a = assess(s, previous);

    // backlog that more nodes can drain
    if (!a.drainable.isEmpty()) {
      downSince = null;
      if (upSince == null) {
        upSince = now;
      }
      Duration lasted = Duration.between(upSince, now);
      String what = "backlog " + String.join(", ", a.drainable);
      if (lasted.compareTo(config.upWindow()) < 0) {
        return hold(now, n, Signal.WINDOW, what + " for " + secs(lasted) + " of the " + secs(config.upWindow()) + " window");
      }
      if (n >= config.max()) {
        return hold(now, n, Signal.AT_BOUND, what + " for " + secs(lasted) + ", but the cluster is at its maximum " + config.max());
      }
      Decision cooling = cooldown(now, n, what);
      if (cooling != null) {
        return cooling;
      }
      return change(now, n, n + 1, Signal.BACKLOG_AGE, what + " above " + secs(config.upAge()) + " for " + secs(lasted)
          + " (window " + secs(config.upWindow()) + "); ingest " + rate(a.ingestRate));
    }
    upSince = null;
    if (!a.undrainable.isEmpty()) {
      downSince = null;
      return hold(now, n, Signal.FAILING_DESTINATION, "backlog that more nodes cannot drain: " + String.join(", ", a.undrainable)
          + "; not growing");
    }
    // underused
    boolean underused = n > 1 && a.ingestRate != null && a.maxDrainableAge <= config.downAge().toMillis() / 1000.0
        && a.ingestRate < config.downEventsPerNode() * (n - 1);
    if (!underused) {
      downSince = null;
      return hold(now, n, Signal.STEADY, "no backlog; ingest " + rate(a.ingestRate));
    }
    String what = String.format(Locale.ROOT, "ingest %s is below %.0f events/s per node for %d nodes, no queue older than %s",
        rate(a.ingestRate), config.downEventsPerNode(), n - 1, secs(config.downAge()));
    if (n <= config.min()) { // no window builds up towards a shrink that cannot happen
      downSince = null;
      return hold(now, n, Signal.AT_BOUND, what + ", but the cluster is at its minimum " + config.min());
    }
    if (downSince == null) {
      downSince = now;
    }
    Duration lasted = Duration.between(downSince, now);
    if (lasted.compareTo(config.downWindow()) < 0) {
      return hold(now, n, Signal.WINDOW, what + " for " + secs(lasted) + " of the " + secs(config.downWindow()) + " window");
    }
    Decision cooling = cooldown(now, n, what);
    if (cooling != null) {
      return cooling;
    }
    return change(now, n, n - 1, Signal.UNDERUSED, what + " for " + secs(lasted) + " (window " + secs(config.downWindow()) + ")");
  }

  private Decision cooldown(Instant now, int n, String what) {
    if (lastResize != null && Duration.between(lastResize, now).compareTo(config.cooldown()) < 0) {
      return hold(now, n, Signal.COOLDOWN, what + ", but the last resize ended " + secs(Duration.between(lastResize, now))
          + " ago (cooldown " + secs(config.cooldown()) + ")");
    }
    return null;
  }

  private Decision change(Instant now, int from, int to, Signal signal, String reason) {
    restart();
    return new Decision(now, to > from ? Action.GROW : Action.SHRINK, from, to, signal, reason);
  }

  private static Decision hold(Instant now, int n, Signal signal, String reason) {
    return new Decision(now, Action.HOLD, n, n, signal, reason);
  }

  /** What one reading says, with the counters of the window behind it. */
  private static final class Assessment {
    final List<String> drainable = new ArrayList<>();
    final List<String> undrainable = new ArrayList<>();
    double maxDrainableAge;
    Double ingestRate;
  }

  private Assessment assess(Signals s, Signals previous) {
    Assessment a = new Assessment();
    double upAge = config.upAge().toMillis() / 1000.0;
    Signals first = history.peekFirst();
    // "nothing moved" needs a whole window of readings to be evidence; a share of failed attempts needs two readings
    boolean fullWindow = Duration.between(first.at(), s.at()).compareTo(config.upWindow()) >= 0;
    // the ingest rate between the last two readings (a node's counter that went down restarted: its delta is unknown)
    if (previous != null) {
      a.ingestRate = rate(previous, s, NodeTotals.INGESTED);
    }
    // the ingest queue (fan-out) of each node: drainable while it fans out
    for (Signals.NodeSignals node : s.perNode()) {
      double age = node.ingest().oldestAgeSeconds();
      if (age > upAge) {
        long fanned = delta(first, s, node.node(), NodeTotals.FANNED_OUT);
        String q = String.format(Locale.ROOT, "ingest queue of node %d (%d pending, oldest %.0f s)", node.node(),
            node.ingest().pending(), age);
        if (fullWindow && fanned == 0) {
          a.undrainable.add(q + ": nothing fanned out over the window");
        } else {
          a.drainable.add(q);
        }
      } else {
        a.maxDrainableAge = Math.max(a.maxDrainableAge, age);
      }
    }
    // each destination across nodes: drainable unless it fails or does not move
    Map<String, double[]> dests = new TreeMap<>(); // pending, max age, delivered delta, failed delta
    for (Signals.NodeSignals node : s.perNode()) {
      for (Map.Entry<String, Signals.Destination> e : node.destinations().entrySet()) {
        double[] d = dests.computeIfAbsent(e.getKey(), k -> new double[4]);
        Signals.Destination now = e.getValue();
        Signals.Destination then = destinationIn(first, node.node(), e.getKey());
        d[0] += now.pending();
        d[1] = Math.max(d[1], now.oldestAgeSeconds());
        if (then != null && now.delivered() >= then.delivered() && now.failed() >= then.failed()) {
          d[2] += now.delivered() - then.delivered();
          d[3] += now.failed() - then.failed();
        }
      }
    }
    for (Map.Entry<String, double[]> e : dests.entrySet()) {
      double[] d = e.getValue();
      if (d[1] <= upAge) {
        a.maxDrainableAge = Math.max(a.maxDrainableAge, d[1]);
        continue;
      }
      String q = String.format(Locale.ROOT, "destination %s (%.0f pending, oldest %.0f s)", e.getKey(), d[0], d[1]);
      double attempts = d[2] + d[3];
      boolean windowSeen = first != s;
      if (windowSeen && d[3] > 0 && d[2] == 0) {
        a.undrainable.add(q + String.format(Locale.ROOT, ": %.0f failed attempts and no delivery over the window"
            + " (retries and backoff)", d[3]));
      } else if (windowSeen && attempts > 0 && d[3] / attempts >= config.failingRatio()) {
        a.undrainable.add(q + String.format(Locale.ROOT, ": %.0f%% of its attempts failed over the window", 100 * d[3] / attempts));
      } else if (fullWindow && attempts == 0) {
        a.undrainable.add(q + ": no delivery over the window (waiting in backoff, invalid, or held)");
      } else {
        a.drainable.add(q);
        a.maxDrainableAge = Math.max(a.maxDrainableAge, d[1]);
      }
    }
    return a;
  }

  private enum NodeTotals { INGESTED, FANNED_OUT }

  private static long total(Signals.NodeSignals n, NodeTotals which) {
    return which == NodeTotals.INGESTED ? n.ingested() : n.fannedOut();
  }

  private static long delta(Signals from, Signals to, int node, NodeTotals which) {
    Signals.NodeSignals a = nodeIn(from, node);
    Signals.NodeSignals b = nodeIn(to, node);
    if (a == null || b == null || total(b, which) < total(a, which)) {
      return 0;
    }
    return total(b, which) - total(a, which);
  }

  private static Double rate(Signals from, Signals to, NodeTotals which) {
    double seconds = Duration.between(from.at(), to.at()).toMillis() / 1000.0;
    if (seconds <= 0) {
      return null;
    }
    long sum = 0;
    for (Signals.NodeSignals n : to.perNode()) {
      sum += delta(from, to, n.node(), which);
    }
    return sum / seconds;
  }

  private static Signals.NodeSignals nodeIn(Signals s, int node) {
    if (s == null) {
      return null;
    }
    for (Signals.NodeSignals n : s.perNode()) {
      if (n.node() == node) {
        return n;
      }
    }
    return null;
  }

  private static Signals.Destination destinationIn(Signals s, int node, String destination) {
    Signals.NodeSignals n = nodeIn(s, node);
    return n == null ? null : n.destinations().get(destination);
  }

  private static String secs(Duration d) {
    return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1000.0);
  }

  private static String rate(Double r) {
    return r == null ? "rate unknown yet" : String.format(Locale.ROOT, "%.1f events/s", r);
  }
}
