package io.eventpipe.gateway;

import java.time.Instant;
import java.util.Objects;

/**
 * What the server knows about a request besides its body.
 *
 * @param receivedAt when the request arrived (becomes every event's {@code receivedAt})
 * @param clientIp the client's IP as the server decided to trust it (socket address or X-Forwarded-For, the
 *     server's choice), or null if unknown
 * @param writeKey the authenticated write key, or null; carried for the caller, not written into events
 */
public record RequestContext(Instant receivedAt, String clientIp, String writeKey) {
  public RequestContext {
    Objects.requireNonNull(receivedAt, "receivedAt");
  }
}
