package io.eventpipe.destinations;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.Map;

/**
 * What {@link DestinationType#open} gets.
 *
 * @param vertx the node's Vert.x; the client is called on the destination worker's context
 * @param destination the destination (its {@code config} validated)
 * @param maxInFlight the most requests the router will have in flight at once (size connection pools by it)
 * @param egress the workspace's policy of where destinations may connect
 * @param clock the pipeline's clock
 * @param services what the node offers integrations by name (e.g. {@code "jobsdb.pool"}: a
 *     {@code io.vertx.sqlclient.Pool} of the node's own PostgreSQL, for a staged destination's batch records); empty
 *     where the node offers nothing
 */
public record DestinationContext(Vertx vertx, Destination destination, int maxInFlight, EgressPolicy egress,
    Clock clock, Map<String, Object> services) {

  public DestinationContext {
    services = services == null ? Map.of() : Map.copyOf(services);
  }

  /** A reader of the destination's config (to read the settings that {@link DestinationType#validate} checked). */
  public ConfigReader config() {
    return ConfigReader.of(destination);
  }
}
