package io.eventpipe.destinations.vendors;

import static io.eventpipe.destinations.vendors.FakeVendor.deliver;
import static io.eventpipe.destinations.vendors.FakeVendor.event;
import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.Event;
import io.eventpipe.destinations.vendors.FakeVendor.Answer;
import io.eventpipe.destinations.vendors.FakeVendor.Request;
import io.eventpipe.workspace.ConfigReader;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The {@code mixpanel} destination against a local server that checks every request against Mixpanel's Import API
 * documentation (https://docs.mixpanel.com/reference/import-events and its 400 and 413 troubleshooting pages): a POST
 * to {@code /import?strict=1} with Basic auth (the project token as the username, or a service account with
 * {@code project_id}), a JSON array of 1 to 2,000 events, at most 10 MB uncompressed, each at most 1 MB, each
 * {@code {"event", "properties"}} with {@code time} (s or ms since epoch, not in the future), {@code distinct_id} (not one
 * of the placeholder values Mixpanel rejects) and a {@code $insert_id} of at most 36 letters, digits and dashes. A
 * strict 400 lists {@code failed_records} and imports the rest.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MixpanelDestinationTest {

  static final String TOKEN = "mp-token-0123456789";
  static final Pattern INSERT_ID = Pattern.compile("[A-Za-z0-9-]{1,36}");
  static final Set<String> PLACEHOLDERS = Set.of("anon", "anonymous", "nil", "none", "null", "n/a", "undefined",
      "00000000-0000-0000-0000-000000000000", "0", "-1");
  Vertx vertx;

  @BeforeAll
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  void stop() {
    await(vertx.close());
  }

  /**
   * A fake /import: checks every request (violations recorded), imports valid events by $insert_id, answers a strict 400
   * with failed_records for invalid ones (including {@code properties.bad: true}), 413 above {@code max413} events, 401
   * for a wrong token, 429 for users in {@code throttled}.
   */
  static final class Mixpanel implements Function<Request, Answer> {
    final List<String> violations;
    final Map<String, JsonObject> imported = new ConcurrentHashMap<>();
    final List<Integer> requestSizes = new CopyOnWriteArrayList<>();
    volatile int max413 = Integer.MAX_VALUE;
    volatile Set<String> throttled = Set.of();
    volatile String expectedAuth = "Basic " + Base64.getEncoder().encodeToString((TOKEN + ":").getBytes(StandardCharsets.UTF_8));

    Mixpanel(List<String> violations) {
      this.violations = violations;
    }

    @Override
    public Answer apply(Request r) {
      if (!r.method().equals("POST") || !r.path().equals("/import")) {
        violations.add("not POST /import: " + r.method() + " " + r.path());
        return Answer.of(404, "{}");
      }
      if (r.query() == null || !List.of(r.query().split("&")).contains("strict=1")) {
        violations.add("without strict=1: " + r.query());
      }
      if (!expectedAuth.equals(r.header("Authorization"))) {
        return Answer.of(401, "{\"code\":401,\"error\":\"Invalid credentials\",\"status\":\"Unauthorized\"}");
      }
      if (r.header("Content-Type") == null || !r.header("Content-Type").startsWith("application/json")) {
        violations.add("Content-Type " + r.header("Content-Type"));
      }
      if (r.body().length > MixpanelDestination.MAX_BYTES) {
        violations.add("a request of " + r.body().length + " bytes, over 10 MB");
        return Answer.of(413, "{\"code\":413,\"error\":\"request exceeds max limit of 10485760 bytes\"}");
      }
      JsonArray events = new JsonArray(r.text());
      if (events.isEmpty() || events.size() > MixpanelDestination.MAX_EVENTS) {
        violations.add(events.size() + " events");
        return Answer.of(400, "{\"code\":400,\"error\":\"batch size\"}");
      }
      requestSizes.add(events.size());
      if (events.size() > max413) {
        return Answer.of(413, "{\"code\":413,\"error\":\"request exceeds max limit\",\"status\":\"Request Entity Too Large\"}");
      }
      JsonArray failed = new JsonArray();
      List<JsonObject> valid = new ArrayList<>();
      for (int i = 0; i < events.size(); i++) {
        JsonObject e = events.getJsonObject(i);
        JsonObject p = e.getJsonObject("properties");
        String problem = null;
        String field = null;
        if (!(e.getValue("event") instanceof String name) || name.isEmpty()) {
          problem = "event name missing";
          field = "event";
        } else if (p == null) {
          problem = "properties missing";
          field = "properties";
        } else if (!(p.getValue("time") instanceof Number t) || t.longValue() > System.currentTimeMillis() + 3_600_000L
            || t.longValue() < 31_536_000L) {
          problem = "'properties.time' is invalid";
          field = "properties.time";
        } else if (!(p.getValue("distinct_id") instanceof String d) || PLACEHOLDERS.contains(d.toLowerCase())) {
          problem = "'properties.distinct_id' is invalid";
          field = "properties.distinct_id";
        } else if (!(p.getValue("$insert_id") instanceof String id) || !INSERT_ID.matcher(id).matches()) {
          problem = "'properties.$insert_id' is invalid";
          field = "properties.$insert_id";
        } else if (p.size() > 3 && e.encode().getBytes(StandardCharsets.UTF_8).length > MixpanelDestination.MAX_EVENT_BYTES) {
          problem = "event exceeds 1MB";
          field = "event";
        } else if (Boolean.TRUE.equals(p.getValue("bad"))) {
          problem = "'properties.bad' is invalid";
          field = "properties.bad";
        }
        if (field != null && !field.equals("properties.bad") && !field.equals("properties.distinct_id")) {
          violations.add("events[" + i + "]: " + problem + ": " + e.getString("event"));
        }
        if (problem != null) {
          failed.add(new JsonObject().put("index", i).put("insert_id", p == null ? null : p.getString("$insert_id"))
              .put("field", field).put("message", problem));
        } else {
          valid.add(e);
        }
      }
      if (failed.isEmpty()) {
        for (JsonObject e : valid) {
          if (throttled.contains(e.getJsonObject("properties").getString("distinct_id"))) {
            return Answer.of(429, "{\"code\":429,\"error\":\"rate limited\",\"status\":\"Too Many Requests\"}");
          }
        }
      }
      valid.forEach(e -> imported.putIfAbsent(e.getJsonObject("properties").getString("$insert_id"), e));
      if (!failed.isEmpty()) {
        return Answer.of(400, new JsonObject().put("code", 400).put("error", "some data points in the request failed validation")
            .put("num_records_imported", valid.size()).put("status", "Bad Request").put("failed_records", failed).encode());
      }
      return Answer.of(200, "{\"code\":200,\"num_records_imported\":" + valid.size() + ",\"status\":\"OK\"}");
    }
  }

  private record Setup(FakeVendor server, Mixpanel mixpanel, DestinationClient client) implements AutoCloseable {
    @Override
    public void close() {
      server.close();
    }
  }

  private Setup setup(Map<String, Object> extra) throws Exception {
    List<String> violations = new CopyOnWriteArrayList<>();
    Mixpanel mp = new Mixpanel(violations);
    FakeVendor server = new FakeVendor(mp);
    Map<String, Object> config = new LinkedHashMap<>(Map.of("token", TOKEN, "url", server.url("/import")));
    config.putAll(extra);
    return new Setup(server, mp, FakeVendor.open(vertx, new MixpanelDestination(), config));
  }

  private static String track(String user, String messageId, String props) {
    return "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"" + user + "\",\"messageId\":\"" + messageId
        + "\",\"timestamp\":\"2026-03-01T10:00:00.250Z\",\"properties\":" + props + "}";
  }

  @Test
  void everyTypeIsMappedAsMixpanelDocumentsIt() throws Exception {
    try (Setup s = setup(Map.of())) {
      String longId = "msg/with:chars-and-more-than-thirty-six-characters-in-it";
      List<Event> events = List.of(
          event(track("u1", "m-track", "{\"revenue\":12.5}")),
          event("{\"type\":\"identify\",\"userId\":\"u1\",\"anonymousId\":\"a1\",\"messageId\":\"" + longId + "\","
              + "\"timestamp\":\"2026-03-01T10:00:01Z\",\"traits\":{\"plan\":\"pro\"},\"context\":{\"ip\":\"203.0.113.7\"}}"),
          event("{\"type\":\"page\",\"userId\":\"u1\",\"name\":\"Pricing\",\"messageId\":\"m-page\","
              + "\"receivedAt\":\"2026-03-01T10:00:02Z\",\"properties\":{\"path\":\"/p\"}}"),
          event("{\"type\":\"screen\",\"anonymousId\":\"a1\",\"messageId\":\"m-screen\",\"timestamp\":\"2026-03-01T10:00:03Z\"}"),
          event("{\"type\":\"group\",\"userId\":\"u1\",\"groupId\":\"g1\",\"messageId\":\"m-group\","
              + "\"timestamp\":\"2026-03-01T10:00:04Z\",\"traits\":{\"seats\":5}}"),
          event("{\"type\":\"alias\",\"userId\":\"u1\",\"previousId\":\"old-1\",\"messageId\":\"m-alias\","
              + "\"timestamp\":\"2026-03-01T10:00:05Z\"}"));
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(List.of(), s.server().violations);
      Map<String, JsonObject> t = s.mixpanel().imported;
      assertEquals(new JsonObject().put("event", "Order Completed").put("properties", new JsonObject()
          .put("revenue", 12.5).put("distinct_id", "u1").put("$user_id", "u1").put("time", 1772359200250L)
          .put("$insert_id", "m-track")), t.get("m-track"));
      JsonObject identify = t.get(MixpanelDestination.insertId(longId));
      assertEquals("$identify", identify.getString("event"));
      assertEquals("u1", identify.getJsonObject("properties").getString("$identified_id"));
      assertEquals("a1", identify.getJsonObject("properties").getString("$anon_id"));
      assertEquals("pro", identify.getJsonObject("properties").getString("plan"));
      assertEquals("203.0.113.7", identify.getJsonObject("properties").getString("ip"));
      assertEquals("Loaded a Page", t.get("m-page").getString("event"));
      assertEquals("Pricing", t.get("m-page").getJsonObject("properties").getString("name"));
      assertEquals("Loaded a Screen", t.get("m-screen").getString("event"));
      assertEquals("a1", t.get("m-screen").getJsonObject("properties").getString("distinct_id"));
      assertEquals("g1", t.get("m-group").getJsonObject("properties").getString("company"));
      assertEquals(new JsonObject().put("event", "$create_alias").put("properties", new JsonObject()
          .put("alias", "u1").put("distinct_id", "old-1").put("time", 1772359205000L).put("$insert_id", "m-alias")),
          t.get("m-alias"));
      // the derived $insert_id is the same on every retry
      assertEquals(MixpanelDestination.insertId(longId), MixpanelDestination.insertId(longId));
    }
  }

  @Test
  void requestsStayWithin2000EventsAnd10Mb() throws Exception {
    try (Setup s = setup(Map.of("batch", Map.of("maxEvents", 2000)))) {
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 2100; i++) {
        events.add(event(track("user-" + (i % 9), "m-count-" + i, "{\"i\":" + i + "}")));
      }
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(List.of(2000, 100), s.mixpanel().requestSizes);
      // 12 events of about 900 KB: 10 MB holds 11 at most; one of 1.2 MB is over the per-event limit and rejected
      List<Event> big = new ArrayList<>();
      for (int i = 0; i < 12; i++) {
        big.add(event(track("big-user", "m-big-" + i, "{\"pad\":\"" + "x".repeat(900_000) + "\"}")));
      }
      Event tooBig = event(track("big-user", "m-too-big", "{\"pad\":\"" + "x".repeat(1_200_000) + "\"}"));
      big.add(tooBig);
      DeliveryResult.Partial p = assertInstanceOf(DeliveryResult.Partial.class, deliver(vertx, s.client(), big));
      assertEquals(Set.of(tooBig.jobId()), p.rejected().keySet());
      assertTrue(p.rejected().get(tooBig.jobId()).contains("1 MB per event"), p.toString());
      assertEquals(List.of(), s.server().violations);
      assertEquals(2112, s.mixpanel().imported.size());
      assertEquals(List.of(2000, 100, 11, 1), s.mixpanel().requestSizes);
    }
  }

  @Test
  void aStrict400RejectsTheFailedRecordsAndCountsTheRestImported() throws Exception {
    try (Setup s = setup(Map.of())) {
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 5; i++) {
        events.add(event(track(i == 3 ? "anonymous" : "partial-" + i, "m-partial-" + i, i == 1 ? "{\"bad\":true}" : "{}")));
      }
      DeliveryResult.Partial p = assertInstanceOf(DeliveryResult.Partial.class, deliver(vertx, s.client(), events));
      assertEquals(Set.of(events.get(1).jobId(), events.get(3).jobId()), p.rejected().keySet());
      assertTrue(p.rejected().get(events.get(3).jobId()).contains("properties.distinct_id"), p.toString());
      assertEquals(Set.of("m-partial-0", "m-partial-2", "m-partial-4"), s.mixpanel().imported.keySet());
      assertEquals(List.of(5), s.mixpanel().requestSizes, "nothing is resent: Mixpanel imported the others");
    }
  }

  @Test
  void a413SplitsA429BacksOffAnd401And403ArePermanent() throws Exception {
    try (Setup s = setup(Map.of())) {
      s.mixpanel().max413 = 2;
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 7; i++) {
        events.add(event(track("split-user", "m-split-" + i, "{}")));
      }
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(7, s.mixpanel().imported.size());
      s.mixpanel().max413 = Integer.MAX_VALUE;

      s.mixpanel().throttled = Set.of("hot-user");
      DeliveryResult.Retryable r = assertInstanceOf(DeliveryResult.Retryable.class,
          deliver(vertx, s.client(), List.of(event(track("hot-user", "m-hot", "{}")))));
      assertTrue(r.throttled());
      assertFalse(assertInstanceOf(DeliveryResult.Retryable.class, deliver(vertx, s.client(),
          List.of(event(track("hot-user", "m-hot", "{}")), event(track("cool-user", "m-cool", "{}"))))).throttled());

      s.mixpanel().expectedAuth = "Basic nobody";
      DeliveryResult.Rejected rejected = assertInstanceOf(DeliveryResult.Rejected.class,
          deliver(vertx, s.client(), List.of(event(track("auth-user", "m-auth", "{}")))));
      assertTrue(rejected.error().startsWith("HTTP 401"), rejected.error());
    }
    try (Setup s = setup(Map.of())) {
      s.server().answer = req -> Answer.of(403, "{\"error\":\"forbidden\"}");
      assertInstanceOf(DeliveryResult.Rejected.class, deliver(vertx, s.client(), List.of(event(track("f", "m-403", "{}")))));
      s.server().answer = req -> new Answer(502, "", Map.of("Retry-After", "3"));
      assertEquals(Duration.ofSeconds(3), assertInstanceOf(DeliveryResult.Retryable.class,
          deliver(vertx, s.client(), List.of(event(track("f", "m-502", "{}"))))).retryAfter());
    }
  }

  @Test
  void aServiceAccountSendsItsCredentialsAndTheProjectId() throws Exception {
    try (Setup s = setup(Map.of())) {
      s.server().requests.clear();
      DestinationClient sa = FakeVendor.open(vertx, new MixpanelDestination(), Map.of("url", s.server().url("/import"),
          "serviceAccount", Map.of("username", "sa.user", "secret", "sa-secret"), "projectId", "4242"));
      s.mixpanel().expectedAuth = "Basic " + Base64.getEncoder().encodeToString("sa.user:sa-secret".getBytes(StandardCharsets.UTF_8));
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, sa, List.of(event(track("sa-user", "m-sa", "{}")))));
      assertEquals("strict=1&project_id=4242", s.server().requests.get(0).query());
    }
  }

  @Test
  void configProblemsNameTheKey() {
    ConfigReader c = ConfigReader.of("mp", Map.of("serviceAccount", Map.of("username", "u"), "batch", Map.of("maxEvents", 0)));
    new MixpanelDestination().validate(c, FakeVendor.LOOPBACK);
    String all = String.join("\n", c.problems());
    assertTrue(all.contains("serviceAccount: needs username and secret"), all);
    assertTrue(all.contains("projectId: missing"), all);
    assertTrue(all.contains("maxEvents"), all);
    ConfigReader none = ConfigReader.of("mp", Map.of());
    new MixpanelDestination().validate(none, FakeVendor.LOOPBACK);
    assertTrue(String.join("\n", none.problems()).contains("token: missing"), none.problems().toString());
  }
}
