package io.eventpipe.loadtests.harness;

/** A run's elapsed time: nanoseconds since it started, the one time base of the load, the sink and the report. */
public final class RunClock {

  private final long startNanos = System.nanoTime();
  private final long startEpochMillis = System.currentTimeMillis();

  public long nanos() {
    return System.nanoTime() - startNanos;
  }

  public long millis() {
    return nanos() / 1_000_000;
  }

  /** Wall-clock time of the start, for the result's header. */
  public long startEpochMillis() {
    return startEpochMillis;
  }
}
