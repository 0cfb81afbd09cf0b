package io.eventpipe.migrator;

/**
 * Where a migration stands, as the migrator reports it while it works.
 *
 * @param migrationId the migration
 * @param step what it is doing now (a step name, or {@code waiting for nodes} and the like)
 * @param partitionsDone moved partitions whose copy is complete
 * @param partitionsTotal partitions the migration moves
 * @param jobsMoved jobs copied so far (pending, aborted)
 * @param jobsTotal jobs to copy, as counted when the copy began (new writes go to the targets)
 * @param jobsPerSecond the copy rate over the last few seconds
 * @param throttled whether the copy waits for its rate limit
 */
public record Progress(String migrationId, String step, int partitionsDone, int partitionsTotal, long jobsMoved, long jobsTotal,
    double jobsPerSecond, boolean throttled) {

  /** Seconds left at the current rate, or -1 when unknown. */
  public long secondsLeft() {
    if (jobsPerSecond <= 0 || jobsTotal <= 0) {
      return -1;
    }
    return (long) Math.ceil(Math.max(0, jobsTotal - jobsMoved) / jobsPerSecond);
  }
}
