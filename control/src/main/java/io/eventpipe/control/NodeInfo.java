package io.eventpipe.control;

import java.time.Instant;

/** A node as registered in the control store: where it listens, and when it last said it was alive. */
public record NodeInfo(int nodeId, String address, Instant heartbeatAt, boolean ready) {

  /** Whether the node renewed its heartbeat within {@code within} of {@code now} and said it was ready. */
  public boolean live(Instant now, java.time.Duration within) {
    return ready && heartbeatAt != null && !heartbeatAt.isBefore(now.minus(within));
  }
}
