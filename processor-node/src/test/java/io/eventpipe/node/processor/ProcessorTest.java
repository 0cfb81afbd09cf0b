package io.eventpipe.node.processor;

import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.testing.Waiting.eventually;
import static io.eventpipe.node.router.Workspaces.webhook;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.jobsdb.ReadRequest;
import io.eventpipe.testing.ManualClock;
import io.eventpipe.node.router.NodeFixture;
import io.eventpipe.node.router.Workspaces;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.TcpProxy;
import io.vertx.sqlclient.Pool;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
class ProcessorTest {

  private static final String URL = "{\"url\": \"http://127.0.0.1:9/unused\"";

  @Test
  void fansEachEventOutToTheEnabledDestinationsOfItsSourceThroughTheirFilters(PgDatabase db) {
    String yaml = Workspaces.of(
        webhook("all", "web", true, URL + "}"),
        webhook("tracks", "web", true, URL + ", \"eventTypes\": {\"allow\": [track]}, \"eventNames\": {\"deny\": [Ignored]}}"),
        webhook("noPages", "web, app", true, URL + ", \"eventTypes\": {\"deny\": [page]}}"),
        webhook("disabled", "web", false, URL + "}"),
        webhook("appOnly", "app", true, URL + "}"));
    try (NodeFixture node = new NodeFixture(db, "fan", new ManualClock(), yaml)) {
      List<NewJob> events = List.of(
          node.event("web", "w", 1, "track", "Order Completed"),
          node.event("web", "w", 2, "track", "Ignored"),
          node.event("web", "w", 3, "identify", null),
          node.event("web", "w", 4, "page", null),
          node.event("app", "m", 1, "page", null),
          node.event("app", "m", 2, "track", "Order Completed"),
          node.event("nowhere", "n", 1, "track", "Order Completed"));
      node.ingest(events);
      node.startProcessor(node.pool, ProcessorOptions.defaults().withIdlePoll(Duration.ofMillis(10)));
      eventually("every event of a known source handled", () -> node.count("SELECT count(*) FROM {gw}.job_state WHERE state = 3") == 6);

      assertEquals(List.of("w-1", "w-2", "w-3", "w-4"), messageIds(node, "all"));
      assertEquals(List.of("w-1"), messageIds(node, "tracks"));
      assertEquals(List.of("w-1", "w-2", "w-3", "m-2"), messageIds(node, "noPages"));
      assertEquals(List.of(), messageIds(node, "disabled"));
      assertEquals(List.of("m-1", "m-2"), messageIds(node, "appOnly"));
      assertEquals(1, node.count("SELECT count(*) FROM {gw}.job_state WHERE state = 2"), "the unknown source's event waits");

      // an rt job is the event as ingested, for one destination
      Job job = await(node.rt.readPending(new ReadRequest("all", 1, 1 << 20, 1, node.clock.instant()))).get(0);
      NewJob in = events.get(0);
      assertArrayEquals(in.payload(), job.payload());
      assertEquals(in.messageId(), job.messageId());
      assertEquals(in.routingKey(), job.routingKey());
      assertEquals(in.partitionId(), job.partitionId());
      assertEquals(in.receivedAt(), job.receivedAt());
      assertEquals("web", job.sourceId());
      assertEquals(2.0, node.registry.get("processor.filtered.events").tag("destination", "noPages").counter().count());
    }
  }

  @Test
  void fanOutIsExactlyOnceWhenDatabaseConnectionsAreCutMidTransaction(PgDatabase db) throws Exception {
    String yaml = Workspaces.of(webhook("a", URL + "}"), webhook("b", URL + "}"));
    try (NodeFixture node = new NodeFixture(db, "cut", new ManualClock(), yaml);
        TcpProxy proxy = new TcpProxy(db.host(), db.port())) {
      int n = 5000;
      List<NewJob> events = new ArrayList<>();
      for (int i = 0; i < n; i++) {
        events.add(node.event("web", "u" + (i % 300), i / 300 + 1));
      }
      node.ingest(events);
      Pool proxied = new PgConfig(proxy.host(), proxy.port(), db.database(), db.user(), db.password()).createPool(node.vertx, 4);
      AtomicBoolean cutting = new AtomicBoolean(true);
      Thread cutter = new Thread(() -> {
        while (cutting.get()) {
          proxy.cutAll();
          try {
            Thread.sleep(15);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
      cutter.start();
      node.startProcessor(proxied, ProcessorOptions.defaults().withReadBatch(100).withDbRetry(Duration.ofMillis(5)));
      eventually("some batches were cut and rolled back, or all done",
          () -> node.registry.get("processor.batch.failures").counter().count() >= 5
              || node.count("SELECT count(*) FROM {gw}.job_state WHERE state < 3") == 0);
      cutting.set(false);
      cutter.join();
      eventually("every ingested event handled", () -> node.count("SELECT count(*) FROM {gw}.job_state WHERE state < 3") == 0);
      await(node.processor.stop());
      await(proxied.close());

      for (String d : List.of("a", "b")) {
        assertEquals(n, node.count("SELECT count(*) FROM {rt}.jobs WHERE destination_id = '" + d + "'"), d);
        assertEquals(n, node.count("SELECT count(DISTINCT message_id) FROM {rt}.jobs WHERE destination_id = '" + d + "'"), d);
      }
      // per key, rt ids follow the order of the ingested events
      assertEquals(0, node.count("SELECT count(*) FROM (SELECT message_id, job_id, lag(j.payload) OVER w AS prev, payload"
          + " FROM {rt}.jobs j WHERE destination_id = 'a' WINDOW w AS (PARTITION BY routing_key ORDER BY job_id)) x"
          + " WHERE prev IS NOT NULL AND substring(convert_from(prev, 'UTF8') from '\"seq\":([0-9]+)')::int"
          + " > substring(convert_from(payload, 'UTF8') from '\"seq\":([0-9]+)')::int"));
      assertTrue(node.registry.get("processor.batch.failures").counter().count() >= 1, "the cuts hit transactions");
    }
  }

  /**
   * Issue 9: a proxy whose workspace reloaded first forwards events of a source this node does not know yet. They were
   * marked succeeded with no destination (dropped); they must stay pending, without holding up other sources' users,
   * and fan out, in order, once this node's workspace knows the source.
   */
  @Test
  void eventsOfASourceTheNodeDoesNotKnowYetWaitForItWithoutBlockingOthers(PgDatabase db) {
    String sources = Workspaces.LOOPBACK_ALLOWED + "sources:\n  - {id: web, writeKey: wk-web-000000000001}\n";
    String later = "  - {id: late, writeKey: wk-late-00000000001}\n";
    String before = sources + "destinations:\n" + webhook("d", "web", true, URL + "}") + "\n";
    String after = sources + later + "destinations:\n" + webhook("d", "web, late", true, URL + "}") + "\n";
    ManualClock clock = new ManualClock();
    try (NodeFixture node = new NodeFixture(db, "unknown", clock, before)) {
      // more of them than one oldest-first read looks at, ahead of the known source's events
      List<NewJob> events = new ArrayList<>(node.users("late", "l", 10, 3));
      events.addAll(node.users("web", "w", 50, 2));
      node.ingest(events);
      node.startProcessor(node.pool, ProcessorOptions.defaults().withReadBatch(10).withIdlePoll(Duration.ofMillis(10)));

      eventually("the known source's events, stored after the unknown ones, are fanned out",
          () -> node.count("SELECT count(*) FROM {rt}.jobs WHERE source_id = 'web'") == 100);
      // each user's first event waits for a retry; the user's later events wait behind it, unread
      eventually("the unknown source's events were seen", () -> node.count(
          "SELECT count(*) FROM {gw}.job_state s JOIN {gw}.jobs j USING (job_id) WHERE j.source_id = 'late' AND s.attempts > 0") == 10);
      assertEquals(30, node.count("SELECT count(*) FROM {gw}.job_state s JOIN {gw}.jobs j USING (job_id)"
          + " WHERE j.source_id = 'late' AND s.state < 3"), "kept pending, not dropped");
      assertEquals(0, node.count("SELECT count(*) FROM {rt}.jobs WHERE source_id = 'late'"));
      assertEquals(10.0, node.registry.get("processor.unknown.source.events").tag("source", "late").counter().count());

      node.config(after);
      clock.advance(Duration.ofMinutes(1));
      node.processor.wake();
      eventually("fanned out once the workspace knows the source",
          () -> node.count("SELECT count(*) FROM {rt}.jobs WHERE source_id = 'late'") == 30);
      assertEquals(0, node.count("SELECT count(*) FROM {gw}.job_state WHERE state < 3"));
      // per key, in the order ingested
      assertEquals(0, node.count("SELECT count(*) FROM (SELECT job_id, lag(message_id) OVER w AS prev, message_id"
          + " FROM {rt}.jobs WINDOW w AS (PARTITION BY routing_key ORDER BY job_id)) x WHERE prev > message_id"));
      assertEquals(10.0, node.registry.get("processor.unknown.source.events").tag("source", "late").counter().count(),
          "each event counted once");
    }
  }

  private static List<String> messageIds(NodeFixture node, String destination) {
    List<Job> jobs = await(node.rt.readPending(new ReadRequest(destination, 100, 1 << 20, 100, node.clock.instant())));
    List<String> out = new ArrayList<>();
    for (Job j : jobs) {
      out.add(j.messageId());
    }
    return out;
  }

  @Test
  void filtersFollowTheWorkspaceRules() {
    io.eventpipe.workspace.Destination d = new io.eventpipe.workspace.Destination("d", "webhook", true, List.of("web"), Map.of(
        "eventTypes", Map.of("allow", List.of("track", "identify")),
        "eventNames", Map.of("allow", List.of("A", "B"), "deny", List.of("B"))));
    EventFilter f = EventFilter.of(d);
    assertTrue(f.test("track", "A"));
    assertTrue(!f.test("track", "B"), "deny wins over allow");
    assertTrue(!f.test("track", "C"));
    assertTrue(!f.test("track", null), "a track event without a name is not in an allow list");
    assertTrue(f.test("identify", null), "names only filter track events");
    assertTrue(!f.test("page", null));
    assertTrue(!f.test(null, null));
    assertTrue(EventFilter.of(new io.eventpipe.workspace.Destination("e", "webhook", true, List.of(), Map.of())).passesAll());

    var bad = new io.eventpipe.workspace.Destination("x", "webhook", true, List.of(), Map.of(
        "eventTypes", Map.of("allow", "track", "permit", List.of())));
    var e = org.junit.jupiter.api.Assertions.assertThrows(io.eventpipe.workspace.InvalidDestinationConfigException.class,
        () -> EventFilter.of(bad));
    assertEquals(2, e.problems().size(), e.problems().toString());
    assertTrue(e.getMessage().contains("destinations[x].config.eventTypes.allow: must be a list of strings"), e.getMessage());
    assertTrue(e.getMessage().contains("destinations[x].config.eventTypes.permit: unknown setting"), e.getMessage());

    byte[] payload = "{\"context\":{\"type\":\"nested\",\"a\":[1,{\"event\":\"no\"}]},\"event\":\"Signed Up\",\"type\":\"track\"}"
        .getBytes(java.nio.charset.StandardCharsets.UTF_8);
    assertEquals(new EventFields.Fields("track", "Signed Up"), EventFields.read(payload));
    assertEquals(new EventFields.Fields(null, null), EventFields.read("not json".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
  }
}
