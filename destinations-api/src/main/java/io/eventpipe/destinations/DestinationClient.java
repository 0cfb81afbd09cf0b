package io.eventpipe.destinations;

import io.vertx.core.Future;
import java.util.List;

/**
 * Sends events to one destination. Created by {@link DestinationType#open} for one destination worker and called
 * only on that worker's context; it owns its connections.
 */
public interface DestinationClient {

  /** The most events one {@link #deliver} call may carry: 1 unless the destination takes batches. */
  int maxEventsPerRequest();

  /**
   * Delivers events in one request, in the given order (their order per routing key: a client of a destination with
   * order keeps it). The future must complete whatever the destination does (the client applies its own timeout),
   * with a {@link DeliveryResult}; a failed future counts as a retryable error. Complete with
   * {@link DeliveryResult.Delivered} only once the destination has durably accepted the events (a broker's ack, an
   * upload's 200, a committed transaction).
   *
   * @param node the sending node's name, or null: a client that can carry it passes it on for tracing
   */
  Future<DeliveryResult> deliver(List<Event> events, String node);

  /** Closes the connections; requests still running fail. */
  Future<Void> close();
}
