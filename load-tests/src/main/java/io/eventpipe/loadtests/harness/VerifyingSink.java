package io.eventpipe.loadtests.harness;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The webhook destination of a scenario: it records every delivery attempt of the current run's events (user and
 * {@code properties.seq}, who delivered it from the router's origin headers {@code X-Eventpipe-Node},
 * {@code X-Eventpipe-Job-Ids}, {@code X-Eventpipe-Attempts}, and what it answered) into the run's
 * {@link HistoryChecker}, and each event's first 2xx into the {@link Timeline} as the lag from its intended send time
 * ({@code properties.t}). Single events and batches (a JSON array) alike.
 *
 * <p>A scenario makes it misbehave: {@link #outage} answers every request 503, {@link #slow} answers after a delay,
 * {@link #failUser} answers 503 to every request holding that user's events. Events of other runs (the userId does
 * not start with the run's id: leftovers of an earlier run on the same cluster) are answered 200 and only counted.
 * Its own capacity is measured with {@link SinkCapacity}.
 */
public final class VerifyingSink {

  /** What the sink records into: one run's history, timeline and clock. */
  public record Run(String runId, HistoryChecker history, Timeline timeline, RunClock clock) {}

  private final Vertx vertx;
  private final String host;
  private HttpServer server;
  private volatile Run run;
  private volatile boolean outage;
  private volatile long delayMs;
  private final Set<String> failingUsers = ConcurrentHashMap.newKeySet();
  private final Set<String> deliveredOnce = ConcurrentHashMap.newKeySet();
  private final AtomicLong requests = new AtomicLong();
  private final AtomicLong events = new AtomicLong();
  private final AtomicLong foreign = new AtomicLong();
  private final AtomicLong malformed = new AtomicLong();

  public VerifyingSink(Vertx vertx, String host) {
    this.vertx = vertx;
    this.host = host;
  }

  /** Listens on {@code port} (0: a free one); the future holds the port. */
  public Future<Integer> start(int port) {
    server = vertx.createHttpServer();
    return server.requestHandler(req -> req.body().onSuccess(body -> handle(req, body)))
        .listen(port, host).map(HttpServer::actualPort);
  }

  public Future<Void> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }

  /** Records from now on into {@code run} (null: records nothing, answers 200). */
  public void record(Run run) {
    deliveredOnce.clear();
    failingUsers.clear();
    outage = false;
    delayMs = 0;
    this.run = run;
  }

  /** While on, every request is answered 503 (with {@code Retry-After: 1}). */
  public void outage(boolean on) {
    outage = on;
  }

  /** Every answer waits {@code millis} (0: none). */
  public void slow(long millis) {
    delayMs = millis;
  }

  /** Requests holding {@code user}'s events are answered 503 until {@link #healUser}. */
  public void failUser(String user) {
    failingUsers.add(user);
  }

  public void healUser(String user) {
    failingUsers.remove(user);
  }

  private record Item(String user, long seq, long intendedNanos, String jobId, String attempt) {}

  private void handle(HttpServerRequest req, Buffer body) {
    requests.incrementAndGet();
    Run r = run;
    List<Item> items;
    try {
      items = parse(req, body, r);
    } catch (RuntimeException e) {
      malformed.incrementAndGet();
      req.response().setStatusCode(400).end("{\"error\":\"not an event or an array of events\"}");
      return;
    }
    int status = 200;
    if (!items.isEmpty() && outage) {
      status = 503;
    } else {
      for (Item i : items) {
        if (failingUsers.contains(i.user())) {
          status = 503;
          break;
        }
      }
    }
    int answer = status;
    long delay = delayMs;
    if (delay > 0) {
      vertx.setTimer(delay, t -> answer(req, r, items, answer));
    } else {
      answer(req, r, items, answer);
    }
  }

  private List<Item> parse(HttpServerRequest req, Buffer body, Run r) {
    Object json = body.length() > 0 && body.getByte(0) == '[' ? new JsonArray(body) : new JsonObject(body);
    JsonArray all = json instanceof JsonArray a ? a : new JsonArray().add(json);
    String[] jobIds = split(req.getHeader("X-Eventpipe-Job-Ids"), all.size());
    String[] attempts = split(req.getHeader("X-Eventpipe-Attempts"), all.size());
    List<Item> out = new java.util.ArrayList<>(all.size());
    for (int k = 0; k < all.size(); k++) {
      JsonObject e = all.getJsonObject(k);
      events.incrementAndGet();
      String user = e.getString("userId");
      JsonObject props = e.getJsonObject("properties");
      if (r == null || user == null || props == null || !props.containsKey("seq") || !user.startsWith(r.runId() + "-")) {
        foreign.incrementAndGet();
        continue;
      }
      out.add(new Item(user, props.getLong("seq"), props.getLong("t", -1L), jobIds[k], attempts[k]));
    }
    return out;
  }

  private static String[] split(String header, int n) {
    String[] out = new String[n];
    if (header != null) {
      String[] parts = header.split(",", -1);
      for (int k = 0; k < n && k < parts.length; k++) {
        out[k] = parts[k].trim();
      }
    }
    return out;
  }

  private void answer(HttpServerRequest req, Run r, List<Item> items, int status) {
    String node = req.getHeader("X-Eventpipe-Node");
    if (r != null) {
      long now = r.clock().nanos();
      for (Item i : items) {
        r.history().delivery(i.user(), i.seq(), node, i.jobId(), i.attempt(), status);
        if (status == 200 && i.intendedNanos() >= 0 && deliveredOnce.add(i.user() + '\u0000' + i.seq())) {
          r.timeline().delivered(i.intendedNanos(), now);
        }
      }
    }
    if (status == 503) {
      req.response().putHeader("Retry-After", "1");
    }
    req.response().setStatusCode(status).end();
  }

  /** Counts since start: requests, events, events of no current run, malformed bodies. */
  public JsonObject counts() {
    return new JsonObject().put("requests", requests.get()).put("events", events.get()).put("foreignEvents", foreign.get())
        .put("malformedRequests", malformed.get());
  }
}
