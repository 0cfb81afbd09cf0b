package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BiConsumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** The open-model load against a real HTTP server standing in for the API: rate, order per user, retries, latency base. */
class LoadGeneratorTest extends VertxPerClass {

  private HttpServer api;
  private BiConsumer<HttpServerRequest, JsonObject> handler;
  /** (headers, body) of every request the API got, in arrival order. */
  private final List<JsonObject> received = new CopyOnWriteArrayList<>();

  @BeforeEach
  void start() throws Exception {
    api = vertx.createHttpServer(new HttpServerOptions())
        .requestHandler(req -> req.body().onSuccess(b -> {
          JsonObject body = new JsonObject(gunzipIf("gzip".equals(req.getHeader("Content-Encoding")), b));
          received.add(new JsonObject().put("auth", req.getHeader("Authorization")).put("path", req.path())
              .put("encoding", req.getHeader("Content-Encoding")).put("body", body));
          handler.accept(req, body);
        }));
    api.listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static io.vertx.core.buffer.Buffer gunzipIf(boolean gzip, io.vertx.core.buffer.Buffer b) {
    if (!gzip) {
      return b;
    }
    try (java.util.zip.GZIPInputStream in = new java.util.zip.GZIPInputStream(new java.io.ByteArrayInputStream(b.getBytes()))) {
      return io.vertx.core.buffer.Buffer.buffer(in.readAllBytes());
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  @AfterEach
  void stop() throws Exception {
    api.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private record Run(LoadGenerator load, HistoryChecker history, Timeline timeline) {}

  private Run run(LoadGenerator.Options o, RateSchedule schedule) throws Exception {
    RunClock clock = new RunClock();
    HistoryChecker history = new HistoryChecker(clock::millis);
    Timeline timeline = new Timeline();
    LoadGenerator load = new LoadGenerator(vertx, URI.create("http://127.0.0.1:" + api.actualPort()), "the-write-key", "r1", o,
        schedule, clock, history, timeline);
    load.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    return new Run(load, history, timeline);
  }

  private static String firstMessageId(JsonObject body) {
    return body.getJsonArray("batch").getJsonObject(0).getString("messageId");
  }

  @Test
  void eachUserSendsInOrderOneAtATimeAndRetriesARefusalWithTheSameMessageIds() throws Exception {
    Set<String> refusedOnce = ConcurrentHashMap.newKeySet();
    handler = (req, body) -> req.response().setStatusCode(refusedOnce.add(firstMessageId(body)) ? 503 : 200).end();
    RateSchedule schedule = RateSchedule.constant(200, 0.5); // 100 requests over 4 users, 2 events each
    Run r = run(new LoadGenerator.Options(4, 400, 2, 300, false, 1000), schedule);

    assertEquals(100, schedule.total());
    assertEquals(200, received.size(), "every request refused once, then accepted");
    assertEquals(200, r.load().acks().size(), "every event acknowledged, once");
    assertEquals(200, r.history().acked());
    Map<String, List<Long>> accepted = new HashMap<>();
    Map<String, Integer> attemptsPerId = new HashMap<>();
    for (JsonObject got : received) {
      assertEquals("/v1/batch", got.getString("path"));
      assertTrue(got.getString("auth").startsWith("Basic "), "the write key as the Basic user");
      JsonArray batch = got.getJsonObject("body").getJsonArray("batch");
      assertEquals(2, batch.size());
      String id = batch.getJsonObject(0).getString("messageId");
      if (attemptsPerId.merge(id, 1, Integer::sum) == 2) {
        for (int k = 0; k < batch.size(); k++) {
          JsonObject e = batch.getJsonObject(k);
          accepted.computeIfAbsent(e.getString("userId"), u -> new ArrayList<>()).add(e.getJsonObject("properties").getLong("seq"));
        }
      }
    }
    assertTrue(attemptsPerId.values().stream().allMatch(n -> n == 2), "the retry carried the same messageIds: " + attemptsPerId);
    assertEquals(4, accepted.size());
    for (Map.Entry<String, List<Long>> e : accepted.entrySet()) {
      List<Long> seqs = e.getValue();
      for (int i = 0; i < seqs.size(); i++) {
        assertEquals(i + 1, seqs.get(i), "user " + e.getKey() + "'s events arrive 1, 2, 3, ...: " + seqs);
      }
    }
    Set<String> ids = new HashSet<>();
    r.load().acks().forEach(a -> assertTrue(ids.add(a.messageId()), "acknowledged twice: " + a));
    JsonObject summary = r.load().summary().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
    assertEquals(100, summary.getLong("failedAttempts"));
    assertEquals(0, summary.getLong("requestsOmitted"));
  }

  @Test
  void latencyIsMeasuredFromTheIntendedTimeSoAStallCountsForEveryRequestBehindIt() throws Exception {
    AtomicInteger n = new AtomicInteger();
    // the first request is held 400 ms: the user's next requests wait behind it, as behind a stalled server
    handler = (req, body) -> {
      if (n.getAndIncrement() == 0) {
        vertx.setTimer(400, t -> req.response().end());
      } else {
        req.response().end();
      }
    };
    Run r = run(new LoadGenerator.Options(1, 50, 1, 100, false, 1000), RateSchedule.constant(50, 0.2)); // 10 requests
    List<LoadGenerator.Ack> acks = r.load().acks();
    assertEquals(10, acks.size());
    LoadGenerator.Ack second = acks.get(1);
    assertEquals(2, second.seq());
    assertTrue(second.sentNanos() - second.intendedNanos() >= 300_000_000L,
        "it left only after the held one was answered: " + second);
    // measured from its send it would look fast; from its intended time it took at least the stall's rest
    assertTrue(r.timeline().ackMillis(100) >= (second.ackNanos() - second.intendedNanos()) / 1e6 - 1,
        "the histogram holds the latency from the intended time: max " + r.timeline().ackMillis(100) + " ms, " + second);
    assertTrue(r.timeline().ackMillis(50) >= 200, "most requests waited behind the stall: p50 " + r.timeline().ackMillis(50));
  }

  @Test
  void gzipBodiesCarryTheConfiguredEventsAndPayload() throws Exception {
    handler = (req, body) -> req.response().end();
    run(new LoadGenerator.Options(2, 50, 5, 1000, true, 1000), RateSchedule.constant(10, 0.3)); // 3 requests of 5
    assertEquals(3, received.size());
    for (JsonObject got : received) {
      assertEquals("gzip", got.getString("encoding"));
      JsonArray batch = got.getJsonObject("body").getJsonArray("batch");
      assertEquals(5, batch.size());
      int size = batch.getJsonObject(0).encode().length();
      assertTrue(size >= 900 && size <= 1100, "an event of about 1000 bytes: " + size);
    }
  }
}
