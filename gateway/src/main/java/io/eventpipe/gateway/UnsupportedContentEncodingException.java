package io.eventpipe.gateway;

/** 415: the request's {@code Content-Encoding} is neither identity nor gzip. */
public class UnsupportedContentEncodingException extends GatewayException {

  private static final long serialVersionUID = 1L;

  private final String encoding;

  public UnsupportedContentEncodingException(String encoding) {
    super(415, "unsupported Content-Encoding '" + encoding
        + "'; send the body uncompressed or with Content-Encoding: gzip", null, null);
    this.encoding = encoding;
  }

  /** The rejected encoding, as the client sent it. */
  public String encoding() {
    return encoding;
  }
}
