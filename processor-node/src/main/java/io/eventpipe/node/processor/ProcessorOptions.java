package io.eventpipe.node.processor;

import java.time.Duration;

/**
 * Tuning of the processor's fan-out loop.
 *
 * @param readBatch most ingested events fanned out in one transaction
 * @param readBytes about how many payload bytes one batch reads
 * @param idlePoll the wait after a read that found nothing (a {@link Processor#wake()} cuts it short)
 * @param dbRetry the wait after a failed batch before trying again (the batch is rolled back whole)
 */
public record ProcessorOptions(int readBatch, long readBytes, Duration idlePoll, Duration dbRetry) {

  public ProcessorOptions {
    if (readBatch < 1 || readBatch > 100_000) {
      throw new IllegalArgumentException("readBatch must be in 1..100000, was " + readBatch);
    }
    if (readBytes < 1) {
      throw new IllegalArgumentException("readBytes must be > 0, was " + readBytes);
    }
    if (idlePoll.isNegative() || idlePoll.isZero() || dbRetry.isNegative() || dbRetry.isZero()) {
      throw new IllegalArgumentException("idlePoll and dbRetry must be positive, got " + idlePoll + ", " + dbRetry);
    }
  }

  public static ProcessorOptions defaults() {
    return new ProcessorOptions(1000, 8L << 20, Duration.ofMillis(100), Duration.ofSeconds(1));
  }

  public ProcessorOptions withReadBatch(int v) {
    return new ProcessorOptions(v, readBytes, idlePoll, dbRetry);
  }

  public ProcessorOptions withIdlePoll(Duration v) {
    return new ProcessorOptions(readBatch, readBytes, v, dbRetry);
  }

  public ProcessorOptions withDbRetry(Duration v) {
    return new ProcessorOptions(readBatch, readBytes, idlePoll, v);
  }
}
