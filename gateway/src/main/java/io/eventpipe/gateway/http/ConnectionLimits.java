package io.eventpipe.gateway.http;

/**
 * What one HTTP port grants a TCP connection, enforced by {@link ConnectionGuard}.
 *
 * @param headerTimeoutMs    a new connection must deliver its first request's headers within this time, or it is closed
 *                           (a slowloris client trickling header bytes holds a connection no longer)
 * @param idleTimeoutSeconds a kept-alive connection must deliver its next request's headers within this time of the
 *                           last answer, and a connection that carries no bytes either way for this long is closed
 *                           (it must exceed the clients' own keep-alive idle time, or a client may send on a connection
 *                           the server is closing: the proxy's pool keeps idle connections 60 s)
 * @param maxConnections     connections open at once on the port; one beyond it is closed as soon as it is accepted,
 *                           counted in {@code http_connections_refused_total{server}}
 */
public record ConnectionLimits(long headerTimeoutMs, int idleTimeoutSeconds, int maxConnections) {

  /** Default {@link #headerTimeoutMs()}: generous for a mobile link, short for an attacker holding sockets. */
  public static final long DEFAULT_HEADER_TIMEOUT_MS = 10_000;
  /** Default {@link #idleTimeoutSeconds()}: above the 60 s the proxy's and most HTTP clients' pools keep a connection. */
  public static final int DEFAULT_IDLE_TIMEOUT_SECONDS = 120;
  /** Default {@link #maxConnections()} of the public port. */
  public static final int DEFAULT_MAX_CONNECTIONS = 10_000;
  /** Default {@link #maxConnections()} of internal, admin and metrics ports (proxies hold up to 64 each per node). */
  public static final int DEFAULT_INTERNAL_MAX_CONNECTIONS = 4_096;

  public ConnectionLimits {
    if (headerTimeoutMs < 1) {
      throw new IllegalArgumentException("headerTimeoutMs must be >= 1, was " + headerTimeoutMs);
    }
    if (idleTimeoutSeconds < 1) {
      throw new IllegalArgumentException("idleTimeoutSeconds must be >= 1, was " + idleTimeoutSeconds);
    }
    if (idleTimeoutSeconds * 1000L < headerTimeoutMs) {
      throw new IllegalArgumentException("idleTimeoutSeconds (" + idleTimeoutSeconds + " s) must not be shorter than"
          + " headerTimeoutMs (" + headerTimeoutMs + " ms)");
    }
    if (maxConnections < 1) {
      throw new IllegalArgumentException("maxConnections must be >= 1, was " + maxConnections);
    }
  }

  /** The defaults of the public port. */
  public static ConnectionLimits publicDefaults() {
    return new ConnectionLimits(DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_MAX_CONNECTIONS);
  }

  /** The defaults of internal, admin and metrics ports. */
  public static ConnectionLimits internalDefaults() {
    return new ConnectionLimits(DEFAULT_HEADER_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_SECONDS, DEFAULT_INTERNAL_MAX_CONNECTIONS);
  }

  public ConnectionLimits withMaxConnections(int v) {
    return new ConnectionLimits(headerTimeoutMs, idleTimeoutSeconds, v);
  }
}
