package io.eventpipe.gateway;

/** 413: the request body, its decompressed form, or one event is larger than the configured limit. */
public class PayloadTooLargeException extends GatewayException {

  private static final long serialVersionUID = 1L;

  private final long limitBytes;

  public PayloadTooLargeException(String message, long limitBytes, Integer eventIndex) {
    super(413, message, eventIndex, null);
    this.limitBytes = limitBytes;
  }

  /** The limit that was exceeded, in bytes. */
  public long limitBytes() {
    return limitBytes;
  }
}
