package io.eventpipe.destinations.postgres;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.destinations.DeliveryMode;
import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationTypes;
import io.eventpipe.destinations.Event;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** The postgres destination against the real PostgreSQL of the test fixture. */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PostgresDestinationTest {

  static final EgressPolicy LOOPBACK = EgressPolicy.of(List.of("127.0.0.0/8"), List.of());

  private Vertx vertx;
  private PgDatabase db;

  @BeforeAll
  void start(PgDatabase db) {
    this.db = db;
    vertx = Vertx.vertx();
  }

  @AfterAll
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private String url() {
    return "postgresql://" + db.user() + "@" + db.host() + ":" + db.port() + "/" + db.database();
  }

  private DestinationClient client(String schema, Map<String, Object> extra) {
    Map<String, Object> config = new HashMap<>(Map.of("url", url(), "schema", schema));
    if (db.password() != null) {
      config.put("password", db.password());
    }
    config.putAll(extra);
    return new PostgresDestination().open(new DestinationContext(vertx, new Destination("wh", "postgres", true,
        List.of(), config), 4, LOOPBACK, Clock.systemUTC(), Map.of()));
  }

  static Event event(long id, String messageId, String json) {
    return new Event(id, 0, "u1", "web", "wh", messageId, Instant.parse("2026-12-02T12:00:00Z"),
        json.getBytes(StandardCharsets.UTF_8), 0);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private List<Map<String, Object>> rows(String sql) throws Exception {
    List<Map<String, Object>> out = new ArrayList<>();
    try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      while (rs.next()) {
        Map<String, Object> row = new HashMap<>();
        for (int i = 1; i <= rs.getMetaData().getColumnCount(); i++) {
          row.put(rs.getMetaData().getColumnName(i), rs.getObject(i));
        }
        out.add(row);
      }
    }
    return out;
  }

  @Test
  void isAStagedTypeFoundByName() {
    assertEquals(DeliveryMode.STAGED, DestinationTypes.installed().get("postgres").orElseThrow().mode());
  }

  @Test
  void eventsLandInATablePerTypeWithTypedColumnsCreatedAndEvolvedAndTheRestInJsonb() throws Exception {
    DestinationClient client = client("wh1", Map.of());
    try {
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(List.of(
          event(1, "m1", "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"u1\",\"anonymousId\":\"a1\","
              + "\"timestamp\":\"2026-12-02T11:59:00Z\",\"properties\":{\"price\":12,\"currency\":\"EUR\",\"gift\":true,"
              + "\"items\":[1,2]},\"context\":{\"ip\":\"1.2.3.4\"}}"),
          event(2, "m2", "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"plan\":\"pro\",\"seats\":3}}")), null)));
      List<Map<String, Object>> track = rows("SELECT * FROM wh1.track ORDER BY message_id");
      assertEquals(1, track.size());
      Map<String, Object> t = track.get(0);
      assertEquals("Order Completed", t.get("event"));
      assertEquals("u1", t.get("user_id"));
      assertEquals("a1", t.get("anonymous_id"));
      assertEquals(12L, t.get("price"));
      assertEquals("EUR", t.get("currency"));
      assertEquals(true, t.get("gift"));
      assertTrue(t.get("event_timestamp") != null);
      String extra = String.valueOf(t.get("extra"));
      assertTrue(extra.contains("\"items\": [1, 2]") && extra.contains("\"ip\": \"1.2.3.4\""), extra);
      assertTrue(!extra.contains("price"), extra);
      Map<String, Object> i = rows("SELECT * FROM wh1.identify").get(0);
      assertEquals("pro", i.get("plan"));
      assertEquals(3L, i.get("seats"));

      // a new property adds a column; a value of another type than its column stays in extra, and the batch succeeds
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(List.of(
          event(3, "m3", "{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"price\":\"cheap\",\"coupon\":\"X\"}}"),
          event(4, "m4", "{\"type\":\"track\",\"event\":\"Order Completed\",\"properties\":{\"price\":7.5}}")), null)));
      Map<String, Object> m3 = rows("SELECT * FROM wh1.track WHERE message_id = 'm3'").get(0);
      assertNull(m3.get("price"));
      assertEquals("X", m3.get("coupon"));
      assertTrue(String.valueOf(m3.get("extra")).contains("\"price\": \"cheap\""), String.valueOf(m3.get("extra")));
      Map<String, Object> m4 = rows("SELECT * FROM wh1.track WHERE message_id = 'm4'").get(0);
      assertNull(m4.get("price"), "7.5 does not fit the bigint column");
      assertTrue(String.valueOf(m4.get("extra")).contains("7.5"));

      // redelivery (at-least-once) inserts nothing twice
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(List.of(event(1, "m1", "{\"type\":\"track\"}"),
          event(3, "m3", "{\"type\":\"track\"}")), null)));
      assertEquals(3, rows("SELECT * FROM wh1.track").size());
      assertEquals("Order Completed", rows("SELECT * FROM wh1.track WHERE message_id = 'm1'").get(0).get("event"));
    } finally {
      await(client.close());
    }
  }

  @Test
  void twoWritersThatAddTheSameColumnWithDifferentTypesBothSucceed() throws Exception {
    DestinationClient a = client("wh2", Map.of());
    DestinationClient b = client("wh2", Map.of());
    try {
      Future<DeliveryResult> fa = a.deliver(List.of(event(1, "a1", "{\"type\":\"page\",\"properties\":{\"n\":1}}")), null);
      Future<DeliveryResult> fb = b.deliver(List.of(event(2, "b1", "{\"type\":\"page\",\"properties\":{\"n\":\"one\"}}")), null);
      assertSame(DeliveryResult.DELIVERED, await(fa));
      assertSame(DeliveryResult.DELIVERED, await(fb));
      assertEquals(2, rows("SELECT * FROM wh2.page").size());
    } finally {
      await(a.close());
      await(b.close());
    }
  }

  @Test
  void aDatabaseThatIsDownIsRetryable() throws Exception {
    DestinationClient client = new PostgresDestination().open(new DestinationContext(vertx, new Destination("wh",
        "postgres", true, List.of(), Map.of("url", "postgresql://x@127.0.0.1:1/db", "timeoutMs", 1000)), 4, LOOPBACK,
        Clock.systemUTC(), Map.of()));
    try {
      DeliveryResult r = await(client.deliver(List.of(event(1, "m", "{\"type\":\"track\"}")), null));
      assertInstanceOf(DeliveryResult.Retryable.class, r, r.toString());
    } finally {
      await(client.close());
    }
  }

  @Test
  void everyBadFieldIsNamedAndTheEgressPolicyAppliesToTheHost() throws Exception {
    ConfigReader reader = ConfigReader.of(new Destination("wh", "postgres", true, List.of(), Map.of(
        "url", "mysql://h/db", "schema", "Bad-Schema", "timeoutMs", 0, "batch", Map.of("maxEvents", 0, "x", 1))));
    new PostgresDestination().validate(reader, LOOPBACK);
    List<String> p = reader.problems();
    assertEquals(5, p.size(), p.toString());
    assertTrue(p.get(0).startsWith("destinations[wh].config.url: not a PostgreSQL connection URI"), p.toString());
    assertTrue(p.contains("destinations[wh].config.schema: 'Bad-Schema' is not a lower-case identifier (letters, digits, '_', at most 63)"), p.toString());
    assertTrue(p.contains("destinations[wh].config.timeoutMs: must be in 1000..600000, got 0"), p.toString());
    assertTrue(p.contains("destinations[wh].config.batch.maxEvents: must be in 1..10000, got 0"), p.toString());
    ConfigReader denied = ConfigReader.of(new Destination("wh", "postgres", true, List.of(),
        Map.of("url", "postgresql://u@127.0.0.1:5432/db")));
    new PostgresDestination().validate(denied, EgressPolicy.defaults());
    assertEquals(1, denied.problems().size(), denied.problems().toString());
    assertTrue(denied.problems().get(0).startsWith("destinations[wh].config.url: the egress policy denies 127.0.0.1"));
    // a host name is checked when it is resolved, before connecting
    DestinationClient client = new PostgresDestination().open(new DestinationContext(vertx, new Destination("wh",
        "postgres", true, List.of(), Map.of("url", "postgresql://u@localhost:5432/db")), 4, EgressPolicy.defaults(),
        Clock.systemUTC(), Map.of()));
    DeliveryResult r = await(client.deliver(List.of(event(1, "m", "{\"type\":\"track\"}")), null));
    DeliveryResult.Rejected rejected = assertInstanceOf(DeliveryResult.Rejected.class, r);
    assertTrue(rejected.error().startsWith("the egress policy denies localhost"), rejected.error());
    await(client.close());
  }
}
