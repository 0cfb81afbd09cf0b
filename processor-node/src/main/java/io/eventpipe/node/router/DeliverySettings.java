package io.eventpipe.node.router;

import io.eventpipe.destinations.DestinationType;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.InvalidDestinationConfigException;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import java.util.HashSet;
import java.util.Set;

/**
 * The settings every destination type shares, read from a destination's {@code config}:
 *
 * <pre>{@code
 * config:
 *   maxInFlight: 64                 # requests in flight at once (default 64)
 *   rateLimit: {eventsPerSecond: 200}   # optional; halves on 429 and recovers additively
 *   retry: {maxAttempts: 3, maxWindowSeconds: 10800, initialBackoffMs: 1000, maxBackoffMs: 300000}
 *   eventTypes: {allow: [track, identify], deny: [...]}   # read by the processor's fan-out
 *   eventNames: {allow: [...], deny: [...]}               # track events only
 *   mapping: {events: ..., eventNames: ..., rename: ..., drop: ..., set: ...}   # see io.eventpipe.destinations.Mapping
 * }</pre>
 *
 * @param maxInFlight most requests to the destination at once
 * @param retry when failed deliveries are retried and aborted
 * @param eventsPerSecond the configured rate limit, or null for none
 * @param egress the workspace's policy of where destinations may send
 * @param mapping the destination's mapping without code, applied before its client sees an event
 */
public record DeliverySettings(int maxInFlight, RetryPolicy retry, Double eventsPerSecond, EgressPolicy egress,
    io.eventpipe.destinations.Mapping mapping) {

  /** Config keys read here or by the processor's event filter; a type adds its own. */
  public static final Set<String> KEYS = Set.of("maxInFlight", "retry", "rateLimit", "eventTypes", "eventNames", "mapping");

  public static final int DEFAULT_MAX_IN_FLIGHT = 64;

  /** {@link #of(Destination, DestinationType, EgressPolicy)} under the default egress policy. */
  public static DeliverySettings of(Destination destination, DestinationType type) {
    return of(destination, type, EgressPolicy.defaults());
  }

  /**
   * Reads and validates a destination's whole config: the shared settings, the type's own (checked against the
   * workspace's egress policy), and unknown keys.
   *
   * @throws InvalidDestinationConfigException listing every problem
   */
  public static DeliverySettings of(Destination destination, DestinationType type, EgressPolicy egress) {
    ConfigReader config = ConfigReader.of(destination);
    Set<String> known = new HashSet<>(KEYS);
    known.addAll(type.configKeys());
    config.rejectUnknownKeys(known);
    int maxInFlight = (int) config.integer("maxInFlight", DEFAULT_MAX_IN_FLIGHT, 1, 4096);
    RetryPolicy retry = RetryPolicy.read(config);
    ConfigReader rate = config.child("rateLimit");
    rate.rejectUnknownKeys(Set.of("eventsPerSecond"));
    Double eventsPerSecond = rate.positiveNumber("eventsPerSecond");
    if (config.has("rateLimit") && eventsPerSecond == null && config.problems().isEmpty()) {
      rate.problem("eventsPerSecond", "missing (or remove rateLimit)");
    }
    io.eventpipe.destinations.Mapping mapping = io.eventpipe.destinations.Mapping.read(destination, config);
    type.validate(config, egress);
    config.throwIfInvalid(destination.id());
    return new DeliverySettings(maxInFlight, retry, eventsPerSecond, egress, mapping);
  }
}
