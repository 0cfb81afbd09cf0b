package io.eventpipe.jobsdb;

import java.time.Instant;

/**
 * What a consumer asks for: pending jobs of one destination ("" for jobs that are not per destination),
 * at most {@code maxJobs} and about {@code maxBytes} of payload (the first job is returned whatever its size),
 * looking at no more than {@code scanLimit} pending jobs. {@code now} decides which failed jobs are due.
 */
public record ReadRequest(String destinationId, int maxJobs, long maxBytes, int scanLimit, Instant now) {

  public ReadRequest {
    if (maxJobs <= 0) {
      throw new IllegalArgumentException("maxJobs must be > 0, was " + maxJobs);
    }
    if (scanLimit < maxJobs) {
      throw new IllegalArgumentException("scanLimit (" + scanLimit + ") must be >= maxJobs (" + maxJobs + ")");
    }
  }
}
