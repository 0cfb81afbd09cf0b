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

  /**
   * Longest accepted {@code messageId}, in UTF-16 characters (so at most 768 UTF-8 bytes). The messageId is a key
   * of jobsdb's dedup index, a PostgreSQL btree whose entries must stay under about 2,700 bytes; a UUID has 36
   * characters. Enforced by the gateway's parser (400 naming the event) and by every later stage that takes ids
   * from elsewhere (the internal ingest wire format), so that no stage fails on what an earlier one accepted.
   */
  public static final int MAX_MESSAGE_ID_CHARS = 256;
  /**
   * Longest accepted {@code userId} and {@code anonymousId} (either may become the routing key), in UTF-16
   * characters (so at most 1,536 UTF-8 bytes): stored with every job, sent on the internal wire (a 16-bit length)
   * and small enough for a btree index next to other columns. Enforced where {@link #MAX_MESSAGE_ID_CHARS} is.
   */
  public static final int MAX_ROUTING_KEY_CHARS = 512;

  public Event {
    Objects.requireNonNull(messageId, "messageId");
    Objects.requireNonNull(type, "type");
    Objects.requireNonNull(routingKey, "routingKey");
    Objects.requireNonNull(payload, "payload");
  }

  /**
   * Why {@code messageId} cannot be stored, or null if it can: longer than {@link #MAX_MESSAGE_ID_CHARS}, holding a
   * control character (CR, LF, NUL, ...: the messageId travels in the {@code X-Message-Id} header of webhook
   * requests, where they are not allowed), or breaking {@link Text#storableProblem} (a lone surrogate would be
   * stored as {@code ?}, the dedup key of another event).
   */
  public static String messageIdProblem(String messageId) {
    if (messageId.length() > MAX_MESSAGE_ID_CHARS) {
      return "is " + messageId.length() + " characters long, over the limit of " + MAX_MESSAGE_ID_CHARS
          + "; use a shorter unique id (a UUID has 36)";
    }
    for (int i = 0; i < messageId.length(); i++) {
      char c = messageId.charAt(i);
      if (Character.isISOControl(c)) {
        return String.format("has a control character (U+%04X) at position %d; messageIds must be printable", (int) c, i);
      }
    }
    return Text.storableProblem(messageId);
  }

  /**
   * Why a {@code userId} or {@code anonymousId} cannot be stored, or null if it can: longer than
   * {@link #MAX_ROUTING_KEY_CHARS}, or breaking {@link Text#storableProblem} (the routing key is a {@code text}
   * column of every job).
   */
  public static String routingKeyProblem(String key) {
    return key.length() > MAX_ROUTING_KEY_CHARS
        ? "is " + key.length() + " characters long, over the limit of " + MAX_ROUTING_KEY_CHARS
            + "; use a shorter id (a hash of a long one keeps it unique)"
        : Text.storableProblem(key);
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
