package io.eventpipe.destinations;

import java.time.Instant;
import java.util.Objects;

/**
 * One event as a destination client receives it: the stored job's identity and its JSON payload (after the
 * destination's {@link Mapping}, if it has one).
 *
 * @param jobId the job's id, unique within the sending node's database; results name events by it
 * @param partitionId the routing partition of {@code routingKey}
 * @param routingKey the user (or anonymous id) the event belongs to: destinations with order key by it
 * @param sourceId the source the event came from
 * @param destinationId the destination it goes to
 * @param messageId the event's messageId, the receiver's dedup key (delivery is at-least-once)
 * @param receivedAt when the pipeline accepted the event
 * @param payload the event's JSON, UTF-8
 * @param attempts earlier delivery attempts (0 on the first)
 */
public record Event(long jobId, int partitionId, String routingKey, String sourceId, String destinationId,
    String messageId, Instant receivedAt, byte[] payload, int attempts) {

  public Event {
    Objects.requireNonNull(routingKey, "routingKey");
    Objects.requireNonNull(messageId, "messageId");
    Objects.requireNonNull(payload, "payload");
  }

  /** This event with another payload (the mapping's output). */
  public Event withPayload(byte[] next) {
    return new Event(jobId, partitionId, routingKey, sourceId, destinationId, messageId, receivedAt, next, attempts);
  }
}
