package io.eventpipe.gateway;

import java.util.List;

/**
 * The events of one request and the write key found in its body, if any.
 *
 * @param events the validated, enriched events in request order; never empty
 * @param bodyWriteKey the {@code writeKey} field of the body (Segment lets clients send it there instead of
 *     HTTP Basic auth), or null; it is removed from the stored events either way
 */
public record ParsedRequest(List<Event> events, String bodyWriteKey) {
  public ParsedRequest {
    events = List.copyOf(events);
  }
}
