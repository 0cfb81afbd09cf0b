package io.eventpipe.loadtests.harness;

import java.util.ArrayList;
import java.util.List;

/**
 * When each request of an open-model load is meant to be sent: a constant arrival rate, with windows where it is
 * multiplied (a burst). Pure arithmetic over nanoseconds since the start of the run, so the rate control is unit
 * tested without a clock. The load measures every latency from these intended times, never from the moment a request
 * actually left: a stalled system cannot slow the schedule down and hide its stall (no coordinated omission, Gil
 * Tene's "How NOT to measure latency").
 *
 * <p>Request {@code i}'s intended time is the instant at which the integral of the rate since the start reaches
 * {@code i}: inside a window of factor f the requests come f times as close together.
 */
public final class RateSchedule {

  /** Between {@code fromNanos} and {@code toNanos} the rate is {@code factor} times the base rate. */
  public record Window(long fromNanos, long toNanos, double factor) {
    public Window {
      if (toNanos <= fromNanos || factor <= 0) {
        throw new IllegalArgumentException("a rate window needs from < to and a factor > 0: " + fromNanos + ".." + toNanos
            + " x" + factor);
      }
    }
  }

  private final double perSecond;
  private final long durationNanos;
  private final List<Window> windows;

  /**
   * @param perSecond requests per second outside the windows (> 0)
   * @param durationNanos no request is intended at or after this
   * @param windows non-overlapping, in time order
   */
  public RateSchedule(double perSecond, long durationNanos, List<Window> windows) {
    if (!(perSecond > 0) || durationNanos <= 0) {
      throw new IllegalArgumentException("a schedule needs a rate > 0 and a duration > 0: " + perSecond + "/s for "
          + durationNanos + " ns");
    }
    long end = 0;
    for (Window w : windows) {
      if (w.fromNanos() < end) {
        throw new IllegalArgumentException("rate windows overlap or are out of order: " + windows);
      }
      end = w.toNanos();
    }
    this.perSecond = perSecond;
    this.durationNanos = durationNanos;
    this.windows = List.copyOf(windows);
  }

  /** The rate (requests per second) at {@code atNanos}. */
  public double rateAt(long atNanos) {
    for (Window w : windows) {
      if (atNanos >= w.fromNanos() && atNanos < w.toNanos()) {
        return perSecond * w.factor();
      }
    }
    return perSecond;
  }

  /**
   * The intended time of request {@code i} (0-based), or -1 when it falls at or after the end of the schedule.
   * Computed from the integral, not by adding intervals, so no rounding error accumulates over millions of requests.
   */
  public long intendedNanos(long i) {
    double need = i; // requests "owed" before request i is due
    long at = 0;
    for (Window w : windows) {
      double before = (w.fromNanos() - at) / 1e9 * perSecond; // base-rate stretch before this window
      if (need < before) {
        return check(at + (long) (need / perSecond * 1e9));
      }
      need -= before;
      double inside = (w.toNanos() - w.fromNanos()) / 1e9 * perSecond * w.factor();
      if (need < inside) {
        return check(w.fromNanos() + (long) (need / (perSecond * w.factor()) * 1e9));
      }
      need -= inside;
      at = w.toNanos();
    }
    return check(at + (long) (need / perSecond * 1e9));
  }

  private long check(long t) {
    return t < durationNanos ? t : -1;
  }

  /** How many requests the schedule holds in all. */
  public long total() {
    long lo = 0;
    long hi = 1;
    while (intendedNanos(hi) >= 0) {
      hi *= 2;
    }
    while (hi - lo > 1) { // the first index past the end is in (lo, hi]
      long mid = (lo + hi) >>> 1;
      if (intendedNanos(mid) >= 0) {
        lo = mid;
      } else {
        hi = mid;
      }
    }
    return hi;
  }

  public long durationNanos() {
    return durationNanos;
  }

  public List<Window> windows() {
    return windows;
  }

  /** A constant rate, for {@code seconds}. */
  public static RateSchedule constant(double perSecond, double seconds) {
    return new RateSchedule(perSecond, (long) (seconds * 1e9), new ArrayList<>());
  }
}
