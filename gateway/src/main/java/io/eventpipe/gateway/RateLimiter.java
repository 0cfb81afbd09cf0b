package io.eventpipe.gateway;

import io.eventpipe.workspace.RateLimit;
import io.eventpipe.workspace.Source;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongSupplier;

/**
 * Per-source token buckets for {@link Source#rateLimit()}.
 *
 * <p>Each source's bucket holds at most {@code burst} tokens and refills at {@code eventsPerSecond}; a request of
 * {@code n} events takes {@code n} tokens. A request larger than the burst would never fit, so it is admitted when
 * the bucket is full and leaves the bucket in debt (negative), which later requests wait out: the long-run rate
 * still holds. Limits are looked up on every call, so a reloaded configuration applies at once (tokens are kept,
 * capped at the new burst); a source without a limit is never limited and its bucket is dropped.
 *
 * <p>Time comes from the injected nano clock, so tests advance it instead of sleeping. Buckets of sources that
 * disappear from the configuration are dropped on their next use; a workspace has few sources, so no expiry is
 * needed.
 */
public final class RateLimiter {

  private static final double NANOS_PER_SECOND = 1e9;

  private final Function<String, Optional<RateLimit>> limits;
  private final LongSupplier nanoClock;
  private final ConcurrentHashMap<String, Bucket> buckets = new ConcurrentHashMap<>();

  private RateLimiter(Function<String, Optional<RateLimit>> limits, LongSupplier nanoClock) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
  }

  /**
   * @param limits the limit of a source id, e.g. {@code store::rateLimitFor}
   * @param nanoClock a monotonic clock in nanoseconds, e.g. {@code System::nanoTime}
   */
  public static RateLimiter create(Function<String, Optional<RateLimit>> limits, LongSupplier nanoClock) {
    return new RateLimiter(limits, nanoClock);
  }

  /** A limiter on {@link System#nanoTime()}. */
  public static RateLimiter create(Function<String, Optional<RateLimit>> limits) {
    return new RateLimiter(limits, System::nanoTime);
  }

  /**
   * Takes {@code permits} tokens from the source's bucket if it can.
   *
   * @return 0 if admitted, otherwise the whole number of seconds (at least 1) after which the same request would
   *     be admitted, for the {@code Retry-After} header
   */
  public long tryAcquire(String sourceId, int permits) {
    if (permits < 0) {
      throw new IllegalArgumentException("permits must be >= 0, got " + permits);
    }
    RateLimit limit = limits.apply(sourceId).orElse(null);
    if (limit == null) {
      buckets.remove(sourceId);
      return 0;
    }
    long now = nanoClock.getAsLong();
    Bucket bucket = buckets.computeIfAbsent(sourceId, k -> new Bucket(limit.burst(), now));
    return bucket.tryAcquire(limit, permits, now);
  }

  /**
   * {@link #tryAcquire} that throws instead of returning a delay.
   *
   * @throws RateLimitedException (429) carrying the Retry-After seconds
   */
  public void acquireOrThrow(String sourceId, int permits) {
    long retryAfter = tryAcquire(sourceId, permits);
    if (retryAfter > 0) {
      throw new RateLimitedException(sourceId, retryAfter);
    }
  }

  /** One token bucket; {@link KeyRateLimiter} keeps one per routing key. */
  static final class Bucket {
    private double tokens;
    private long updatedNanos;

    Bucket(double tokens, long now) {
      this.tokens = tokens;
      this.updatedNanos = now;
    }

    synchronized long tryAcquire(RateLimit limit, int permits, long now) {
      long elapsed = now - updatedNanos;
      if (elapsed > 0) {
        tokens = Math.min(limit.burst(), tokens + elapsed * limit.eventsPerSecond() / NANOS_PER_SECOND);
        updatedNanos = now;
      } else {
        tokens = Math.min(limit.burst(), tokens);
      }
      double needed = Math.min(permits, limit.burst());
      if (tokens >= needed) {
        tokens -= permits;
        return 0;
      }
      double seconds = (needed - tokens) / limit.eventsPerSecond();
      return Math.max(1, (long) Math.ceil(seconds - 1e-9));
    }

    /** Gives back tokens taken for a request that was refused after all. */
    synchronized void refund(RateLimit limit, int permits) {
      tokens = Math.min(limit.burst(), tokens + permits);
    }
  }
}
