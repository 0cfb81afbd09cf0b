package io.eventpipe.node.router;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.vertx.core.Vertx;
import java.util.Set;

/**
 * A kind of destination (the {@code type} of a workspace destination), e.g. {@code webhook}. Register new ones in
 * {@link DestinationTypes}. The router handles what every type shares (order, retries, rate limit, in-flight
 * bound, the settings of {@link DeliverySettings}); a type only reads its own settings and sends requests.
 */
public interface DestinationType {

  /** The value of a destination's {@code type} that selects this implementation. */
  String name();

  /** The keys of a destination's {@code config} this type reads, besides {@link DeliverySettings#KEYS}. */
  Set<String> configKeys();

  /**
   * Checks this type's settings of a destination's config, adding every problem to {@code config}. Called on each
   * configuration change, before {@link #open}.
   */
  void validate(ConfigReader config);

  /**
   * {@link #validate(ConfigReader)}, also checking where the destination would send against the workspace's egress
   * policy; a type that sends over the network overrides it.
   */
  default void validate(ConfigReader config, io.eventpipe.workspace.EgressPolicy egress) {
    validate(config);
  }

  /** Opens a client for a destination whose config validated, on the destination worker's context; {@code clock} is the pipeline's. */
  DestinationClient open(Vertx vertx, Destination destination, DeliverySettings settings, java.time.Clock clock);
}
