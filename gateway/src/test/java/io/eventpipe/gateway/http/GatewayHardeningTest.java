package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.waitUntil;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.gateway.http.GatewayFixture.assertStatus;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.gateway.http.GatewayFixture.Reply;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.RawHttp;
import io.eventpipe.workspace.Source;
import io.eventpipe.workspace.WriteKeys;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 14, at the public port: caches keyed by client input, connection deadlines and the cap, error bodies without
 * internal text, and X-Forwarded-For. Real servers on loopback (raw sockets where a client misbehaves), storing into
 * jobsdb on a real PostgreSQL; each hostile case runs beside innocent traffic that must all succeed.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayHardeningTest {

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

  private Future<Reply> innocent(int p, String user) {
    return fx.postAsync(p, "/v1/track", "{\"userId\":\"" + user + "\",\"event\":\"E\"}");
  }

  // ============================================================================================ write keys

  @Test
  void threeHundredUnknownMultiMegabyteWriteKeysAreRefusedAndNeverKeptBesideInnocentTraffic() {
    // 3.9 MB keys: under the request cap once inflated, so only the key itself is wrong
    int keyChars = 3_900_000;
    byte[] json = ("{\"writeKey\":\"" + "k".repeat(keyChars) + "\",\"userId\":\"wk-bad\",\"event\":\"E\"}")
        .getBytes(StandardCharsets.UTF_8);
    int keyAt = "{\"writeKey\":\"".length();
    List<Future<Reply>> hostile = new ArrayList<>();
    List<Future<Reply>> innocent = new ArrayList<>();
    int wire = 0;
    for (int i = 0; i < 320; i++) {
      byte[] distinct = Arrays.copyOf(json, json.length);
      byte[] prefix = String.format("%08d", i).getBytes(StandardCharsets.US_ASCII);
      System.arraycopy(prefix, 0, distinct, keyAt, prefix.length); // every key distinct, as an attacker's would be
      byte[] gz = GatewayFixture.gzip(distinct);
      wire = gz.length;
      hostile.add(fx.sendAsync(port, HttpMethod.POST, "/v1/track", Map.of("Content-Type", "application/json",
          "Content-Encoding", "gzip"), Buffer.buffer(gz)));
      innocent.add(innocent(port, "wk-ok-" + i));
      if (hostile.size() % 16 == 0) {
        await(Future.join(new ArrayList<>(hostile)));
      }
    }
    assertTrue(wire < 64 * 1024, "a few KB on the wire each, was " + wire);
    for (Future<Reply> f : hostile) {
      Reply r = await(f);
      assertStatus(401, r);
      assertTrue(r.json().getString("error").contains(String.valueOf(WriteKeys.MAX_CHARS)), r.text());
    }
    // the same with the key in the Authorization header (Basic), as long as a header may be, and with short unknown keys
    for (int i = 0; i < 320; i++) {
      String key = i % 2 == 0 ? String.format("%08d", i) + "h".repeat(20_000) : "unknown-key-" + i;
      hostile.add(fx.sendAsync(port, HttpMethod.POST, "/v1/track", Map.of("Authorization", WriteKeys.basicAuthHeader(key),
          "Content-Type", "application/json"), Buffer.buffer("{\"userId\":\"wk-bad\",\"event\":\"E\"}")));
      innocent.add(innocent(port, "wk-ok-h" + i));
    }
    for (Future<Reply> f : hostile) {
      assertStatus(401, await(f));
    }
    for (Future<Reply> f : innocent) {
      assertStatus(200, await(f));
    }
    assertEquals(640, fx.storedWithKeyPrefix("wk-ok-").size(), "every innocent request stored");
    assertEquals(List.of(), fx.storedWithKeyPrefix("wk-bad"));
    long cached = fx.config.cachedWriteKeys();
    assertTrue(cached <= GatewayFixture.WORKSPACE.sources().size(), "the lookup cache holds only the workspace's keys, held "
        + cached);
    assertTrue(cached >= 1, "the innocent key is cached");
  }

  @Test
  void aWriteKeyOneOverTheLimitIsRefusedAndOneAtTheLimitIsLookedUp() {
    String over = "o".repeat(WriteKeys.MAX_CHARS + 1);
    Reply r = fx.send(port, HttpMethod.POST, "/v1/track", Map.of("Authorization", WriteKeys.basicAuthHeader(over),
        "Content-Type", "application/json"), Buffer.buffer("{\"userId\":\"wl-1\",\"event\":\"E\"}"));
    assertStatus(401, r);
    assertTrue(r.json().getString("error").contains("longer than " + WriteKeys.MAX_CHARS), r.text());
    Reply atLimit = fx.send(port, HttpMethod.POST, "/v1/track", Map.of("Authorization", WriteKeys.basicAuthHeader(
        "o".repeat(WriteKeys.MAX_CHARS)), "Content-Type", "application/json"), Buffer.buffer("{\"userId\":\"wl-1\",\"event\":\"E\"}"));
    assertStatus(401, atLimit);
    assertTrue(atLimit.json().getString("error").startsWith("unknown write key; "), atLimit.text());
  }

  // ============================================================================================ connections

  @Test
  void aSlowlorisClientTricklingHeadersIsClosedAfterTheDeadlineWhileInnocentClientsAreServed() throws Exception {
    MeterRegistry registry = new SimpleMeterRegistry();
    int p = fx.start(GatewayFixture.options().withConnections(new ConnectionLimits(2000, 60, 1000)), fx.sink(), registry);
    AtomicBoolean stop = new AtomicBoolean();
    List<Socket> loris = new ArrayList<>();
    List<Thread> tricklers = new ArrayList<>();
    try {
      for (int c = 0; c < 4; c++) {
        Socket s = RawHttp.connect(p);
        loris.add(s);
        boolean silent = c == 3; // one sends nothing at all
        Thread t = new Thread(() -> {
          try {
            OutputStream out = s.getOutputStream();
            if (silent) {
              return;
            }
            out.write("POST /v1/track HTTP/1.1\r\nHost: x\r\n".getBytes(StandardCharsets.US_ASCII));
            byte[] header = "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n".getBytes(StandardCharsets.US_ASCII);
            for (int i = 0; !stop.get(); i = (i + 1) % header.length) {
              out.write(header[i]);
              out.flush();
              Thread.sleep(50);
            }
          } catch (IOException | InterruptedException e) {
            // closed by the server: what the test waits for
          }
        });
        t.setDaemon(true);
        t.start();
        tricklers.add(t);
      }
      List<Future<Reply>> innocent = new ArrayList<>();
      for (int i = 0; i < 40; i++) {
        innocent.add(innocent(p, "sl-ok-" + i));
      }
      for (Socket s : loris) {
        RawHttp.awaitClosedByServer(s);
      }
      for (int i = 40; i < 60; i++) {
        innocent.add(innocent(p, "sl-ok-" + i)); // after the deadline too, on kept-alive and new connections
      }
      for (Future<Reply> f : innocent) {
        assertStatus(200, await(f));
      }
      assertTrue(registry.get("http.header.timeouts").tag("server", "public").counter().count() >= 4);
      assertEquals(60, fx.storedWithKeyPrefix("sl-ok-").size());
    } finally {
      stop.set(true);
      for (Socket s : loris) {
        s.close();
      }
    }
  }

  @Test
  void connectionsPastTheCapAreClosedAtOnceWhileOpenOnesKeepWorking() throws Exception {
    MeterRegistry registry = new SimpleMeterRegistry();
    int p = fx.start(GatewayFixture.options().withConnections(new ConnectionLimits(10_000, 60, 3)), fx.sink(), registry);
    List<Socket> open = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        Socket s = RawHttp.connect(p);
        open.add(s);
        assertTrue(RawHttp.exchange(s, track("cap-ok-" + i)).startsWith("HTTP/1.1 200"));
      }
      for (int i = 0; i < 5; i++) {
        try (Socket extra = RawHttp.connect(p)) {
          try {
            extra.getOutputStream().write(track("cap-refused-" + i).getBytes(StandardCharsets.US_ASCII));
          } catch (IOException closedAlready) {
            // fine: refused before we wrote
          }
          RawHttp.awaitClosedByServer(extra);
        }
      }
      for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++) {
          String answer = RawHttp.exchange(open.get(i), track("cap-ok-" + round + "-" + i));
          assertTrue(answer.startsWith("HTTP/1.1 200"), answer);
        }
      }
      assertEquals(5.0, registry.get("http.connections.refused").tag("server", "public").counter().count());
      assertEquals(List.of(), fx.storedWithKeyPrefix("cap-refused-"));
      // a connection that closes frees its place
      open.remove(0).close();
      waitUntil("a place is free", 10, () -> registry.get("http.connections.open").tag("server", "public").gauge().value() == 2);
      try (Socket again = RawHttp.connect(p)) {
        assertTrue(RawHttp.exchange(again, track("cap-again")).startsWith("HTTP/1.1 200"));
      }
      assertEquals(10, fx.storedWithKeyPrefix("cap-").size(), "3, then 6 on the open connections, 1 after; none refused");
    } finally {
      for (Socket s : open) {
        s.close();
      }
    }
  }

  private static String track(String user) {
    String body = "{\"userId\":\"" + user + "\",\"event\":\"E\"}";
    return "POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: " + WriteKeys.basicAuthHeader(WEB_KEY)
        + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n" + body;
  }

  // ============================================================================================ error bodies

  @Test
  void aStorageFailureIs503WithAStableMessageAndARequestIdNeverPostgresText() {
    // a real PostgreSQL error, as a sink's failure would carry one
    EventSink failing = new EventSink() {
      @Override
      public Future<Void> accept(Source source, List<Event> events) {
        return fx.pool.query("SELECT * FROM jobs_gw.no_such_table_for_issue_14").execute().mapEmpty();
      }

      @Override
      public Future<Boolean> healthy() {
        return Future.succeededFuture(true);
      }
    };
    GatewayServer server = new GatewayServer(fx.vertx, GatewayFixture.options(), fx.config,
        EventParser.builder().build(), failing, Clock.fixed(GatewayFixture.RECEIVED, ZoneOffset.UTC), new SimpleMeterRegistry());
    int p = await(server.start());
    try {
      Reply r = fx.post(p, "/v1/track", "{\"userId\":\"err-1\",\"event\":\"E\"}");
      assertStatus(503, r);
      assertEquals("1", r.header("Retry-After"));
      String error = r.json().getString("error");
      for (String internal : List.of("no_such_table", "relation", "does not exist", "42P01", "jobs_gw", "Exception")) {
        assertFalse(error.contains(internal), "the body carries internal text '" + internal + "': " + r.text());
      }
      String id = r.json().getString("requestId");
      assertNotNull(id, r.text());
      assertTrue(id.matches("[0-9a-f]{16}"), id);
      assertTrue(error.contains(id), "the message names the request id: " + error);
      // innocent traffic on the healthy server is not affected
      assertStatus(200, fx.post(port, "/v1/track", "{\"userId\":\"err-ok\",\"event\":\"E\"}"));
    } finally {
      await(server.stop(1000));
    }
  }

  // ============================================================================================ X-Forwarded-For

  @Test
  void theClientAddressIsTheOneTheTrustedHopAppendedNeverTheSpoofedLeftmostEntry() {
    int one = fx.start(GatewayFixture.options().withTrustForwardedFor(true), fx.sink(), new SimpleMeterRegistry());
    int two = fx.start(GatewayFixture.options().withTrustForwardedFor(true).withTrustedProxyHops(2), fx.sink(),
        new SimpleMeterRegistry());
    assertEquals("203.0.113.9", ipOf(one, "xff-1", "6.6.6.6, 203.0.113.9"), "one hop: the rightmost entry");
    assertEquals("203.0.113.9", ipOf(one, "xff-2", "203.0.113.9"), "an SDK behind the load balancer alone");
    assertEquals("198.51.100.7", ipOf(two, "xff-3", "6.6.6.6, 198.51.100.7, 10.1.2.3"), "two hops: the second from the right");
    assertEquals("127.0.0.1", ipOf(two, "xff-4", "10.1.2.3"), "fewer entries than hops: not through the proxies, the peer");
    // the parsing, including several headers as one list
    assertEquals("203.0.113.9", GatewayServer.forwardedClient(List.of("6.6.6.6", "203.0.113.9"), 1));
    assertEquals("6.6.6.6", GatewayServer.forwardedClient(List.of("6.6.6.6", "203.0.113.9"), 2));
    assertNull(GatewayServer.forwardedClient(List.of("1.1.1.1, "), 1), "an empty rightmost entry names nobody");
    assertNull(GatewayServer.forwardedClient(List.of(), 1));
  }

  private String ipOf(int p, String user, String forwardedFor) {
    Reply r = fx.send(p, HttpMethod.POST, "/v1/track", Map.of("Authorization", WriteKeys.basicAuthHeader(WEB_KEY),
        "Content-Type", "application/json", "X-Forwarded-For", forwardedFor),
        Buffer.buffer("{\"userId\":\"" + user + "\",\"event\":\"E\"}"));
    assertStatus(200, r);
    return fx.storedWithKeyPrefix(user).get(0).json().getJsonObject("context").getString("ip");
  }
}
