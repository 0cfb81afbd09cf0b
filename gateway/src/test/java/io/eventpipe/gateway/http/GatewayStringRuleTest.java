package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.gateway.http.GatewayFixture.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.http.GatewayFixture.Reply;
import io.eventpipe.gateway.http.GatewayFixture.StoredJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.workspace.WriteKeys;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 14, at the edge: strings that cannot round-trip exactly are a 400 naming the field and index (never a
 * retryable 503 after PostgreSQL refused them, never stored changed), and a small body that enrichment would blow
 * up is a 413 before its payloads exist. Real server on loopback, storing into jobsdb (group commit) on a real
 * PostgreSQL, hostile requests beside innocent ones.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayStringRuleTest {

  GatewayFixture fx;
  int port;

  @BeforeAll
  void start(PgDatabase db) {
    fx = new GatewayFixture(db);
    port = fx.start(GatewayFixture.options(), fx.sink(), new SimpleMeterRegistry());
  }

  @AfterAll
  void stop() {
    fx.close();
  }

  @Test
  void aNulInUserIdOrAnonymousIdIs400WithItsIndexAndTheConcurrentInnocentRequestsAreStored() {
    for (String field : List.of("userId", "anonymousId")) {
      List<Future<Reply>> innocent = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        innocent.add(fx.postAsync(port, "/v1/track", "{\"userId\":\"nul-ok-" + field + "-" + i + "\",\"event\":\"E\"}"));
      }
      Future<Reply> bad = fx.postAsync(port, "/v1/batch", "{\"batch\":["
          + "{\"type\":\"track\",\"userId\":\"nul-bad-a\",\"event\":\"E\"},"
          + "{\"type\":\"track\",\"userId\":\"nul-bad-b\",\"event\":\"E\"},"
          + "{\"type\":\"track\",\"" + field + "\":\"nul-bad-\\u0000\",\"event\":\"E\"}]}");
      for (Future<Reply> f : innocent) {
        assertStatus(200, await(f));
      }
      Reply r = await(bad);
      assertStatus(400, r);
      assertNull(r.header("Retry-After"), "a permanent problem: not to be retried");
      assertEquals(2, r.json().getInteger("index"));
      String error = r.json().getString("error");
      assertTrue(error.startsWith("batch[2]." + field + ": has a control character (U+0000"), error);
      assertTrue(!error.contains("SQLSTATE") && !error.contains("invalid byte sequence"), "no PostgreSQL text: " + error);
      assertEquals(30, fx.storedWithKeyPrefix("nul-ok-" + field + "-").size());
    }
    assertEquals(List.of(), fx.storedWithKeyPrefix("nul-bad-"), "the whole bad request is refused");
  }

  /**
   * The lone surrogate used to be stored as '?', so a later event whose messageId really is '?' was acknowledged and
   * dropped as its duplicate.
   */
  @Test
  void aLoneSurrogateMessageIdIs400SoAnEventWhoseMessageIdIsAQuestionMarkIsNotDroppedAsItsDuplicate() {
    Reply lone = fx.post(port, "/v1/track", "{\"userId\":\"qm-1\",\"event\":\"First\",\"messageId\":\"\\ud800\"}");
    assertStatus(400, lone);
    assertTrue(lone.json().getString("error").startsWith("messageId: has an unpaired UTF-16 surrogate (U+D800)"),
        lone.text());
    assertStatus(200, fx.post(port, "/v1/track", "{\"userId\":\"qm-1\",\"event\":\"Second\",\"messageId\":\"?\"}"));
    List<StoredJob> stored = fx.storedWithKeyPrefix("qm-1");
    assertEquals(1, stored.size(), "the real '?' is stored");
    assertEquals("?", stored.get(0).messageId());
    assertTrue(stored.get(0).payloadString().contains("\"event\":\"Second\""), stored.get(0).payloadString());
  }

  @Test
  void aLoneSurrogateDeepInThePropertiesIs400NamingItsPath() {
    Reply r = fx.post(port, "/v1/batch", "{\"batch\":[{\"type\":\"identify\",\"userId\":\"ls-1\"},"
        + "{\"type\":\"identify\",\"userId\":\"ls-2\",\"traits\":{\"tags\":[\"a\",\"b\\udfff\"]}}]}");
    assertStatus(400, r);
    assertEquals(1, r.json().getInteger("index"));
    assertTrue(r.json().getString("error").startsWith("batch[1].traits.tags[1]: has an unpaired UTF-16 surrogate"),
        r.text());
    assertEquals(List.of(), fx.storedWithKeyPrefix("ls-"));
  }

  /**
   * A gzipped body of a few KB whose envelope context (900 KB) would be copied into each of 1,500 events (1.35 GB of
   * payloads, an OutOfMemoryError before): 413 naming the limit, each of several sent at once, while innocent
   * requests beside them are stored.
   */
  @Test
  void aSmallGzippedBatchThatEnrichmentWouldMakeHugeIs413AndInnocentTrafficIsStored() {
    StringBuilder sb = new StringBuilder("{\"context\":{\"library\":{\"name\":\"" + "x".repeat(900_000)
        + "\"}},\"batch\":[");
    for (int i = 0; i < 1500; i++) {
      sb.append(i == 0 ? "" : ",").append("{\"type\":\"track\",\"userId\":\"amp-").append(i).append("\",\"event\":\"E\"}");
    }
    byte[] gz = GatewayFixture.gzip(sb.append("]}").toString().getBytes(StandardCharsets.UTF_8));
    assertTrue(gz.length < 16_000, "a small request on the wire: " + gz.length + " bytes");
    Map<String, String> headers = Map.of("Authorization", WriteKeys.basicAuthHeader(WEB_KEY),
        "Content-Type", "application/json", "Content-Encoding", "gzip");
    for (int round = 0; round < 3; round++) {
      List<Future<Reply>> hostile = new ArrayList<>();
      List<Future<Reply>> innocent = new ArrayList<>();
      for (int i = 0; i < 8; i++) {
        hostile.add(fx.sendAsync(port, HttpMethod.POST, "/v1/batch", headers, Buffer.buffer(gz)));
        innocent.add(fx.postAsync(port, "/v1/batch", "{\"context\":{\"app\":{\"name\":\"shop\"}},\"batch\":["
            + "{\"type\":\"track\",\"userId\":\"amp-ok-" + round + "-" + i + "\",\"event\":\"E\"}]}"));
      }
      for (Future<Reply> f : hostile) {
        Reply r = await(f);
        assertStatus(413, r);
        String error = r.json().getString("error");
        assertTrue(error.contains("1500 events") && error.contains("--max-request-bytes")
            && error.contains(String.valueOf(EventParser.Builder.DEFAULT_MAX_REQUEST_BYTES)), error);
      }
      for (Future<Reply> f : innocent) {
        assertStatus(200, await(f));
      }
    }
    assertEquals(24, fx.storedWithKeyPrefix("amp-ok-").size());
    assertEquals(0, fx.storedWithKeyPrefix("amp-1").size(), "nothing of the hostile batches is stored");
  }
}
