package io.eventpipe.node.router;

import java.util.function.LongSupplier;

/**
 * The send rate of one destination: a token bucket whose rate adapts to the destination's 429s (AIMD, as TCP
 * congestion control does): a 429 halves the rate (at most once a second, so that one burst of 429s counts once),
 * each second of successes adds a twentieth of the ceiling back, up to the configured {@code eventsPerSecond}.
 * Without a configured limit the bucket is open until the first 429; it then starts from half the rate observed
 * over the last second and opens again once it has recovered to twice that.
 *
 * <p>The bucket may go into debt so that a batch larger than the burst can pass: a request goes as soon as the
 * bucket holds any token, and takes all the tokens it needs. Real time ({@code ticker}, nanoseconds), not the
 * pipeline's clock: rate limiting is about the wall clock of this process. Not thread-safe: one worker context.
 */
final class AdaptiveRateLimiter {

  private static final long SECOND = 1_000_000_000L;
  private static final double MIN_RATE = 0.5;

  private final Double ceiling;
  private final LongSupplier ticker;
  private double rate;
  private double peak;
  private double tokens;
  private long lastRefill;
  private long lastChange;
  private long lastDecrease;
  private boolean decreased;
  private long windowStart;
  private long windowCount;
  private double observed;

  AdaptiveRateLimiter(Double ceiling, LongSupplier ticker) {
    this.ceiling = ceiling;
    this.ticker = ticker;
    this.rate = ceiling == null ? Double.POSITIVE_INFINITY : ceiling;
    long now = ticker.getAsLong();
    this.lastRefill = now;
    this.lastChange = now;
    this.windowStart = now;
    this.tokens = burst();
  }

  /** The current allowed rate in events per second; infinite when unlimited. */
  double rate() {
    return rate;
  }

  /**
   * Takes {@code n} tokens if the bucket holds any and returns 0, or returns how many nanoseconds to wait before
   * asking again.
   */
  long tryAcquire(int n) {
    long now = ticker.getAsLong();
    observe(now, n);
    if (Double.isInfinite(rate)) {
      return 0;
    }
    refill(now);
    if (tokens > 0) {
      tokens -= n;
      return 0;
    }
    return Math.max(1_000_000L, (long) ((1 - tokens) / rate * SECOND));
  }

  /** The destination answered 429. */
  void onThrottled() {
    long now = ticker.getAsLong();
    if (decreased && now - lastDecrease < SECOND) {
      return; // this burst of 429s was already counted
    }
    if (Double.isInfinite(rate)) {
      refreshObserved(now);
      peak = Math.max(MIN_RATE * 2, observed);
      rate = peak;
      tokens = 0;
      lastRefill = now;
    }
    refill(now);
    rate = Math.max(MIN_RATE, rate / 2);
    tokens = Math.min(tokens, 0);
    lastChange = now;
    lastDecrease = now;
    decreased = true;
  }

  /** A request succeeded: recover additively, once per second. */
  void onSuccess() {
    if (Double.isInfinite(rate)) {
      return;
    }
    long now = ticker.getAsLong();
    if (now - lastChange < SECOND) {
      return;
    }
    refill(now);
    lastChange = now;
    double top = peakOrCeiling();
    rate = Math.min(top * 2, rate + Math.max(MIN_RATE, top / 20));
    if (ceiling != null) {
      rate = Math.min(rate, ceiling);
    } else if (rate >= peak * 2) {
      rate = Double.POSITIVE_INFINITY; // recovered well beyond where it was throttled: open again
    }
  }

  private double peakOrCeiling() {
    return ceiling != null ? ceiling : peak;
  }

  private double burst() {
    return Double.isInfinite(rate) ? 0 : Math.max(1, rate / 10);
  }

  private void refill(long now) {
    long elapsed = now - lastRefill;
    if (elapsed > 0) {
      tokens = Math.min(burst(), tokens + elapsed * rate / SECOND);
      lastRefill = now;
    }
  }

  private void observe(long now, int n) {
    refreshObserved(now);
    windowCount += n;
  }

  private void refreshObserved(long now) {
    long elapsed = now - windowStart;
    if (elapsed >= SECOND) {
      observed = windowCount * (double) SECOND / elapsed;
      windowStart = now;
      windowCount = 0;
    } else if (elapsed > SECOND / 10) {
      observed = Math.max(observed, windowCount * (double) SECOND / elapsed);
    }
  }
}
