package io.eventpipe.jobsdb;

import java.time.Instant;
import java.util.Objects;
import java.util.Set;

/**
 * A pending read that walks routing keys rather than the oldest jobs ({@link JobsDb#readKeys}): the keys of one
 * destination after {@code afterKey} in byte order ("" for the first), at most {@code maxKeys} of them, each key's
 * first pending jobs, at most {@code maxJobsPerKey} per key, {@code maxJobs} in all and about {@code maxBytes} of
 * payload (the first job is returned whatever its size). Keys in {@code excludedKeys} (those the caller already holds
 * or has in backoff) are passed over. {@code now} decides which failed jobs are due.
 */
public record KeyReadRequest(String destinationId, String afterKey, int maxKeys, int maxJobsPerKey, int maxJobs,
    long maxBytes, Set<String> excludedKeys, Instant now) {

  public KeyReadRequest {
    Objects.requireNonNull(destinationId, "destinationId");
    Objects.requireNonNull(afterKey, "afterKey");
    Objects.requireNonNull(now, "now");
    excludedKeys = Set.copyOf(excludedKeys);
    if (maxJobs <= 0 || maxJobsPerKey <= 0 || maxKeys <= 0) {
      throw new IllegalArgumentException("maxJobs (" + maxJobs + "), maxJobsPerKey (" + maxJobsPerKey + ") and maxKeys ("
          + maxKeys + ") must be > 0");
    }
  }

  /**
   * What a key walk found: the jobs (each key's in job order, keys in walk order), the last key the walk looked at
   * (continue after it), and whether it reached the destination's last key (then start again from "").
   */
  public record Result(java.util.List<Job> jobs, String lastKey, boolean reachedEnd) {}
}
