package io.eventpipe.node.router;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The {@code amplitude} and {@code mixpanel} integrations (module destinations-vendors), found by their type names on
 * the classpath, through the whole node: 30 users' events fan out to a local Amplitude HTTP V2 API and a local Mixpanel
 * /import, each checking the vendor's documented request shape; Amplitude answers 429 for one user's first requests.
 * Every event arrives, each user's in order, and only the throttled user waits.
 */
@ExtendWith(PostgresExtension.class)
class VendorsThroughTheRouterTest {

  /** A local vendor endpoint: records every event it took (by insert id, in arrival order) and every violation. */
  static final class Vendor implements AutoCloseable {
    final HttpServer server;
    final List<String> violations = new CopyOnWriteArrayList<>();
    /** user -> seq numbers, in the order they arrived (a repeat is dropped by insert id, as the vendors do). */
    final Map<String, List<Integer>> arrived = new ConcurrentHashMap<>();
    final Map<String, Boolean> ids = new ConcurrentHashMap<>();
    final AtomicInteger throttledAnswers = new AtomicInteger();
    volatile String throttledUser;
    volatile int throttleTimes;
    /** When set, every request is answered with this status (and nothing is taken), after {@link #delayMs}. */
    volatile int failWith;
    volatile long delayMs;
    final AtomicInteger failedAnswers = new AtomicInteger();

    Vendor(boolean amplitude) throws IOException {
      server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
      server.setExecutor(Executors.newFixedThreadPool(4));
      server.createContext("/", x -> handle(x, amplitude));
      server.start();
    }

    String url(String path) {
      return "http://127.0.0.1:" + server.getAddress().getPort() + path;
    }

    private void handle(HttpExchange x, boolean amplitude) throws IOException {
      byte[] body;
      try (InputStream in = x.getRequestBody()) {
        body = in.readAllBytes();
      }
      int status = 200;
      String answer = "{\"code\":200}";
      if (delayMs > 0) {
        try {
          Thread.sleep(delayMs);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
      try {
        List<JsonObject> events = new ArrayList<>();
        if (amplitude) {
          JsonObject o = new JsonObject(new String(body, StandardCharsets.UTF_8));
          if (!x.getRequestURI().getPath().equals("/2/httpapi") || !"amp-key".equals(o.getString("api_key"))
              || body.length > 1024 * 1024 || o.getJsonArray("events").size() > 2000) {
            violations.add("amplitude request: " + x.getRequestURI() + " " + body.length + " bytes");
          }
          for (Object e : o.getJsonArray("events")) {
            JsonObject ev = (JsonObject) e;
            if (ev.getString("event_type") == null || ev.getString("insert_id") == null
                || ev.getString("user_id") == null && ev.getString("device_id") == null) {
              violations.add("amplitude event: " + ev);
            }
            events.add(new JsonObject().put("user", ev.getString("device_id", ev.getString("user_id")))
                .put("id", ev.getString("insert_id")).put("seq", ev.getJsonObject("event_properties").getInteger("seq")));
          }
        } else {
          if (!x.getRequestURI().getPath().equals("/import") || !"strict=1".equals(x.getRequestURI().getQuery())
              || x.getRequestHeaders().getFirst("Authorization") == null || body.length > 10 * 1024 * 1024) {
            violations.add("mixpanel request: " + x.getRequestURI());
          }
          JsonArray a = new JsonArray(new String(body, StandardCharsets.UTF_8));
          if (a.size() > 2000) {
            violations.add("mixpanel request of " + a.size() + " events");
          }
          for (Object e : a) {
            JsonObject p = ((JsonObject) e).getJsonObject("properties");
            if (((JsonObject) e).getString("event") == null || !(p.getValue("time") instanceof Number)
                || p.getString("distinct_id") == null || !p.getString("$insert_id", "").matches("[A-Za-z0-9-]{1,36}")) {
              violations.add("mixpanel event: " + e);
            }
            events.add(new JsonObject().put("user", p.getString("distinct_id")).put("id", p.getString("$insert_id"))
                .put("seq", p.getInteger("seq")));
          }
        }
        String hot = throttledUser;
        if (failWith != 0) {
          failedAnswers.incrementAndGet();
          status = failWith;
          answer = "{\"code\":" + failWith + ",\"error\":\"failing on purpose\"}";
        } else if (hot != null && events.stream().anyMatch(e -> hot.equals(e.getString("user")))
            && throttledAnswers.get() < throttleTimes) {
          throttledAnswers.incrementAndGet();
          status = 429;
          answer = "{\"code\":429,\"error\":\"Too many requests for some devices and users\"}";
        } else {
          for (JsonObject e : events) {
            if (ids.putIfAbsent(e.getString("id"), true) == null) {
              arrived.computeIfAbsent(e.getString("user"), u -> new CopyOnWriteArrayList<>()).add(e.getInteger("seq"));
            }
          }
        }
      } catch (RuntimeException e) {
        violations.add("unreadable request: " + e);
        status = 400;
      }
      byte[] out = answer.getBytes(StandardCharsets.UTF_8);
      x.getResponseHeaders().add("Content-Type", "application/json");
      if (status == 429 && failWith == 0) {
        x.getResponseHeaders().add("Retry-After", "1");
      }
      x.sendResponseHeaders(status, out.length);
      x.getResponseBody().write(out);
      x.close();
    }

    int count() {
      return ids.size();
    }

    @Override
    public void close() {
      server.stop(0);
      ((java.util.concurrent.ExecutorService) server.getExecutor()).shutdownNow();
    }
  }

  @Test
  void amplitudeAndMixpanelGetEveryEventInOrderWhileAThrottledUserWaits(PgDatabase db) throws Exception {
    try (Vendor amp = new Vendor(true); Vendor mp = new Vendor(false)) {
      amp.throttledUser = "u3";
      amp.throttleTimes = 2;
      String yaml = Workspaces.of(
          "  - {id: amp, type: amplitude, sources: [web], config: {\"apiKey\": \"amp-key\", \"url\": \""
              + amp.url("/2/httpapi") + "\", \"batch\": {\"maxEvents\": 50}, \"retry\": {\"initialBackoffMs\": 50,"
              + " \"maxBackoffMs\": 200}}}",
          "  - {id: mp, type: mixpanel, sources: [web], config: {\"token\": \"mp-token\", \"url\": \""
              + mp.url("/import") + "\", \"batch\": {\"maxEvents\": 50}}}");
      try (NodeFixture node = new NodeFixture(db, "vendors", Clock.systemUTC(), yaml)) {
        node.start();
        int users = 30;
        int perUser = 5;
        node.ingest(node.users("web", "u", users, perUser));
        eventually("every event at Mixpanel", () -> mp.count() == users * perUser, () -> "mixpanel has " + mp.count());
        eventually("every event at Amplitude, the throttled user's too", () -> amp.count() == users * perUser,
            () -> "amplitude has " + amp.count() + ", 429s " + amp.throttledAnswers.get());
        assertEquals(List.of(), amp.violations);
        assertEquals(List.of(), mp.violations);
        assertTrue(amp.throttledAnswers.get() >= 1, "the throttled user met a 429");
        for (Vendor v : List.of(amp, mp)) {
          for (int u = 0; u < users; u++) {
            assertEquals(List.of(1, 2, 3, 4, 5), v.arrived.get("u" + u), "order of u" + u);
          }
        }
        eventually("the jobs succeeded", () -> node.job("amp", "u3-5") != null
            && node.job("amp", "u3-5").state() == JobState.SUCCEEDED.code()
            && node.job("mp", "u29-5").state() == JobState.SUCCEEDED.code());
      }
    }
  }

  /**
   * One vendor failing (down, too slow for its timeout, or answering 429 to everything) beside a healthy one: the
   * healthy one gets every event, each user's in order, while the failing one has delivered nothing and its jobs wait
   * in retry; neither waits for the other (each destination has its own worker).
   */
  @ParameterizedTest(name = "{0} {1} beside a healthy vendor")
  @CsvSource({"amplitude, down", "mixpanel, slow", "amplitude, 429", "mixpanel, 429"})
  void aFailingVendorDoesNotHoldBackAHealthyOne(String failing, String mode, PgDatabase db) throws Exception {
    try (Vendor amp = new Vendor(true); Vendor mp = new Vendor(false)) {
      boolean ampFails = failing.equals("amplitude");
      Vendor bad = ampFails ? amp : mp;
      Vendor good = ampFails ? mp : amp;
      String badUrl = ampFails ? amp.url("/2/httpapi") : mp.url("/import");
      switch (mode) {
        case "down" -> badUrl = "http://127.0.0.1:" + closedPort() + (ampFails ? "/2/httpapi" : "/import");
        case "slow" -> {
          bad.delayMs = 2_000;
          bad.failWith = 503; // were it ever answered in time
        }
        default -> bad.failWith = 429;
      }
      String ampUrl = ampFails ? badUrl : amp.url("/2/httpapi");
      String mpUrl = ampFails ? mp.url("/import") : badUrl;
      String retry = "\"retry\": {\"initialBackoffMs\": 50, \"maxBackoffMs\": 200, \"maxAttempts\": 1000}";
      String yaml = Workspaces.of(
          "  - {id: amp, type: amplitude, sources: [web], config: {\"apiKey\": \"amp-key\", \"url\": \"" + ampUrl
              + "\", \"timeoutMs\": 500, \"batch\": {\"maxEvents\": 50}, " + retry + "}}",
          "  - {id: mp, type: mixpanel, sources: [web], config: {\"token\": \"mp-token\", \"url\": \"" + mpUrl
              + "\", \"timeoutMs\": 500, \"batch\": {\"maxEvents\": 50}, " + retry + "}}");
      try (NodeFixture node = new NodeFixture(db, "fail_" + failing.substring(0, 3) + "_" + mode, Clock.systemUTC(), yaml)) {
        node.start();
        int users = 20;
        int perUser = 5;
        node.ingest(node.users("web", "u", users, perUser));
        eventually("every event at the healthy vendor", () -> good.count() == users * perUser,
            () -> "healthy has " + good.count());
        String badId = ampFails ? "amp" : "mp";
        eventually("the failing vendor was tried", () -> node.job(badId, "u0-1") != null
            && node.job(badId, "u0-1").attempts() > 0, () -> String.valueOf(node.job(badId, "u0-1")));
        assertEquals(List.of(), good.violations);
        for (int u = 0; u < users; u++) {
          assertEquals(List.of(1, 2, 3, 4, 5), good.arrived.get("u" + u), "order of u" + u + " at the healthy vendor");
        }
        assertEquals(0, bad.count(), "the failing vendor took nothing");
        for (int u = 0; u < users; u++) {
          NodeFixture.JobRow job = node.job(badId, "u" + u + "-1");
          assertTrue(job == null || job.state() != JobState.SUCCEEDED.code() && job.state() != JobState.ABORTED.code(),
              "u" + u + "'s first job at the failing vendor waits in retry: " + job);
        }
      }
    }
  }

  private static int closedPort() throws IOException {
    try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  @Test
  void aMergeIsDeliveredToAWebhookLikeAnyTypeAndRejectedAloneByAmplitude(PgDatabase db) throws Exception {
    try (Vendor amp = new Vendor(true); Sink sink = new Sink()) {
      sink.behave((path, events) -> Sink.Reply.OK);
      String yaml = Workspaces.of(Workspaces.webhook("hook", "{\"url\": \"" + sink.url("/merge") + "\"}"),
          "  - {id: amp, type: amplitude, sources: [web], config: {\"apiKey\": \"amp-key\", \"url\": \""
              + amp.url("/2/httpapi") + "\", \"batch\": {\"maxEvents\": 10}}}");
      try (NodeFixture node = new NodeFixture(db, "merges", Clock.systemUTC(), yaml)) {
        node.start();
        node.ingest(node.event("web", "mu", 1), node.event("web", "mu", 2, "merge", null), node.event("web", "mu", 3));
        Sink.Endpoint ep = sink.endpoint("/merge");
        eventually("the webhook got all three, amplitude the two tracks", () -> ep.bodies.size() == 3
            && node.job("amp", "mu-3") != null && node.job("amp", "mu-3").state() == JobState.SUCCEEDED.code()
            && node.job("amp", "mu-2").state() == JobState.ABORTED.code(), () -> ep.bodies + " " + amp.arrived);
        assertEquals(List.of("track", "merge", "track"), ep.bodies.stream().map(b -> b.getString("type")).toList());
        assertTrue(node.job("amp", "mu-2").lastError().contains("not 'merge'"), node.job("amp", "mu-2").lastError());
        assertEquals(List.of(1, 3), amp.arrived.get("mu"));
      }
    }
  }
}
