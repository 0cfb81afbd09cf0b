package io.eventpipe.routing;

/**
 * The routing key of an event: the identity whose events must stay in order, and therefore on one node.
 *
 * <p>The key is the event's {@code anonymousId} when it is present and non-empty, otherwise its
 * {@code userId}. Preferring {@code anonymousId} keeps a browser user's events on one node across login:
 * the RudderStack and Segment SDKs generate an {@code anonymousId} on the first visit and keep sending it
 * after {@code identify}, so the events before and after login carry the same {@code anonymousId} while
 * {@code userId} appears only half way through. Keying by {@code userId} first would move the user to
 * another partition at login and their "before" and "after" events could be delivered out of order.
 * Server-side sources that only know the {@code userId} still get a stable key.
 *
 * <p>Values are used verbatim: no trimming and no case folding, because either would re-route existing
 * users. A value made only of whitespace is therefore a (non-empty) key.
 */
public final class RoutingKey {

  private RoutingKey() {}

  /**
   * Returns the routing key of an event.
   *
   * @param anonymousId the event's {@code anonymousId}, may be null or empty
   * @param userId the event's {@code userId}, may be null or empty
   * @return {@code anonymousId} if non-null and non-empty, else {@code userId} if non-null and non-empty,
   *     else {@code null} (the event has no identity; the gateway rejects it)
   */
  public static String of(String anonymousId, String userId) {
    if (anonymousId != null && !anonymousId.isEmpty()) {
      return anonymousId;
    }
    if (userId != null && !userId.isEmpty()) {
      return userId;
    }
    return null;
  }
}
