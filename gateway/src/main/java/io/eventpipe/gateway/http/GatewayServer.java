package io.eventpipe.gateway.http;

import io.eventpipe.workspace.AuthResult;
import io.eventpipe.gateway.Authenticator;
import io.eventpipe.gateway.BodyDecoder;
import io.eventpipe.gateway.Endpoint;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.ParsedRequest;
import io.eventpipe.gateway.QueryStrings;
import io.eventpipe.gateway.RateLimitedException;
import io.eventpipe.gateway.KeyRateLimiter;
import io.eventpipe.gateway.RateLimiter;
import io.eventpipe.gateway.RequestContext;
import io.eventpipe.gateway.Text;
import io.eventpipe.workspace.WebhookSource;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.workspace.WriteKeys;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.DeploymentOptions;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.MultiMap;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.util.Base64;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The SDK-facing HTTP API (RudderStack's HTTP API and Segment's HTTP Tracking API): authenticates, parses,
 * validates and enriches each request with the gateway's {@link EventParser}, hands the events to an
 * {@link EventSink}, and answers 200 only once the sink committed all of them.
 *
 * <p>Every error is answered here, in one place, as {@code {"error": "...", "index": n}} with the status the
 * SDKs expect: 400 invalid input, 401 unknown write key or a refused webhook signature, 404 disabled source or
 * unknown path, 408 body not received in time, 413 body too large, 415 unknown Content-Encoding, 429 rate limited
 * and 503 overloaded or storage unavailable (both with Retry-After). A failure inside the pipeline is answered with a stable message and a request
 * id ({@link InternalErrors}), never with its own text (PostgreSQL's, a node's address, an exception's).
 *
 * <p>Connections: a header deadline, the idle timeout and a connection cap ({@link ConnectionGuard},
 * {@link GatewayOptions#connections()}).
 *
 * <p>Memory: bodies are read by a {@link BodyReader} that charges every chunk to the server's budget of body bytes
 * ({@link GatewayOptions#maxInFlightBytes()}) as it arrives, and a gzip body's inflated copy too; a request whose write
 * key is in the Authorization header is authenticated before its body is read.
 */
public final class GatewayServer {

  private static final Logger LOG = LoggerFactory.getLogger(GatewayServer.class);
  /** Bodies up to this size are parsed on the event loop; larger ones on a worker thread. */
  private static final int INLINE_PARSE_BYTES = 128 * 1024;
  private static final Buffer PIXEL = Buffer.buffer(Base64.getDecoder().decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"));
  private static final Buffer SUCCESS = Buffer.buffer("{\"success\":true}");
  private static final Map<String, Endpoint> POST_PATHS = new HashMap<>();
  private static final Map<String, Endpoint> GET_PATHS = new HashMap<>();

  static {
    for (Endpoint e : Endpoint.values()) {
      (e.isPixel() ? GET_PATHS : POST_PATHS).put(e.path(), e);
    }
  }

  private final Vertx vertx;
  private final GatewayOptions options;
  private final WorkspaceConfigStore config;
  private final EventParser parser;
  private final EventSink sink;
  private final RateLimiter rateLimiter;
  private final KeyRateLimiter keyLimiter;
  private final Clock clock;
  private final MeterRegistry registry;
  private final AtomicInteger inFlightRequests = new AtomicInteger();
  private final BodyReader.Budget bodyBudget;
  private final ConnectionGuard connections;
  private final Map<String, Counter> requestCounters = new ConcurrentHashMap<>();
  private final Map<String, Counter> eventCounters = new ConcurrentHashMap<>();
  private final Timer latency;
  private final DistributionSummary bytes;
  private volatile boolean accepting = true;
  private volatile int actualPort;
  private String deploymentId;

  public GatewayServer(Vertx vertx, GatewayOptions options, WorkspaceConfigStore config, EventParser parser, EventSink sink,
      Clock clock, MeterRegistry registry) {
    this.vertx = vertx;
    this.options = options;
    this.config = config;
    this.parser = parser;
    this.sink = sink;
    this.clock = clock;
    this.registry = registry;
    this.rateLimiter = RateLimiter.create(config::rateLimitFor);
    this.keyLimiter = new KeyRateLimiter(config::rateLimitFor, System::nanoTime, registry);
    this.bodyBudget = new BodyReader.Budget(options.maxInFlightBytes());
    this.connections = new ConnectionGuard(vertx, "public", options.connections(), registry, options.maxRequestBytes(),
        options.bodyTimeoutMs());
    this.latency = Timer.builder("gateway.request.latency").description("Time from request to answer")
        .publishPercentileHistogram().register(registry);
    this.bytes = DistributionSummary.builder("gateway.request.bytes").description("Request body bytes as received")
        .baseUnit("bytes").register(registry);
    registry.gauge("gateway.inflight.requests", inFlightRequests);
    registry.gauge("gateway.inflight.bytes", bodyBudget.usedCounter());
  }

  /** Binds one server per event loop (they share the port). Completes with the bound port. */
  public Future<Integer> start() {
    int instances = Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors()));
    if (options.port() == 0) {
      instances = 1; // port 0 picks a different port per server; only one then
    }
    return vertx.deployVerticle(() -> new VerticleBase() {
          private HttpServer server;

          @Override
          public Future<?> start() {
            server = connections.createServer(new HttpServerOptions()
                .setHost(options.host())
                .setPort(options.port())
                .setMaxInitialLineLength(16 * 1024)
                .setMaxHeaderSize(32 * 1024), GatewayServer.this::handle);
            return server.listen().onSuccess(s -> actualPort = s.actualPort());
          }

          @Override
          public Future<?> stop() {
            return server.close();
          }
        }, new DeploymentOptions().setInstances(instances))
        .map(id -> {
          deploymentId = id;
          LOG.info("gateway listening on {}:{}", options.host(), actualPort);
          return actualPort;
        });
  }

  public int port() {
    return actualPort;
  }

  /**
   * Graceful stop: new requests get 503, requests in flight finish (bounded by {@code timeoutMs}), then the
   * listeners close.
   */
  public Future<Void> stop(long timeoutMs) {
    accepting = false;
    long deadline = System.currentTimeMillis() + timeoutMs;
    return waitForInFlight(deadline).compose(v -> deploymentId == null ? Future.succeededFuture() : vertx.undeploy(deploymentId));
  }

  private Future<Void> waitForInFlight(long deadline) {
    if (inFlightRequests.get() == 0 || System.currentTimeMillis() >= deadline) {
      return Future.succeededFuture();
    }
    return vertx.timer(20).compose(t -> waitForInFlight(deadline));
  }

  // ------------------------------------------------------------------ routing

  private void handle(HttpServerRequest req) {
    String path = req.path();
    if (path.length() > 1 && path.endsWith("/")) {
      path = path.substring(0, path.length() - 1); // Segment's SDKs post to /v1/import/
    }
    if (req.method() == HttpMethod.GET) {
      switch (path) {
        case "/health" -> {
          health(req);
          return;
        }
        case "/version" -> {
          json(req.response(), 200, new JsonObject().put("version", options.version()));
          return;
        }
        default -> {
          Endpoint pixel = GET_PATHS.get(path);
          if (pixel != null) {
            pixel(req, pixel);
            return;
          }
        }
      }
    } else if (req.method() == HttpMethod.POST) {
      Endpoint endpoint = POST_PATHS.get(path);
      if (endpoint != null) {
        ingest(req, endpoint);
        return;
      }
    } else if (req.method() == HttpMethod.OPTIONS) {
      cors(req.response()).setStatusCode(204).end();
      return;
    }
    error(req.response(), new GatewayException(404, "no such endpoint: " + req.method() + " " + path
        + " (events go to POST /v1/track, /v1/identify, /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/merge, /v1/batch,"
        + " /v1/webhook)"), null);
  }

  private void health(HttpServerRequest req) {
    if (!accepting) {
      json(req.response(), 503, new JsonObject().put("status", "stopping"));
      return;
    }
    sink.healthy().onComplete(ar -> {
      boolean ok = ar.succeeded() && ar.result();
      json(req.response(), ok ? 200 : 503, new JsonObject().put("status", ok ? "ok" : "unavailable")
          .put("server", "eventpipe").put("version", options.version()));
    });
  }

  // ------------------------------------------------------------------ ingest

  private void ingest(HttpServerRequest req, Endpoint endpoint) {
    long started = System.nanoTime();
    HttpServerResponse res = cors(req.response());
    if (!admit(req, res, endpoint, started)) {
      return;
    }
    boolean[] released = {false};
    BodyReader reader = new BodyReader(vertx, req, options.maxRequestBytes(), options.bodyTimeoutMs(), bodyBudget);
    Runnable release = () -> {
      if (!released[0]) {
        released[0] = true;
        inFlightRequests.decrementAndGet();
        reader.release();
      }
    };
    // 1. answered before reading the body: a declared length over the cap, an invalid write key in the header
    String declared = req.getHeader(HttpHeaders.CONTENT_LENGTH);
    AuthResult headerAuth;
    try {
      if (declared != null && parseContentLength(declared) > options.maxRequestBytes()) {
        throw new GatewayException(413, "request body of " + declared.trim() + " bytes is over the limit of "
            + options.maxRequestBytes() + " bytes; send smaller batches");
      }
      Optional<String> headerKey = WriteKeys.fromBasicAuth(req.getHeader(HttpHeaders.AUTHORIZATION));
      if (endpoint.isWebhook() && headerKey.isEmpty()) {
        // a SaaS tool cannot set Basic auth: the key is in the URL it is given. The source's configuration is needed to
        // parse the body, so the key is checked before the body is read
        headerKey = Optional.ofNullable(QueryStrings.parse(req.query()).get("writeKey"));
        headerAuth = authenticateWebhook(headerKey.orElse(null));
      } else {
        headerAuth = headerKey.isPresent() ? authenticate(headerKey.get()) : null;
      }
    } catch (GatewayException e) {
      release.run();
      finish(res, endpoint, started, 0, e, true);
      swallowThenClose(req);
      return;
    }
    // 2. the body, every chunk charged to the server's byte budget, within a deadline
    reader.read().onFailure(err -> {
      release.run();
      finish(res, endpoint, started, reader.received(), err, true);
      if (err instanceof GatewayException g && g.status() == 408) {
        req.connection().close(); // a trickling client: swallowing the rest would wait on it again
      } else {
        swallowThenClose(req);
      }
    }).onSuccess(body -> {
      if (released[0]) {
        return;
      }
      bytes.record(body.length());
      RequestContext ctx = new RequestContext(clock.instant(), clientIp(req), null, n -> charge(reader, n));
      String contentEncoding = req.getHeader(HttpHeaders.CONTENT_ENCODING);
      byte[] raw = body.getBytes();
      // a webhook reads its source's configuration and may read headers (copied: the parse may run on a worker)
      WebhookInput webhook = endpoint.isWebhook()
          ? new WebhookInput(headerAuth.source(), MultiMap.caseInsensitiveMultiMap().addAll(req.headers())) : null;
      Future<ParsedRequest> parsed = raw.length <= INLINE_PARSE_BYTES
          ? Future.succeededFuture().map(x -> parse(endpoint, raw, contentEncoding, ctx, reader, webhook))
          : vertx.executeBlocking(() -> parse(endpoint, raw, contentEncoding, ctx, reader, webhook), false);
      parsed
          .compose(p -> {
            AuthResult auth = headerAuth;
            if (auth == null) {
              // parsed here, not before: a malformed query string must fail this future (400), not the handler
              String queryKey = endpoint == Endpoint.BEACON_BATCH ? QueryStrings.parse(req.query()).get("writeKey") : null;
              auth = authenticate(queryKey != null && !queryKey.isEmpty() ? queryKey : p.bodyWriteKey());
            }
            keyLimiter.acquireOrThrow(auth.sourceId(), p.events());
            rateLimiter.acquireOrThrow(auth.sourceId(), p.events().size());
            return sink.accept(auth.source(), p.events()).map(p.events());
          })
          .onComplete(ar -> {
            release.run();
            if (ar.succeeded()) {
              count(eventCounters, "gateway.events", endpoint, "200", ar.result().size());
              finish(res, endpoint, started, raw.length, null, false);
            } else {
              finish(res, endpoint, started, raw.length, ar.cause(), false);
            }
          });
    });
  }

  private static long parseContentLength(String declared) {
    try {
      return Long.parseLong(declared.trim());
    } catch (NumberFormatException e) {
      throw new GatewayException(400, "invalid Content-Length header");
    }
  }

  private ParsedRequest parse(Endpoint endpoint, byte[] raw, String contentEncoding, RequestContext ctx, BodyReader reader,
      WebhookInput webhook) {
    if (webhook != null) {
      // the tool signed the body as it sent it: checked before anything is decoded or parsed
      WebhookSignatures.verify(webhook.config(), raw, webhook.headers()::get, ctx.receivedAt());
    }
    byte[] decoded = BodyDecoder.decode(raw, contentEncoding, options.maxRequestBytes());
    if (decoded != raw && !reader.charge(decoded.length)) {
      throw new Overloaded("the server holds as many request bytes as it may; retry shortly");
    }
    if (webhook != null) {
      String type = webhook.headers().get(HttpHeaders.CONTENT_TYPE);
      if (type != null && type.toLowerCase(java.util.Locale.ROOT).startsWith("application/x-www-form-urlencoded")) {
        // GitHub's form content type: the JSON is the 'payload' field
        String payload = QueryStrings.parse(new String(decoded, java.nio.charset.StandardCharsets.UTF_8)).get("payload");
        if (payload == null) {
          throw new GatewayException(400, "a form-encoded webhook needs its JSON in the 'payload' field (or send"
              + " Content-Type: application/json)");
        }
        decoded = payload.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        if (!reader.charge(decoded.length)) {
          throw new Overloaded("the server holds as many request bytes as it may; retry shortly");
        }
      }
      return parser.parseWebhook(webhook.config(), decoded, webhook.headers()::get, ctx);
    }
    return parser.parseRequest(endpoint, decoded, ctx);
  }

  /** What a webhook's parse needs besides its body. */
  private record WebhookInput(WebhookSource config, MultiMap headers) {
    WebhookInput(io.eventpipe.workspace.Source source, MultiMap headers) {
      this(webhookConfig(source), headers);
    }
  }

  private static WebhookSource webhookConfig(io.eventpipe.workspace.Source source) {
    try {
      return WebhookSource.of(source);
    } catch (IllegalArgumentException e) {
      // the workspace file's reader refuses such a source; only one built in code gets here
      throw new GatewayException(400, "the source's webhook configuration is invalid: " + e.getMessage());
    }
  }

  private AuthResult authenticateWebhook(String writeKey) {
    if (writeKey == null || writeKey.isEmpty()) {
      throw new GatewayException(401, "no write key: give the tool the URL /v1/webhook?writeKey=KEY (or send the key"
          + " as the HTTP Basic auth username)");
    }
    return authenticate(writeKey);
  }

  /**
   * Charges the payloads the parser is about to build for a request (enrichment) to the byte budget, beside its body:
   * false (503) if they do not fit now, 413 if they never could.
   */
  private boolean charge(BodyReader reader, long bytes) {
    if (bytes > bodyBudget.max()) {
      throw new GatewayException(413, "the request's events take about " + bytes + " bytes once enriched, over the"
          + " server's budget of " + bodyBudget.max() + " bytes in flight; send smaller batches");
    }
    return reader.charge(bytes);
  }

  private AuthResult authenticate(String writeKey) {
    if (writeKey == null || writeKey.isEmpty()) {
      throw new GatewayException(401, "no write key: send it as the HTTP Basic auth username (password empty),"
          + " or as \"writeKey\" in the JSON body");
    }
    return Authenticator.authenticate(config, writeKey);
  }

  /** Overload protection: bounded requests and bytes in flight; past them 503 with Retry-After. */
  private boolean admit(HttpServerRequest req, HttpServerResponse res, Endpoint endpoint, long started) {
    if (!accepting) {
      finish(res, endpoint, started, 0, new Overloaded("the server is shutting down; retry against another instance"), true);
      swallowThenClose(req);
      return false;
    }
    int n = inFlightRequests.incrementAndGet();
    if (n > options.maxInFlightRequests() || bodyBudget.used() >= bodyBudget.max()) {
      inFlightRequests.decrementAndGet();
      finish(res, endpoint, started, 0, new Overloaded("the server is at its limit of requests or bytes in flight; retry shortly"), true);
      swallowThenClose(req);
      return false;
    }
    return true;
  }

  /** See {@link BodyReader#swallowThenClose}: at most another {@code maxRequestBytes}, within the body deadline. */
  private void swallowThenClose(HttpServerRequest req) {
    BodyReader.swallowThenClose(vertx, req, options.maxRequestBytes(), options.bodyTimeoutMs());
  }

  /** 503 for overload, with Retry-After. */
  private static final class Overloaded extends GatewayException {
    private static final long serialVersionUID = 1L;

    Overloaded(String message) {
      super(503, message);
    }
  }

  // ------------------------------------------------------------------ pixel

  private void pixel(HttpServerRequest req, Endpoint endpoint) {
    long started = System.nanoTime();
    HttpServerResponse res = req.response();
    Future<Integer> stored;
    try {
      Map<String, String> query = QueryStrings.parse(req.query()); // throws on a malformed escape: still a GIF
      RequestContext ctx = new RequestContext(clock.instant(), clientIp(req), null);
      ParsedRequest parsed = parser.parsePixel(endpoint, query, ctx);
      AuthResult auth = authenticate(query.get("writeKey"));
      keyLimiter.acquireOrThrow(auth.sourceId(), parsed.events());
      rateLimiter.acquireOrThrow(auth.sourceId(), parsed.events().size());
      stored = sink.accept(auth.source(), parsed.events()).map(parsed.events().size());
    } catch (RuntimeException e) {
      stored = Future.failedFuture(e);
    }
    stored.onComplete(ar -> {
      String status = ar.succeeded() ? "200" : String.valueOf(statusOf(ar.cause()));
      if (ar.failed()) {
        LOG.debug("pixel request not stored: {}", Text.forLog(ar.cause().getMessage()));
      } else {
        count(eventCounters, "gateway.events", endpoint, "200", ar.result());
      }
      count(requestCounters, "gateway.requests", endpoint, status, 1);
      latency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
      // a pixel always answers the image: a broken <img> helps nobody
      res.putHeader(HttpHeaders.CONTENT_TYPE, "image/gif").putHeader(HttpHeaders.CACHE_CONTROL, "no-store").end(PIXEL);
    });
  }

  // ------------------------------------------------------------------ answers

  private void finish(HttpServerResponse res, Endpoint endpoint, long started, int bodyBytes, Throwable failure, boolean close) {
    int status = failure == null ? 200 : statusOf(failure);
    count(requestCounters, "gateway.requests", endpoint, String.valueOf(status), 1);
    latency.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
    if (res.ended() || res.closed()) {
      return;
    }
    if (close) {
      res.putHeader(HttpHeaders.CONNECTION, "close");
    }
    if (failure == null) {
      // Segment's SDKs parse the body as {"success": true} and retry anything else; RudderStack's ignore it
      res.setStatusCode(200).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(SUCCESS);
    } else {
      error(res, failure, endpoint);
    }
  }

  private static int statusOf(Throwable t) {
    return t instanceof GatewayException g ? g.status() : 503;
  }

  private void error(HttpServerResponse res, Throwable failure, Endpoint endpoint) {
    int status = statusOf(failure);
    JsonObject body = new JsonObject();
    if (failure instanceof GatewayException g) {
      body.put("error", g.getMessage());
      if (g.eventIndex() != null) {
        body.put("index", g.eventIndex());
      }
      if (failure instanceof RateLimitedException r) {
        res.putHeader("Retry-After", String.valueOf(r.retryAfterSeconds()));
      } else if (status == 503) {
        res.putHeader("Retry-After", "1");
      }
    } else {
      // not stored: the sink failed (storage unavailable, node down, ...); a retry is safe thanks to dedup. What failed
      // (PostgreSQL's text, a node's address) is for the log, under the id the client is given
      String id = InternalErrors.log(LOG, endpoint + " request not stored, answering 503", failure);
      body = InternalErrors.body("events could not be stored right now; retry later", id);
      res.putHeader("Retry-After", "1");
    }
    json(res, status, body);
  }

  private static void json(HttpServerResponse res, int status, JsonObject body) {
    if (res.ended() || res.closed()) {
      return;
    }
    res.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(body.encode());
  }

  private static HttpServerResponse cors(HttpServerResponse res) {
    // the JavaScript SDKs post cross-origin from web pages
    return res.putHeader("Access-Control-Allow-Origin", "*")
        .putHeader("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding, AnonymousId")
        .putHeader("Access-Control-Allow-Methods", "POST, GET, OPTIONS");
  }

  private String clientIp(HttpServerRequest req) {
    if (options.trustForwardedFor()) {
      String client = forwardedClient(req.headers().getAll("X-Forwarded-For"), options.trustedProxyHops());
      if (client != null) {
        return client;
      }
    }
    return req.remoteAddress() == null ? null : req.remoteAddress().hostAddress();
  }

  /**
   * The client address in X-Forwarded-For behind {@code hops} trusted proxies: each appends the address it received
   * the request from, so the last {@code hops} entries were appended by them, and the leftmost of those (appended by
   * the outermost proxy, {@code hops} places from the right) is the client's. Entries further left came from the client
   * itself and prove nothing. Several
   * headers count as one list, in order (RFC 7230 3.2.2). Null if the list is shorter than {@code hops}: then the
   * request did not come through the trusted proxies, and the connection's peer is taken instead.
   */
  static String forwardedClient(java.util.List<String> headers, int hops) {
    java.util.List<String> entries = new java.util.ArrayList<>();
    for (String h : headers) {
      for (String e : h.split(",", -1)) {
        entries.add(e.trim());
      }
    }
    if (entries.size() < hops) {
      return null;
    }
    String client = entries.get(entries.size() - hops);
    return client.isEmpty() ? null : client;
  }

  private void count(Map<String, Counter> counters, String name, Endpoint endpoint, String status, long n) {
    String key = endpoint.name() + "/" + status;
    counters.computeIfAbsent(key, k -> Counter.builder(name)
        .tag("endpoint", endpoint.path()).tag("status", status).register(registry)).increment(n);
  }

  /** For tests and the proxy: a handler of this server's routes. */
  public Handler<HttpServerRequest> handler() {
    return this::handle;
  }
}
