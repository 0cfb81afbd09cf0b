package io.eventpipe.destinations.vendors;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.Egress;
import io.eventpipe.gateway.Text;
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
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.SocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;

/**
 * One vendor endpoint's connections: a POST with one deadline for the whole exchange, to an address checked against
 * the egress policy (a host name resolved and every address checked before connecting, as the webhook does).
 */
final class VendorHttp {

  /** A complete answer. */
  record Answer(int status, MultiMap headers, Buffer body) {
    String text() {
      return body == null ? "" : body.toString(StandardCharsets.UTF_8);
    }

    /** {@code HTTP 400: <the first 200 characters of the body>}, storable. */
    String error() {
      String t = text().strip();
      if (t.length() > 200) {
        t = t.substring(0, t.offsetByCodePoints(0, Math.min(200, t.codePointCount(0, t.length()))));
      }
      return Text.storable(t.isEmpty() ? "HTTP " + status : "HTTP " + status + ": " + t, 1024);
    }
  }

  /** A failure without an answer: network, timeout, or (permanent) an address the egress policy denies. */
  static final class NoAnswer extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final boolean permanent;

    NoAnswer(String message, boolean permanent) {
      super(message, null, false, false);
      this.permanent = permanent;
    }

    DeliveryResult result() {
      return permanent ? new DeliveryResult.Rejected(getMessage()) : new DeliveryResult.Retryable(getMessage(), null, false);
    }
  }

  private final Vertx vertx;
  private final URI url;
  private final int timeoutMs;
  private final EgressPolicy egress;
  private final HttpClientAgent http;
  private final boolean literal;

  VendorHttp(Vertx vertx, URI url, int timeoutMs, int maxInFlight, EgressPolicy egress) {
    this.vertx = vertx;
    this.url = url;
    this.timeoutMs = timeoutMs;
    this.egress = egress;
    this.literal = EgressPolicy.literal(url.getHost()) != null;
    this.http = vertx.httpClientBuilder()
        .with(new HttpClientOptions().setKeepAlive(true).setKeepAliveTimeout(60).setConnectTimeout(timeoutMs))
        .with(new PoolOptions().setHttp1MaxSize(Math.max(1, maxInFlight)).setMaxWaitQueueSize(-1))
        .build();
  }

  /** Reads and checks an endpoint URL setting: absolute http(s), a literal host allowed by the egress policy. */
  static URI url(ConfigReader config, String key, String defaultUrl, EgressPolicy egress) {
    String raw = config.string(key, defaultUrl);
    try {
      URI u = new URI(raw);
      String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase(Locale.ROOT);
      if (!(scheme.equals("http") || scheme.equals("https")) || u.getHost() == null) {
        config.problem(key, "must be an absolute http or https URL with a host, got '" + raw + "'");
        return null;
      }
      Egress.checkLiteral(config, key, u.getHost(), egress);
      return u;
    } catch (java.net.URISyntaxException e) {
      config.problem(key, "not a valid URL: " + e.getMessage());
      return null;
    }
  }

  /** POSTs {@code body} to the URL (with {@code query} appended, or null); fails with {@link NoAnswer}. */
  Future<Answer> post(String query, MultiMap headers, Buffer body) {
    boolean ssl = "https".equalsIgnoreCase(url.getScheme());
    int port = url.getPort() > 0 ? url.getPort() : ssl ? 443 : 80;
    String path = url.getRawPath() == null || url.getRawPath().isEmpty() ? "/" : url.getRawPath();
    String q = url.getRawQuery();
    if (query != null) {
      q = q == null ? query : q + "&" + query;
    }
    RequestOptions options = new RequestOptions().setMethod(HttpMethod.POST).setHost(url.getHost()).setPort(port)
        .setSsl(ssl).setURI(q == null ? path : path + "?" + q).setHeaders(headers)
        .setConnectTimeout(timeoutMs).setIdleTimeout(timeoutMs);
    Future<SocketAddress> server = literal ? Future.succeededFuture(null)
        : Egress.resolve(vertx, url.getHost(), egress).map(a -> SocketAddress.inetSocketAddress(port, a.get(0).getHostAddress()));
    return server.recover(e -> Future.failedFuture(e instanceof Egress.DeniedException
            ? new NoAnswer(e.getMessage(), true) : new NoAnswer("cannot resolve " + url.getHost() + ": " + e, false)))
        .compose(address -> {
          if (address != null) {
            options.setServer(address);
          }
          return exchange(options, body);
        });
  }

  private Future<Answer> exchange(RequestOptions options, Buffer body) {
    Promise<Answer> result = Promise.promise();
    HttpClientRequest[] request = new HttpClientRequest[1];
    long timer = vertx.setTimer(timeoutMs, t -> {
      if (result.tryFail(new NoAnswer("timeout: no complete response within " + timeoutMs + " ms", false))
          && request[0] != null) {
        request[0].reset();
      }
    });
    Future<Answer> f;
    try {
      f = http.request(options).compose(req -> {
        request[0] = req;
        return req.send(body);
      }).compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), resp.headers(), b)));
    } catch (RuntimeException e) {
      f = Future.failedFuture(e);
    }
    f.onComplete(ar -> {
      vertx.cancelTimer(timer);
      if (ar.succeeded()) {
        result.tryComplete(ar.result());
      } else {
        Throwable e = ar.cause();
        result.tryFail(e instanceof NoAnswer ? e : new NoAnswer(e instanceof IllegalArgumentException
            ? "the request could not be built: " + e.getMessage()
            : "network error: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()),
            e instanceof IllegalArgumentException));
      }
    });
    return result.future();
  }

  Future<Void> close() {
    return http.close();
  }

  /** The event indexes of a sub-list, for results. */
  static List<Integer> range(int from, int to) {
    return java.util.stream.IntStream.range(from, to).boxed().toList();
  }
}
