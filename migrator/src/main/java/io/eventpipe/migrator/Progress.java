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
 * @param rateLimit the copy's rate limit now, jobs (and dedup entries) per second, 0 for none
 * @param throttleReason why the limit is what it is ("slowing to 1,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node
 *     2"), null when nothing was decided
 */
public record Progress(String migrationId, String step, int partitionsDone, int partitionsTotal, long jobsMoved, long jobsTotal,
    double jobsPerSecond, boolean throttled, double rateLimit, String throttleReason) {

  /** Seconds left at the current rate, or -1 when unknown. */
  public long secondsLeft() {
    if (jobsPerSecond <= 0 || jobsTotal <= 0) {
      return -1;
    }
    return (long) Math.ceil(Math.max(0, jobsTotal - jobsMoved) / jobsPerSecond);
  }
}
