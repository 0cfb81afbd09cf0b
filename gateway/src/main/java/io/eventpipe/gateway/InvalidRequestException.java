package io.eventpipe.gateway;

/** 400: the request body is not what the API accepts (empty, not UTF-8, not JSON, wrong shape, too deep). */
public class InvalidRequestException extends GatewayException {

  private static final long serialVersionUID = 1L;

  public InvalidRequestException(String message) {
    super(400, message, null, null);
  }

  public InvalidRequestException(String message, Throwable cause) {
    super(400, message, null, cause);
  }

  protected InvalidRequestException(String message, Integer eventIndex, Throwable cause) {
    super(400, message, eventIndex, cause);
  }
}
