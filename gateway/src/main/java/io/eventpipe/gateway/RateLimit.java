package io.eventpipe.gateway;

/**
 * A source's ingestion rate limit: a token bucket refilled at {@code eventsPerSecond} holding at most
 * {@code burst} events.
 *
 * @param eventsPerSecond sustained rate, {@code > 0}
 * @param burst bucket size, {@code >= 1}; defaults to {@code max(1, eventsPerSecond)}, one second's worth
 */
public record RateLimit(double eventsPerSecond, double burst) {
  public RateLimit {
    if (!(eventsPerSecond > 0) || Double.isInfinite(eventsPerSecond)) {
      throw new IllegalArgumentException("eventsPerSecond must be a positive number, got " + eventsPerSecond);
    }
    if (!(burst >= 1) || Double.isInfinite(burst)) {
      throw new IllegalArgumentException("burst must be a number >= 1, got " + burst);
    }
  }

  /** A limit with the default burst of one second's worth of events. */
  public static RateLimit perSecond(double eventsPerSecond) {
    return new RateLimit(eventsPerSecond, Math.max(1, eventsPerSecond));
  }
}
