package io.eventpipe.destinations;

import io.eventpipe.gateway.Text;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;

/**
 * The outcome of one {@link DestinationClient#deliver} call, as the client classifies the destination's answer. What
 * follows from it (backoff, abort, dead letter, the rate limit) is the router's business.
 */
public sealed interface DeliveryResult {

  /**
   * The most UTF-8 bytes of an error kept as a job's last error. Errors are made storable when a result is made
   * ({@link Text#storable}: lone surrogates replaced, NUL and other control characters escaped, bounded), whatever
   * the destination answered, so the outcome write that carries them cannot fail on them.
   */
  int MAX_ERROR_BYTES = 1024;

  DeliveryResult DELIVERED = new Delivered();

  /** The destination accepted (and, for a durable destination, acknowledged) every event. */
  record Delivered() implements DeliveryResult {}

  /**
   * A failure worth retrying: network error, timeout, 5xx, 408, 429, a broker that is not available.
   *
   * @param error what happened, kept as the job's last error (e.g. {@code HTTP 503: upstream down})
   * @param retryAfter the destination's {@code Retry-After}, or null
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

  /**
   * Some events of a batch were rejected, the rest accepted. The router aborts the rejected ones with their error and
   * counts the others delivered. Every job id must be one of the request's.
   *
   * @param rejected job id ({@link Event#jobId()}) &rarr; why the destination rejected it
   */
  record Partial(Map<Long, String> rejected) implements DeliveryResult {
    public Partial {
      Map<Long, String> bounded = new java.util.HashMap<>();
      Objects.requireNonNull(rejected, "rejected").forEach((id, e) -> bounded.put(id, Text.storable(e, MAX_ERROR_BYTES)));
      rejected = Map.copyOf(bounded);
    }
  }
}
