package io.eventpipe.node.router;

import io.eventpipe.gateway.Text;
import java.time.Duration;
import java.util.Objects;

/** The outcome of one delivery request, as a {@link DestinationClient} classifies it. */
public sealed interface DeliveryResult {

  /**
   * The most UTF-8 bytes of an error kept as a job's last error. Errors are made storable when a result is made
   * ({@link Text#storable}: lone surrogates replaced, NUL and other control characters escaped, bounded), whatever
   * the destination answered, so the outcome write that carries them cannot fail on them.
   */
  int MAX_ERROR_BYTES = 1024;

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
      error = Text.storable(Objects.requireNonNull(error, "error"), MAX_ERROR_BYTES);
    }
  }

  /** A failure that retrying cannot fix (e.g. 400): the events are aborted at once. */
  record Rejected(String error) implements DeliveryResult {
    public Rejected {
      error = Text.storable(Objects.requireNonNull(error, "error"), MAX_ERROR_BYTES);
    }
  }
}
