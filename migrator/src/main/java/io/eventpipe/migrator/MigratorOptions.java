package io.eventpipe.migrator;

import java.time.Duration;
import java.util.Objects;

/**
 * How the migrator copies and waits.
 *
 * @param batchJobs most jobs in one copied batch (memory stays within about two batches)
 * @param batchBytes most payload bytes in one copied batch (the first job always fits)
 * @param maxJobsPerSecond the copy's most jobs (and dedup entries) per second, 0 for none: the copy shares the nodes'
 *     databases with live ingest; the adaptive throttle never goes above it
 * @param readyTimeout how long to wait for new nodes to register and be ready before moving partitions to them
 * @param lease how long a node's database must be without its serving process before the migrator confirms a fence
 *     on the node's behalf (a node that loses its database stops delivering within this time)
 * @param confirmTimeout how long to wait for a running node to confirm a fence
 * @param hook called before each step; tests inject crashes with it
 * @param copyStreams concurrent copy streams per (pair, queue, destination), over disjoint partition slices; a rerun
 *     adopts the slices a previous run recorded, whatever its count
 * @param throttling the adaptive copy throttle ({@code --throttle}, {@code --target-latency-ratio})
 */
public record MigratorOptions(int batchJobs, long batchBytes, int maxJobsPerSecond, Duration readyTimeout, Duration lease,
    Duration confirmTimeout, StepHook hook, int copyStreams, Throttling throttling) {

  /**
   * How the copy adapts its rate to ingest latency (see {@link ThrottleController}).
   *
   * @param adaptive {@code --throttle auto}: slow the copy when ingest latency on an involved node rises; false
   *     ({@code off}): only {@code maxJobsPerSecond} paces it
   * @param targetLatencyRatio ingest p99 over its steady state above which the copy slows ({@code --target-latency-ratio})
   * @param floorJobsPerSecond the slowest the throttle goes (capped by {@code maxJobsPerSecond}), so a migration finishes
   * @param baselineFor how long steady-state latency is measured before the data moves (each run, before any copy)
   * @param tick how often latency is read and the rate decided
   * @param source where latency comes from; null for the nodes' own metrics ({@link IngestLatency#scrapeNodes})
   * @param decisions told each change of the limit and why (what the log says); benchmarks and tests record them
   */
  public record Throttling(boolean adaptive, double targetLatencyRatio, double floorJobsPerSecond, Duration baselineFor,
      Duration tick, IngestLatency source, Decisions decisions) {

    /** Told each change of the copy's rate limit. */
    @FunctionalInterface
    public interface Decisions {
      /**
       * @param limit jobs per second, 0 for none
       * @param reason why ("slowing to 1,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 2")
       */
      void decided(double limit, String reason);
    }

    public Throttling {
      if (!(targetLatencyRatio > 1 && targetLatencyRatio <= 100)) {
        throw new IllegalArgumentException("the target latency ratio must be above 1 and at most 100; got " + targetLatencyRatio);
      }
      if (!(floorJobsPerSecond > 0)) {
        throw new IllegalArgumentException("the throttle's floor must be above 0 jobs/s; got " + floorJobsPerSecond);
      }
      Objects.requireNonNull(baselineFor, "baselineFor");
      Objects.requireNonNull(tick, "tick");
      Objects.requireNonNull(decisions, "decisions");
      if (baselineFor.isNegative() || tick.toMillis() < 1) {
        throw new IllegalArgumentException("baselineFor must not be negative and tick must be at least 1 ms; got " + baselineFor
            + ", " + tick);
      }
    }

    /** Adaptive, target 1.5x, floor 200 jobs/s, 3 s of baseline, a decision a second, the nodes' metrics. */
    public static Throttling defaults() {
      return new Throttling(true, 1.5, 200, Duration.ofSeconds(3), Duration.ofSeconds(1), null, (limit, why) -> {});
    }

    /** Only {@code maxJobsPerSecond} paces the copy. */
    public static Throttling off() {
      return new Throttling(false, 1.5, 200, Duration.ZERO, Duration.ofSeconds(1), null, (limit, why) -> {});
    }

    public Throttling withTargetLatencyRatio(double ratio) {
      return new Throttling(adaptive, ratio, floorJobsPerSecond, baselineFor, tick, source, decisions);
    }

    /** Shorter baselines and ticks, for tests that migrate small clusters many times. */
    public Throttling withTiming(Duration baseline, Duration everyTick) {
      return new Throttling(adaptive, targetLatencyRatio, floorJobsPerSecond, baseline, everyTick, source, decisions);
    }

    public Throttling withDecisions(Decisions d) {
      return new Throttling(adaptive, targetLatencyRatio, floorJobsPerSecond, baselineFor, tick, source, d);
    }
  }

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
    Objects.requireNonNull(throttling, "throttling");
  }

  public static MigratorOptions defaults() {
    return new MigratorOptions(2000, 8L << 20, 0, Duration.ofMinutes(5), Duration.ofSeconds(15), Duration.ofMinutes(2),
        step -> {}, 2, Throttling.defaults());
  }

  public MigratorOptions withBatch(int jobs) {
    return new MigratorOptions(jobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, hook, copyStreams, throttling);
  }

  public MigratorOptions withMaxJobsPerSecond(int rate) {
    return new MigratorOptions(batchJobs, batchBytes, rate, readyTimeout, lease, confirmTimeout, hook, copyStreams, throttling);
  }

  public MigratorOptions withReadyTimeout(Duration d) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, d, lease, confirmTimeout, hook, copyStreams, throttling);
  }

  public MigratorOptions withLease(Duration d) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, d, confirmTimeout, hook, copyStreams, throttling);
  }

  public MigratorOptions withHook(StepHook h) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, h, copyStreams, throttling);
  }

  public MigratorOptions withCopyStreams(int n) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, hook, n, throttling);
  }

  public MigratorOptions withThrottling(Throttling t) {
    return new MigratorOptions(batchJobs, batchBytes, maxJobsPerSecond, readyTimeout, lease, confirmTimeout, hook, copyStreams, t);
  }
}
