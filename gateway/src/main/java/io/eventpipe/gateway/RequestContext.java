package io.eventpipe.gateway;

import java.time.Instant;
import java.util.Objects;
import java.util.function.LongPredicate;

/**
 * What the server knows about a request besides its body.
 *
 * @param receivedAt when the request arrived (becomes every event's {@code receivedAt})
 * @param clientIp the client's IP as the server decided to trust it (socket address or X-Forwarded-For, the
 *     server's choice), or null if unknown
 * @param writeKey the authenticated write key, or null; carried for the caller, not written into events
 * @param budget charges bytes the parser is about to build (the enriched payloads) to the server's budget of bytes
 *     in flight, before it builds them; false if the budget cannot take them now (the parser answers 503). It may
 *     throw a {@link GatewayException} of its own (413 for more than the budget could ever hold).
 */
public record RequestContext(Instant receivedAt, String clientIp, String writeKey, LongPredicate budget) {

  /** A budget that takes everything, for callers that bound memory otherwise (tests, the pixel's tiny events). */
  public static final LongPredicate UNBOUNDED = n -> true;

  public RequestContext {
    Objects.requireNonNull(receivedAt, "receivedAt");
    Objects.requireNonNull(budget, "budget");
  }

  /** A context whose payloads are not charged to a budget. */
  public RequestContext(Instant receivedAt, String clientIp, String writeKey) {
    this(receivedAt, clientIp, writeKey, UNBOUNDED);
  }

  /** Charges {@code bytes} to {@link #budget}: see there. */
  public boolean charge(long bytes) {
    return budget.test(bytes);
  }
}
