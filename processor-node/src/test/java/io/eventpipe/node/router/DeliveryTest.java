package io.eventpipe.node.router;

import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.testing.ManualClock;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** Fan-out and delivery end to end (gw -> processor -> rt -> router -> HTTP), on a real PostgreSQL and real HTTP. */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DeliveryTest {

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
  void everyUsersEventsArriveInOrderAtEveryDestinationDespiteTransientFailures() {
    int users = 2000;
    int perUser = 5;
    // "one": an event per request, 5% of requests fail with 503 and are retried (short real backoff);
    // "many": batches of up to 50 events per request
    String yaml = Workspaces.of(
        webhook("one", "{\"url\": \"" + sink.url("/one") + "\", \"retry\": {\"initialBackoffMs\": 5, \"maxBackoffMs\": 20}}"),
        webhook("many", "{\"url\": \"" + sink.url("/many") + "\", \"batch\": {\"maxEvents\": 50}}"));
    sink.behave((path, events) -> path.equals("/one") && ThreadLocalRandom.current().nextInt(100) < 5
        ? Sink.Reply.status(503, "try later") : Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "order", Clock.systemUTC(), yaml)) {
      node.start();
      long started = System.nanoTime();
      node.ingest(node.users("web", "u", users, perUser));
      Sink.Endpoint one = sink.endpoint("/one");
      Sink.Endpoint many = sink.endpoint("/many");
      long total = (long) users * perUser;
      eventually("all events accepted by both destinations", () -> one.acceptedEvents.get() >= total
          && many.acceptedEvents.get() >= total && one.accepted.delivered() == total && many.accepted.delivered() == total,
          () -> "one=" + one.accepted.delivered() + " many=" + many.accepted.delivered());
      double seconds = (System.nanoTime() - started) / 1e9;
      System.out.printf("delivered %d events to 2 destinations in %.2f s (%.0f deliveries/s); one: %d requests,"
          + " %d redeliveries; many: %d requests%n", total, seconds, 2 * total / seconds, one.requests.get(),
          one.received.duplicates(), many.requests.get());

      Map<String, Long> expected = new HashMap<>();
      for (int u = 0; u < users; u++) {
        expected.put("u" + u, (long) perUser);
      }
      one.received.assertComplete(expected);
      one.accepted.assertComplete(expected);
      many.received.assertComplete(expected);
      many.accepted.assertComplete(expected);
      assertEquals(0, many.received.duplicates(), "nothing failed, so nothing was sent twice");
      assertTrue(one.requests.get() > total, "some requests failed and were retried");

      // each single-event request carried its messageId and the configured content type
      Map<String, String> headers = one.headers.peek();
      assertNotNull(headers.get("x-message-id"));
      assertEquals("application/json", headers.get("content-type"));

      eventually("all outcomes written", () -> node.pending("one") == 0 && node.pending("many") == 0);
      assertEquals(total, (long) node.registry.get("router.delivered").tag("destination", "one").counter().count());
      assertEquals(total, node.count("SELECT count(*) FROM {rt}.job_state WHERE destination_id = 'many' AND state = "
          + JobState.SUCCEEDED.code()));
      assertTrue(node.registry.get("router.failed").tag("destination", "one").counter().count() > 0);
    }
  }

  /**
   * Issue 14 end to end: source {@code app} sends events with the messageIds (and users) of source {@code web}'s
   * events. Dedup is per source, so both sources' events are stored and delivered, once each, and each source's SDK
   * retries stay duplicates.
   */
  @Test
  void aSourceReusingAnotherSourcesMessageIdsIsDeliveredAndBothSourcesRetriesStayDeduplicated() {
    sink.behave((path, events) -> Sink.Reply.OK);
    String yaml = Workspaces.of(
        webhook("from-web", "web", true, "{\"url\": \"" + sink.url("/from-web") + "\"}"),
        webhook("from-app", "app", true, "{\"url\": \"" + sink.url("/from-app") + "\"}"));
    try (NodeFixture node = new NodeFixture(db, "bysource", Clock.systemUTC(), yaml)) {
      node.start();
      int users = 1000;
      int perUser = 3;
      node.ingest(node.users("web", "u", users, perUser));
      node.ingest(node.users("app", "u", users, perUser)); // web's messageIds for web's users
      node.ingest(node.users("web", "u", users, perUser)); // both SDKs retry everything
      node.ingest(node.users("app", "u", users, perUser));
      Sink.Endpoint web = sink.endpoint("/from-web");
      Sink.Endpoint app = sink.endpoint("/from-app");
      long total = (long) users * perUser;
      eventually("both sources' events delivered", () -> web.accepted.delivered() == total && app.accepted.delivered() == total,
          () -> "web=" + web.accepted.delivered() + " app=" + app.accepted.delivered());
      eventually("all outcomes written", () -> node.pending("from-web") == 0 && node.pending("from-app") == 0);
      Map<String, Long> expected = new HashMap<>();
      for (int u = 0; u < users; u++) {
        expected.put("u" + u, (long) perUser);
      }
      web.received.assertComplete(expected);
      app.received.assertComplete(expected);
      assertEquals(0, web.received.duplicates() + app.received.duplicates(), "the retries were not stored again");
    }
  }

  @Test
  void aFailingUserBlocksOnlyItselfAndAHangingDestinationOnlyItself() {
    ManualClock clock = new ManualClock();
    String yaml = Workspaces.of(
        webhook("a", "{\"url\": \"" + sink.url("/iso-a") + "\"}"),
        webhook("b", "{\"url\": \"" + sink.url("/iso-b") + "\", \"timeoutMs\": 300}"));
    boolean[] healed = new boolean[1];
    sink.behave((path, events) -> {
      if (healed[0]) {
        return Sink.Reply.OK;
      }
      if (path.equals("/iso-b")) {
        return Sink.Reply.hang();
      }
      return path.equals("/iso-a") && Sink.user(events.get(0)).equals("bad") ? Sink.Reply.status(500, "boom") : Sink.Reply.OK;
    });
    try (NodeFixture node = new NodeFixture(db, "iso", clock, yaml)) {
      node.start();
      List<io.eventpipe.jobsdb.NewJob> jobs = new java.util.ArrayList<>();
      for (int s = 1; s <= 3; s++) {
        jobs.add(node.event("web", "bad", s));
        for (int u = 0; u < 200; u++) {
          jobs.add(node.event("web", "u" + u, s));
        }
      }
      node.ingest(jobs);
      Sink.Endpoint a = sink.endpoint("/iso-a");
      Sink.Endpoint b = sink.endpoint("/iso-b");
      eventually("every good user's events at a, while b hangs", () -> a.accepted.delivered() == 600,
          () -> "a accepted " + a.accepted.delivered());
      assertEquals(0, b.accepted.delivered());
      assertEquals(1, a.attempts("bad-1"), "the failing user's first event was tried once (the clock stands still)");
      assertEquals(0, a.attempts("bad-2"), "and its next events wait behind it");
      eventually("bad-1's failure is recorded", () -> node.job("a", "bad-1").state() == JobState.FAILED.code());
      NodeFixture.JobRow bad = node.job("a", "bad-1");
      assertEquals(1, bad.attempts());
      assertEquals("HTTP 500: boom", bad.lastError());
      assertEquals(clock.instant(), bad.firstAttemptAt());
      assertFalse(bad.nextRetryAt().isBefore(clock.instant().plusMillis(500)), "backoff >= half the initial 1 s");
      assertFalse(bad.nextRetryAt().isAfter(clock.instant().plusSeconds(1)));
      eventually("b's requests time out and wait for their retry",
          () -> node.job("b", "u0-1").state() == JobState.FAILED.code());
      assertTrue(node.job("b", "u0-1").lastError().startsWith("timeout"), node.job("b", "u0-1").lastError());

      // the destinations recover and time passes: everything arrives, in order
      healed[0] = true;
      // requests still hanging time out and are scheduled after the current time: let time keep passing
      eventually("all delivered", () -> clock.advance(Duration.ofSeconds(10)) != null
          && a.accepted.delivered() == 603 && b.accepted.delivered() == 603,
          () -> "a " + a.accepted.delivered() + ", b " + b.accepted.delivered());
      Map<String, Long> expected = new HashMap<>();
      expected.put("bad", 3L);
      for (int u = 0; u < 200; u++) {
        expected.put("u" + u, 3L);
      }
      a.received.assertComplete(expected);
      b.received.assertComplete(expected);
      a.accepted.assertComplete(expected);
      b.accepted.assertComplete(expected);
      eventually("bad-1 succeeded on its second attempt", () -> node.job("a", "bad-1").state() == JobState.SUCCEEDED.code());
      assertEquals(2, node.job("a", "bad-1").attempts());
    }
  }

  @Test
  void retriesAreRecordedAndAJobIsAbortedOnlyAfterBothItsAttemptsAndItsWindowPass() {
    ManualClock clock = new ManualClock();
    Instant t0 = clock.instant();
    String yaml = Workspaces.of(webhook("r", "{\"url\": \"" + sink.url("/retry") + "\", \"rateLimit\": {\"eventsPerSecond\": 1000},"
        + " \"retry\": {\"maxAttempts\": 3, \"maxWindowSeconds\": 60, \"initialBackoffMs\": 1000, \"maxBackoffMs\": 1000}}"));
    boolean[] throttling = {true};
    sink.behave((path, events) -> {
      String id = events.get(0).getString("messageId");
      switch (id) {
        case "flaky-1": return Sink.Reply.status(503, "upstream down");
        case "bad-1": return Sink.Reply.status(400, "bad payload");
        case "busy-1": return throttling[0] ? new Sink.Reply(429, Map.of("Retry-After", "120"), "slow down", 0) : Sink.Reply.OK;
        default: return Sink.Reply.OK;
      }
    });
    try (NodeFixture node = new NodeFixture(db, "retry", clock, yaml)) {
      node.start();
      node.ingest(node.event("web", "flaky", 1), node.event("web", "bad", 1), node.event("web", "busy", 1),
          node.event("web", "flaky", 2), node.event("web", "bad", 2), node.event("web", "busy", 2));
      Sink.Endpoint ep = sink.endpoint("/retry");

      // 400: aborted at once, and the user's next event goes on
      eventually("bad-2 delivered after bad-1 was aborted", () -> ep.attempts("bad-2") == 1);
      eventually("outcomes written", () -> node.job("r", "bad-1").state() == JobState.ABORTED.code()
          && node.job("r", "flaky-1").state() == JobState.FAILED.code() && node.job("r", "busy-1").state() == JobState.FAILED.code());
      NodeFixture.JobRow bad = node.job("r", "bad-1");
      assertEquals(1, bad.attempts());
      assertEquals("HTTP 400: bad payload", bad.lastError());

      // 503: failed, with its attempt, first attempt time, next retry and error
      NodeFixture.JobRow flaky = node.job("r", "flaky-1");
      assertEquals(1, flaky.attempts());
      assertEquals(t0, flaky.firstAttemptAt());
      assertEquals("HTTP 503: upstream down", flaky.lastError());
      assertFalse(flaky.nextRetryAt().isBefore(t0.plusMillis(500)) || flaky.nextRetryAt().isAfter(t0.plusSeconds(1)),
          flaky.nextRetryAt().toString());
      assertEquals(0, ep.attempts("flaky-2"));

      // 429 with Retry-After: 120 s outweighs the 1 s backoff; the rate limit halves
      NodeFixture.JobRow busy = node.job("r", "busy-1");
      assertEquals(t0.plusSeconds(120), busy.nextRetryAt());
      assertEquals("HTTP 429: slow down", busy.lastError());
      assertEquals(500.0, node.registry.get("router.rate.limit").tag("destination", "r").gauge().value());

      // attempts 2 and 3 within the 60 s window: still retried
      clock.advance(Duration.ofSeconds(2));
      eventually("second attempt", () -> node.job("r", "flaky-1").attempts() == 2);
      eventually("the gauges show the backlog and its age", () -> gauge(node, "router.pending.jobs", "r") == 4
          && gauge(node, "router.oldest.pending.age.seconds", "r") == 2.0);
      clock.advance(Duration.ofSeconds(2));
      eventually("third attempt", () -> node.job("r", "flaky-1").attempts() == 3);
      assertEquals(JobState.FAILED.code(), node.job("r", "flaky-1").state(), "3 attempts but only 4 s of the 60 s window");
      assertEquals(1, ep.attempts("busy-1"), "busy-1 waits for its Retry-After");
      assertEquals(0, ep.attempts("flaky-2"));

      // past the window: the fourth failure aborts, and the user's next event goes on
      clock.advance(Duration.ofSeconds(61));
      eventually("flaky-1 aborted", () -> node.job("r", "flaky-1").state() == JobState.ABORTED.code());
      assertEquals(4, node.job("r", "flaky-1").attempts());
      assertEquals("HTTP 503: upstream down", node.job("r", "flaky-1").lastError());
      eventually("flaky-2 delivered", () -> ep.attempts("flaky-2") == 1);

      throttling[0] = false;
      clock.advance(Duration.ofSeconds(60));
      eventually("busy-1 and busy-2 delivered after the Retry-After", () -> ep.attempts("busy-2") == 1);
      eventually("busy-1 succeeded", () -> node.job("r", "busy-1").state() == JobState.SUCCEEDED.code());
      assertEquals(2, node.job("r", "busy-1").attempts());

      List<Job> aborted = await(node.rt.listAborted("r", Long.MIN_VALUE, 10));
      assertEquals(List.of("flaky-1", "bad-1"), aborted.stream().map(Job::messageId).sorted(java.util.Comparator.reverseOrder()).toList());
      assertEquals(2.0, node.registry.get("router.aborted").tag("destination", "r").counter().count());
      assertEquals(List.of(), ep.received.violations());
    }
  }

  @Test
  void configurationChangesAddDisableAndRemoveDestinationsLive() {
    ManualClock clock = new ManualClock();
    String a = "{\"url\": \"" + sink.url("/cfg-a") + "\"}";
    String b = "{\"url\": \"" + sink.url("/cfg-b") + "\"}";
    Map<String, Sink.Reply> replies = new java.util.concurrent.ConcurrentHashMap<>();
    sink.behave((path, events) -> replies.getOrDefault(path, Sink.Reply.OK));
    Sink.Endpoint ea = sink.endpoint("/cfg-a");
    Sink.Endpoint eb = sink.endpoint("/cfg-b");
    try (NodeFixture node = new NodeFixture(db, "cfg", clock, Workspaces.of(webhook("a", a)))) {
      node.start();
      node.ingest(node.users("web", "p1-", 10, 1));
      eventually("a gets phase 1", () -> ea.accepted.delivered() == 10);

      // 1. a new destination gets a worker and receives new events
      node.config(Workspaces.of(webhook("a", a), webhook("b", b)));
      node.ingest(node.users("web", "p2-", 10, 1));
      eventually("a and b get phase 2", () -> ea.accepted.delivered() == 20 && eb.accepted.delivered() == 10);

      // 2. a disabled destination stops; what it had pending stays pending, and it gets no new events
      replies.put("/cfg-a", Sink.Reply.hang());
      node.ingest(node.users("web", "p3-", 10, 1));
      eventually("a has requests in flight, b got phase 3", () -> ea.events.get() >= 21 && eb.accepted.delivered() == 20);
      node.config(Workspaces.of(webhook("a", "web", false, a), webhook("b", b)));
      assertEquals(Router.DestinationStatus.DISABLED, node.router.status().get("a").state());
      assertEquals(10, node.pending("a"), "phase 3 stays pending for the disabled destination");
      node.ingest(node.users("web", "p4-", 10, 1));
      eventually("b gets phase 4", () -> eb.accepted.delivered() == 30);
      assertEquals(10, node.pending("a"));
      assertEquals(20, ea.accepted.delivered());

      // enabled again, a delivers what waited
      replies.remove("/cfg-a");
      node.config(Workspaces.of(webhook("a", a), webhook("b", b)));
      eventually("a delivers phase 3", () -> ea.accepted.delivered() == 30, () -> "a " + ea.accepted.delivered());

      // 3. a removed destination's pending jobs are aborted with the reason
      replies.put("/cfg-b", Sink.Reply.status(503, "down"));
      node.ingest(node.users("web", "p5-", 10, 1));
      eventually("b's phase 5 failed once", () -> eb.events.get() >= 40);
      node.config(Workspaces.of(webhook("a", a)));
      assertEquals(0, node.pending("b"));
      List<Job> aborted = await(node.rt.listAborted("b", Long.MIN_VALUE, 100));
      assertEquals(10, aborted.size());
      for (Job j : aborted) {
        assertEquals(Router.REMOVED_REASON, j.lastError());
        assertTrue(j.messageId().startsWith("p5-"), j.messageId());
      }
      assertNull(node.router.status().get("b"));
      assertTrue(node.registry.find("router.delivered").tag("destination", "b").counters().isEmpty(), "b's meters are gone");
      eventually("a gets phase 5", () -> ea.accepted.delivered() == 40);
      assertEquals(List.of(), ea.received.violations());
    }
  }

  @Test
  void jobsOfADestinationTheWorkspaceDoesNotDefineYetWaitInsteadOfBeingAborted() throws Exception {
    // as a migration copies them in from a node whose workspace reloaded first
    try (NodeFixture node = new NodeFixture(db, "ghost", Clock.systemUTC(), Workspaces.of(webhook("known", "{\"url\": \"" + sink.url("/known") + "\"}")))) {
      node.start();
      List<io.eventpipe.jobsdb.NewJob> copied = new java.util.ArrayList<>();
      for (int i = 1; i <= 5; i++) {
        io.eventpipe.jobsdb.NewJob e = node.event("web", "g", i);
        copied.add(new io.eventpipe.jobsdb.NewJob(e.partitionId(), e.routingKey(), e.sourceId(), "later", e.messageId(),
            e.receivedAt(), e.payload()));
      }
      await(node.rt.store(copied));
      Thread.sleep(1000); // several gauge refreshes (every 200 ms here), which abort the jobs of removed destinations
      assertEquals(5, node.pending("later"), "the jobs wait for the destination");
      assertTrue(await(node.rt.listAborted("later", Long.MIN_VALUE, 10)).isEmpty());
      node.config(Workspaces.of(webhook("known", "{\"url\": \"" + sink.url("/known") + "\"}"),
          webhook("later", "{\"url\": \"" + sink.url("/later") + "\"}")));
      eventually("the destination, once defined, gets them in order", () -> sink.endpoint("/later").accepted.delivered("g") == 5);
    }
  }

  @Test
  void aFailingUserWith5000PendingEventsAheadOf300OthersBlocksOnlyItself() {
    ManualClock clock = new ManualClock(); // stands still: the failing user's retry never comes due
    String yaml = Workspaces.of(webhook("hol", "{\"url\": \"" + sink.url("/hol") + "\"}"));
    sink.behave((path, events) -> path.equals("/hol") && Sink.user(events.get(0)).equals("bad")
        ? Sink.Reply.status(503, "down for bad") : Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "hol", clock, yaml)) {
      node.start();
      List<io.eventpipe.jobsdb.NewJob> jobs = new java.util.ArrayList<>();
      for (int s = 1; s <= 5000; s++) {
        jobs.add(node.event("web", "bad", s));
      }
      jobs.addAll(node.users("web", "u", 300, 3));
      node.ingest(jobs);
      Sink.Endpoint ep = sink.endpoint("/hol");
      eventually("all 300 other users delivered while bad's first event waits for its retry",
          () -> ep.accepted.delivered() == 900, () -> "delivered " + ep.accepted.delivered());
      Map<String, Long> expected = new HashMap<>();
      for (int u = 0; u < 300; u++) {
        expected.put("u" + u, 3L);
      }
      ep.accepted.assertComplete(expected);
      assertEquals(List.of(), ep.received.violations());
      assertEquals(1, ep.attempts("bad-1"));
      assertEquals(0, ep.attempts("bad-2"), "bad's later events wait behind its failed one");
    }
  }

  @Test
  void aRejectedOrFailingEventInABatchHurtsOnlyItsOwnUser() {
    ManualClock clock = new ManualClock();
    String yaml = Workspaces.of(webhook("bi", "{\"url\": \"" + sink.url("/batch-iso") + "\", \"batch\": {\"maxEvents\": 50}}"));
    sink.behave((path, events) -> {
      if (!path.equals("/batch-iso")) {
        return Sink.Reply.OK;
      }
      if (events.stream().anyMatch(e -> e.getString("messageId").equals("poison-1"))) {
        return Sink.Reply.status(400, "poison-1 is invalid");
      }
      return events.stream().anyMatch(e -> Sink.user(e).equals("flaky")) ? Sink.Reply.status(503, "flaky") : Sink.Reply.OK;
    });
    try (NodeFixture node = new NodeFixture(db, "batchiso", clock, yaml)) {
      node.start();
      List<io.eventpipe.jobsdb.NewJob> jobs = new java.util.ArrayList<>();
      for (int s = 1; s <= 3; s++) {
        jobs.add(node.event("web", "poison", s));
        jobs.add(node.event("web", "flaky", s));
        for (int u = 0; u < 40; u++) {
          jobs.add(node.event("web", "u" + u, s));
        }
      }
      node.ingest(jobs);
      String states = "SELECT count(*) FROM {rt}.job_state s JOIN {rt}.jobs j ON j.job_id = s.job_id"
          + " WHERE s.destination_id = 'bi' AND ";
      eventually("every innocent event and poison's valid ones succeeded, poison-1 aborted, flaky failed",
          () -> node.count(states + "s.state = 3") == 122 && node.count(states + "s.state = 4") == 1
              && node.count(states + "s.state = 2") >= 1,
          () -> "succeeded " + node.count(states + "s.state = 3"));
      assertEquals(JobState.ABORTED.code(), node.job("bi", "poison-1").state());
      assertEquals("HTTP 400: poison-1 is invalid", node.job("bi", "poison-1").lastError());
      assertEquals(0, node.count(states + "s.state = 2 AND j.routing_key <> 'flaky'"), "only flaky is backed off");
      assertEquals(0, node.count(states + "j.routing_key NOT IN ('poison', 'flaky') AND (s.state <> 3 OR s.attempts <> 1)"),
          "no innocent user got a failure, an abort or a retry");
      assertEquals(List.of(), sink.endpoint("/batch-iso").received.violations());
    }
  }

  @Test
  void aReplayedEventGoesBeforeItsUsersLaterEventsAlreadyQueuedInMemory() {
    ManualClock clock = new ManualClock();
    String yaml = Workspaces.of(webhook("rp", "{\"url\": \"" + sink.url("/replay") + "\"}"));
    List<String> order = new java.util.concurrent.CopyOnWriteArrayList<>();
    boolean[] rejecting = {true};
    sink.behave((path, events) -> {
      if (!path.equals("/replay")) {
        return Sink.Reply.OK;
      }
      String id = events.get(0).getString("messageId");
      order.add(id);
      if (id.equals("r-1") && rejecting[0]) {
        return Sink.Reply.status(400, "not yet");
      }
      // r-2 is answered slowly, so that r-3..r-5 sit in the worker's memory while r-1 is replayed
      return id.equals("r-2") ? new Sink.Reply(200, Map.of(), "{}", 3000) : Sink.Reply.OK;
    });
    try (NodeFixture node = new NodeFixture(db, "replayorder", clock, yaml)) {
      node.start();
      List<io.eventpipe.jobsdb.NewJob> jobs = new java.util.ArrayList<>();
      for (int s = 1; s <= 5; s++) {
        jobs.add(node.event("web", "r", s));
      }
      node.ingest(jobs);
      eventually("r-1 aborted and r-2 in flight", () -> order.contains("r-2")
          && node.job("rp", "r-1").state() == JobState.ABORTED.code());
      rejecting[0] = false;
      assertEquals(1, (int) await(node.rt.replayAborted("rp", io.eventpipe.jobsdb.ReplayFilter.all())));
      node.router.replayed("rp");
      eventually("all of r delivered", () -> order.contains("r-5") && order.size() == 6, order::toString);
      assertEquals(List.of("r-1", "r-2", "r-1", "r-3", "r-4", "r-5"), order,
          "the replayed r-1 goes right after r-2, which was in flight, and before r-3");
    }
  }

  private static double gauge(NodeFixture node, String name, String destination) {
    return node.registry.get(name).tag("destination", destination).gauge().value();
  }
}
