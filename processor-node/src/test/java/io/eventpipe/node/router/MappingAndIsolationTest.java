package io.eventpipe.node.router;

import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The router's share of the destination SPI, through the webhook integration: the mapping without code runs before
 * the integration sees an event, and a destination answering 429 beside a healthy one does not slow the healthy one.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class MappingAndIsolationTest {

  private Sink sink;
  private PgDatabase db;

  @BeforeAll
  void start(PgDatabase db) {
    this.db = db;
    sink = new Sink();
  }

  @AfterAll
  void stop() {
    sink.close();
  }

  @Test
  void theMappingRenamesDropsSetsAndFiltersBeforeTheWebhookSeesAnEvent() {
    String mapping = "\"mapping\": {\"events\": {\"deny\": [\"Debug\"]}, \"eventNames\": {\"Order Completed\": \"purchase\"},"
        + " \"rename\": {\"properties.price\": \"properties.revenue\"}, \"drop\": [\"properties.pad\"],"
        + " \"set\": {\"properties.via\": \"eventpipe\", \"context.app\": {\"name\": \"shop\"}}}";
    String yaml = Workspaces.of(webhook("mapped", "{\"url\": \"" + sink.url("/mapped") + "\", " + mapping + "}"));
    sink.behave((path, events) -> Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "mapped", Clock.systemUTC(), yaml)) {
      node.start();
      node.ingest(withPrice(node.event("web", "u1", 1)), node.event("web", "u1", 2, "track", "Debug"),
          node.event("web", "u1", 3, "identify", null));
      Sink.Endpoint ep = sink.endpoint("/mapped");
      eventually("the debug event is done without being sent, the others arrived",
          () -> succeeded(node, "mapped", "u1-2") && ep.bodies.size() == 2 && succeeded(node, "mapped", "u1-3"),
          () -> ep.bodies.toString());
      List<JsonObject> got = new ArrayList<>(ep.bodies);
      JsonObject first = got.get(0);
      assertEquals("purchase", first.getString("event"));
      assertEquals(12.5, first.getJsonObject("properties").getDouble("revenue"));
      assertNull(first.getJsonObject("properties").getValue("price"));
      assertEquals(1, first.getJsonObject("properties").getInteger("seq"));
      assertNull(first.getJsonObject("properties").getValue("pad"));
      assertEquals("eventpipe", first.getJsonObject("properties").getString("via"));
      assertEquals("shop", first.getJsonObject("context").getJsonObject("app").getString("name"));
      assertEquals("identify", got.get(1).getString("type"));
      assertEquals("u1-3", got.get(1).getString("messageId"));
      assertFalse(got.stream().anyMatch(e -> "Debug".equals(e.getString("event"))));
    }
  }

  @Test
  void aPartialResultAbortsOnlyTheEventsItNamesAndDeliversTheRestOfTheBatch() {
    String yaml = Workspaces.of(webhook("partial", "{\"url\": \"" + sink.url("/partial") + "\", \"batch\": "
        + "{\"maxEvents\": 50}, \"mapping\": {\"set\": {\"properties.via\": \"eventpipe\"}}}"));
    sink.behave((path, events) -> Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "partial", Clock.systemUTC(), yaml)) {
      node.start();
      NewJob good = node.event("web", "a", 1);
      NewJob bad = node.event("web", "b", 1);
      // stored before ingest checked payloads (or migrated in): not a JSON object, so the mapping cannot apply
      NewJob broken = new NewJob(bad.partitionId(), bad.routingKey(), bad.sourceId(), bad.destinationId(),
          bad.messageId(), bad.receivedAt(), "[1,2]".getBytes(java.nio.charset.StandardCharsets.UTF_8));
      node.ingest(good, broken, node.event("web", "a", 2), node.event("web", "b", 2));
      Sink.Endpoint ep = sink.endpoint("/partial");
      eventually("the good events delivered, the broken one aborted", () -> succeeded(node, "partial", "a-1")
          && succeeded(node, "partial", "a-2") && succeeded(node, "partial", "b-2") && node.job("partial", "b-1") != null
          && node.job("partial", "b-1").state() == JobState.ABORTED.code());
      assertEquals("mapping: the event is not a JSON object", node.job("partial", "b-1").lastError());
      assertEquals(1, node.job("partial", "b-1").attempts());
      assertEquals(3, ep.bodies.size(), ep.bodies.toString());
      assertTrue(ep.bodies.stream().allMatch(e -> "eventpipe".equals(e.getJsonObject("properties").getString("via"))));
    }
  }

  @Test
  void aDestinationAnswering429KeepsItsUsersWaitingWhileAHealthyOneDeliversEverything() {
    String yaml = Workspaces.of(
        webhook("throttled", "{\"url\": \"" + sink.url("/throttled") + "\", \"retry\": {\"initialBackoffMs\": 200}}"),
        webhook("healthy", "{\"url\": \"" + sink.url("/healthy") + "\", \"batch\": {\"maxEvents\": 50}}"));
    sink.behave((path, events) -> path.equals("/throttled")
        ? new Sink.Reply(429, Map.of("Retry-After", "30"), "slow down", 0) : Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "throttle", Clock.systemUTC(), yaml)) {
      node.start();
      int users = 300;
      int perUser = 5;
      List<NewJob> jobs = node.users("web", "u", users, perUser);
      node.ingest(jobs);
      Sink.Endpoint healthy = sink.endpoint("/healthy");
      Sink.Endpoint throttled = sink.endpoint("/throttled");
      eventually("the healthy destination has every event", () -> healthy.accepted.delivered() == users * perUser,
          () -> "healthy " + healthy.accepted.delivered());
      Map<String, Long> expected = new HashMap<>();
      for (int u = 0; u < users; u++) {
        expected.put("u" + u, (long) perUser);
      }
      healthy.accepted.assertComplete(expected);
      assertEquals(0, throttled.accepted.delivered());
      assertTrue(throttled.requests.get() <= users, "each throttled user was tried at most once (Retry-After: 30 s)"
          + " and its later events wait behind it: " + throttled.requests.get());
      eventually("the throttled first events wait for their retry", () -> node.job("throttled", "u0-1") != null
          && node.job("throttled", "u0-1").state() == JobState.FAILED.code());
      assertTrue(node.job("throttled", "u0-1").lastError().startsWith("HTTP 429"), node.job("throttled", "u0-1").lastError());
    }
  }

  private static boolean succeeded(NodeFixture node, String destination, String messageId) {
    NodeFixture.JobRow row = node.job(destination, messageId);
    return row != null && row.state() == JobState.SUCCEEDED.code();
  }

  /** {@code job} with {@code properties.price: 12.5}. */
  private static NewJob withPrice(NewJob job) {
    String payload = new String(job.payload(), java.nio.charset.StandardCharsets.UTF_8)
        .replace("\"properties\":{", "\"properties\":{\"price\":12.5,");
    return new NewJob(job.partitionId(), job.routingKey(), job.sourceId(), job.destinationId(), job.messageId(),
        job.receivedAt(), payload.getBytes(java.nio.charset.StandardCharsets.UTF_8));
  }
}
