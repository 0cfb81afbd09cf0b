package io.eventpipe.jobsdb;

import java.time.Instant;

/** A stored job with its current state, as returned by reads and exports. */
public record Job(
    long jobId,
    int partitionId,
    String routingKey,
    String sourceId,
    String destinationId,
    String messageId,
    Instant receivedAt,
    byte[] payload,
    JobState state,
    int attempts,
    Instant firstAttemptAt,
    Instant nextRetryAt,
    String lastError) {}
