package io.eventpipe.node.router;

import io.eventpipe.workspace.ConfigReader;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;

/**
 * When a failed delivery is tried again and when it is given up. A job is aborted only when it has had at least
 * {@code maxAttempts} attempts <em>and</em> {@code maxWindow} has passed since its first attempt (whichever comes
 * later), so that a short outage never aborts anything and a long one aborts only after a bounded number of tries.
 *
 * <h2>Backoff</h2>
 * Exponential with "equal jitter": the nominal delay {@code min(maxBackoff, initialBackoff * 2^(attempts-1))} is
 * halved and a uniformly random part of the other half is added, so retries of many keys that failed together
 * spread out instead of arriving as a thundering herd, while no retry comes sooner than half the nominal delay
 * (see "Exponential Backoff And Jitter", AWS Architecture Blog, 2015). A server's {@code Retry-After} is honoured:
 * the next attempt is never earlier than it says (up to 24 hours).
 *
 * @param maxAttempts attempts before a job may be aborted (config {@code retry.maxAttempts}, default 3)
 * @param maxWindow time since the first attempt before a job may be aborted ({@code retry.maxWindowSeconds},
 *     default 3 hours)
 * @param initialBackoff delay after the first failure, before jitter ({@code retry.initialBackoffMs}, default 1 s)
 * @param maxBackoff largest nominal delay ({@code retry.maxBackoffMs}, default 5 minutes)
 */
public record RetryPolicy(int maxAttempts, Duration maxWindow, Duration initialBackoff, Duration maxBackoff) {

  public static final RetryPolicy DEFAULTS =
      new RetryPolicy(3, Duration.ofHours(3), Duration.ofSeconds(1), Duration.ofMinutes(5));

  /** The longest {@code Retry-After} honoured, against servers that ask for days. */
  static final Duration MAX_RETRY_AFTER = Duration.ofHours(24);

  static final Set<String> KEYS = Set.of("maxAttempts", "maxWindowSeconds", "initialBackoffMs", "maxBackoffMs");

  public RetryPolicy {
    if (maxAttempts < 1) {
      throw new IllegalArgumentException("maxAttempts must be >= 1, was " + maxAttempts);
    }
    if (maxWindow.isNegative() || initialBackoff.isNegative() || initialBackoff.isZero() || maxBackoff.compareTo(initialBackoff) < 0) {
      throw new IllegalArgumentException("need maxWindow >= 0 and 0 < initialBackoff <= maxBackoff, got " + maxWindow
          + ", " + initialBackoff + ", " + maxBackoff);
    }
  }

  /** Reads {@code retry: {...}} of a destination's config; absent keys take the defaults. */
  static RetryPolicy read(ConfigReader config) {
    ConfigReader r = config.child("retry");
    r.rejectUnknownKeys(KEYS);
    int attempts = (int) r.integer("maxAttempts", DEFAULTS.maxAttempts, 1, 1000);
    long window = r.integer("maxWindowSeconds", DEFAULTS.maxWindow.toSeconds(), 0, Duration.ofDays(30).toSeconds());
    long initial = r.integer("initialBackoffMs", DEFAULTS.initialBackoff.toMillis(), 1, Duration.ofHours(1).toMillis());
    long max = r.integer("maxBackoffMs", Math.max(initial, DEFAULTS.maxBackoff.toMillis()), 1, Duration.ofDays(1).toMillis());
    if (max < initial) {
      r.problem("maxBackoffMs", "must be >= initialBackoffMs (" + initial + "), got " + max);
      max = initial;
    }
    return new RetryPolicy(attempts, Duration.ofSeconds(window), Duration.ofMillis(initial), Duration.ofMillis(max));
  }

  /**
   * The delay before the next attempt after {@code attempts} failed ones (1-based).
   *
   * @param random a uniform value in [0, 1) for the jitter
   */
  public Duration backoff(int attempts, double random) {
    long initial = initialBackoff.toMillis();
    long max = maxBackoff.toMillis();
    int shift = Math.min(Math.max(attempts - 1, 0), 40);
    long nominal = initial > (max >> shift) ? max : Math.min(max, initial << shift);
    long half = nominal / 2;
    return Duration.ofMillis(nominal - half + (long) (random * half));
  }

  /** The time of the next attempt: after the backoff, and not before what the server asked for. */
  public Instant nextAttempt(Instant now, int attempts, double random, Duration retryAfter) {
    Duration delay = backoff(attempts, random);
    if (retryAfter != null && retryAfter.compareTo(delay) > 0) {
      delay = retryAfter.compareTo(MAX_RETRY_AFTER) > 0 ? MAX_RETRY_AFTER : retryAfter;
    }
    return now.plus(delay);
  }

  /** True when a job that failed again should be aborted rather than retried. */
  public boolean exhausted(int attempts, Instant firstAttemptAt, Instant now) {
    return attempts >= maxAttempts && !now.isBefore(firstAttemptAt.plus(maxWindow));
  }
}
