package io.eventpipe.destinations.http;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Event;
import io.eventpipe.destinations.RetryAfter;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpClientResponse;
import io.eventpipe.gateway.Text;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import java.net.InetAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code webhook} destination type: sends each event's JSON (or, in batch mode, a JSON array of events) to a
 * URL over persistent HTTP/1.1 connections, one connection pool per destination.
 *
 * <pre>{@code
 * config:
 *   url: https://example.com/events   # required, http or https
 *   method: POST                      # POST (default), PUT or PATCH
 *   headers: {X-Api-Key: secret}      # optional, added to every request
 *   timeoutMs: 10000                  # whole request, from connect to the last byte of the response (default 10000)
 *   batch: {maxEvents: 100}           # optional: a JSON array of up to maxEvents events per request
 * }</pre>
 *
 * <p>Every request carries {@code Content-Type: application/json}; a single-event request also carries the event's
 * messageId in {@code X-Message-Id} so the receiver can drop redeliveries (delivery is at-least-once); in batch mode
 * each element carries its own {@code messageId} field. Every request also says who sent it, for tracing a delivery
 * back to its job: {@code X-Eventpipe-Node} (the sending node, when the router knows its name),
 * {@code X-Eventpipe-Job-Ids} and {@code X-Eventpipe-Attempts} (comma-separated, in the order of the events in the
 * body; a job id is unique within its node, and the attempt counts from 1). 2xx is success; 408, 429, 5xx, timeouts and network errors
 * are retried; any other status aborts the events at once, and so does a request that cannot be built here (a
 * messageId that is not a valid header value, an address the egress policy denies): retrying cannot fix those.
 *
 * <p>Header names and values are checked when the configuration loads (no control characters: CR/LF would split the
 * request), and so is a URL whose host is an IP address, against the workspace's {@link EgressPolicy}. A host name is
 * resolved before connecting (at most every {@value #RESOLVE_TTL_MS} ms), every address it resolves to is checked, and
 * the connection goes to the address that was checked, so a name that resolves elsewhere later (DNS rebinding) cannot
 * reach a denied address.
 */
public final class WebhookDestination implements DestinationType {

  public static final String NAME = "webhook";
  static final Set<String> KEYS = Set.of("url", "method", "headers", "timeoutMs", "batch");
  static final int DEFAULT_TIMEOUT_MS = 10_000;
  /** The sending node's name. */
  public static final String NODE_HEADER = "X-Eventpipe-Node";
  /** The jobs' ids in the sending node's database, in body order. */
  public static final String JOB_IDS_HEADER = "X-Eventpipe-Job-Ids";
  /** The jobs' attempt numbers (1 for a first attempt), in body order. */
  public static final String ATTEMPTS_HEADER = "X-Eventpipe-Attempts";
  static final int MAX_ERROR_CHARS = 200;
  static final long RESOLVE_TTL_MS = 5_000;

  /** The parsed settings of one webhook destination. */
  record Settings(URI url, HttpMethod method, Map<String, String> headers, int timeoutMs, int batchMaxEvents,
      boolean batch) {

    static Settings read(ConfigReader config, EgressPolicy egress) {
      String rawUrl = config.string("url", null);
      URI url = null;
      if (rawUrl == null) {
        if (!config.has("url")) {
          config.problem("url", "missing: the URL to send events to, e.g. https://example.com/events");
        }
      } else {
        try {
          url = new URI(rawUrl);
          String scheme = url.getScheme() == null ? "" : url.getScheme().toLowerCase(java.util.Locale.ROOT);
          if (!(scheme.equals("http") || scheme.equals("https")) || url.getHost() == null) {
            config.problem("url", "must be an absolute http or https URL with a host, got '" + rawUrl + "'");
            url = null;
          } else {
            InetAddress literal = EgressPolicy.literal(url.getHost());
            String denial = literal == null ? null : egress.denial(literal);
            if (denial != null) {
              config.problem("url", "the egress policy denies " + url.getHost() + ": " + denial);
            }
          }
        } catch (java.net.URISyntaxException e) {
          config.problem("url", "not a valid URL: " + e.getMessage());
        }
      }
      String m = config.string("method", "POST").toUpperCase(java.util.Locale.ROOT);
      HttpMethod method = HttpMethod.POST;
      switch (m) {
        case "POST" -> method = HttpMethod.POST;
        case "PUT" -> method = HttpMethod.PUT;
        case "PATCH" -> method = HttpMethod.PATCH;
        default -> config.problem("method", "must be POST, PUT or PATCH, got '" + m + "'");
      }
      Map<String, String> headers = config.stringMap("headers");
      for (Map.Entry<String, String> h : headers.entrySet()) {
        String name = h.getKey();
        if (name.isEmpty() || !name.chars().allMatch(c -> c > 32 && c < 127 && "()<>@,;:\\\"/[]?={}".indexOf(c) < 0)) {
          config.problem("headers", "'" + printable(name) + "' is not a valid HTTP header name");
        } else if (headerValueProblem(h.getValue()) != null) {
          config.problem("headers." + name, headerValueProblem(h.getValue()));
        }
      }
      int timeoutMs = (int) config.integer("timeoutMs", DEFAULT_TIMEOUT_MS, 1, 600_000);
      ConfigReader batchConfig = config.child("batch");
      batchConfig.rejectUnknownKeys(Set.of("maxEvents"));
      boolean batch = config.has("batch");
      int maxEvents = (int) batchConfig.integer("maxEvents", batch ? 100 : 1, 1, 10_000);
      return new Settings(url, method, headers, timeoutMs, maxEvents, batch);
    }
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> configKeys() {
    return KEYS;
  }

  @Override
  public void validate(ConfigReader config, EgressPolicy egress) {
    Settings.read(config, egress);
  }

  @Override
  public DestinationClient open(DestinationContext context) {
    ConfigReader config = context.config();
    Settings settings = Settings.read(config, context.egress());
    config.throwIfInvalid(context.destination().id());
    return new Client(context.vertx(), settings, context.maxInFlight(), context.clock(), context.egress());
  }

  /**
   * Why {@code value} cannot be an HTTP header value, or null if it can: control characters (CR and LF above all,
   * which would end the header and let the value inject others) are refused; a tab is allowed.
   */
  public static String headerValueProblem(String value) {
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (Character.isISOControl(c) && c != '\t') {
        return String.format("has a control character (U+%04X) at position %d, which an HTTP header value cannot carry",
            (int) c, i);
      }
    }
    return null;
  }

  private static String printable(String s) {
    StringBuilder sb = new StringBuilder();
    s.codePoints().limit(60).forEach(c -> {
      if (Character.isISOControl(c)) {
        sb.append(String.format("\\u%04X", c));
      } else {
        sb.appendCodePoint(c);
      }
    });
    return sb.toString();
  }

  /** A request that cannot be sent as configured: permanent, the jobs are aborted. */
  private static final class LocalError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    LocalError(String message) {
      super(message, null, false, false);
    }
  }

  /** One destination's connections and request building. */
  static final class Client implements DestinationClient {

    private final Vertx vertx;
    private final Settings settings;
    private final Clock clock;
    private final HttpClientAgent http;
    private final MultiMap baseHeaders;
    private final RequestOptions template;
    private final EgressPolicy egress;
    private final boolean literalHost;
    // the last checked resolution of the host name, on the worker's context
    private SocketAddress resolved;
    private long resolvedAtMs;

    Client(Vertx vertx, Settings settings, int maxInFlight, Clock clock, EgressPolicy egress) {
      this.vertx = vertx;
      this.settings = settings;
      this.clock = clock;
      this.egress = egress;
      this.literalHost = EgressPolicy.literal(settings.url().getHost()) != null;
      this.http = vertx.httpClientBuilder()
          .with(new HttpClientOptions()
              .setKeepAlive(true)
              .setKeepAliveTimeout(60)
              .setConnectTimeout(settings.timeoutMs()))
          .with(new PoolOptions().setHttp1MaxSize(maxInFlight).setMaxWaitQueueSize(-1))
          .build();
      MultiMap headers = HttpHeaders.headers();
      headers.set(HttpHeaders.CONTENT_TYPE, "application/json");
      headers.set(HttpHeaders.USER_AGENT, "eventpipe-router");
      settings.headers().forEach(headers::set);
      this.baseHeaders = headers;
      URI url = settings.url();
      boolean ssl = "https".equalsIgnoreCase(url.getScheme());
      String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
      this.template = new RequestOptions()
          .setMethod(settings.method())
          .setHost(url.getHost())
          .setPort(url.getPort() > 0 ? url.getPort() : ssl ? 443 : 80)
          .setSsl(ssl)
          .setURI(url.getRawQuery() == null ? path : path + "?" + url.getRawQuery())
          .setConnectTimeout(settings.timeoutMs())
          .setIdleTimeout(settings.timeoutMs());
    }

    @Override
    public int maxEventsPerRequest() {
      return settings.batchMaxEvents();
    }

    @Override
    public Future<DeliveryResult> deliver(List<Event> jobs, String node) {
      Buffer body;
      MultiMap headers = HttpHeaders.headers().addAll(baseHeaders);
      identify(headers, jobs, node);
      if (settings.batch()) {
        int size = 2;
        for (Event j : jobs) {
          size += j.payload().length + 1;
        }
        body = Buffer.buffer(size).appendByte((byte) '[');
        for (int i = 0; i < jobs.size(); i++) {
          if (i > 0) {
            body.appendByte((byte) ',');
          }
          body.appendBytes(jobs.get(i).payload());
        }
        body.appendByte((byte) ']');
      } else {
        if (jobs.size() != 1) {
          throw new IllegalArgumentException("a webhook without batch mode sends one event per request, got " + jobs.size());
        }
        body = Buffer.buffer(jobs.get(0).payload());
        String problem = headerValueProblem(jobs.get(0).messageId());
        if (problem != null) {
          // stored before ingest checked messageIds (or migrated in): it can never be sent in X-Message-Id
          return Future.succeededFuture(new DeliveryResult.Rejected("cannot send the event: its messageId " + problem));
        }
        headers.set("X-Message-Id", jobs.get(0).messageId());
      }
      return server().transform(ar -> {
        if (ar.failed()) {
          return Future.succeededFuture(ar.cause() instanceof LocalError
              ? new DeliveryResult.Rejected(ar.cause().getMessage())
              : new DeliveryResult.Retryable(networkError(ar.cause()), null, false));
        }
        RequestOptions options = new RequestOptions(template).setHeaders(headers);
        if (ar.result() != null) {
          options.setServer(ar.result());
        }
        return send(options, body);
      });
    }

    /** The origin headers (see the class comment). */
    private static void identify(MultiMap headers, List<Event> jobs, String node) {
      if (node != null) {
        headers.set(NODE_HEADER, node);
      }
      StringBuilder ids = new StringBuilder();
      StringBuilder attempts = new StringBuilder();
      for (Event j : jobs) {
        if (!ids.isEmpty()) {
          ids.append(',');
          attempts.append(',');
        }
        ids.append(j.jobId());
        attempts.append(j.attempts() + 1);
      }
      headers.set(JOB_IDS_HEADER, ids.toString());
      headers.set(ATTEMPTS_HEADER, attempts.toString());
    }

    /**
     * Where to connect: null for a URL with an address literal (checked when the configuration loaded), else the
     * checked address its host name resolves to. Fails with a {@link LocalError} if the egress policy denies any of
     * the addresses.
     */
    private Future<SocketAddress> server() {
      if (literalHost) {
        return Future.succeededFuture(null);
      }
      long now = clock.millis();
      if (resolved != null && now - resolvedAtMs >= 0 && now - resolvedAtMs < RESOLVE_TTL_MS) {
        return Future.succeededFuture(resolved);
      }
      String host = settings.url().getHost();
      return vertx.executeBlocking(() -> InetAddress.getAllByName(host), false).map(addresses -> {
        for (InetAddress a : addresses) {
          String denial = egress.denial(a);
          if (denial != null) {
            throw new LocalError("the egress policy denies " + host + ": " + denial);
          }
        }
        resolved = SocketAddress.inetSocketAddress(template.getPort(), addresses[0].getHostAddress());
        resolvedAtMs = now;
        return resolved;
      });
    }

    private Future<DeliveryResult> send(RequestOptions options, Buffer body) {
      Promise<DeliveryResult> result = Promise.promise();
      HttpClientRequest[] request = new HttpClientRequest[1];
      // 1. the whole exchange has one deadline; on expiry the request is reset, which frees its connection slot
      long timer = vertx.setTimer(settings.timeoutMs(), t -> {
        if (result.tryComplete(new DeliveryResult.Retryable(
            "timeout: no complete response within " + settings.timeoutMs() + " ms", null, false)) && request[0] != null) {
          request[0].reset();
        }
      });
      // 2. send, read the whole response body (so the connection can be reused), classify
      Future<DeliveryResult> exchange;
      try {
        exchange = http.request(options)
            .compose(req -> {
              request[0] = req;
              return req.send(body);
            })
            .compose(resp -> resp.body().map(b -> classify(resp, b)));
      } catch (RuntimeException e) {
        exchange = Future.failedFuture(e); // the client refused the request before sending anything
      }
      exchange.onComplete(ar -> {
        vertx.cancelTimer(timer);
        result.tryComplete(ar.succeeded() ? ar.result() : failure(ar.cause()));
      });
      return result.future();
    }

    private DeliveryResult classify(HttpClientResponse resp, Buffer body) {
      int status = resp.statusCode();
      if (status >= 200 && status < 300) {
        return DeliveryResult.DELIVERED;
      }
      String error = httpError(status, body);
      if (status == 429 || status == 408 || status >= 500) {
        Duration retryAfter = RetryAfter.parse(resp.getHeader(HttpHeaders.RETRY_AFTER), clock.instant());
        return new DeliveryResult.Retryable(error, retryAfter, status == 429);
      }
      return new DeliveryResult.Rejected(error);
    }

    @Override
    public Future<Void> close() {
      return http.close();
    }
  }

  /**
   * {@code HTTP 503: <the body's first 200 characters>}, made storable: invalid UTF-8 decoded as U+FFFD, control
   * characters (a NUL) escaped, never a surrogate pair cut in half ({@link Text#storable}).
   */
  public static String httpError(int status, Buffer body) {
    if (body == null || body.length() == 0) {
      return "HTTP " + status;
    }
    int bytes = Math.min(body.length(), MAX_ERROR_CHARS * 4);
    String text = new String(body.getBytes(0, bytes), StandardCharsets.UTF_8).strip();
    int end = text.offsetByCodePoints(0, Math.min(MAX_ERROR_CHARS, text.codePointCount(0, text.length())));
    text = Text.storable(text.substring(0, end), MAX_ERROR_CHARS * 6);
    return text.isEmpty() ? "HTTP " + status : "HTTP " + status + ": " + text;
  }

  /**
   * A request that failed without an answer: an argument the HTTP client refused (an invalid header value, say) is
   * a local error that retrying cannot fix; anything else is a network error, retried.
   */
  public static DeliveryResult failure(Throwable e) {
    if (e instanceof IllegalArgumentException) {
      return new DeliveryResult.Rejected("the request could not be built: " + e.getMessage());
    }
    return new DeliveryResult.Retryable(networkError(e), null, false);
  }

  public static String networkError(Throwable e) {
    String message = e.getMessage();
    String kind = e.getClass().getSimpleName();
    if (e instanceof io.vertx.core.http.HttpClosedException || e instanceof io.vertx.core.VertxException && message != null
        && message.contains("closed")) {
      return "network error: connection closed before the response";
    }
    return "network error: " + kind + (message == null ? "" : ": " + message);
  }
}
