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
 * @param trustedProxyHops   with {@code trustForwardedFor}: how many proxies of ours stand in front of this server, each
 *                           appending the address it received from to X-Forwarded-For; the client is the entry that many
 *                           places from the right (1: the rightmost). Entries further left are whatever the client sent,
 *                           and never trusted
 * @param connections        the public port's header deadline, idle timeout and connection cap
 */
public record GatewayOptions(
    String host,
    int port,
    int maxRequestBytes,
    int maxInFlightRequests,
    long maxInFlightBytes,
    boolean trustForwardedFor,
    String version,
    long bodyTimeoutMs,
    int trustedProxyHops,
    ConnectionLimits connections) {

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
    if (trustedProxyHops < 1) {
      throw new IllegalArgumentException("trustedProxyHops must be >= 1, was " + trustedProxyHops);
    }
    java.util.Objects.requireNonNull(connections, "connections");
  }

  public static GatewayOptions defaults(int port) {
    return new GatewayOptions("0.0.0.0", port, 4000 * 1024, 10_000, 512L << 20, false, Version.VERSION,
        DEFAULT_BODY_TIMEOUT_MS, 1, ConnectionLimits.publicDefaults());
  }

  public GatewayOptions withHost(String v) {
    return new GatewayOptions(v, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, bodyTimeoutMs, trustedProxyHops, connections);
  }

  public GatewayOptions withMaxRequestBytes(int v) {
    return new GatewayOptions(host, port, v, maxInFlightRequests, Math.max(maxInFlightBytes, v), trustForwardedFor, version, bodyTimeoutMs, trustedProxyHops, connections);
  }

  public GatewayOptions withMaxInFlight(int requests, long bytes) {
    return new GatewayOptions(host, port, maxRequestBytes, requests, bytes, trustForwardedFor, version, bodyTimeoutMs, trustedProxyHops, connections);
  }

  public GatewayOptions withTrustForwardedFor(boolean v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, v, version, bodyTimeoutMs, trustedProxyHops, connections);
  }

  public GatewayOptions withBodyTimeoutMs(long v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, v, trustedProxyHops, connections);
  }

  public GatewayOptions withTrustedProxyHops(int v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, bodyTimeoutMs, v, connections);
  }

  public GatewayOptions withConnections(ConnectionLimits v) {
    return new GatewayOptions(host, port, maxRequestBytes, maxInFlightRequests, maxInFlightBytes, trustForwardedFor, version, bodyTimeoutMs, trustedProxyHops, v);
  }
}
