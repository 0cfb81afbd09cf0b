package io.eventpipe.destinations;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.vertx.core.Future;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The mapping without code, on the fixtures in src/test/resources/mapping. */
class MappingTest {

  private static final ObjectMapper JSON = new ObjectMapper();

  @SuppressWarnings("unchecked")
  private static Map<String, Object> fixture(String name) throws Exception {
    try (InputStream in = MappingTest.class.getResourceAsStream("/mapping/" + name)) {
      assertNotNull(in, name);
      return JSON.readValue(in, Map.class);
    }
  }

  private static Mapping mapping(Map<String, Object> config) {
    Destination d = new Destination("d", "webhook", true, List.of(), config);
    ConfigReader reader = ConfigReader.of(d);
    Mapping m = Mapping.read(d, reader);
    reader.throwIfInvalid("d");
    return m;
  }

  static Event event(long id, Object payload) throws Exception {
    return new Event(id, 0, "u1", "src", "d", "m" + id, Instant.EPOCH, JSON.writeValueAsBytes(payload), 0);
  }

  @ParameterizedTest
  @ValueSource(strings = {"rename-drop-set.json", "event-names.json", "event-names-not-track.json"})
  void fixturesMapAsExpected(String name) throws Exception {
    Map<String, Object> f = fixture(name);
    Mapping m = mapping(Map.of("mapping", f.get("mapping")));
    Event out = m.apply(event(1, f.get("in")));
    assertNotNull(out);
    JsonNode expected = JSON.valueToTree(f.get("out"));
    assertEquals(expected, JSON.readTree(out.payload()), name);
  }

  @ParameterizedTest
  @ValueSource(strings = {"filter-allow.json", "filter-deny.json"})
  @SuppressWarnings("unchecked")
  void fixturesFilterAsExpected(String name) throws Exception {
    Map<String, Object> f = fixture(name);
    Mapping m = mapping(Map.of("mapping", f.get("mapping")));
    for (Map<String, Object> c : (List<Map<String, Object>>) f.get("cases")) {
      Event out = m.apply(event(1, c.get("in")));
      assertEquals(c.get("kept"), out != null, name + ": " + c.get("in"));
    }
  }

  @Test
  void noMappingIsTheIdentityAndWrapsNothing() throws Exception {
    Mapping m = mapping(Map.of("url", "x"));
    assertSame(Mapping.NONE, m);
    Event e = event(1, Map.of("type", "track"));
    assertSame(e, m.apply(e));
    DestinationClient c = new Recording(List.of());
    assertSame(c, m.wrap(c));
  }

  @Test
  void everyBadKeyIsNamed() {
    Destination d = new Destination("orders", "webhook", true, List.of(), Map.of("mapping", Map.of(
        "events", Map.of("allow", "Order Completed", "only", List.of()),
        "eventNames", Map.of("A", ""),
        "rename", Map.of("a..b", "c"),
        "drop", List.of("", "ok.path"),
        "set", List.of("x"),
        "copy", Map.of())));
    ConfigReader reader = ConfigReader.of(d);
    Mapping.read(d, reader);
    List<String> p = reader.problems();
    assertEquals(7, p.size(), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[orders].config.mapping.copy: unknown setting")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[orders].config.mapping.events.only: unknown setting")), p.toString());
    assertTrue(p.contains("destinations[orders].config.mapping.events.allow: must be a list of strings, got the string 'Order Completed'"), p.toString());
    assertTrue(p.contains("destinations[orders].config.mapping.eventNames.A: must be a non-empty event name"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[orders].config.mapping.rename: 'a..b' is not a field path")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[orders].config.mapping.drop: '' is not a field path")), p.toString());
    assertTrue(p.contains("destinations[orders].config.mapping.set: must be a mapping of field paths to values"), p.toString());
  }

  @Test
  void aWrappedClientSeesOnlyMappedKeptEventsAndAnswersForAll() throws Exception {
    Mapping m = mapping(Map.of("mapping", Map.of("events", Map.of("deny", List.of("Debug")),
        "set", Map.of("properties.via", "pipe"))));
    List<List<Event>> seen = new ArrayList<>();
    DestinationClient wrapped = m.wrap(new Recording(seen));
    Event kept = event(1, Map.of("type", "track", "event", "Buy"));
    Event dropped = event(2, Map.of("type", "track", "event", "Debug"));
    Event broken = new Event(3, 0, "u1", "src", "d", "m3", Instant.EPOCH, "[1]".getBytes(StandardCharsets.UTF_8), 0);

    DeliveryResult r = wrapped.deliver(List.of(kept, dropped, broken), null).result();
    assertEquals(1, seen.size());
    assertEquals(1, seen.get(0).size());
    assertEquals(1, seen.get(0).get(0).jobId());
    assertEquals("pipe", JSON.readTree(seen.get(0).get(0).payload()).at("/properties/via").asText());
    DeliveryResult.Partial p = assertInstanceOf(DeliveryResult.Partial.class, r);
    assertEquals(Map.of(3L, "mapping: the event is not a JSON object"), p.rejected());

    assertSame(DeliveryResult.DELIVERED, wrapped.deliver(List.of(dropped), null).result(), "all dropped: delivered");
    assertEquals(1, seen.size(), "nothing sent");
    assertInstanceOf(DeliveryResult.Rejected.class, wrapped.deliver(List.of(broken), null).result());
  }

  @Test
  void anUnmappableEventThrows() {
    Mapping m = mapping(Map.of("mapping", Map.of("drop", List.of("x"))));
    assertThrows(Mapping.UnmappableException.class,
        () -> m.apply(new Event(1, 0, "u", "s", "d", "m", Instant.EPOCH, "{".getBytes(StandardCharsets.UTF_8), 0)));
  }

  /** A client that records what it was sent and accepts everything. */
  private record Recording(List<List<Event>> seen) implements DestinationClient {
    @Override
    public int maxEventsPerRequest() {
      return 100;
    }

    @Override
    public Future<DeliveryResult> deliver(List<Event> events, String node) {
      seen.add(List.copyOf(events));
      return Future.succeededFuture(DeliveryResult.DELIVERED);
    }

    @Override
    public Future<Void> close() {
      return Future.succeededFuture();
    }
  }
}
