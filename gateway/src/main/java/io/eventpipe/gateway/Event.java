package io.eventpipe.gateway;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * One validated and enriched event, ready to be stored.
 *
 * @param messageId the event's {@code messageId} (the client's, or a generated UUID); the dedup key
 * @param type the event type
 * @param anonymousId the {@code anonymousId} as a string (numbers converted), or null if absent or empty
 * @param userId the {@code userId} as a string (numbers converted), or null if absent or empty
 * @param routingKey {@code anonymousId} if non-empty, else {@code userId}; never null or empty
 * @param payload the enriched event as UTF-8 JSON; do not modify
 */
public record Event(String messageId, EventType type, String anonymousId, String userId, String routingKey,
    byte[] payload) {

  public Event {
    Objects.requireNonNull(messageId, "messageId");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(routingKey, "routingKey");
    Objects.requireNonNull(payload, "payload");
  }

  /** The payload decoded as a string (for tests and logs; the hot path should use {@link #payload()}). */
  public String payloadString() {
    return new String(payload, StandardCharsets.UTF_8);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Event e && messageId.equals(e.messageId) && type == e.type
        && Objects.equals(anonymousId, e.anonymousId) && Objects.equals(userId, e.userId)
        && routingKey.equals(e.routingKey) && Arrays.equals(payload, e.payload);
  }

  @Override
  public int hashCode() {
    return Objects.hash(messageId, type, anonymousId, userId, routingKey) * 31 + Arrays.hashCode(payload);
  }

  @Override
  public String toString() {
    return "Event[messageId=" + messageId + ", type=" + type.wireName() + ", routingKey=" + routingKey
        + ", payload=" + payload.length + " bytes]";
  }
}
