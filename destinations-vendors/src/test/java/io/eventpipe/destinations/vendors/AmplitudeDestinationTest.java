package io.eventpipe.destinations.vendors;

import static io.eventpipe.destinations.vendors.FakeVendor.deliver;
import static io.eventpipe.destinations.vendors.FakeVendor.event;
import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The {@code amplitude} destination against a local server that checks every request against Amplitude's HTTP V2 API
 * documentation (https://amplitude.com/docs/apis/analytics/http-v2 and its batching and retries guide): a POST of
 * {@code application/json} to {@code /2/httpapi} with {@code api_key} and 1 to 2,000 {@code events}, at most 1 MB; each
 * event an {@code event_type} and a {@code user_id} or {@code device_id} of at least {@code options.min_id_length}
 * (default 5) characters, {@code time} in ms, an {@code insert_id}; answering 413 over the limits, 400 listing invalid
 * events (taking none of the request), as the documentation says.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class AmplitudeDestinationTest {

  static final String KEY = "amp-key-0123456789";
  Vertx vertx;

  @BeforeAll
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  void stop() {
    await(vertx.close());
  }

  /** Amplitude's documented checks; returns the 4xx it would answer, or null. */
  static Answer check(Request r, List<String> violations) {
    if (!r.method().equals("POST") || !r.path().equals("/2/httpapi")) {
      violations.add("not POST /2/httpapi: " + r.method() + " " + r.path());
      return Answer.of(404, "{}");
    }
    if (r.header("Content-Type") == null || !r.header("Content-Type").startsWith("application/json")) {
      violations.add("Content-Type " + r.header("Content-Type"));
    }
    if (r.body().length > AmplitudeDestination.MAX_BYTES) {
      violations.add("a request of " + r.body().length + " bytes, over 1 MB");
      return Answer.of(413, "{\"code\":413,\"error\":\"Payload too large\"}");
    }
    JsonObject body = new JsonObject(r.text());
    if (!KEY.equals(body.getString("api_key"))) {
      violations.add("api_key " + body.getString("api_key"));
      return Answer.of(400, "{\"code\":400,\"error\":\"Invalid API key\"}");
    }
    JsonArray events = body.getJsonArray("events");
    if (events == null || events.isEmpty() || events.size() > AmplitudeDestination.MAX_EVENTS) {
      violations.add("events: " + (events == null ? "missing" : events.size()));
      return Answer.of(events == null || events.isEmpty() ? 400 : 413, "{\"code\":400,\"error\":\"events\"}");
    }
    JsonObject options = body.getJsonObject("options", new JsonObject());
    int minIdLength = options.getInteger("min_id_length", 5);
    for (String k : body.fieldNames()) {
      if (!Set.of("api_key", "events", "options").contains(k)) {
        violations.add("unknown top-level field " + k);
      }
    }
    for (int i = 0; i < events.size(); i++) {
      JsonObject e = events.getJsonObject(i);
      if (!(e.getValue("event_type") instanceof String t) || t.isEmpty()) {
        violations.add("events[" + i + "] without event_type: " + e);
      }
      String user = e.getString("user_id");
      String device = e.getString("device_id");
      if (user == null && device == null) {
        violations.add("events[" + i + "] without user_id and device_id");
      }
      if (user != null && user.length() < minIdLength || device != null && device.length() < minIdLength) {
        violations.add("events[" + i + "] id shorter than min_id_length " + minIdLength);
      }
      if (!(e.getValue("insert_id") instanceof String)) {
        violations.add("events[" + i + "] without insert_id");
      }
      if (e.containsKey("time") && !(e.getValue("time") instanceof Number)) {
        violations.add("events[" + i + "] time not a number: " + e.getValue("time"));
      }
      for (String obj : List.of("event_properties", "user_properties", "groups", "group_properties")) {
        if (e.containsKey(obj) && !(e.getValue(obj) instanceof JsonObject)) {
          violations.add("events[" + i + "]." + obj + " not an object");
        }
      }
    }
    return null;
  }

  /**
   * A fake Amplitude that takes every valid request, except: events whose {@code event_properties.bad} is true are
   * answered 400 listing them (nothing of the request taken); more than {@code max413} events are answered 413; users in
   * {@code throttled} are answered 429. Takes events by insert_id (dropping repeats, as Amplitude does).
   */
  static final class Amplitude implements Function<Request, Answer> {
    final List<String> violations;
    final Map<String, JsonObject> taken = new ConcurrentHashMap<>();
    final List<Integer> requestSizes = new java.util.concurrent.CopyOnWriteArrayList<>();
    volatile int max413 = Integer.MAX_VALUE;
    volatile Set<String> throttled = Set.of();
    volatile Answer fixed;

    Amplitude(List<String> violations) {
      this.violations = violations;
    }

    @Override
    public Answer apply(Request r) {
      Answer refusal = check(r, violations);
      if (refusal != null) {
        return refusal;
      }
      if (fixed != null) {
        return fixed;
      }
      JsonArray events = new JsonObject(r.text()).getJsonArray("events");
      requestSizes.add(events.size());
      if (events.size() > max413) {
        return Answer.of(413, "{\"code\":413,\"error\":\"Payload too large\"}");
      }
      JsonArray bad = new JsonArray();
      Map<String, JsonArray> throttledUsers = new LinkedHashMap<>();
      for (int i = 0; i < events.size(); i++) {
        JsonObject e = events.getJsonObject(i);
        JsonObject p = e.getJsonObject("event_properties", new JsonObject());
        if (Boolean.TRUE.equals(p.getValue("bad"))) {
          bad.add(i);
        }
        String user = e.getString("user_id", e.getString("device_id"));
        if (throttled.contains(user)) {
          throttledUsers.computeIfAbsent(user, u -> new JsonArray()).add(i);
        }
      }
      if (!bad.isEmpty()) {
        return Answer.of(400, new JsonObject().put("code", 400).put("error", "Request missing required field")
            .put("events_with_invalid_fields", new JsonObject().put("event_properties.bad", bad)).encode());
      }
      if (!throttledUsers.isEmpty()) {
        JsonObject users = new JsonObject();
        throttledUsers.forEach((u, idx) -> users.put(u, idx.size()));
        return Answer.of(429, new JsonObject().put("code", 429).put("error", "Too many requests for some devices and users")
            .put("throttled_users", users).encode());
      }
      for (int i = 0; i < events.size(); i++) {
        taken.putIfAbsent(events.getJsonObject(i).getString("insert_id"), events.getJsonObject(i));
      }
      return Answer.of(200, "{\"code\":200,\"events_ingested\":" + events.size() + ",\"payload_size_bytes\":"
          + r.body().length + ",\"server_upload_time\":1700000000000}");
    }
  }

  private record Setup(FakeVendor server, Amplitude amplitude, DestinationClient client) implements AutoCloseable {
    @Override
    public void close() {
      server.close();
    }
  }

  private Setup setup(Map<String, Object> extra) throws Exception {
    List<String> violations = new java.util.concurrent.CopyOnWriteArrayList<>();
    Amplitude amp = new Amplitude(violations);
    FakeVendor server = new FakeVendor(amp);
    Map<String, Object> config = new LinkedHashMap<>(Map.of("apiKey", KEY, "url", server.url("/2/httpapi")));
    config.putAll(extra);
    return new Setup(server, amp, FakeVendor.open(vertx, new AmplitudeDestination(), config));
  }

  private static String track(String user, String messageId, String props) {
    return "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"" + user + "\",\"messageId\":\"" + messageId
        + "\",\"timestamp\":\"2026-03-01T10:00:00.250Z\",\"properties\":" + props + "}";
  }

  @Test
  void everyTypeIsMappedAsAmplitudeDocumentsIt() throws Exception {
    try (Setup s = setup(Map.of())) {
      List<Event> events = List.of(
          event(track("u1", "m-track", "{\"revenue\":12.5}")),
          event("{\"type\":\"identify\",\"userId\":\"u1\",\"anonymousId\":\"a1\",\"messageId\":\"m-identify\","
              + "\"traits\":{\"plan\":\"pro\"},\"context\":{\"ip\":\"203.0.113.7\"}}"),
          event("{\"type\":\"page\",\"userId\":\"u1\",\"name\":\"Pricing\",\"messageId\":\"m-page\",\"properties\":{\"path\":\"/p\"}}"),
          event("{\"type\":\"screen\",\"anonymousId\":\"a1\",\"messageId\":\"m-screen\"}"),
          event("{\"type\":\"group\",\"userId\":\"u1\",\"groupId\":\"g1\",\"messageId\":\"m-group\",\"traits\":{\"seats\":5}}"),
          event("{\"type\":\"alias\",\"userId\":\"u1\",\"previousId\":\"old-1\",\"messageId\":\"m-alias\"}"));
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(List.of(), s.server().violations);
      assertEquals(1, s.server().requests.size());
      Map<String, JsonObject> t = s.amplitude().taken;
      assertEquals(new JsonObject().put("user_id", "u1").put("event_type", "Order Completed")
          .put("event_properties", new JsonObject().put("revenue", 12.5)).put("insert_id", "m-track")
          .put("time", 1772359200250L).put("library", "eventpipe"), t.get("m-track"));
      assertEquals("$identify", t.get("m-identify").getString("event_type"));
      assertEquals(new JsonObject().put("$set", new JsonObject().put("plan", "pro")),
          t.get("m-identify").getJsonObject("user_properties"));
      assertEquals("a1", t.get("m-identify").getString("device_id"));
      assertEquals("203.0.113.7", t.get("m-identify").getString("ip"));
      assertEquals("Viewed Pricing Page", t.get("m-page").getString("event_type"));
      assertEquals("Viewed Screen", t.get("m-screen").getString("event_type"));
      assertEquals(new JsonObject().put("company", "g1"), t.get("m-group").getJsonObject("groups"));
      assertEquals(new JsonObject().put("seats", 5), t.get("m-group").getJsonObject("group_properties"));
      assertEquals("old-1", t.get("m-alias").getJsonObject("user_properties").getJsonObject("$set")
          .getString("previous_id"));
    }
  }

  @Test
  void requestsStayWithin2000EventsAnd1MbAndKeepOrder() throws Exception {
    try (Setup s = setup(Map.of("batch", Map.of("maxEvents", 2000)))) {
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 2500; i++) {
        events.add(event(track("user-" + (i % 7), "m-count-" + i, "{\"i\":" + i + "}")));
      }
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(List.of(2000, 500), s.amplitude().requestSizes);

      // 30 events of about 100 KB: 1 MB holds 10 at most
      List<Event> big = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        big.add(event(track("big-user", "m-big-" + i, "{\"pad\":\"" + "x".repeat(100_000) + "\"}")));
      }
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), big));
      assertEquals(List.of(), s.server().violations);
      assertEquals(2530, s.amplitude().taken.size());
      // in order: the requests came one after the other, each user's events in their order
      List<Integer> seen = new ArrayList<>();
      for (Request r : s.server().requests) {
        for (Object e : new JsonObject(r.text()).getJsonArray("events")) {
          String id = ((JsonObject) e).getString("insert_id");
          if (id.startsWith("m-big-")) {
            seen.add(Integer.parseInt(id.substring(6)));
          }
        }
      }
      List<Integer> expected = new ArrayList<>();
      for (int i = 0; i < 30; i++) {
        expected.add(i);
      }
      assertEquals(expected, seen);
    }
  }

  @Test
  void a413SplitsTheRequestAndResendsTheHalves() throws Exception {
    try (Setup s = setup(Map.of())) {
      s.amplitude().max413 = 3;
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 10; i++) {
        events.add(event(track("split-user", "m-split-" + i, "{}")));
      }
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), events));
      assertEquals(10, s.amplitude().taken.size());
      assertEquals(10, s.amplitude().requestSizes.get(0));
      assertTrue(s.amplitude().requestSizes.stream().skip(1).allMatch(n -> n <= 5), s.amplitude().requestSizes.toString());

      // a single event that is too large for Amplitude is rejected, the rest delivered
      s.amplitude().max413 = 0;
      Event alone = event(track("split-user", "m-split-alone", "{}"));
      DeliveryResult r = deliver(vertx, s.client(), List.of(alone));
      assertInstanceOf(DeliveryResult.Rejected.class, r);
      assertTrue(((DeliveryResult.Rejected) r).error().startsWith("HTTP 413"), r.toString());
    }
  }

  @Test
  void a400ListingEventsDropsThemAndResendsTheRest() throws Exception {
    try (Setup s = setup(Map.of())) {
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 6; i++) {
        events.add(event(track("partial-" + i, "m-partial-" + i, i % 3 == 1 ? "{\"bad\":true}" : "{}")));
      }
      DeliveryResult r = deliver(vertx, s.client(), events);
      DeliveryResult.Partial p = assertInstanceOf(DeliveryResult.Partial.class, r);
      assertEquals(Set.of(events.get(1).jobId(), events.get(4).jobId()), p.rejected().keySet());
      assertTrue(p.rejected().get(events.get(1).jobId()).contains("event_properties.bad"), p.toString());
      assertEquals(Set.of("m-partial-0", "m-partial-2", "m-partial-3", "m-partial-5"), s.amplitude().taken.keySet());
      assertEquals(List.of(6, 4), s.amplitude().requestSizes);
      assertEquals(List.of(), s.server().violations);
    }
  }

  @Test
  void a429IsRetriedAfter30SecondsThrottlingAOneUserRequestOnly() throws Exception {
    try (Setup s = setup(Map.of())) {
      s.amplitude().throttled = Set.of("hot-user");
      DeliveryResult one = deliver(vertx, s.client(), List.of(event(track("hot-user", "m-hot-1", "{}")),
          event(track("hot-user", "m-hot-2", "{}"))));
      DeliveryResult.Retryable r = assertInstanceOf(DeliveryResult.Retryable.class, one);
      assertTrue(r.throttled());
      assertEquals(Duration.ofSeconds(30), r.retryAfter());
      // several users: not throttled as a whole; the router retries them user by user, so only hot-user waits
      DeliveryResult many = deliver(vertx, s.client(), List.of(event(track("hot-user", "m-hot-3", "{}")),
          event(track("cool-user", "m-cool-1", "{}"))));
      assertEquals(false, assertInstanceOf(DeliveryResult.Retryable.class, many).throttled());
      assertEquals(DeliveryResult.DELIVERED, deliver(vertx, s.client(), List.of(event(track("cool-user", "m-cool-1", "{}")))));
      assertEquals(Set.of("m-cool-1"), s.amplitude().taken.keySet());
    }
  }

  @Test
  void serverErrorsAndNetworkFailuresAreRetriedOtherRefusalsAndMergesAreNot() throws Exception {
    try (Setup s = setup(Map.of())) {
      s.amplitude().fixed = new Answer(503, "{}", Map.of("Retry-After", "7"));
      DeliveryResult.Retryable r = assertInstanceOf(DeliveryResult.Retryable.class,
          deliver(vertx, s.client(), List.of(event(track("err-user", "m-err-1", "{}")))));
      assertEquals(Duration.ofSeconds(7), r.retryAfter(), r.toString());
      s.amplitude().fixed = Answer.of(400, "{\"code\":400,\"error\":\"Invalid API key\"}");
      assertInstanceOf(DeliveryResult.Rejected.class, deliver(vertx, s.client(), List.of(event(track("err-user", "m-err-2", "{}")))));
      s.amplitude().fixed = null;
      Event merge = event("{\"type\":\"merge\",\"userId\":\"err-user\",\"messageId\":\"m-merge\",\"mergeProperties\":[]}");
      Event ok = event(track("err-user", "m-err-3", "{}"));
      DeliveryResult.Partial p = assertInstanceOf(DeliveryResult.Partial.class, deliver(vertx, s.client(), List.of(merge, ok)));
      assertTrue(p.rejected().get(merge.jobId()).contains("not 'merge'"), p.toString());
      assertEquals(1, p.rejected().size());
    }
    // nobody listening
    DestinationClient down = FakeVendor.open(vertx, new AmplitudeDestination(),
        Map.of("apiKey", KEY, "url", "http://127.0.0.1:1/2/httpapi", "timeoutMs", 2000));
    assertInstanceOf(DeliveryResult.Retryable.class, deliver(vertx, down, List.of(event(track("x", "m-down", "{}")))));
  }

  @Test
  void configProblemsNameTheKey() {
    ConfigReader c = ConfigReader.of("amp", Map.of("url", "ftp://x", "batch", Map.of("maxEvents", 2001), "colour", 1));
    new AmplitudeDestination().validate(c, FakeVendor.LOOPBACK);
    String all = String.join("\n", c.problems());
    assertTrue(all.contains("apiKey: missing"), all);
    assertTrue(all.contains("url: must be an absolute http or https URL"), all);
    assertTrue(all.contains("maxEvents"), all);
    ConfigReader denied = ConfigReader.of("amp", Map.of("apiKey", "k", "url", "http://127.0.0.1:9/2/httpapi"));
    new AmplitudeDestination().validate(denied, io.eventpipe.workspace.EgressPolicy.defaults());
    assertTrue(String.join("\n", denied.problems()).contains("egress policy denies"), denied.problems().toString());
  }
}
