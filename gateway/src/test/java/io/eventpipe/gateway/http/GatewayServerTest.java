package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.LIMITED_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.OFF_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.PARTITIONER;
import static io.eventpipe.gateway.http.GatewayFixture.RECEIVED_TEXT;
import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.gateway.http.GatewayFixture.waitUntil;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.eventpipe.workspace.WriteKeys;
import io.eventpipe.gateway.http.GatewayFixture.Reply;
import io.eventpipe.gateway.http.GatewayFixture.StoredJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The SDK-facing HTTP contract (README, "HTTP API") through a real server on loopback, storing into jobsdb on a
 * real PostgreSQL. Every test uses its own routing keys and messageIds, so the tests share one server and one
 * queue; tests that need other settings or a misbehaving sink start their own server.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayServerTest {

  private static final byte[] GIF_MAGIC = "GIF89a".getBytes(StandardCharsets.US_ASCII);

  GatewayFixture fx;
  JobsDbTestSink sink;
  int port;

  @BeforeAll
  void start(PgDatabase db) {
    fx = new GatewayFixture(db);
    sink = fx.sink();
    port = fx.start(GatewayFixture.options(), sink, new SimpleMeterRegistry());
  }

  @AfterAll
  void stop() {
    fx.close();
  }

  private static Map<String, String> auth(String key) {
    return Map.of("Authorization", WriteKeys.basicAuthHeader(key));
  }

  private static Map<String, String> headers(String... kv) {
    Map<String, String> m = new LinkedHashMap<>();
    for (int i = 0; i < kv.length; i += 2) {
      m.put(kv[i], kv[i + 1]);
    }
    return m;
  }

  private static void assertOk(Reply r) {
    assertEquals(200, r.status(), () -> "expected 200, got " + r.status() + ": " + r.text());
  }

  private static void assertError(int status, Reply r) {
    assertEquals(status, r.status(), () -> "expected " + status + ", got " + r.status() + ": " + r.text());
    assertTrue(r.header("Content-Type").startsWith("application/json"), r.header("Content-Type"));
    assertFalse(r.json().getString("error", "").isBlank(), "the error body says what was wrong: " + r.text());
  }

  // ============================================================================================ endpoints

  @Test
  void singleEventEndpointsStoreOneEventTypedByThePath() {
    Map<String, String> bodies = new LinkedHashMap<>();
    bodies.put("track", "{\"userId\":\"se-track\",\"event\":\"Signed Up\",\"type\":\"identify\"}");
    bodies.put("identify", "{\"userId\":\"se-identify\",\"traits\":{\"name\":\"Ada\"}}");
    bodies.put("page", "{\"anonymousId\":\"se-page\",\"name\":\"Home\"}");
    bodies.put("screen", "{\"userId\":\"se-screen\",\"name\":\"Settings\"}");
    bodies.put("group", "{\"userId\":\"se-group\",\"groupId\":\"g1\"}");
    bodies.put("alias", "{\"userId\":\"se-alias\",\"previousId\":\"anon-1\"}");
    for (Map.Entry<String, String> e : bodies.entrySet()) {
      Reply r = fx.post(port, "/v1/" + e.getKey(), e.getValue());
      assertOk(r);
      assertEquals(new JsonObject().put("success", true), r.json(), "the answer Segment's SDKs parse");
      List<StoredJob> stored = fx.storedWithKeyPrefix("se-" + e.getKey());
      assertEquals(1, stored.size(), e.getKey());
      StoredJob job = stored.get(0);
      assertEquals(e.getKey(), job.json().getString("type"), "the path sets the type, whatever the body says");
      assertEquals("web", job.sourceId());
      assertEquals(PARTITIONER.partition("se-" + e.getKey()), job.partitionId());
      assertEquals(job.json().getString("messageId"), job.messageId(), "a generated messageId is stored and is the dedup key");
    }
  }

  @Test
  void batchAndImportStoreEveryEventWithTheEnvelopeMergedIn() {
    String batch = "{\"batch\":["
        + "{\"type\":\"identify\",\"anonymousId\":\"bt-a1\",\"userId\":\"bt-u1\",\"messageId\":\"bt-m1\",\"traits\":{\"name\":\"Ada\"}},"
        + "{\"type\":\"track\",\"userId\":\"bt-u2\",\"event\":\"Viewed\",\"messageId\":\"bt-m2\",\"context\":{\"locale\":\"fr\"}}],"
        + "\"context\":{\"library\":{\"name\":\"x\"},\"locale\":\"en\"},\"integrations\":{\"All\":true},"
        + "\"sentAt\":\"2026-03-01T10:00:00.000Z\"}";
    assertOk(fx.post(port, "/v1/batch", batch));
    List<StoredJob> stored = fx.storedWithKeyPrefix("bt-");
    assertEquals(2, stored.size());
    assertEquals("bt-a1", stored.get(0).routingKey(), "anonymousId is the routing key when present");
    assertEquals("{\"type\":\"identify\",\"anonymousId\":\"bt-a1\",\"userId\":\"bt-u1\",\"messageId\":\"bt-m1\","
        + "\"traits\":{\"name\":\"Ada\"},\"context\":{\"library\":{\"name\":\"x\"},\"locale\":\"en\",\"ip\":\"127.0.0.1\"},"
        + "\"integrations\":{\"All\":true},\"sentAt\":\"2026-03-01T10:00:00.000Z\",\"receivedAt\":\"" + RECEIVED_TEXT + "\","
        + "\"request_ip\":\"127.0.0.1\",\"timestamp\":\"" + RECEIVED_TEXT + "\"}", stored.get(0).payloadString());
    assertEquals("bt-u2", stored.get(1).routingKey());
    assertEquals("{\"type\":\"track\",\"userId\":\"bt-u2\",\"event\":\"Viewed\",\"messageId\":\"bt-m2\","
        + "\"context\":{\"locale\":\"fr\",\"library\":{\"name\":\"x\"},\"ip\":\"127.0.0.1\"},"
        + "\"integrations\":{\"All\":true},\"sentAt\":\"2026-03-01T10:00:00.000Z\",\"receivedAt\":\"" + RECEIVED_TEXT + "\","
        + "\"request_ip\":\"127.0.0.1\",\"timestamp\":\"" + RECEIVED_TEXT + "\"}", stored.get(1).payloadString(),
        "the event's own context keys win over the envelope's");

    assertOk(fx.post(port, "/v1/import", "{\"batch\":[{\"type\":\"page\",\"userId\":\"im-u1\",\"name\":\"Old\"},"
        + "{\"type\":\"screen\",\"userId\":\"im-u1\",\"name\":\"Older\"}]}"));
    List<StoredJob> imported = fx.storedWithKeyPrefix("im-");
    assertEquals(List.of("page", "screen"), imported.stream().map(j -> j.json().getString("type")).toList());
  }

  @Test
  void aBatchTooBigToParseOnTheEventLoopIsParsedOnAWorkerAndStored() {
    // bodies over 128 KB are parsed off the event loop; the answer and the storage must not differ
    StringBuilder body = new StringBuilder("{\"batch\":[");
    String padding = "x".repeat(400);
    for (int i = 0; i < 400; i++) {
      body.append(i == 0 ? "" : ",").append("{\"type\":\"track\",\"userId\":\"lb-1\",\"event\":\"E\",\"messageId\":\"lb-m")
          .append(i).append("\",\"properties\":{\"pad\":\"").append(padding).append("\"}}");
    }
    body.append("]}");
    assertTrue(body.length() > 128 * 1024, "size " + body.length());
    assertOk(fx.post(port, "/v1/batch", body.toString()));
    List<StoredJob> stored = fx.storedWithKeyPrefix("lb-");
    assertEquals(400, stored.size());
    assertEquals("lb-m0", stored.get(0).messageId());
    assertEquals("lb-m399", stored.get(399).messageId(), "in request order");
  }

  @Test
  void beaconTakesTheWriteKeyFromTheQueryString() {
    String body = "{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"bc-a1\",\"event\":\"Left Page\"}]}";
    // navigator.sendBeacon cannot set headers: no Authorization, text/plain
    Reply ok = fx.send(port, HttpMethod.POST, "/beacon/v1/batch?writeKey=" + WEB_KEY, headers("Content-Type", "text/plain;charset=UTF-8"),
        Buffer.buffer(body));
    assertOk(ok);
    assertEquals(1, fx.storedWithKeyPrefix("bc-a1").size());

    assertError(401, fx.send(port, HttpMethod.POST, "/beacon/v1/batch", headers("Content-Type", "text/plain"),
        Buffer.buffer(body.replace("bc-a1", "bc-a2"))));
    assertError(401, fx.send(port, HttpMethod.POST, "/beacon/v1/batch?writeKey=nope", Map.of(),
        Buffer.buffer(body.replace("bc-a1", "bc-a3"))));
    // a malformed query string is a 400, not a request left unanswered
    assertError(400, fx.send(port, HttpMethod.POST, "/beacon/v1/batch?writeKey=%ZZ", Map.of(),
        Buffer.buffer(body.replace("bc-a1", "bc-a3"))));
    assertEquals(List.of(), fx.storedWithKeyPrefix("bc-a2"));
    assertEquals(List.of(), fx.storedWithKeyPrefix("bc-a3"));
  }

  @Test
  void pixelsStoreAnEventFromTheQueryStringAndAnswerAGif() {
    Reply track = fx.get(port, "/pixel/v1/track?writeKey=" + WEB_KEY
        + "&userId=px-u1&event=Email%20Opened&properties.campaign=spring&messageId=px-m1");
    assertGif(track);
    List<StoredJob> stored = fx.storedWithKeyPrefix("px-u1");
    assertEquals(1, stored.size());
    JsonObject event = stored.get(0).json();
    assertEquals("track", event.getString("type"));
    assertEquals("Email Opened", event.getString("event"));
    assertEquals("spring", event.getJsonObject("properties").getString("campaign"));
    assertFalse(event.containsKey("writeKey"), "the write key is never stored");

    assertGif(fx.get(port, "/pixel/v1/page?writeKey=" + WEB_KEY + "&anonymousId=px-a2&name=Landing"));
    List<StoredJob> page = fx.storedWithKeyPrefix("px-a2");
    assertEquals(1, page.size());
    assertEquals("page", page.get(0).json().getString("type"));
  }

  @Test
  void pixelsAnswerAGifEvenOnBadInputAndStoreNothing() {
    List<String> bad = List.of(
        "/pixel/v1/track?userId=pb-1&event=E",                               // no write key
        "/pixel/v1/track?writeKey=unknown&userId=pb-2&event=E",              // unknown write key
        "/pixel/v1/track?writeKey=" + OFF_KEY + "&userId=pb-3&event=E",      // disabled source
        "/pixel/v1/track?writeKey=" + WEB_KEY + "&userId=pb-4",              // track without event
        "/pixel/v1/page?writeKey=" + WEB_KEY + "&name=no-user",              // no userId nor anonymousId
        "/pixel/v1/track?writeKey=" + WEB_KEY + "&userId=pb-6&event=E&properties=x&properties.a=y", // value and prefix
        "/pixel/v1/track?writeKey=" + WEB_KEY + "&userId=pb-7&event=%ZZ");   // malformed percent escape
    for (String uri : bad) {
      assertGif(fx.get(port, uri));
    }
    assertEquals(List.of(), fx.storedWithKeyPrefix("pb-"));
  }

  @Test
  void malformedQueryStringsAreAnsweredNotLeftHanging() {
    // bug: QueryStrings.parse threw outside the request's future, so the client waited for the idle timeout
    // (and a beacon request kept its in-flight slot forever)
    assertGif(fx.get(port, "/pixel/v1/page?writeKey=" + WEB_KEY + "&anonymousId=mq-1&name=%E0%A4%A"));
    assertError(400, fx.send(port, HttpMethod.POST, "/beacon/v1/batch?writeKey=%G1", Map.of(),
        Buffer.buffer("{\"batch\":[{\"type\":\"track\",\"anonymousId\":\"mq-2\",\"event\":\"E\"}]}")));
    assertEquals(List.of(), fx.storedWithKeyPrefix("mq-"));
  }

  private static void assertGif(Reply r) {
    assertEquals(200, r.status(), r::text);
    assertEquals("image/gif", r.header("Content-Type"));
    byte[] bytes = r.body().getBytes();
    assertArrayEquals(GIF_MAGIC, java.util.Arrays.copyOf(bytes, GIF_MAGIC.length), "a GIF image");
  }

  @Test
  void healthIs200WhenTheSinkCanStoreAnd503WhenItCannot() {
    JobsDbTestSink s = fx.sink();
    int p = fx.start(GatewayFixture.options(), s, new SimpleMeterRegistry());
    Reply ok = fx.get(p, "/health");
    assertEquals(200, ok.status());
    assertEquals("ok", ok.json().getString("status"));

    s.healthy(false);
    Reply down = fx.get(p, "/health");
    assertEquals(503, down.status());
    assertEquals("unavailable", down.json().getString("status"));

    s.healthy(true);
    assertEquals(200, fx.get(p, "/health").status());
  }

  @Test
  void versionReportsTheConfiguredVersion() {
    Reply r = fx.get(port, "/version");
    assertEquals(200, r.status());
    assertEquals(Version.VERSION, r.json().getString("version"));
  }

  @Test
  void unknownPathsAndMethodsAre404WithAJsonError() {
    assertError(404, fx.post(port, "/v1/nope", "{\"userId\":\"u\"}"));
    assertError(404, fx.get(port, "/v1/track"));
    assertError(404, fx.post(port, "/health", "{}"));
    assertError(404, fx.send(port, HttpMethod.PUT, "/v1/track", auth(WEB_KEY), Buffer.buffer("{}")));
  }

  @Test
  void optionsPreflightAllowsCrossOriginPosts() {
    Reply r = fx.send(port, HttpMethod.OPTIONS, "/v1/batch", headers("Origin", "https://shop.example.com",
        "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type"), null);
    assertEquals(204, r.status());
    assertEquals("*", r.header("Access-Control-Allow-Origin"));
    assertTrue(r.header("Access-Control-Allow-Methods").contains("POST"));
    String allowed = r.header("Access-Control-Allow-Headers").toLowerCase(java.util.Locale.ROOT);
    assertTrue(allowed.contains("authorization") && allowed.contains("content-type"), allowed);
    // the actual POST carries the header too, or the browser drops the answer
    assertEquals("*", fx.post(port, "/v1/track", "{\"userId\":\"co-1\",\"event\":\"E\"}").header("Access-Control-Allow-Origin"));
  }

  // ============================================================================================ write keys

  @Test
  void basicAuthUsernameAuthenticatesWithOrWithoutAPassword() {
    String body = "{\"userId\":\"au-%d\",\"event\":\"E\"}";
    List<String> credentials = List.of(WEB_KEY + ":", WEB_KEY, WEB_KEY + ":ignored-password");
    for (int i = 0; i < credentials.size(); i++) {
      String header = "Basic " + Base64.getEncoder().encodeToString(credentials.get(i).getBytes(StandardCharsets.UTF_8));
      assertOk(fx.send(port, HttpMethod.POST, "/v1/track", headers("Authorization", header), Buffer.buffer(String.format(body, i))));
      assertEquals(1, fx.storedWithKeyPrefix("au-" + i).size(), credentials.get(i));
    }
  }

  @Test
  void writeKeyInTheBodyAuthenticatesAndIsNotStored() {
    assertOk(fx.send(port, HttpMethod.POST, "/v1/track", Map.of(),
        Buffer.buffer("{\"writeKey\":\"" + WEB_KEY + "\",\"userId\":\"wb-1\",\"event\":\"E\"}")));
    assertOk(fx.send(port, HttpMethod.POST, "/v1/batch", Map.of(),
        Buffer.buffer("{\"writeKey\":\"" + WEB_KEY + "\",\"batch\":[{\"type\":\"track\",\"userId\":\"wb-2\",\"event\":\"E\"}]}")));
    List<StoredJob> stored = fx.storedWithKeyPrefix("wb-");
    assertEquals(2, stored.size());
    for (StoredJob j : stored) {
      assertFalse(j.payloadString().contains(WEB_KEY), j.payloadString());
    }
  }

  @Test
  void unknownKeyIs401DisabledSourceIs404MissingKeyIs401AndNothingIsStored() {
    String body = "{\"userId\":\"ak-1\",\"event\":\"E\"}";
    assertError(401, fx.send(port, HttpMethod.POST, "/v1/track", auth("wk-unknown-000000"), Buffer.buffer(body)));
    assertError(404, fx.send(port, HttpMethod.POST, "/v1/track", auth(OFF_KEY), Buffer.buffer(body)));
    assertError(401, fx.send(port, HttpMethod.POST, "/v1/track", Map.of(), Buffer.buffer(body)));
    assertError(401, fx.send(port, HttpMethod.POST, "/v1/track", headers("Authorization", "Basic "), Buffer.buffer(body)));
    assertError(401, fx.send(port, HttpMethod.POST, "/v1/track", headers("Authorization", "Bearer " + WEB_KEY), Buffer.buffer(body)));
    assertError(404, fx.send(port, HttpMethod.POST, "/v1/track", Map.of(),
        Buffer.buffer("{\"writeKey\":\"" + OFF_KEY + "\",\"userId\":\"ak-1\",\"event\":\"E\"}")));
    assertEquals(List.of(), fx.storedWithKeyPrefix("ak-"));
  }

  // ============================================================================================ acknowledgement

  @Test
  void a200MeansTheEventIsCommittedWithItsExactEnrichedPayload() {
    Reply r = fx.post(port, "/v1/track", "{\"userId\":\"ex-u1\",\"event\":\"Signed Up\",\"messageId\":\"ex-m1\","
        + "\"properties\":{\"plan\":\"pro\"},\"originalTimestamp\":\"2026-03-01T09:59:58.000Z\","
        + "\"sentAt\":\"2026-03-01T09:59:59.000Z\",\"request_ip\":\"6.6.6.6\"}");
    assertOk(r);
    // no waiting: the 200 itself promises the commit
    List<StoredJob> stored = fx.storedWithMessageId("ex-m1");
    assertEquals(1, stored.size());
    StoredJob job = stored.get(0);
    assertEquals("ex-u1", job.routingKey());
    assertEquals(PARTITIONER.partition("ex-u1"), job.partitionId());
    assertEquals("web", job.sourceId());
    // timestamp = receivedAt - (sentAt - originalTimestamp); request_ip is the server's, never the client's claim
    assertEquals("{\"userId\":\"ex-u1\",\"event\":\"Signed Up\",\"messageId\":\"ex-m1\",\"properties\":{\"plan\":\"pro\"},"
        + "\"originalTimestamp\":\"2026-03-01T09:59:58.000Z\",\"sentAt\":\"2026-03-01T09:59:59.000Z\","
        + "\"request_ip\":\"127.0.0.1\",\"type\":\"track\",\"receivedAt\":\"" + RECEIVED_TEXT + "\","
        + "\"context\":{\"ip\":\"127.0.0.1\"},\"timestamp\":\"2026-03-01T09:59:59.250Z\"}", job.payloadString());
  }

  @Test
  void theAnswerWaitsForTheSinkToCommit() throws Exception {
    JobsDbTestSink s = fx.sink().mode(JobsDbTestSink.Mode.HOLD);
    int p = fx.start(GatewayFixture.options(), s, new SimpleMeterRegistry());
    Future<Reply> reply = fx.postAsync(p, "/v1/track", "{\"userId\":\"wc-1\",\"event\":\"E\",\"messageId\":\"wc-m1\"}");
    JobsDbTestSink.Held held = s.awaitHeld();
    assertFalse(reply.isComplete(), "no answer while the sink has not committed");
    assertEquals(List.of(), fx.storedWithMessageId("wc-m1"));
    held.release();
    assertOk(await(reply));
    assertEquals(1, fx.storedWithMessageId("wc-m1").size());
  }

  @Test
  void oneInvalidEventRejectsTheWholeRequestNamingItsIndex() {
    Reply r = fx.post(port, "/v1/batch", "{\"batch\":["
        + "{\"type\":\"track\",\"userId\":\"iv-1\",\"event\":\"E\",\"messageId\":\"iv-m0\"},"
        + "{\"type\":\"track\",\"event\":\"E\",\"messageId\":\"iv-m1\"},"
        + "{\"type\":\"track\",\"userId\":\"iv-1\",\"event\":\"E\",\"messageId\":\"iv-m2\"}]}");
    assertError(400, r);
    assertEquals(1, r.json().getInteger("index"));
    assertTrue(r.json().getString("error").startsWith("batch[1].userId: "), r.text());
    assertEquals(List.of(), fx.storedWithKeyPrefix("iv-"));

    Reply type = fx.post(port, "/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"iv-2\",\"event\":\"E\"},"
        + "{\"type\":\"purchase\",\"userId\":\"iv-2\"}]}");
    assertError(400, type);
    assertEquals(1, type.json().getInteger("index"));
    assertTrue(type.json().getString("error").startsWith("batch[1].type: "), type.text());
    assertEquals(List.of(), fx.storedWithKeyPrefix("iv-"));
  }

  @Test
  void repeatedMessageIdsAreAcknowledgedAndStoredOnce() {
    String event = "{\"userId\":\"dp-1\",\"event\":\"E\",\"messageId\":\"dp-m1\"}";
    assertOk(fx.post(port, "/v1/track", event));
    assertOk(fx.post(port, "/v1/track", event));
    assertOk(fx.post(port, "/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"dp-1\",\"event\":\"E\",\"messageId\":\"dp-m1\"},"
        + "{\"type\":\"track\",\"userId\":\"dp-1\",\"event\":\"E\",\"messageId\":\"dp-m2\"},"
        + "{\"type\":\"track\",\"userId\":\"dp-1\",\"event\":\"E\",\"messageId\":\"dp-m2\"}]}"));
    assertEquals(List.of("dp-m1", "dp-m2"), fx.storedWithKeyPrefix("dp-").stream().map(StoredJob::messageId).toList());
  }

  // ============================================================================================ bodies

  @Test
  void gzipBodiesAreInflated() {
    byte[] body = GatewayFixture.gzip("{\"batch\":[{\"type\":\"track\",\"userId\":\"gz-1\",\"event\":\"E\"}]}"
        .getBytes(StandardCharsets.UTF_8));
    Map<String, String> h = new LinkedHashMap<>(auth(WEB_KEY));
    h.put("Content-Encoding", "gzip");
    assertOk(fx.send(port, HttpMethod.POST, "/v1/batch", h, Buffer.buffer(body)));
    assertEquals(1, fx.storedWithKeyPrefix("gz-1").size());

    h.put("Content-Encoding", "gzip");
    Reply corrupt = fx.send(port, HttpMethod.POST, "/v1/batch", h, Buffer.buffer("{\"not\":\"gzip\"}"));
    assertError(400, corrupt);
  }

  @Test
  void unknownContentEncodingIs415() {
    Map<String, String> h = new LinkedHashMap<>(auth(WEB_KEY));
    h.put("Content-Encoding", "br");
    assertError(415, fx.send(port, HttpMethod.POST, "/v1/track", h, Buffer.buffer("{\"userId\":\"ce-1\",\"event\":\"E\"}")));
    assertEquals(List.of(), fx.storedWithKeyPrefix("ce-"));
  }

  @Test
  void gzipBombIs413AndIsNotInflatedWhole() throws Exception {
    // 2048 concatenated gzip members of 1 MiB of zeros each: 2 GiB inflated, twice the test JVM's heap, sent as
    // about 2 MB (under the 4000 KB cap on the compressed body)
    byte[] member = GatewayFixture.gzip(new byte[1 << 20]);
    ByteArrayOutputStream bomb = new ByteArrayOutputStream(member.length * 2048);
    for (int i = 0; i < 2048; i++) {
      bomb.write(member);
    }
    long inflated = 2048L << 20;
    assumeTrue(Runtime.getRuntime().maxMemory() < inflated, "the bomb must be bigger than the heap to prove anything");
    assertTrue(bomb.size() < GatewayFixture.options().maxRequestBytes(), "compressed size " + bomb.size());

    Map<String, String> h = new LinkedHashMap<>(auth(WEB_KEY));
    h.put("Content-Encoding", "gzip");
    Reply r = fx.send(port, HttpMethod.POST, "/v1/batch", h, Buffer.buffer(bomb.toByteArray()));
    assertError(413, r);
    // and the server is fine
    assertOk(fx.post(port, "/v1/track", "{\"userId\":\"gb-1\",\"event\":\"E\"}"));
  }

  @Test
  void declaredContentLengthOverTheCapIs413BeforeTheBodyAndTheRestIsNotReadForever() throws Exception {
    int cap = 16 * 1024;
    int p = fx.start(GatewayFixture.options().withMaxRequestBytes(cap), fx.sink(), new SimpleMeterRegistry());
    long declared = 256L << 20;
    String head = "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + WriteKeys.basicAuthHeader(WEB_KEY)
        + "\r\nContent-Type: application/json\r\nContent-Length: " + declared + "\r\n\r\n";
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", p)) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      // 1. the answer comes from the header alone, before any of the body is sent
      String answer = GatewayFixture.readResponse(s.getInputStream());
      assertTrue(answer.startsWith("HTTP/1.1 413 "), answer);
      assertTrue(answer.toLowerCase(java.util.Locale.ROOT).contains("connection: close"), answer);
      // 2. a client that sends the body anyway is cut off after a bounded amount, not read to the end
      byte[] junk = new byte[64 * 1024];
      long sent = 0;
      try {
        while (sent < declared && s.getInputStream().available() == 0) {
          s.getOutputStream().write(junk);
          sent += junk.length;
        }
        assertEquals(-1, s.getInputStream().read(), "the server closed the connection");
      } catch (java.io.IOException closed) {
        // broken pipe or connection reset: closed by the server
      }
      assertTrue(sent < declared, "the server read the whole " + declared + "-byte body it had refused");
    }
  }

  @Test
  void chunkedBodyOverTheCapIs413WhileItIsStreaming() throws Exception {
    int cap = 16 * 1024;
    int p = fx.start(GatewayFixture.options().withMaxRequestBytes(cap), fx.sink(), new SimpleMeterRegistry());
    byte[] data = ("{\"batch\":[" + "{\"type\":\"track\",\"userId\":\"ck-1\",\"event\":\"E\"},".repeat(80))
        .getBytes(StandardCharsets.US_ASCII);
    byte[] chunk = concat((Integer.toHexString(data.length) + "\r\n").getBytes(StandardCharsets.US_ASCII), data,
        "\r\n".getBytes(StandardCharsets.US_ASCII));
    String head = "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + WriteKeys.basicAuthHeader(WEB_KEY)
        + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    long max = 256L << 20;
    long sent = 0;
    try (java.net.Socket s = new java.net.Socket("127.0.0.1", p)) {
      s.setSoTimeout(10_000);
      // a client that reads while it uploads, as HTTP clients do
      java.util.concurrent.CompletableFuture<String> answer = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
        try {
          return GatewayFixture.readResponse(s.getInputStream());
        } catch (java.io.IOException e) {
          throw new java.io.UncheckedIOException(e);
        }
      });
      s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
      try {
        while (!answer.isDone() && sent < max) {
          s.getOutputStream().write(chunk);
          sent += data.length;
        }
      } catch (java.io.IOException closed) {
        // the server hung up after answering
      }
      String reply = answer.get(10, java.util.concurrent.TimeUnit.SECONDS);
      assertTrue(reply.startsWith("HTTP/1.1 413 "), reply);
    }
    assertTrue(sent < max, "the server answered or hung up while the body was streaming");
    assertEquals(List.of(), fx.storedWithKeyPrefix("ck-"));
  }

  private static byte[] concat(byte[]... parts) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (byte[] p : parts) {
      out.writeBytes(p);
    }
    return out.toByteArray();
  }

  @Test
  void invalidBodiesAre400WithAMessage() {
    Map<String, byte[]> bodies = new LinkedHashMap<>();
    byte[] overlong = "{\"userId\":\"ib-1\",\"event\":\"E__\"}".getBytes(StandardCharsets.US_ASCII);
    overlong[overlong.length - 4] = (byte) 0xC0; // an overlong NUL: C0 80
    overlong[overlong.length - 3] = (byte) 0x80;
    bodies.put("invalid UTF-8", overlong);
    bodies.put("invalid JSON", "{\"userId\":\"ib-2\",\"event\":".getBytes(StandardCharsets.UTF_8));
    bodies.put("not an object", "[{\"userId\":\"ib-3\"}]".getBytes(StandardCharsets.UTF_8));
    bodies.put("duplicate keys", "{\"userId\":\"ib-4\",\"userId\":\"ib-5\",\"event\":\"E\"}".getBytes(StandardCharsets.UTF_8));
    bodies.put("nesting deeper than 64", ("{\"userId\":\"ib-6\",\"event\":\"E\",\"properties\":" + "{\"a\":".repeat(70) + "1"
        + "}".repeat(70) + "}").getBytes(StandardCharsets.UTF_8));
    bodies.put("empty", new byte[0]);
    for (Map.Entry<String, byte[]> e : bodies.entrySet()) {
      Reply r = fx.send(port, HttpMethod.POST, "/v1/track", auth(WEB_KEY), Buffer.buffer(e.getValue()));
      assertEquals(400, r.status(), e.getKey() + ": " + r.text());
      assertFalse(r.json().getString("error").isBlank(), e.getKey());
    }
    assertTrue(fx.send(port, HttpMethod.POST, "/v1/track", auth(WEB_KEY), Buffer.buffer(bodies.get("nesting deeper than 64")))
        .json().getString("error").contains("64"), "the nesting error names the limit");
    assertEquals(List.of(), fx.storedWithKeyPrefix("ib-"));
  }

  @Test
  void storageIsByteFaithful() {
    // a JSON-escaped control character, a literal emoji (4 UTF-8 bytes), an escaped surrogate pair, numbers beyond double
    String properties = "{\"ctl\":\"a\\u001fb\",\"emoji\":\"\uD83D\uDE00\",\"escapedPair\":\"\\uD83D\\uDE00\","
        + "\"big\":123456789012345678901234567890,\"dec\":1.10,\"neg\":-0.000000000000000000001,\"tab\":\"\\t\"}";
    assertOk(fx.post(port, "/v1/track", "{\"userId\":\"bf-1\",\"event\":\"E\",\"messageId\":\"bf-m1\",\"properties\":"
        + properties + ",\"timestamp\":\"2026-03-01T09:00:00Z\"}"));
    StoredJob job = fx.storedWithMessageId("bf-m1").get(0);
    byte[] expected = ("{\"userId\":\"bf-1\",\"event\":\"E\",\"messageId\":\"bf-m1\",\"properties\":"
        + "{\"ctl\":\"a\\u001Fb\",\"emoji\":\"\uD83D\uDE00\",\"escapedPair\":\"\uD83D\uDE00\","
        + "\"big\":123456789012345678901234567890,\"dec\":1.10,\"neg\":-1E-21,\"tab\":\"\\t\"},"
        + "\"timestamp\":\"2026-03-01T09:00:00Z\",\"type\":\"track\",\"receivedAt\":\"" + RECEIVED_TEXT + "\","
        + "\"request_ip\":\"127.0.0.1\",\"context\":{\"ip\":\"127.0.0.1\"}}").getBytes(StandardCharsets.UTF_8);
    assertEquals(new String(expected, StandardCharsets.UTF_8), job.payloadString());
    assertArrayEquals(expected, job.payload());
  }

  // ============================================================================================ overload

  @Test
  void requestsOverTheInFlightLimitGet503WithRetryAfter() throws Exception {
    JobsDbTestSink s = fx.sink().mode(JobsDbTestSink.Mode.HOLD);
    int p = fx.start(GatewayFixture.options().withMaxInFlight(2, 512L << 20), s, new SimpleMeterRegistry());
    Future<Reply> first = fx.postAsync(p, "/v1/track", "{\"userId\":\"ov-1\",\"event\":\"E\",\"messageId\":\"ov-m1\"}");
    Future<Reply> second = fx.postAsync(p, "/v1/track", "{\"userId\":\"ov-2\",\"event\":\"E\",\"messageId\":\"ov-m2\"}");
    List<JobsDbTestSink.Held> held = new ArrayList<>(List.of(s.awaitHeld(), s.awaitHeld()));

    Reply third = fx.post(p, "/v1/track", "{\"userId\":\"ov-3\",\"event\":\"E\",\"messageId\":\"ov-m3\"}");
    assertError(503, third);
    assertNotNull(third.header("Retry-After"), "503 carries Retry-After");
    assertTrue(Integer.parseInt(third.header("Retry-After")) >= 1);
    assertEquals(2, s.calls(), "the rejected request never reached the sink");

    held.forEach(JobsDbTestSink.Held::release);
    assertOk(await(first));
    assertOk(await(second));
    assertEquals(2, fx.storedWithKeyPrefix("ov-").size());
    assertEquals(List.of(), fx.storedWithMessageId("ov-m3"));

    // the slots are free again
    s.mode(JobsDbTestSink.Mode.STORE);
    assertOk(fx.post(p, "/v1/track", "{\"userId\":\"ov-3\",\"event\":\"E\",\"messageId\":\"ov-m3\"}"));
    assertEquals(1, fx.storedWithMessageId("ov-m3").size());
  }

  @Test
  void aSourceOverItsRateLimitGets429WithRetryAfter() {
    Map<String, String> h = auth(LIMITED_KEY);
    // burst of 3, then one event per 1000 s
    Reply ok = fx.send(port, HttpMethod.POST, "/v1/batch", h, Buffer.buffer("{\"batch\":["
        + "{\"type\":\"track\",\"userId\":\"rl-1\",\"event\":\"E\"},{\"type\":\"track\",\"userId\":\"rl-1\",\"event\":\"E\"},"
        + "{\"type\":\"track\",\"userId\":\"rl-1\",\"event\":\"E\"}]}"));
    assertOk(ok);
    Reply limited = fx.send(port, HttpMethod.POST, "/v1/track", h, Buffer.buffer("{\"userId\":\"rl-2\",\"event\":\"E\"}"));
    assertError(429, limited);
    assertTrue(Long.parseLong(limited.header("Retry-After")) >= 1, limited.header("Retry-After"));
    assertEquals(3, fx.storedWithKeyPrefix("rl-").size());
    // other sources are not limited
    assertOk(fx.post(port, "/v1/track", "{\"userId\":\"rl-other\",\"event\":\"E\"}"));
  }

  /**
   * Issue 9: a bot sending every event as one user gets a serial lane that may never drain. A per-key limit answers
   * that key 429 with Retry-After, whole requests at a time, while the source's other users go through; and a hot key
   * is detected (metric) whether or not a limit is set.
   */
  @Test
  void aHotKeyOverItsPerKeyLimitGets429WhileTheSourcesOtherUsersGoThroughAndHotKeysAreCounted() {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    int p = fx.start(GatewayFixture.options(), fx.sink(), registry);
    Map<String, String> h = auth(GatewayFixture.PER_KEY_KEY);
    assertOk(fx.send(p, HttpMethod.POST, "/v1/track", h, Buffer.buffer("{\"userId\":\"hk-undefined\",\"event\":\"E\"}")));
    Reply limited = fx.send(p, HttpMethod.POST, "/v1/track", h, Buffer.buffer("{\"userId\":\"hk-undefined\",\"event\":\"E\"}"));
    assertError(429, limited);
    assertTrue(Long.parseLong(limited.header("Retry-After")) >= 1, limited.header("Retry-After"));
    assertTrue(limited.json().getString("error").contains("hk-undefined"), limited.text());
    // a request with the hot key is refused whole, and gives back what it took for its other keys
    assertError(429, fx.send(p, HttpMethod.POST, "/v1/batch", h, Buffer.buffer("{\"batch\":["
        + "{\"type\":\"track\",\"userId\":\"hk-a\",\"event\":\"E\"},{\"type\":\"track\",\"userId\":\"hk-undefined\",\"event\":\"E\"}]}")));
    assertOk(fx.send(p, HttpMethod.POST, "/v1/batch", h, Buffer.buffer("{\"batch\":["
        + "{\"type\":\"track\",\"userId\":\"hk-a\",\"event\":\"E\"},{\"type\":\"track\",\"userId\":\"hk-b\",\"event\":\"E\"}]}")));
    assertEquals(List.of("hk-a", "hk-b", "hk-undefined"),
        fx.storedWithKeyPrefix("hk-").stream().map(StoredJob::routingKey).sorted().toList());
    assertEquals(3.0, registry.get("gateway.key.limited.events").tag("source", "perkey").counter().count());

    // detection without a limit: more than 100 events/s of one key over the window
    StringBuilder batch = new StringBuilder("{\"batch\":[");
    for (int i = 0; i < 1001; i++) {
      batch.append(i == 0 ? "" : ",").append("{\"type\":\"track\",\"userId\":\"hot-bot\",\"event\":\"E\"}");
    }
    assertOk(fx.post(p, "/v1/batch", batch.append("]}").toString()));
    assertEquals(1.0, registry.get("gateway.hot.keys").tag("source", "web").counter().count());
  }

  @Test
  void aSinkFailureIs503WithRetryAfterAndTheRetryDoesNotDuplicate() {
    JobsDbTestSink s = fx.sink();
    int p = fx.start(GatewayFixture.options(), s, new SimpleMeterRegistry());
    String body = "{\"batch\":[{\"type\":\"track\",\"userId\":\"sf-1\",\"event\":\"A\",\"messageId\":\"sf-m1\"},"
        + "{\"type\":\"track\",\"userId\":\"sf-1\",\"event\":\"B\",\"messageId\":\"sf-m2\"}]}";

    // 1. not stored at all: 503, the retry stores
    s.mode(JobsDbTestSink.Mode.FAIL_BEFORE_STORE);
    Reply failed = fx.post(p, "/v1/batch", body);
    assertError(503, failed);
    assertEquals("1", failed.header("Retry-After"));
    assertEquals(List.of(), fx.storedWithKeyPrefix("sf-"));

    // 2. committed but the acknowledgement lost: 503, and the SDK's retry is deduplicated
    s.mode(JobsDbTestSink.Mode.FAIL_AFTER_STORE);
    assertError(503, fx.post(p, "/v1/batch", body));
    assertEquals(2, fx.storedWithKeyPrefix("sf-").size());

    s.mode(JobsDbTestSink.Mode.STORE);
    assertOk(fx.post(p, "/v1/batch", body));
    assertOk(fx.post(p, "/v1/batch", body));
    assertEquals(List.of("sf-m1", "sf-m2"), fx.storedWithKeyPrefix("sf-").stream().map(StoredJob::messageId).toList());
  }

  // ============================================================================================ metrics

  @Test
  void requestsAreCountedByEndpointAndStatusAndTimed() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    int p = fx.start(GatewayFixture.options(), fx.sink(), registry);
    assertOk(fx.post(p, "/v1/track", "{\"userId\":\"mt-1\",\"event\":\"E\"}"));
    assertOk(fx.post(p, "/v1/track", "{\"userId\":\"mt-1\",\"event\":\"E\"}"));
    assertOk(fx.post(p, "/v1/batch", "{\"batch\":[{\"type\":\"track\",\"userId\":\"mt-1\",\"event\":\"E\"},"
        + "{\"type\":\"page\",\"userId\":\"mt-1\"},{\"type\":\"identify\",\"userId\":\"mt-1\"}]}"));
    assertError(401, fx.send(p, HttpMethod.POST, "/v1/track", auth("wk-unknown-000000"), Buffer.buffer("{\"userId\":\"mt-2\",\"event\":\"E\"}")));
    assertError(400, fx.post(p, "/v1/batch", "{\"batch\":[]}"));
    assertGif(fx.get(p, "/pixel/v1/track?writeKey=" + WEB_KEY + "&userId=mt-3&event=E"));

    // counters are incremented just before the answer is written; the client can see the answer first
    waitUntil("the pixel request is counted", 10, () -> count(registry, "gateway.requests", "/pixel/v1/track", "200") == 1);
    assertEquals(2, count(registry, "gateway.requests", "/v1/track", "200"));
    assertEquals(1, count(registry, "gateway.requests", "/v1/track", "401"));
    assertEquals(1, count(registry, "gateway.requests", "/v1/batch", "200"));
    assertEquals(1, count(registry, "gateway.requests", "/v1/batch", "400"));
    assertEquals(2, count(registry, "gateway.events", "/v1/track", "200"));
    assertEquals(3, count(registry, "gateway.events", "/v1/batch", "200"));
    assertEquals(6, registry.get("gateway.request.latency").timer().count());
    assertTrue(registry.get("gateway.request.latency").timer().totalTime(java.util.concurrent.TimeUnit.NANOSECONDS) > 0);
    assertEquals(4, registry.get("gateway.request.bytes").summary().count(),
        "body sizes of the POSTs read (the 401 is answered from its Authorization header, before its body)");
    assertEquals(0, registry.get("gateway.inflight.requests").gauge().value());
  }

  private static double count(SimpleMeterRegistry registry, String name, String endpoint, String status) {
    var c = registry.find(name).tag("endpoint", endpoint).tag("status", status).counter();
    return c == null ? 0 : c.count();
  }
}
