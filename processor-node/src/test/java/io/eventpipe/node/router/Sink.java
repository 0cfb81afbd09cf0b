package io.eventpipe.node.router;

import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A real HTTP destination on 127.0.0.1 (its own Vert.x, like an external service). Each path is a separate endpoint
 * that records what it receives: every event as it arrives (order check: the pipeline must not send event k+1 before
 * event k was answered) and the events it answered with 2xx (completeness). Events carry their user in
 * {@code anonymousId} and their 1-based sequence number in {@code properties.seq}. What it answers is decided per
 * request by a {@link Behavior} that tests swap at any time.
 */
public final class Sink implements AutoCloseable {

  /** What to answer to a request to {@code path} carrying {@code events}. */
  @FunctionalInterface
  public interface Behavior {
    Reply reply(String path, List<JsonObject> events);
  }

  /** An answer; {@code delayMs < 0} never answers; {@code rawBody}, if not null, is sent instead of {@code body}. */
  public record Reply(int status, Map<String, String> headers, String body, long delayMs, byte[] rawBody) {
    public static final Reply OK = new Reply(200, Map.of(), "{\"ok\":true}", 0);

    public Reply(int status, Map<String, String> headers, String body, long delayMs) {
      this(status, headers, body, delayMs, null);
    }

    /** An answer whose body is these bytes, as they are (invalid UTF-8 and NUL bytes included). */
    public static Reply raw(int status, byte[] body) {
      return new Reply(status, Map.of(), null, 0, body);
    }

    public static Reply status(int status, String body) {
      return new Reply(status, Map.of(), body, 0);
    }

    public static Reply hang() {
      return new Reply(200, Map.of(), "", -1);
    }
  }

  /** What one path received. */
  public static final class Endpoint {
    public final SequenceChecker received = new SequenceChecker();
    public final SequenceChecker accepted = new SequenceChecker();
    public final AtomicLong requests = new AtomicLong();
    public final AtomicLong events = new AtomicLong();
    public final AtomicLong acceptedEvents = new AtomicLong();
    public final ConcurrentLinkedQueue<Map<String, String>> headers = new ConcurrentLinkedQueue<>();
    public final Map<String, AtomicLong> attemptsByMessageId = new ConcurrentHashMap<>();
    /** The first 1000 events received, as sent. */
    public final ConcurrentLinkedQueue<JsonObject> bodies = new ConcurrentLinkedQueue<>();

    public long attempts(String messageId) {
      AtomicLong n = attemptsByMessageId.get(messageId);
      return n == null ? 0 : n.get();
    }
  }

  private final Vertx vertx = Vertx.vertx();
  private final HttpServer server;
  private final Map<String, Endpoint> endpoints = new ConcurrentHashMap<>();
  private volatile Behavior behavior = (path, events) -> Reply.OK;

  public Sink() {
    server = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
        .requestHandler(this::handle);
    try {
      server.listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  public String url(String path) {
    return "http://127.0.0.1:" + server.actualPort() + path;
  }

  public void behave(Behavior b) {
    this.behavior = b;
  }

  public Endpoint endpoint(String path) {
    return endpoints.computeIfAbsent(path, p -> new Endpoint());
  }

  private void handle(HttpServerRequest req) {
    req.body().onSuccess(body -> {
      Endpoint ep = endpoint(req.path());
      ep.requests.incrementAndGet();
      Map<String, String> hs = new java.util.HashMap<>();
      req.headers().forEach(e -> hs.put(e.getKey().toLowerCase(java.util.Locale.ROOT), e.getValue()));
      if (ep.headers.size() < 100) {
        ep.headers.add(hs);
      }
      List<JsonObject> events = parse(body);
      for (JsonObject e : events) {
        if (ep.events.incrementAndGet() <= 1000) {
          ep.bodies.add(e);
        }
        ep.received.observe(user(e), seq(e));
        ep.attemptsByMessageId.computeIfAbsent(e.getString("messageId", "?"), k -> new AtomicLong()).incrementAndGet();
      }
      Reply reply = behavior.reply(req.path(), events);
      Runnable answer = () -> {
        if (reply.status() >= 200 && reply.status() < 300) {
          for (JsonObject e : events) {
            ep.acceptedEvents.incrementAndGet();
            ep.accepted.observe(user(e), seq(e));
          }
        }
        req.response().setStatusCode(reply.status());
        reply.headers().forEach(req.response()::putHeader);
        if (reply.rawBody() != null) {
          req.response().end(Buffer.buffer(reply.rawBody()));
        } else {
          req.response().end(reply.body() == null ? "" : reply.body());
        }
      };
      if (reply.delayMs() < 0) {
        return;
      }
      if (reply.delayMs() == 0) {
        answer.run();
      } else {
        vertx.setTimer(reply.delayMs(), t -> answer.run());
      }
    });
  }

  private static List<JsonObject> parse(Buffer body) {
    Object v = Json.decodeValue(body);
    List<JsonObject> out = new ArrayList<>();
    if (v instanceof JsonArray a) {
      for (Object o : a) {
        out.add((JsonObject) o);
      }
    } else {
      out.add((JsonObject) v);
    }
    return out;
  }

  public static String user(JsonObject event) {
    return event.getString("anonymousId");
  }

  public static long seq(JsonObject event) {
    return event.getJsonObject("properties").getLong("seq");
  }

  @Override
  public void close() {
    try {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }
}
