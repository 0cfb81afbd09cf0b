package io.eventpipe.node.router;

import java.time.Duration;
import java.util.Objects;

/** The outcome of one delivery request, as a {@link DestinationClient} classifies it. */
public sealed interface DeliveryResult {

  DeliveryResult DELIVERED = new Delivered();

  /** The destination accepted the events. */
  record Delivered() implements DeliveryResult {}

  /**
   * A failure worth retrying: network error, timeout, 5xx, 408, 429.
   *
   * @param error what happened, kept as the job's last error (e.g. {@code HTTP 503: upstream down})
   * @param retryAfter the server's {@code Retry-After}, or null
   * @param throttled the destination asked us to slow down (429): the rate limit adapts
   */
  record Retryable(String error, Duration retryAfter, boolean throttled) implements DeliveryResult {
    public Retryable {
      Objects.requireNonNull(error, "error");
    }
  }

  /** A failure that retrying cannot fix (e.g. 400): the events are aborted at once. */
  record Rejected(String error) implements DeliveryResult {
    public Rejected {
      Objects.requireNonNull(error, "error");
    }
  }
}
