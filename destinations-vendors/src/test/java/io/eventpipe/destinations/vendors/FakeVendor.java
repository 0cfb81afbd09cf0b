package io.eventpipe.destinations.vendors;

import static io.eventpipe.testing.Waiting.await;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Event;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.function.Function;

/**
 * A vendor's API on loopback (the JDK's HttpServer), written in the test: every request is checked by {@code check}
 * (the vendor's documented shapes and limits; a violation is recorded and answered as the vendor would) and then
 * answered by the test's {@code answer}.
 */
final class FakeVendor implements AutoCloseable {

  /** A request as received. */
  record Request(String method, String path, String query, Map<String, List<String>> headers, byte[] body) {
    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }

    String header(String name) {
      for (Map.Entry<String, List<String>> h : headers.entrySet()) {
        if (h.getKey() != null && h.getKey().equalsIgnoreCase(name)) {
          return h.getValue().get(0);
        }
      }
      return null;
    }
  }

  /** An answer. */
  record Answer(int status, String body, Map<String, String> headers) {
    static Answer of(int status, String body) {
      return new Answer(status, body, Map.of());
    }
  }

  final List<Request> requests = new CopyOnWriteArrayList<>();
  /** Every departure from the vendor's documented API, for the test to assert empty. */
  final List<String> violations = new CopyOnWriteArrayList<>();
  private final HttpServer server;
  volatile Function<Request, Answer> answer;

  FakeVendor(Function<Request, Answer> answer) throws IOException {
    this.answer = answer;
    this.server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext("/", this::handle);
    server.start();
  }

  String url(String path) {
    return "http://127.0.0.1:" + server.getAddress().getPort() + path;
  }

  private void handle(HttpExchange x) throws IOException {
    byte[] body;
    try (InputStream in = x.getRequestBody()) {
      body = in.readAllBytes();
    }
    Request r = new Request(x.getRequestMethod(), x.getRequestURI().getPath(), x.getRequestURI().getRawQuery(),
        Map.copyOf(x.getRequestHeaders()), body);
    requests.add(r);
    Answer a;
    try {
      a = answer.apply(r);
    } catch (RuntimeException e) {
      violations.add("the fake failed on a request: " + e);
      a = Answer.of(500, "{\"error\":\"fake failed\"}");
    }
    byte[] out = a.body().getBytes(StandardCharsets.UTF_8);
    a.headers().forEach((k, v) -> x.getResponseHeaders().add(k, v));
    x.getResponseHeaders().add("Content-Type", "application/json");
    x.sendResponseHeaders(a.status(), out.length == 0 ? -1 : out.length);
    if (out.length > 0) {
      x.getResponseBody().write(out);
    }
    x.close();
  }

  @Override
  public void close() {
    server.stop(0);
    ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
  }

  // ------------------------------------------------------------------ clients

  static final EgressPolicy LOOPBACK = EgressPolicy.of(List.of("127.0.0.0/8"), List.of());

  static DestinationClient open(Vertx vertx, DestinationType type, Map<String, Object> config) {
    Destination d = new Destination("dest", type.name(), true, List.of("web"), config);
    DestinationContext ctx = new DestinationContext(vertx, d, 4, LOOPBACK, Clock.systemUTC(), Map.of());
    return await(vertx.getOrCreateContext().executeBlocking(() -> type.open(ctx), false));
  }

  static DeliveryResult deliver(Vertx vertx, DestinationClient client, List<Event> events) {
    return await(vertx.getOrCreateContext().<io.vertx.core.Future<DeliveryResult>>executeBlocking(
        () -> client.deliver(events, "node-0"), false).compose(f -> f));
  }

  private static long jobIds = 1;

  /** An event as the router hands it over: a stored payload of {@code json}, keyed by its anonymousId or userId. */
  static synchronized Event event(String json) {
    io.vertx.core.json.JsonObject o = new io.vertx.core.json.JsonObject(json);
    String key = o.getString("anonymousId", o.getString("userId"));
    String messageId = o.getString("messageId", "m-" + jobIds);
    return new Event(jobIds++, 0, key, "web", "dest", messageId, Instant.parse("2026-03-01T10:00:00Z"),
        json.getBytes(StandardCharsets.UTF_8), 0);
  }
}
