package io.eventpipe.gateway.http;

/**
 * Settings of the SDK-facing HTTP server.
 *
 * @param host               interface to bind
 * @param port               port to bind (0 picks a free one)
 * @param maxRequestBytes    largest request body, compressed or not (413 above it)
 * @param maxInFlightRequests requests being handled at once before answering 503 with Retry-After
 * @param maxInFlightBytes   body bytes held at once before answering 503 with Retry-After
 * @param trustForwardedFor  take the client IP from X-Forwarded-For (behind a trusted load balancer)
 * @param version            what {@code GET /version} reports
 * @param bodyTimeoutMs      time a request body may take to arrive, from its headers to its last byte (408 after it)
 */
public record GatewayOptions(
    String host,
    int port,
    int maxRequestBytes,
    int maxInFlightRequests,
    long maxInFlightBytes,
    boolean trustForwardedFor,
    String version,
    long bodyTimeoutMs) {

  /** Default {@link #bodyTimeoutMs()}: 4000 KB at about 70 KB/s, a slow mobile link. */
  public static final long DEFAULT_BODY_TIMEOUT_MS = 60_000;

  public GatewayOptions {
    if (port < 0 || port > 65535) {
      throw new IllegalArgumentException("port must be in 0..65535, was " + port);
    }
    if (maxRequestBytes < 1024) {
      throw new IllegalArgumentException("maxRequestBytes must be >= 1024, was " + maxRequestBytes);
    }
    if (maxInFlightRequests < 1) {
      throw new IllegalArgumentException("maxInFlightRequests must be >= 1, was " + maxInFlightRequests);
    }
    if (maxInFlightBytes < maxRequestBytes) {
      throw new IllegalArgumentException("maxInFlightBytes (" + maxInFlightBytes + ") must be >= maxRequestBytes (" + maxRequestBytes + ")");
    }
    if (bodyTimeoutMs < 1) {
      throw new IllegalArgumentException("bodyTimeoutMs must be >= 1, was " + bodyTimeoutMs);
    }
  }

  public static GatewayOptions defaults(int port) {
    return new GatewayOptions("0.0.0.0", port, 4000 * 1024, 10_000, 512L << 20, false, Version.VERSION,
        DEFAULT_BODY_TIMEOUT_MS);
  }

  public GatewayOptions withHost(String v) {
    return new GatewayOptions(v, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, bodyTimeoutMs);
  }

  public GatewayOptions withMaxRequestBytes(int v) {
    return new GatewayOptions(host, port, v, maxInFlightRequests, Math.max(maxInFlightBytes, v), trustForwardedFor, version, bodyTimeoutMs);
  }

  public GatewayOptions withMaxInFlight(int requests, long bytes) {
    return new GatewayOptions(host, port, maxRequestBytes, requests, bytes, trustForwardedFor, version, bodyTimeoutMs);
  }

  public GatewayOptions withTrustForwardedFor(boolean v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, v, version, bodyTimeoutMs);
  }

  public GatewayOptions withBodyTimeoutMs(long v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, v);
  }
}
