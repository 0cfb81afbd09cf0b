package io.eventpipe.gateway;

/** 401: no write key, or a write key that belongs to no source of the workspace. */
public class UnauthorizedException extends GatewayException {

  private static final long serialVersionUID = 1L;

  public UnauthorizedException(String message) {
    super(401, message, null, null);
  }
}
