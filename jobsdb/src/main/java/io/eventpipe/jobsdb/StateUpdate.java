package io.eventpipe.jobsdb;

import java.time.Instant;

/**
 * A new state for one job. Attempts, first-attempt time, next-retry time and the last error are written as
 * given, so the caller (the router) owns the retry policy.
 */
public record StateUpdate(
    long jobId,
    JobState state,
    int attempts,
    Instant firstAttemptAt,
    Instant nextRetryAt,
    String lastError) {

  public static StateUpdate of(Job job, JobState state) {
    return new StateUpdate(job.jobId(), state, job.attempts(), job.firstAttemptAt(), job.nextRetryAt(), job.lastError());
  }
}
