package io.eventpipe.gateway;

/**
 * Base of every error the gateway reports to a client or an operator.
 *
 * <p>Carries the HTTP status the SDK-facing server should answer with and a message that says what was wrong
 * and how to fix it; the message is safe to return to the client (it never contains a write key or a secret).
 * Errors about one event of a batch also carry the event's zero-based index in the {@code batch} array.
 */
public class GatewayException extends RuntimeException {

  private static final long serialVersionUID = 1L;

  private final int status;
  private final Integer eventIndex;

  /**
   * @param status the HTTP status to answer with
   * @param message what was wrong and how to fix it
   */
  public GatewayException(int status, String message) {
    this(status, message, null, null);
  }

  /**
   * @param status the HTTP status to answer with
   * @param message what was wrong and how to fix it
   * @param eventIndex the zero-based index of the offending event in the {@code batch} array, or null
   * @param cause the underlying error, or null
   */
  public GatewayException(int status, String message, Integer eventIndex, Throwable cause) {
    super(message, cause);
    this.status = status;
    this.eventIndex = eventIndex;
  }

  /** The HTTP status code to answer with (400, 401, 404, 413, 415, 429, ...). */
  public int status() {
    return status;
  }

  /** The zero-based index of the offending event in the request's {@code batch} array, or null. */
  public Integer eventIndex() {
    return eventIndex;
  }
}
