/**
 * The destination SPI. An integration implements {@link io.eventpipe.destinations.DestinationType} (its config
 * schema, its {@link io.eventpipe.destinations.DeliveryMode}, and how it opens a
 * {@link io.eventpipe.destinations.DestinationClient}), and registers it by type name through
 * {@link java.util.ServiceLoader}. The client maps {@link io.eventpipe.destinations.Event}s to what the destination
 * receives, sends them, and classifies the answer as a {@link io.eventpipe.destinations.DeliveryResult}. The router
 * (processor-node) owns order, retries, backoff, abort, dead letter, replay, rate limits, egress policy, fencing
 * during a migration, metrics and the {@link io.eventpipe.destinations.Mapping} applied before the client sees an
 * event. See docs/destinations.md.
 */
package io.eventpipe.destinations;
