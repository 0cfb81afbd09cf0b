package io.eventpipe.node.admin;

import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.testing.Waiting.eventually;
import static io.eventpipe.node.router.Workspaces.webhook;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.JobState;
import io.eventpipe.testing.ManualClock;
import io.eventpipe.node.router.NodeFixture;
import io.eventpipe.node.router.Sink;
import io.eventpipe.node.router.Workspaces;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.time.Instant;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class AdminApiTest {

  private static final String TOKEN = "admin-token-0123456789";

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private int port;

  @Test
  void abortedJobsAreListedAndReplayedThroughTheAdminApi(PgDatabase db) throws Exception {
    ManualClock clock = new ManualClock();
    Instant t0 = clock.instant();
    Set<String> rejected = ConcurrentHashMap.newKeySet();
    rejected.add("x");
    try (Sink sink = new Sink();
        NodeFixture node = new NodeFixture(db, "adm", clock, Workspaces.of(webhook("h", "{\"url\": \"" + sink.url("/h") + "\"}")))) {
      sink.behave((path, events) -> rejected.contains(Sink.user(events.get(0))) ? Sink.Reply.status(400, "nope") : Sink.Reply.OK);
      node.start();
      Sink.Endpoint ep = sink.endpoint("/h");
      HttpServer server = await(node.vertx.createHttpServer()
          .requestHandler(new AdminApi(node.rt, node.store, node.router, TOKEN, node.vertx,
              new io.eventpipe.gateway.http.BodyReader.Budget(64 << 20), 60_000)).listen(0, "127.0.0.1"));
      port = server.actualPort();

      node.ingest(node.event("web", "x", 1), node.event("web", "y", 1));
      eventually("x-1 aborted", () -> node.job("h", "x-1") != null && node.job("h", "x-1").state() == JobState.ABORTED.code());
      clock.advance(Duration.ofMinutes(1));
      node.ingest(node.event("web", "x", 2));
      eventually("x's events aborted, y's delivered", () -> ep.accepted.delivered("y") == 1
          && node.job("h", "x-2") != null && node.job("h", "x-2").state() == JobState.ABORTED.code());

      // authentication
      assertEquals(401, send("GET", "/admin/v1/destinations", null, null).statusCode());
      HttpResponse<String> wrong = send("GET", "/admin/v1/destinations", null, "Bearer nope");
      assertEquals(401, wrong.statusCode());
      assertNotNull(new JsonObject(wrong.body()).getString("error"));

      // destinations
      JsonObject list = json(send("GET", "/admin/v1/destinations", null), 200);
      JsonObject h = list.getJsonArray("destinations").getJsonObject(0);
      assertEquals("h", h.getString("id"));
      assertEquals("delivering", h.getString("state"));
      assertEquals(0L, h.getLong("pending"));

      // aborted jobs, paged
      JsonObject page1 = json(send("GET", "/admin/v1/destinations/h/aborted?limit=1", null), 200);
      JsonArray jobs = page1.getJsonArray("jobs");
      assertEquals(1, jobs.size());
      JsonObject x1 = jobs.getJsonObject(0);
      assertEquals("x-1", x1.getString("messageId"));
      assertEquals("x", x1.getString("routingKey"));
      assertEquals(1, x1.getInteger("attempts"));
      assertEquals("HTTP 400: nope", x1.getString("lastError"));
      assertEquals(t0.toString(), x1.getString("receivedAt"));
      assertEquals(t0.toString(), x1.getString("firstAttemptAt"));
      assertEquals(1, x1.getJsonObject("payload").getJsonObject("properties").getInteger("seq"), "payload as JSON");
      long next = page1.getLong("next");
      JsonObject page2 = json(send("GET", "/admin/v1/destinations/h/aborted?limit=1&after=" + next, null), 200);
      assertEquals("x-2", page2.getJsonArray("jobs").getJsonObject(0).getString("messageId"));
      JsonObject page3 = json(send("GET", "/admin/v1/destinations/h/aborted?after="
          + page2.getJsonArray("jobs").getJsonObject(0).getLong("jobId"), null), 200);
      assertTrue(page3.getJsonArray("jobs").isEmpty());
      assertNull(page3.getValue("next"));

      // mistakes get a status and a message that says what to send
      assertEquals(400, send("GET", "/admin/v1/destinations/h/aborted?limit=0", null).statusCode());
      assertEquals(400, send("GET", "/admin/v1/destinations/h/aborted?after=x", null).statusCode());
      for (String body : new String[] {"", "[]", "not json", "{}", "{\"all\": false}", "{\"all\": true, \"jobIds\": [1]}",
          "{\"jobIds\": []}", "{\"jobIds\": [\"a\"]}", "{\"from\": \"yesterday\"}", "{\"from\": \"2026-01-02T00:00:00Z\", \"to\": \"2026-01-01T00:00:00Z\"}",
          "{\"everything\": true}"}) {
        HttpResponse<String> r = send("POST", "/admin/v1/destinations/h/replay", body);
        assertEquals(400, r.statusCode(), body);
        assertTrue(new JsonObject(r.body()).getString("error").contains("{\"all\": true}"), r.body());
      }
      assertEquals(409, send("POST", "/admin/v1/destinations/zzz/replay", "{\"all\": true}").statusCode());
      assertEquals(404, send("GET", "/admin/v1/nothing", null).statusCode());
      assertEquals(404, send("GET", "/admin/v1/destinations/h/other", null).statusCode());
      HttpResponse<String> wrongMethod = send("DELETE", "/admin/v1/destinations/h/aborted", null);
      assertEquals(405, wrongMethod.statusCode());
      assertEquals("GET", wrongMethod.headers().firstValue("Allow").orElse(null));

      // replay by id, then by receipt time: delivered again, in order
      rejected.clear();
      JsonObject replayed = json(send("POST", "/admin/v1/destinations/h/replay", "{\"jobIds\": [" + x1.getLong("jobId") + "]}"), 200);
      assertEquals(1, replayed.getInteger("replayed"));
      eventually("x-1 delivered", () -> ep.accepted.delivered("x") == 1);
      JsonObject byTime = json(send("POST", "/admin/v1/destinations/h/replay",
          "{\"from\": \"" + t0.plusSeconds(30) + "\", \"to\": \"" + t0.plusSeconds(90) + "\"}"), 200);
      assertEquals(1, byTime.getInteger("replayed"));
      eventually("x-2 delivered", () -> ep.accepted.delivered("x") == 2);
      assertEquals(0, json(send("POST", "/admin/v1/destinations/h/replay", "{\"all\": true}"), 200).getInteger("replayed"));
      assertEquals(java.util.List.of(), ep.received.violations());
      assertEquals(java.util.List.of(), ep.accepted.violations());
      await(server.close());
    }
  }

  private HttpResponse<String> send(String method, String path, String body) throws Exception {
    return send(method, path, body, "Bearer " + TOKEN);
  }

  private HttpResponse<String> send(String method, String path, String body, String authorization) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
        .method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static JsonObject json(HttpResponse<String> r, int status) {
    assertEquals(status, r.statusCode(), r.body());
    assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(null));
    return new JsonObject(r.body());
  }
}
