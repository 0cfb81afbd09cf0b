package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.gateway.http.GatewayFixture.waitUntil;
import static io.eventpipe.gateway.http.GatewayFixture.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.Event;
import io.eventpipe.workspace.WriteKeys;
import io.eventpipe.gateway.http.GatewayFixture.Reply;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import java.io.IOException;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 9: one bad client must not hurt anyone else. Hostile ids are answered 400 at the edge (never a retryable
 * 503, never failing the requests committed with them), and slow or unauthenticated uploads cannot hold the
 * server's memory. Real servers on loopback, storing into jobsdb (group commit) on a real PostgreSQL.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayAbuseTest {

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

  // ============================================================================================ ids

  @Test
  void aLongMessageIdIs400NamingTheFieldIndexAndLimitNotA503() {
    String batch = "{\"batch\":[{\"type\":\"track\",\"userId\":\"lm-1\",\"event\":\"E\",\"messageId\":\"lm-ok\"},"
        + "{\"type\":\"track\",\"userId\":\"lm-2\",\"event\":\"E\",\"messageId\":\"" + "m".repeat(4000) + "\"}]}";
    Reply r = fx.post(port, "/v1/batch", batch);
    assertStatus(400, r);
    String error = r.json().getString("error");
    assertTrue(error.startsWith("batch[1].messageId: "), error);
    assertTrue(error.contains(String.valueOf(Event.MAX_MESSAGE_ID_CHARS)), error);
    assertEquals(1, r.json().getInteger("index"));
    assertEquals(List.of(), fx.storedWithKeyPrefix("lm-"), "the whole request is rejected");

    // at the limit it is stored
    String longest = "m".repeat(Event.MAX_MESSAGE_ID_CHARS);
    assertStatus(200, fx.post(port, "/v1/track", "{\"userId\":\"lm-3\",\"event\":\"E\",\"messageId\":\"" + longest + "\"}"));
    assertEquals(1, fx.storedWithMessageId(longest).size());
  }

  @Test
  void aHundredKilobyteUserIdOrAnonymousIdIs400NamingTheLimit() {
    String huge = "u".repeat(100_000);
    for (String field : List.of("userId", "anonymousId")) {
      Reply r = fx.post(port, "/v1/track", "{\"" + field + "\":\"" + huge + "\",\"event\":\"E\"}");
      assertStatus(400, r);
      String error = r.json().getString("error");
      assertTrue(error.startsWith(field + ": "), error);
      assertTrue(error.contains(String.valueOf(Event.MAX_ROUTING_KEY_CHARS)), error);
    }
    assertEquals(List.of(), fx.storedWithKeyPrefix("uuuu"));
  }

  @Test
  void controlCharactersInAMessageIdAre400() {
    for (String id : List.of("cr\\r\\nX-Injected: 1", "nul\\u0000", "tab\\t", "del\\u007f")) {
      Reply r = fx.post(port, "/v1/track", "{\"userId\":\"cc-1\",\"event\":\"E\",\"messageId\":\"" + id + "\"}");
      assertStatus(400, r);
      assertTrue(r.json().getString("error").startsWith("messageId: has a control character"), r.text());
    }
    assertEquals(List.of(), fx.storedWithKeyPrefix("cc-"));
  }

  @Test
  void aPoisonousRequestAmongFortyConcurrentInnocentOnesIsTheOnlyOneRefused() {
    String poison = "p".repeat(4000) + System.nanoTime();
    for (int round = 0; round < 3; round++) {
      List<Future<Reply>> innocent = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        innocent.add(fx.postAsync(port, "/v1/track", "{\"userId\":\"px-" + round + "-" + i + "\",\"event\":\"E\"}"));
      }
      Future<Reply> bad = fx.postAsync(port, "/v1/track", "{\"userId\":\"px-bad\",\"event\":\"E\",\"messageId\":\""
          + poison + round + "\"}");
      for (int i = 20; i < 40; i++) {
        innocent.add(fx.postAsync(port, "/v1/track", "{\"userId\":\"px-" + round + "-" + i + "\",\"event\":\"E\"}"));
      }
      for (Future<Reply> f : innocent) {
        assertStatus(200, await(f));
      }
      Reply r = await(bad);
      assertStatus(400, r);
      assertTrue(r.json().getString("error").startsWith("messageId: "), r.text());
    }
    assertEquals(120, fx.storedWithKeyPrefix("px-").size(), "every innocent event is stored, the poison is not");
  }

  // ============================================================================================ memory

  private static String head(String key, long contentLength) {
    return "POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: " + WriteKeys.basicAuthHeader(key)
        + "\r\nContent-Type: application/json\r\nContent-Length: " + contentLength + "\r\n\r\n";
  }

  @Test
  void anUnknownWriteKeyInTheHeaderIs401BeforeTheBodyIsSent() throws Exception {
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(10_000);
      s.getOutputStream().write(head("wk-nobody-000000", 1_000_000).getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      String answer = GatewayFixture.readResponse(s.getInputStream()); // no body sent: answered from the header
      assertTrue(answer.startsWith("HTTP/1.1 401 "), answer);
      assertTrue(answer.toLowerCase(Locale.ROOT).contains("connection: close"), answer);
    }
  }

  @Test
  void aBodyThatTricklesIsAnswered408AfterTheBodyDeadline() throws Exception {
    int p = fx.start(GatewayFixture.options().withBodyTimeoutMs(300), fx.sink(), new SimpleMeterRegistry());
    try (Socket s = new Socket("127.0.0.1", p)) {
      s.setSoTimeout(20_000);
      s.getOutputStream().write(head(WEB_KEY, 1000).getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().write("{\"batch\":[".getBytes(StandardCharsets.US_ASCII)); // and nothing more
      s.getOutputStream().flush();
      String answer = GatewayFixture.readResponse(s.getInputStream());
      assertTrue(answer.startsWith("HTTP/1.1 408 "), answer);
      assertTrue(answer.contains("did not arrive within 300 ms"), answer);
    }
  }

  /**
   * Forty uploads each send part of a 60 KB body and stall, offering 640 KB to a server whose body budget is 256 KB:
   * the bytes held never exceed the budget (uploads past it are refused with 503 while they stream), the stalled
   * ones are cut off at the body deadline, and a good request is answered 200 meanwhile, after at most a few
   * 503s with Retry-After.
   */
  @Test
  void aFloodOfSlowLargeUploadsIsBoundedAndGoodRequestsAreStillAnswered() throws Exception {
    SimpleMeterRegistry registry = new SimpleMeterRegistry();
    GatewayOptions options = GatewayOptions.defaults(0).withHost("127.0.0.1").withMaxRequestBytes(64 * 1024)
        .withMaxInFlight(10_000, 256 * 1024).withBodyTimeoutMs(2_000);
    int p = fx.start(options, fx.sink(), registry);
    int uploads = 40;
    byte[] part = new byte[16 * 1024];
    java.util.Arrays.fill(part, (byte) ' ');
    ExecutorService pool = Executors.newFixedThreadPool(uploads);
    List<java.util.concurrent.Future<String>> answers = new ArrayList<>();
    double[] maxHeld = {0};
    try {
      for (int i = 0; i < uploads; i++) {
        answers.add(pool.submit(() -> {
          try (Socket s = new Socket("127.0.0.1", p)) {
            s.setSoTimeout(30_000);
            s.getOutputStream().write(head(WEB_KEY, 60 * 1024).getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().write(part);
            s.getOutputStream().flush();
            String answer = GatewayFixture.readResponse(s.getInputStream()); // then stall until answered
            return answer.substring(0, Math.min(answer.length(), 12));
          } catch (IOException e) {
            return "closed: " + e;
          }
        }));
      }
      waitUntil("an upload past the budget is answered", 20, () -> {
        maxHeld[0] = Math.max(maxHeld[0], registry.get("gateway.inflight.bytes").gauge().value());
        return answers.stream().anyMatch(java.util.concurrent.Future::isDone);
      });

      // a good request is answered 200 while the flood lasts (503 with Retry-After until the budget frees up)
      Reply good;
      int refusals = 0;
      while (true) {
        good = fx.post(p, "/v1/track", "{\"userId\":\"fl-good\",\"event\":\"E\"}");
        if (good.status() != 503 || refusals++ > 200) {
          break;
        }
        assertNotNull(good.header("Retry-After"));
        maxHeld[0] = Math.max(maxHeld[0], registry.get("gateway.inflight.bytes").gauge().value());
        Thread.sleep(50);
      }
      assertStatus(200, good);

      int refused = 0;
      int timedOut = 0;
      for (java.util.concurrent.Future<String> a : answers) {
        String answer = a.get(30, TimeUnit.SECONDS);
        if (answer.startsWith("HTTP/1.1 503")) {
          refused++;
        } else if (answer.startsWith("HTTP/1.1 408")) {
          timedOut++;
        } else {
          throw new AssertionError("a stalled upload was answered " + answer);
        }
      }
      assertTrue(refused > 0, "uploads past the budget are refused while they stream");
      assertEquals(uploads, refused + timedOut);
      assertTrue(maxHeld[0] <= 256 * 1024, "held " + maxHeld[0] + " bytes, over the budget");
      waitUntil("every byte released", 10, () -> registry.get("gateway.inflight.bytes").gauge().value() == 0);
    } finally {
      pool.shutdownNow();
    }
  }
}
