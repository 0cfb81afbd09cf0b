package io.eventpipe.gateway;

/** 429: the source sends more events per second than its {@code rateLimit} allows. */
public class RateLimitedException extends GatewayException {

  private static final long serialVersionUID = 1L;

  private final String sourceId;
  private final long retryAfterSeconds;

  public RateLimitedException(String sourceId, long retryAfterSeconds) {
    this(sourceId, retryAfterSeconds, "source '" + sourceId + "' is over its rate limit; retry after " + retryAfterSeconds
        + " s (Retry-After header) or raise rateLimit.eventsPerSecond in the workspace configuration");
  }

  /** With its own message (a per-key limit names the key). */
  public RateLimitedException(String sourceId, long retryAfterSeconds, String message) {
    super(429, message, null, null);
    this.sourceId = sourceId;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  public String sourceId() {
    return sourceId;
  }

  /** The value for the {@code Retry-After} header. */
  public long retryAfterSeconds() {
    return retryAfterSeconds;
  }
}
