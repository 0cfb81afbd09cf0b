package io.eventpipe.migrator;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalDouble;

/**
 * A recent window's p99 from a cumulative histogram scraped again and again (a Prometheus {@code _bucket} series): the
 * differences between scrapes are the observations of each interval; those of the last {@code window} are summed and the
 * 99th percentile read from the sum. Pure: the scrape time is an argument.
 *
 * <p>The p99 is the upper bound of the bucket that holds the 99th percentile observation (Micrometer's percentile
 * histogram buckets grow by about a third, so it overstates by at most that): conservative, the throttle slows a little
 * early rather than late. A counter that went down (the node restarted) or buckets that changed start the window over.
 */
final class LatencyWindow {

  private record Delta(Instant at, long[] counts) {}

  private final Duration window;
  private final long minSamples;
  private double[] bounds;
  private long[] last;
  private final Deque<Delta> deltas = new ArrayDeque<>();

  /**
   * @param window how far back observations count
   * @param minSamples fewest observations in the window for a p99 (fewer say nothing about a tail)
   */
  LatencyWindow(Duration window, long minSamples) {
    this.window = Objects.requireNonNull(window, "window");
    this.minSamples = minSamples;
  }

  /**
   * Adds a scrape.
   *
   * @param upperBoundsSeconds the buckets' upper bounds, ascending (the last may be +Inf)
   * @param cumulative each bucket's cumulative count (observations at or below its bound, since the process started)
   */
  void add(Instant at, double[] upperBoundsSeconds, long[] cumulative) {
    if (upperBoundsSeconds.length != cumulative.length) {
      throw new IllegalArgumentException("bounds and counts differ in length: " + upperBoundsSeconds.length + " vs "
          + cumulative.length);
    }
    if (last == null || !Arrays.equals(bounds, upperBoundsSeconds) || decreased(cumulative)) {
      bounds = upperBoundsSeconds.clone();
      last = cumulative.clone();
      deltas.clear();
      return;
    }
    long[] d = new long[cumulative.length];
    for (int i = 0; i < d.length; i++) {
      d[i] = cumulative[i] - last[i];
    }
    last = cumulative.clone();
    deltas.addLast(new Delta(at, d));
    // a delta covers the interval up to its scrape: the window (at - window, at] holds those scraped after its start
    while (!deltas.isEmpty() && !deltas.peekFirst().at().isAfter(at.minus(window))) {
      deltas.removeFirst();
    }
  }

  private boolean decreased(long[] cumulative) {
    for (int i = 0; i < cumulative.length; i++) {
      if (cumulative[i] < last[i]) {
        return true;
      }
    }
    return false;
  }

  /** The window's p99 in milliseconds, or empty with fewer than {@code minSamples} observations in it. */
  OptionalDouble p99Millis() {
    if (deltas.isEmpty()) {
      return OptionalDouble.empty();
    }
    long[] sum = new long[bounds.length];
    for (Delta d : deltas) {
      for (int i = 0; i < sum.length; i++) {
        sum[i] += d.counts()[i];
      }
    }
    long total = sum[sum.length - 1];
    if (total < minSamples || total <= 0) {
      return OptionalDouble.empty();
    }
    double rank = Math.ceil(0.99 * total);
    for (int i = 0; i < sum.length; i++) {
      if (sum[i] >= rank) {
        double bound = bounds[i];
        // past the highest finite bound, the p99 is at least that bound: say so rather than infinity
        if (Double.isInfinite(bound)) {
          bound = i > 0 ? bounds[i - 1] : 0;
        }
        return OptionalDouble.of(bound * 1000);
      }
    }
    return OptionalDouble.empty();
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "LatencyWindow[%d intervals]", deltas.size());
  }
}
