package io.eventpipe.jobsdb;

import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Which aborted jobs of a destination to replay: all of them, those with the given job ids, or those
 * received in {@code [from, to)}.
 */
public record ReplayFilter(List<Long> jobIds, Instant from, Instant to) {

  public ReplayFilter {
    jobIds = jobIds == null ? null : List.copyOf(jobIds);
    if (jobIds != null && (from != null || to != null)) {
      throw new IllegalArgumentException("replay by job ids or by time range, not both");
    }
  }

  public static ReplayFilter all() {
    return new ReplayFilter(null, null, null);
  }

  public static ReplayFilter ids(List<Long> jobIds) {
    return new ReplayFilter(Objects.requireNonNull(jobIds, "jobIds"), null, null);
  }

  public static ReplayFilter receivedBetween(Instant from, Instant to) {
    return new ReplayFilter(null, from, to);
  }
}
