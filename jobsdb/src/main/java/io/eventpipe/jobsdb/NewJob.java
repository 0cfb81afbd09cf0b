package io.eventpipe.jobsdb;

import java.time.Instant;
import java.util.Objects;

/**
 * A job to store. {@code destinationId} is empty for jobs that are not per destination (ingested events).
 */
public record NewJob(
    int partitionId,
    String routingKey,
    String sourceId,
    String destinationId,
    String messageId,
    Instant receivedAt,
    byte[] payload) {

  public NewJob {
    Objects.requireNonNull(routingKey, "routingKey");
    Objects.requireNonNull(sourceId, "sourceId");
    Objects.requireNonNull(destinationId, "destinationId");
    Objects.requireNonNull(messageId, "messageId");
    Objects.requireNonNull(receivedAt, "receivedAt");
    Objects.requireNonNull(payload, "payload");
    if (partitionId < 0) {
      throw new IllegalArgumentException("partitionId must be >= 0, was " + partitionId);
    }
  }
}
