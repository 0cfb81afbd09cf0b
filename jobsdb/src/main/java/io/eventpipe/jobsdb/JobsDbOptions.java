package io.eventpipe.jobsdb;

import java.time.Clock;
import java.time.Duration;
import java.util.Objects;

/**
 * Settings of one job queue. Defaults suit a production node; tests shrink the dataset size to see rotation.
 *
 * @param queue           the queue's name; its tables live in the schema {@code jobs_<queue>}
 * @param datasetSize     job ids per dataset (range partition); a dataset is dropped once all its jobs finished
 * @param maxBatchJobs    most jobs in one group commit
 * @param maxBatchBytes   most payload bytes in one group commit
 * @param maxQueuedJobs   most jobs waiting for a group commit before store() refuses with Unavailable
 * @param maxConcurrentCommits group-commit transactions that may run at once
 * @param dedupWindow     how long a messageId is remembered per partition; zero disables dedup
 * @param maintenanceEvery how often finished datasets and old dedup buckets are dropped
 * @param clock           the time source, injected so tests control it
 * @param finishedRetention how long finished jobs (succeeded, aborted, migrated) are kept after their last state change
 *                        before their dataset may be dropped whole (or compacted); zero (the default) drops a dataset as
 *                        soon as all its jobs finished. Pending jobs are never dropped, whatever the retention.
 * @param deadLetterRetention how long a dead letter (an aborted job moved to the dead-letter table when its dataset was
 *                        dropped) is kept after it was aborted, then deleted by maintenance; zero keeps them for ever.
 *                        Aborted jobs still in a live dataset go with their dataset (then here, where the clock runs
 *                        from their abort, not their move). Default {@link #DEFAULT_DEAD_LETTER_RETENTION}.
 */
public record JobsDbOptions(
    String queue,
    long datasetSize,
    int maxBatchJobs,
    long maxBatchBytes,
    int maxQueuedJobs,
    int maxConcurrentCommits,
    Duration dedupWindow,
    Duration maintenanceEvery,
    Clock clock,
    Duration finishedRetention,
    Duration deadLetterRetention) {

  public static final long DEFAULT_DATASET_SIZE = 1L << 20;
  /** The default {@link #deadLetterRetention}: two weeks to look at a dead letter and replay it. */
  public static final Duration DEFAULT_DEAD_LETTER_RETENTION = Duration.ofDays(14);

  public JobsDbOptions {
    Objects.requireNonNull(queue, "queue");
    if (!queue.matches("[a-z][a-z0-9_]{0,30}")) {
      throw new IllegalArgumentException("queue name must match [a-z][a-z0-9_]{0,30}, was '" + queue + "'");
    }
    if (maxBatchJobs <= 0) {
      throw new IllegalArgumentException("maxBatchJobs must be > 0, was " + maxBatchJobs);
    }
    if (datasetSize < 2048 || Long.bitCount(datasetSize) != 1) {
      throw new IllegalArgumentException("datasetSize must be a power of two >= 2048, was " + datasetSize);
    }
    if (maxBatchBytes <= 0) {
      throw new IllegalArgumentException("maxBatchBytes must be > 0, was " + maxBatchBytes);
    }
    if (maxQueuedJobs < maxBatchJobs) {
      throw new IllegalArgumentException("maxQueuedJobs (" + maxQueuedJobs + ") must be >= maxBatchJobs (" + maxBatchJobs + ")");
    }
    if (maxConcurrentCommits < 1 || maxConcurrentCommits > 16) {
      throw new IllegalArgumentException("maxConcurrentCommits must be in 1..16, was " + maxConcurrentCommits);
    }
    Objects.requireNonNull(dedupWindow, "dedupWindow");
    Objects.requireNonNull(maintenanceEvery, "maintenanceEvery");
    Objects.requireNonNull(clock, "clock");
    Objects.requireNonNull(finishedRetention, "finishedRetention");
    if (finishedRetention.isNegative()) {
      throw new IllegalArgumentException("finishedRetention must not be negative, was " + finishedRetention);
    }
    Objects.requireNonNull(deadLetterRetention, "deadLetterRetention");
    if (deadLetterRetention.isNegative()) {
      throw new IllegalArgumentException("deadLetterRetention must not be negative, was " + deadLetterRetention);
    }
    if (dedupWindow.isNegative()) {
      throw new IllegalArgumentException("dedupWindow must not be negative, was " + dedupWindow);
    }
    if (maintenanceEvery.isNegative() || maintenanceEvery.isZero()) {
      throw new IllegalArgumentException("maintenanceEvery must be positive, was " + maintenanceEvery);
    }
  }

  public static JobsDbOptions defaults(String queue) {
    return new JobsDbOptions(queue, DEFAULT_DATASET_SIZE, 2000, 8L << 20, 100_000, 2, Duration.ofHours(1),
        Duration.ofSeconds(5), Clock.systemUTC(), Duration.ZERO,
        DEFAULT_DEAD_LETTER_RETENTION);
  }

  public String schema() {
    return "jobs_" + queue;
  }

  public JobsDbOptions withDatasetSize(long v) {
    return new JobsDbOptions(queue, v, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, dedupWindow, maintenanceEvery, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withMaxBatchJobs(int v) {
    return new JobsDbOptions(queue, datasetSize, v, maxBatchBytes, Math.max(maxQueuedJobs, v), maxConcurrentCommits, dedupWindow, maintenanceEvery, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withMaxQueuedJobs(int v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, v, maxConcurrentCommits, dedupWindow, maintenanceEvery, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withMaxConcurrentCommits(int v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, v, dedupWindow, maintenanceEvery, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withDedupWindow(Duration v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, v, maintenanceEvery, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withMaintenanceEvery(Duration v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, dedupWindow, v, clock, finishedRetention, deadLetterRetention);
  }

  public JobsDbOptions withFinishedRetention(Duration v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, dedupWindow, maintenanceEvery, clock, v, deadLetterRetention);
  }

  public JobsDbOptions withClock(Clock v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, dedupWindow, maintenanceEvery, v, finishedRetention, deadLetterRetention);
  }

  /** These options, with dead letters deleted {@code v} after their abort ({@link #deadLetterRetention}; zero: never). */
  public JobsDbOptions withDeadLetterRetention(Duration v) {
    return new JobsDbOptions(queue, datasetSize, maxBatchJobs, maxBatchBytes, maxQueuedJobs, maxConcurrentCommits, dedupWindow, maintenanceEvery, clock, finishedRetention, v);
  }
}
