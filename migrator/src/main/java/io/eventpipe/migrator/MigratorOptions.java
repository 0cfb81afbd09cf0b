package io.eventpipe.migrator;

import java.time.Duration;
import java.util.Objects;

/**
 * How the migrator copies and waits.
 *
 * @param batchJobs most jobs in one copied batch (memory stays within about two batches)
 * @param batchBytes most payload bytes in one copied batch (the first job always fits)
 * @param maxJobsPerSecond copy throttle, 0 for none: the copy shares the nodes' databases with live ingest
 * @param readyTimeout how long to wait for new nodes to register and be ready before moving partitions to them
 * @param lease how long a node's database must be without its serving process before the migrator confirms a fence
 *     on the node's behalf (a node that loses its database stops delivering within this time)
 * @param confirmTimeout how long to wait for a running node to confirm a fence
 * @param hook called before each step; tests inject crashes with it
 * @param copyStreams concurrent copy streams per (pair, queue, destination), over disjoint partition slices; a rerun
 *     adopts the slices a previous run recorded, whatever its count
 */
public record MigratorOptions(int batchJobs, long batchBytes, int maxJobsPerSecond, Duration readyTimeout, Duration lease,
    Duration confirmTimeout, StepHook hook, int copyStreams) {

  /**
   * Called before a step runs, with its name ({@code prepared} ... {@code finished}), and inside two: before each copied
   * batch ({@code copy}) and, in the release, between a target's gw and rt queues ({@code release}).
   */
  @FunctionalInterface
  public interface StepHook {
    void before(String step);
  }

  public MigratorOptions {
    if (batchJobs < 1 || batchBytes < 1 || maxJobsPerSecond < 0) {
      throw new IllegalArgumentException("batchJobs and batchBytes must be positive and maxJobsPerSecond >= 0");
    }
    Objects.requireNonNull(readyTimeout, "readyTimeout");
    Objects.requireNonNull(lease, "lease");
    Objects.requireNonNull(confirmTimeout, "confirmTimeout");
    Objects.requireNonNull(hook, "hook");
    if (copyStreams < 1 || copyStreams > 64) {
      throw new IllegalArgumentException("copyStreams must be in 1..64, was " + copyStreams);
    }
  }

  public static MigratorOptions defaults() {
    return new MigratorOptions(2000, 8L << 20, 0, Duration.ofMinutes(5), Duration.ofSeconds(15), Duration.ofMinutes(2),
        step -> {}, 2);
  }

  public MigratorOptions withBatch(int jobs) {
    return new MigratorOptions(jobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, hook, copyStreams);
  }

  public MigratorOptions withMaxJobsPerSecond(int rate) {
    return new MigratorOptions(batchJobs, batchBytes, rate, readyTimeout, lease, confirmTimeout, hook, copyStreams);
  }

  public MigratorOptions withReadyTimeout(Duration d) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, d, lease, confirmTimeout, hook, copyStreams);
  }

  public MigratorOptions withLease(Duration d) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, d, confirmTimeout, hook, copyStreams);
  }

  public MigratorOptions withHook(StepHook h) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, h, copyStreams);
  }

  public MigratorOptions withCopyStreams(int n) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, hook, n);
  }
}
