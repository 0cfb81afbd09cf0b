package io.eventpipe.node.router;

import io.eventpipe.jobsdb.Job;
import io.vertx.core.Future;
import java.util.List;

/**
 * Sends events to one destination. Created by a {@link DestinationType} for one destination worker and used only
 * on that worker's context; it owns its connections (one pool per destination).
 */
public interface DestinationClient {

  /** The most events one {@link #deliver} call may carry: 1 unless the destination takes batches. */
  int maxEventsPerRequest();

  /**
   * Delivers jobs of this destination in one request, in the given order (which is their order per routing key).
   * The future must complete, whatever the destination does: implementations apply their own timeout. It
   * completes with a {@link DeliveryResult}; a failed future counts as a retryable error.
   */
  Future<DeliveryResult> deliver(List<Job> jobs);

  /**
   * As {@link #deliver(List)}, saying which node sends ({@code null}: not told). A destination that can carry it
   * passes the node, the job ids and the attempt numbers on to the receiver, so a delivery can be traced to the
   * process and the job row that sent it (a job id is unique within one node's database only).
   */
  default Future<DeliveryResult> deliver(List<Job> jobs, String node) {
    return deliver(jobs);
  }

  /** Closes the connections; requests still running fail. */
  Future<Void> close();
}
