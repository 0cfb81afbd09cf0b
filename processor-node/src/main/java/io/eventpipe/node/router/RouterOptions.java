package io.eventpipe.node.router;

import java.time.Duration;

/**
 * Tuning of the router's destination workers. The defaults suit a production node.
 *
 * @param readBatch most jobs one pending read returns; a worker reads again once fewer than half of that are in
 *     its memory (queued, in flight or waiting for their state to be written)
 * @param readBytes about how many payload bytes one read returns
 * @param scanFactor a read walks at most {@code readBatch * scanFactor} routing keys (one index probe each) to find
 *     deliverable jobs; keys that wait for a retry or that the worker holds are passed over, and the next read walks
 *     on from where this one stopped; 2 by default
 * @param idlePoll how long a worker waits before reading again after a read that found everything (it is woken
 *     early when the processor fans out new jobs to it)
 * @param stopTimeout how long stopping a worker waits for requests in flight before abandoning them (their jobs stay
 *     pending and are delivered again later)
 * @param gaugeRefresh how often pending counts and oldest pending ages are read from jobsdb for the gauges; removed
 *     destinations' stray pending jobs are aborted at the same time
 * @param dbRetry how long a worker waits after a failed read or state write before trying again
 * @param nodeName the node's name, told to destinations that can carry it (the webhook's {@code X-Eventpipe-Node});
 *     null for none
 * @param services what the node offers destination integrations by name
 *     ({@link io.eventpipe.destinations.DestinationContext#services()}), e.g. {@code "jobsdb.pool"}
 */
public record RouterOptions(int readBatch, long readBytes, int scanFactor, Duration idlePoll, Duration stopTimeout,
    Duration gaugeRefresh, Duration dbRetry, String nodeName, java.util.Map<String, Object> services) {

  public RouterOptions {
    services = services == null ? java.util.Map.of() : java.util.Map.copyOf(services);
    if (readBatch < 2 || readBatch > 100_000) {
      throw new IllegalArgumentException("readBatch must be in 2..100000, was " + readBatch);
    }
    if (readBytes < 1) {
      throw new IllegalArgumentException("readBytes must be > 0, was " + readBytes);
    }
    if (scanFactor < 1 || scanFactor > 100) {
      throw new IllegalArgumentException("scanFactor must be in 1..100, was " + scanFactor);
    }
    for (Duration d : new Duration[] {idlePoll, stopTimeout, gaugeRefresh, dbRetry}) {
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException("durations must be positive, got " + d);
      }
    }
  }

  public static RouterOptions defaults() {
    return new RouterOptions(1000, 4L << 20, 2, Duration.ofMillis(100), Duration.ofSeconds(5), Duration.ofSeconds(10),
        Duration.ofSeconds(1), null, java.util.Map.of());
  }

  public RouterOptions withReadBatch(int v) {
    return new RouterOptions(v, readBytes, scanFactor, idlePoll, stopTimeout, gaugeRefresh, dbRetry, nodeName, services);
  }

  public RouterOptions withIdlePoll(Duration v) {
    return new RouterOptions(readBatch, readBytes, scanFactor, v, stopTimeout, gaugeRefresh, dbRetry, nodeName, services);
  }

  public RouterOptions withStopTimeout(Duration v) {
    return new RouterOptions(readBatch, readBytes, scanFactor, idlePoll, v, gaugeRefresh, dbRetry, nodeName, services);
  }

  public RouterOptions withGaugeRefresh(Duration v) {
    return new RouterOptions(readBatch, readBytes, scanFactor, idlePoll, stopTimeout, v, dbRetry, nodeName, services);
  }

  public RouterOptions withNodeName(String v) {
    return new RouterOptions(readBatch, readBytes, scanFactor, idlePoll, stopTimeout, gaugeRefresh, dbRetry, v, services);
  }

  public RouterOptions withServices(java.util.Map<String, Object> v) {
    return new RouterOptions(readBatch, readBytes, scanFactor, idlePoll, stopTimeout, gaugeRefresh, dbRetry, nodeName, v);
  }
}
