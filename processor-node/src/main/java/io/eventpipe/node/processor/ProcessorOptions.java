package io.eventpipe.node.processor;

import java.time.Duration;

/**
 * Tuning of the processor's fan-out loop.
 *
 * @param readBatch most ingested events fanned out in one transaction
 * @param readBytes about how many payload bytes one batch reads
 * @param idlePoll the wait after a read that found nothing (a {@link Processor#wake()} cuts it short)
 * @param dbRetry the wait after a failed batch before trying again (the batch is rolled back whole)
 * @param unknownSourceRetry the longest wait before an event of a source this node's workspace does not know is read
 *     again (the waits start at a second and double up to it); see {@link Processor}
 */
public record ProcessorOptions(int readBatch, long readBytes, Duration idlePoll, Duration dbRetry,
    Duration unknownSourceRetry) {

  public ProcessorOptions {
    if (readBatch < 1 || readBatch > 100_000) {
      throw new IllegalArgumentException("readBatch must be in 1..100000, was " + readBatch);
    }
    if (readBytes < 1) {
      throw new IllegalArgumentException("readBytes must be > 0, was " + readBytes);
    }
    for (Duration d : new Duration[] {idlePoll, dbRetry, unknownSourceRetry}) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("idlePoll, dbRetry and unknownSourceRetry must be positive, got " + idlePoll
            + ", " + dbRetry + ", " + unknownSourceRetry);
      }
    }
  }

  public static ProcessorOptions defaults() {
    return new ProcessorOptions(1000, 8L << 20, Duration.ofMillis(100), Duration.ofSeconds(1), Duration.ofSeconds(30));
  }

  public ProcessorOptions withReadBatch(int v) {
    return new ProcessorOptions(v, readBytes, idlePoll, dbRetry, unknownSourceRetry);
  }

  public ProcessorOptions withIdlePoll(Duration v) {
    return new ProcessorOptions(readBatch, readBytes, v, dbRetry, unknownSourceRetry);
  }

  public ProcessorOptions withDbRetry(Duration v) {
    return new ProcessorOptions(readBatch, readBytes, idlePoll, v, unknownSourceRetry);
  }

  public ProcessorOptions withUnknownSourceRetry(Duration v) {
    return new ProcessorOptions(readBatch, readBytes, idlePoll, dbRetry, v);
  }
}
