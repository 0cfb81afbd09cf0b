package io.eventpipe.gateway.http;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link ConnectionLimits} of one HTTP port, for every server (event loop) that shares the port: a connection cap,
 * a deadline for request headers, and the idle timeout.
 *
 * <p>Vert.x has no header deadline (its idle timeout restarts with every byte, so a client that trickles one header
 * byte every few seconds holds its connection for ever). The guard keeps one timer per connection instead, armed when
 * the connection is accepted ({@link ConnectionLimits#headerTimeoutMs()}) and again when its last request in progress
 * is answered ({@link ConnectionLimits#idleTimeoutSeconds()}: the keep-alive wait, as hyper's header read timeout
 * also bounds the wait between requests), and cancelled when a request's headers are complete (the moment Vert.x
 * calls the request handler). When it fires, the connection is closed. What comes after the headers is bounded
 * elsewhere: a body by its reader's deadline ({@link BodyReader}), silence by the idle timeout.
 *
 * <p>Cleartext HTTP/2 (h2c) is off on these ports: Vert.x decides between HTTP/1 and h2c only once a client has sent
 * bytes, so a client that connects and sends nothing would have no connection to time out. Nothing of ours speaks
 * h2c (SDKs speak HTTP/1.1, or HTTP/2 over TLS to a load balancer; proxies speak HTTP/1.1 to nodes).
 *
 * <p>A connection beyond {@link ConnectionLimits#maxConnections()} is closed as soon as it is accepted, before it is
 * read, and counted in {@code http_connections_refused_total{server}}; {@code http_connections_open{server}} and
 * {@code http_header_timeouts_total{server}} count the others.
 */
public final class ConnectionGuard {

  private static final Logger LOG = LoggerFactory.getLogger(ConnectionGuard.class);
  private static final long LOG_EVERY_NANOS = TimeUnit.MINUTES.toNanos(1);

  private final Vertx vertx;
  private final String server;
  private final ConnectionLimits limits;
  private final AtomicInteger open = new AtomicInteger();
  private final Map<HttpConnection, Conn> connections = new ConcurrentHashMap<>();
  private final Counter refused;
  private final Counter headerTimeouts;
  private final AtomicLong lastRefusalLog = new AtomicLong(System.nanoTime() - LOG_EVERY_NANOS);

  /**
   * @param server the port's name in metrics and logs ({@code public}, {@code internal}, {@code metrics}, ...)
   */
  public ConnectionGuard(Vertx vertx, String server, ConnectionLimits limits, MeterRegistry registry) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.server = Objects.requireNonNull(server, "server");
    this.limits = Objects.requireNonNull(limits, "limits");
    Gauge.builder("http.connections.open", open, AtomicInteger::get).description("TCP connections open on the port")
        .tag("server", server).register(registry);
    this.refused = Counter.builder("http.connections.refused")
        .description("Connections closed at once because the port had as many open as its cap (--max-connections)")
        .tag("server", server).register(registry);
    this.headerTimeouts = Counter.builder("http.header.timeouts")
        .description("Connections closed because a request's headers did not arrive within the header or keep-alive deadline")
        .tag("server", server).register(registry);
  }

  /**
   * Creates a server with these limits (the idle timeout set on {@code options}, the cap and the header deadline in
   * its connection handler) serving {@code handler}. Call it where the server should live (a verticle's start).
   */
  public HttpServer createServer(HttpServerOptions options, Handler<HttpServerRequest> handler) {
    // without cleartext HTTP/2, Vert.x makes a connection an HTTP/1 connection (and calls the connection handler) as it
    // accepts it; with it, a connection that sends nothing is undecided and out of reach of the header deadline
    HttpServer s = vertx.createHttpServer(new HttpServerOptions(options).setHttp2ClearTextEnabled(false)
        .setIdleTimeout(limits.idleTimeoutSeconds()).setIdleTimeoutUnit(TimeUnit.SECONDS));
    s.connectionHandler(this::accepted);
    s.requestHandler(req -> request(req, handler));
    return s;
  }

  /** Connections open now (for tests and gauges). */
  public int open() {
    return open.get();
  }

  public ConnectionLimits limits() {
    return limits;
  }

  private void accepted(HttpConnection c) {
    if (open.incrementAndGet() > limits.maxConnections()) {
      open.decrementAndGet();
      refused.increment();
      long now = System.nanoTime();
      long last = lastRefusalLog.get();
      if (now - last >= LOG_EVERY_NANOS && lastRefusalLog.compareAndSet(last, now)) {
        LOG.warn("{} port: {} connections open, its cap (--max-connections); refusing new ones (from {} and others;"
            + " counted in http_connections_refused_total, logged at most once a minute)", server, limits.maxConnections(),
            c.remoteAddress());
      }
      c.close();
      return;
    }
    Conn conn = new Conn(c);
    connections.put(c, conn);
    c.closeHandler(v -> {
      if (connections.remove(c) != null) {
        conn.cancel();
        open.decrementAndGet();
      }
    });
    conn.arm(limits.headerTimeoutMs());
  }

  private void request(HttpServerRequest req, Handler<HttpServerRequest> handler) {
    Conn conn = connections.get(req.connection());
    if (conn == null) {
      req.connection().close(); // refused or already closed: read nothing from it
      return;
    }
    conn.active++;
    conn.cancel();
    req.response().endHandler(v -> {
      if (--conn.active == 0 && connections.containsKey(conn.connection)) {
        conn.arm(limits.idleTimeoutSeconds() * 1000L);
      }
    });
    handler.handle(req);
  }

  /** One connection's deadline; touched on its event loop only. */
  private final class Conn {
    final HttpConnection connection;
    int active;
    long timer = -1;

    Conn(HttpConnection connection) {
      this.connection = connection;
    }

    void arm(long ms) {
      cancel();
      timer = vertx.setTimer(ms, t -> {
        timer = -1;
        if (active == 0) {
          headerTimeouts.increment();
          LOG.debug("{} port: closing {}: no complete request headers within {} ms", server, connection.remoteAddress(), ms);
          connection.close();
        }
      });
    }

    void cancel() {
      if (timer >= 0) {
        vertx.cancelTimer(timer);
        timer = -1;
      }
    }
  }
}
