package io.eventpipe.workspace;

/**
 * A source's ingestion rate limit: a token bucket refilled at {@code eventsPerSecond} holding at most
 * {@code burst} events.
 *
 * @param eventsPerSecond sustained rate, {@code > 0}
 * @param burst bucket size, {@code >= 1}; defaults to {@code max(1, eventsPerSecond)}, one second's worth
 * @param perKeyEventsPerSecond the sustained rate of one routing key (one user) of the source, its burst one second's
 *     worth; 0 for none. It keeps a bot or a broken integration that sends everything as one user ({@code userId:
 *     "undefined"}) from building a backlog its serial lane can never drain (see {@code io.eventpipe.gateway.KeyRateLimiter})
 */
public record RateLimit(double eventsPerSecond, double burst, double perKeyEventsPerSecond) {
  public RateLimit {
    if (!(perKeyEventsPerSecond >= 0) || Double.isInfinite(perKeyEventsPerSecond)) {
      throw new IllegalArgumentException("perKeyEventsPerSecond must be a positive number, got " + perKeyEventsPerSecond);
    }
    if (!(eventsPerSecond > 0) || Double.isInfinite(eventsPerSecond)) {
      throw new IllegalArgumentException("eventsPerSecond must be a positive number, got " + eventsPerSecond);
    }
    if (!(burst >= 1) || Double.isInfinite(burst)) {
      throw new IllegalArgumentException("burst must be a number >= 1, got " + burst);
    }
  }

  /** A source limit without a per-key limit. */
  public RateLimit(double eventsPerSecond, double burst) {
    this(eventsPerSecond, burst, 0);
  }

  /** This limit with a per-key limit ({@code 0}: none). */
  public RateLimit withPerKey(double eventsPerSecond) {
    return new RateLimit(this.eventsPerSecond, burst, eventsPerSecond);
  }

  /** A limit with the default burst of one second's worth of events. */
  public static RateLimit perSecond(double eventsPerSecond) {
    return new RateLimit(eventsPerSecond, Math.max(1, eventsPerSecond));
  }
}
