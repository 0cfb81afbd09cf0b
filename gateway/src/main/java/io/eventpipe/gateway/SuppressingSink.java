package io.eventpipe.gateway;

import io.eventpipe.workspace.Source;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/**
 * Suppression at the edge (a privacy regulation, issue 20): events whose {@code userId} or {@code anonymousId} is
 * suppressed are acknowledged like stored ones (so SDKs do not retry them) but never reach the wrapped sink, and are
 * counted in {@code gateway.events.suppressed}. The rest of a request goes on unchanged, in its order.
 */
public final class SuppressingSink implements EventSink {

  private final EventSink next;
  private final Predicate<String> suppressed;
  private final java.util.function.BooleanSupplier any;
  private final Counter counter;

  /**
   * @param suppressed whether an id (a userId or an anonymousId) is suppressed
   * @param any whether any id is (a cheap check before looking at each event)
   */
  public SuppressingSink(EventSink next, Predicate<String> suppressed, java.util.function.BooleanSupplier any, MeterRegistry registry) {
    this.next = next;
    this.suppressed = suppressed;
    this.any = any;
    this.counter = Counter.builder("gateway.events.suppressed")
        .description("Events acknowledged but dropped at the edge: their user is suppressed by a regulation").register(registry);
  }

  /** Whether {@code e} belongs to a suppressed user. */
  public static boolean matches(Event e, Predicate<String> suppressed) {
    return suppressed.test(e.userId()) || suppressed.test(e.anonymousId()) || suppressed.test(e.routingKey());
  }

  @Override
  public Future<Void> accept(Source source, List<Event> events) {
    if (!any.getAsBoolean()) {
      return next.accept(source, events);
    }
    List<Event> kept = new ArrayList<>(events.size());
    for (Event e : events) {
      if (matches(e, suppressed)) {
        counter.increment();
      } else {
        kept.add(e);
      }
    }
    return kept.isEmpty() ? Future.succeededFuture() : next.accept(source, kept);
  }

  @Override
  public Future<Boolean> healthy() {
    return next.healthy();
  }
}
