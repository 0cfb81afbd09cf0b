package io.eventpipe.migrator;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * The copy's adaptive rate limit: keeps ingest latency on the nodes a migration touches near what it was before the copy
 * began. Pure (no Vert.x, time from an injected {@link Clock}), so its decisions are unit-tested against synthetic latency
 * series; {@link Throttle} feeds it readings and applies its limit.
 *
 * <h2>Algorithm</h2>
 * <ol>
 *   <li><b>Baseline.</b> For {@link Settings#baselineFor} after it is created (the copy has not started), each node's
 *       readings (a recent window's p99) are collected; the baseline is their median per node, at least
 *       {@link Settings#minBaselineMillis} (below that a ratio measures noise, and nobody notices the latency).</li>
 *   <li><b>Control</b> (additive increase, multiplicative decrease, as TCP's congestion window, RFC 5681): at each
 *       {@link #tick} the worst node's ratio {@code p99 / baseline} decides.
 *       Above {@link Settings#targetRatio}: the limit halves, from what the copy actually did if that is lower than the
 *       limit (an unlimited copy is halved from its observed rate), then no further decrease for
 *       {@link Settings#cooldown} (the latency window still holds samples from before the decrease).
 *       Below {@link #RECOVER_BELOW} of the target, once the cooldown passed: the limit grows by a twentieth of the
 *       highest rate cut from in this episode, per tick, so a halving takes about ten ticks to undo and a fall to the
 *       floor about twenty (back off fast, recover slowly).
 *       In between: the limit holds.</li>
 *   <li><b>Bounds.</b> Never above {@link Settings#ceiling} (the operator's {@code --max-jobs-per-second}); never below
 *       {@link Settings#floor}, so a migration always finishes, whatever ingest does.</li>
 *   <li><b>No signal</b> (no node answered, or too little ingest to estimate a p99): the limit holds, and the reason says
 *       so. Without a baseline the copy runs at the ceiling (unlimited without one), as with {@code --throttle off}.</li>
 * </ol>
 * Every change comes with a reason for the progress output, naming the node and the figures.
 */
public final class ThrottleController {

  /** Recovery starts when the worst ratio is below this fraction of the target (hysteresis against flapping). */
  static final double RECOVER_BELOW = 0.8;
  /** The smallest baseline p99 the migrator uses, in milliseconds: a commit faster than this is not what ingest waits on. */
  public static final double DEFAULT_MIN_BASELINE_MILLIS = 5;
  private static final double DECREASE = 0.5;
  private static final double INCREASE_OF_CUT = 1.0 / 20;

  /**
   * How the controller behaves.
   *
   * @param targetRatio ingest p99 over its steady-state baseline above which the copy slows (greater than 1)
   * @param ceiling most copy units per second, 0 for none ({@code --max-jobs-per-second})
   * @param floor fewest copy units per second the controller slows to (at most the ceiling), so a migration finishes
   * @param baselineFor how long the steady state is measured before the copy begins
   * @param cooldown least time between two decreases, and from a decrease to the first increase
   * @param minBaselineMillis smallest baseline p99 in milliseconds (ratios against less are noise)
   */
  public record Settings(double targetRatio, double ceiling, double floor, Duration baselineFor, Duration cooldown,
      double minBaselineMillis) {
    public Settings {
      if (!(targetRatio > 1 && targetRatio <= 100)) {
        throw new IllegalArgumentException("the target latency ratio must be above 1 and at most 100; got " + targetRatio);
      }
      if (!(ceiling >= 0) || !(floor > 0)) {
        throw new IllegalArgumentException("the ceiling must be >= 0 (0 for none) and the floor > 0; got ceiling " + ceiling
            + ", floor " + floor);
      }
      Objects.requireNonNull(baselineFor, "baselineFor");
      Objects.requireNonNull(cooldown, "cooldown");
      if (baselineFor.isNegative() || cooldown.isNegative() || !(minBaselineMillis >= 0)) {
        throw new IllegalArgumentException("baselineFor, cooldown and minBaselineMillis must not be negative");
      }
      if (ceiling > 0 && floor > ceiling) {
        floor = ceiling;
      }
    }
  }

  /**
   * The limit after a tick.
   *
   * @param limit copy units per second, {@link Double#POSITIVE_INFINITY} for none
   * @param reason why the limit is what it is (for the progress output), null before the first decision
   * @param changed whether this tick changed the limit or the reason (worth a log line)
   */
  public record Decision(double limit, String reason, boolean changed) {}

  private final Settings settings;
  private final Clock clock;
  private final Instant baselineUntil;
  private final Map<Integer, List<Double>> baselineReadings = new TreeMap<>();
  private Map<Integer, Double> baseline;
  private double limit;
  private String reason;
  private Instant lastDecrease;
  /** the highest rate cut from since the limit was last at the top: a twentieth of it is the recovery step */
  private double cutFrom;
  /** the highest rate observed while unlimited: growing back past it means unlimited again */
  private double peakObserved;

  public ThrottleController(Settings settings, Clock clock) {
    this.settings = Objects.requireNonNull(settings, "settings");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.baselineUntil = clock.instant().plus(settings.baselineFor());
    this.limit = settings.ceiling() > 0 ? settings.ceiling() : Double.POSITIVE_INFINITY;
    this.reason = "measuring steady-state ingest latency";
  }

  /** Whether the baseline is still being measured (the copy should not start yet). */
  public synchronized boolean measuringBaseline() {
    return baseline == null && clock.instant().isBefore(baselineUntil);
  }

  /** The current limit, {@link Double#POSITIVE_INFINITY} for none. */
  public synchronized double limit() {
    return limit;
  }

  /** Why the limit is what it is. */
  public synchronized String reason() {
    return reason;
  }

  /**
   * One control step.
   *
   * @param p99Millis each node's recent-window ingest p99 in milliseconds; a node without a signal is absent
   * @param observedRate copy units per second since the previous tick
   */
  public synchronized Decision tick(Map<Integer, Double> p99Millis, double observedRate) {
    Instant now = clock.instant();
    if (baseline == null) {
      p99Millis.forEach((node, p99) -> baselineReadings.computeIfAbsent(node, k -> new ArrayList<>()).add(p99));
      if (now.isBefore(baselineUntil)) {
        return decide(limit, "measuring steady-state ingest latency");
      }
      baseline = new TreeMap<>();
      baselineReadings.forEach((node, readings) -> baseline.put(node, Math.max(settings.minBaselineMillis(), median(readings))));
      if (!baseline.isEmpty()) {
        StringBuilder b = new StringBuilder("steady state: ingest p99");
        baseline.forEach((node, ms) -> b.append(b.length() > 24 ? "," : "").append(' ').append(millis(ms)).append(" ms on node ")
            .append(node));
        decide(limit, b.append("; copying at ").append(rate(limit)).toString());
      }
    }
    if (Double.isInfinite(limit)) {
      peakObserved = Math.max(peakObserved, observedRate);
    }
    if (baseline.isEmpty()) {
      return decide(limit, "no steady-state ingest latency was measured (no node reported enough ingest): copying at "
          + rate(limit) + " without adapting");
    }
    Integer worst = null;
    double worstRatio = 0;
    for (Map.Entry<Integer, Double> e : p99Millis.entrySet()) {
      Double base = baseline.get(e.getKey());
      if (base != null && e.getValue() / base >= worstRatio) {
        worst = e.getKey();
        worstRatio = e.getValue() / base;
      }
    }
    if (worst == null) {
      return decide(limit, "no ingest latency signal from nodes " + baseline.keySet() + ": keeping " + rate(limit));
    }
    String figures = String.format(Locale.ROOT, "ingest p99 %s ms vs %s ms steady on node %d", millis(p99Millis.get(worst)),
        millis(baseline.get(worst)), worst);
    boolean cooled = lastDecrease == null || !now.isBefore(lastDecrease.plus(settings.cooldown()));
    if (worstRatio > settings.targetRatio()) {
      if (!cooled || limit <= settings.floor()) {
        return decide(limit, limit <= settings.floor() ? "holding at the floor " + rate(limit) + ": " + figures : reason);
      }
      double from = limit;
      if (observedRate > 0 && observedRate < from) {
        from = observedRate;
      }
      if (Double.isInfinite(from)) {
        from = peakObserved > 0 ? peakObserved : 2 * settings.floor();
      }
      double next = Math.max(settings.floor(), from * DECREASE);
      lastDecrease = now;
      cutFrom = Math.max(cutFrom, from); // the rate before this episode of overload: recovery steps are sized by it
      return decide(next, "slowing to " + rate(next) + ": " + figures);
    }
    if (worstRatio < settings.targetRatio() * RECOVER_BELOW && cooled && Double.isFinite(limit)
        && (settings.ceiling() <= 0 || limit < settings.ceiling())) {
      double next = limit + Math.max(1, cutFrom * INCREASE_OF_CUT);
      if (settings.ceiling() > 0 && next >= settings.ceiling()) {
        cutFrom = 0;
        return decide(settings.ceiling(), "back at the ceiling " + rate(settings.ceiling()) + ": " + figures);
      }
      if (settings.ceiling() <= 0 && next >= Math.max(peakObserved, cutFrom)) {
        cutFrom = 0;
        return decide(Double.POSITIVE_INFINITY, "no limit again: " + figures);
      }
      return decide(next, "speeding up to " + rate(next) + ": " + figures);
    }
    return decide(limit, reason);
  }

  private Decision decide(double next, String why) {
    boolean changed = next != limit || !why.equals(reason);
    limit = next;
    reason = why;
    return new Decision(limit, reason, changed);
  }

  private static double median(List<Double> values) {
    List<Double> sorted = new ArrayList<>(values);
    Collections.sort(sorted);
    return sorted.get(sorted.size() / 2);
  }

  private static String rate(double r) {
    return Double.isInfinite(r) ? "no limit" : String.format(Locale.ROOT, "%,.0f jobs/s", r);
  }

  private static String millis(double ms) {
    return String.format(Locale.ROOT, ms < 10 ? "%.1f" : "%.0f", ms);
  }
}
