package io.eventpipe.node.router;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.Meter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The meters of one destination, tagged {@code destination}; they outlive worker restarts and are removed with the
 * destination. Counters count events (a batch request of n events counts n).
 */
final class DestinationMetrics {

  final Counter delivered;
  final Counter failed;
  final Counter aborted;
  final Counter attempts;
  final Timer latency;
  final Timer requests;
  final AtomicLong pending = new AtomicLong();
  volatile Instant oldestPending;
  volatile double rate = Double.NaN;
  private final List<Meter> meters = new ArrayList<>();
  private final MeterRegistry registry;

  DestinationMetrics(MeterRegistry registry, String destinationId, Clock clock) {
    this.registry = registry;
    String d = destinationId;
    delivered = add(Counter.builder("router.delivered").description("Events delivered").tag("destination", d).register(registry));
    failed = add(Counter.builder("router.failed").description("Event delivery attempts that failed and will be retried")
        .tag("destination", d).register(registry));
    aborted = add(Counter.builder("router.aborted").description("Events given up (rejected, retries exhausted, destination removed)")
        .tag("destination", d).register(registry));
    attempts = add(Counter.builder("router.attempts").description("Event delivery attempts").tag("destination", d).register(registry));
    latency = add(Timer.builder("router.delivery.latency").description("From an event's receipt by the gateway to its delivery")
        .tag("destination", d).publishPercentileHistogram().register(registry));
    requests = add(Timer.builder("router.request.latency").description("Duration of one delivery request, any outcome")
        .tag("destination", d).register(registry));
    add(Gauge.builder("router.pending.jobs", pending, AtomicLong::get).description("Jobs waiting for delivery")
        .tag("destination", d).register(registry));
    add(Gauge.builder("router.oldest.pending.age.seconds", this, m -> {
      Instant oldest = m.oldestPending;
      return oldest == null ? 0 : Math.max(0, Duration.between(oldest, clock.instant()).toMillis() / 1000.0);
    }).description("Age of the first pending job in queue order (the delivery lag)").tag("destination", d).register(registry));
    add(Gauge.builder("router.rate.limit", this, m -> m.rate).description("Current adaptive send limit, events/s (NaN: none)")
        .tag("destination", d).register(registry));
  }

  void recordLatency(Instant receivedAt, Instant now) {
    latency.record(Math.max(0, Duration.between(receivedAt, now).toNanos()), TimeUnit.NANOSECONDS);
  }

  private <M extends Meter> M add(M meter) {
    meters.add(meter);
    return meter;
  }

  void remove() {
    for (Meter m : meters) {
      registry.remove(m);
    }
  }
}
