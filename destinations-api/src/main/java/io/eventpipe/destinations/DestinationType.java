package io.eventpipe.destinations;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import java.util.Set;

/**
 * A kind of destination: the {@code type} of a workspace destination ({@code webhook}, {@code kafka}, ...). This is
 * the whole SPI an integration implements; it is found by {@link DestinationTypes#installed()} through
 * {@link java.util.ServiceLoader}, so an integration registers itself by listing its class in
 * {@code META-INF/services/io.eventpipe.destinations.DestinationType} and being on the node's classpath.
 *
 * <p>An implementation has a public no-argument constructor and is stateless: it reads its settings
 * ({@link #validate}), and opens a {@link DestinationClient} per destination worker ({@link #open}). Order, retries,
 * backoff, abort, dead letter and replay, rate limits, the in-flight bound, fencing during a migration, the mapping
 * without code and metrics are the router's and apply to every type unchanged; the type only maps events to what the
 * destination receives, sends them, and classifies the answer ({@link DeliveryResult}).
 */
public interface DestinationType {

  /** The value of a destination's {@code type} that selects this implementation (lower case, e.g. {@code kafka}). */
  String name();

  /**
   * The keys of a destination's {@code config} this type reads. The router adds its own shared keys
   * ({@code maxInFlight}, {@code retry}, {@code rateLimit}, {@code eventTypes}, {@code eventNames}, {@code mapping});
   * any other key is reported as unknown.
   */
  Set<String> configKeys();

  /** STREAM (per-user order, small requests) unless overridden. */
  default DeliveryMode mode() {
    return DeliveryMode.STREAM;
  }

  /**
   * Checks this type's settings, adding every problem with {@link ConfigReader#problem} (the reader's path names the
   * destination, so a problem reads {@code destinations[orders].config.topic: missing ...}). An endpoint whose host is
   * an address literal is checked against {@code egress} here ({@link Egress#checkLiteral}); a host name is checked
   * each time it is resolved ({@link Egress#resolve}). Called on each configuration change, before {@link #open};
   * a destination with problems is not delivered to (its jobs wait) until its config is fixed.
   */
  void validate(ConfigReader config, EgressPolicy egress);

  /**
   * Opens a client for a destination whose config validated, on the destination worker's context. Should not block:
   * a client that needs blocking work (a JDBC or SDK call) runs it with {@code vertx.executeBlocking}.
   */
  DestinationClient open(DestinationContext context);
}
