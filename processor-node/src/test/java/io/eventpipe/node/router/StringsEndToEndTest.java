package io.eventpipe.node.router;

import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.Endpoint;
import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.RequestContext;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 14, after the edge: what the edge accepts reaches a destination exactly (fan-out and delivery), and what a
 * destination answers cannot wedge its delivery state. Real PostgreSQL, real webhook server.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class StringsEndToEndTest {

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

  /**
   * Strings at the edge's limits (tab and newline, U+001F, U+FFFF, emoji given raw and as an escaped pair, a
   * messageId '?', a routing key with a tab) go through gw, fan-out and rt to the webhook unchanged.
   */
  @Test
  void whatTheEdgeAcceptsReachesTheDestinationExactly() {
    String yaml = Workspaces.of(webhook("exact", "{\"url\": \"" + sink.url("/exact") + "\"}"));
    ConcurrentLinkedQueue<JsonObject> received = new ConcurrentLinkedQueue<>();
    sink.behave((path, events) -> {
      if (path.equals("/exact")) {
        received.addAll(events);
      }
      return Sink.Reply.OK;
    });
    String body = "{\"anonymousId\":\"a\\tb\uD83D\uDE00\",\"messageId\":\"?\",\"event\":\"Sign\\nUp \\u001f\","
        + "\"properties\":{\"seq\":1,\"v\":\"\\uFFFF \\ud83d\\ude00 \uD83D\uDE00 \\\\u0000\",\"k\\ty\":[\"\\t\"]}}";
    Event e = EventParser.create().parse(Endpoint.TRACK, body.getBytes(StandardCharsets.UTF_8),
        new RequestContext(Instant.now(), null, null)).get(0);
    try (NodeFixture node = new NodeFixture(db, "exact", Clock.systemUTC(), yaml)) {
      node.start();
      node.ingest(new NewJob(7, e.routingKey(), "web", "", e.messageId(), Instant.now(), e.payload()));
      eventually("the event is delivered", () -> received.size() == 1 && node.pending("exact") == 0);
      JsonObject got = received.peek();
      assertEquals("a\tb\uD83D\uDE00", got.getString("anonymousId"));
      assertEquals("?", got.getString("messageId"));
      assertEquals("Sign\nUp \u001f", got.getString("event"));
      assertEquals("\uFFFF \uD83D\uDE00 \uD83D\uDE00 \\u0000", got.getJsonObject("properties").getString("v"));
      assertEquals("\t", got.getJsonObject("properties").getJsonArray("k\ty").getString(0));
      assertEquals(new JsonObject(e.payloadString()), got, "the stored payload, as it was built");
      assertEquals(JobState.SUCCEEDED.code(), node.job("exact", "?").state());
    }
  }

  /**
   * A webhook answers one user's events with a 500 whose body holds a NUL byte and invalid UTF-8, beside 300 users
   * it accepts. The outcome write carrying that answer as the last error used to fail (22021) and be retried for
   * ever with the others' outcomes in it: after the destination recovered, that user was never delivered and the
   * other outcomes never recorded. Now the answer is stored escaped, everyone is delivered after recovery, and
   * nothing stays pending.
   */
  @Test
  void aDestinationAnsweringANulAndInvalidUtf8CannotWedgeItsDeliveryState() throws Exception {
    String yaml = Workspaces.of(webhook("wedge", "{\"url\": \"" + sink.url("/wedge") + "\","
        + " \"retry\": {\"initialBackoffMs\": 5, \"maxBackoffMs\": 50}}"));
    ByteArrayOutputStream answer = new ByteArrayOutputStream();
    answer.write("boom\u0000 ".getBytes(StandardCharsets.UTF_8));
    answer.write(new byte[] {(byte) 0xC3, 0x28, (byte) 0xFF, (byte) 0xED, (byte) 0xA0, (byte) 0x80});
    answer.write(" end".getBytes(StandardCharsets.UTF_8));
    AtomicBoolean recovered = new AtomicBoolean();
    sink.behave((path, events) -> path.equals("/wedge") && !recovered.get() && Sink.user(events.get(0)).equals("bad")
        ? Sink.Reply.raw(500, answer.toByteArray()) : Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "wedge", Clock.systemUTC(), yaml)) {
      node.start();
      ingestBadBeside300Users(node, "w");
      Sink.Endpoint ep = sink.endpoint("/wedge");
      eventually("the 300 other users are delivered and their outcomes recorded, while bad keeps failing",
          () -> ep.accepted.delivered() == 600 && node.pending("wedge") == 3 && ep.attempts("bad-1") >= 3,
          () -> "delivered " + ep.accepted.delivered() + ", pending " + node.pending("wedge") + ", bad-1 attempts "
              + ep.attempts("bad-1"));
      NodeFixture.JobRow failing = node.job("wedge", "bad-1");
      assertEquals(JobState.FAILED.code(), failing.state());
      assertTrue(failing.lastError().startsWith("HTTP 500: boom\\u0000 \uFFFD("), failing.lastError());
      assertTrue(failing.lastError().endsWith(" end"), failing.lastError());

      recovered.set(true);
      eventually("after recovery every user is delivered and nothing stays pending",
          () -> ep.accepted.delivered() == 603 && node.pending("wedge") == 0,
          () -> "delivered " + ep.accepted.delivered() + ", pending " + node.pending("wedge"));
      Map<String, Long> expected = new HashMap<>();
      expected.put("bad", 3L);
      for (int u = 0; u < 300; u++) {
        expected.put("w" + u, 2L);
      }
      ep.accepted.assertComplete(expected);
      assertEquals(List.of(), ep.received.violations());
      assertEquals(JobState.SUCCEEDED.code(), node.job("wedge", "bad-1").state());
    }
  }

  /**
   * Defence in depth: an outcome write that PostgreSQL refuses for one row (here a last error given a NUL on its way
   * to the real database, as an answer that escaped {@link io.eventpipe.gateway.Text#storable} would be) is split and
   * written apart, so the other rows are recorded and the row at fault is written with a placeholder error, instead
   * of the whole batch being retried for ever.
   */
  @Test
  void anOutcomeWriteThatPostgresqlRefusesIsSplitAndNeverWedgesTheWorker() {
    String yaml = Workspaces.of(webhook("split", "{\"url\": \"" + sink.url("/split") + "\","
        + " \"retry\": {\"initialBackoffMs\": 5, \"maxBackoffMs\": 50}}"));
    AtomicBoolean recovered = new AtomicBoolean();
    sink.behave((path, events) -> path.equals("/split") && !recovered.get() && Sink.user(events.get(0)).equals("bad")
        ? Sink.Reply.status(500, "down") : Sink.Reply.OK);
    java.util.concurrent.atomic.AtomicLong refusedWrites = new java.util.concurrent.atomic.AtomicLong();
    try (NodeFixture node = new NodeFixture(db, "split", Clock.systemUTC(), yaml)) {
      node.routerStore = real -> poisonFailedOutcomes(real, refusedWrites);
      node.start();
      ingestBadBeside300Users(node, "s");
      Sink.Endpoint ep = sink.endpoint("/split");
      eventually("the others' outcomes are recorded although the writes carrying bad's failure are refused",
          () -> ep.accepted.delivered() == 600 && node.pending("split") == 3 && ep.attempts("bad-1") >= 2,
          () -> "delivered " + ep.accepted.delivered() + ", pending " + node.pending("split"));
      assertTrue(refusedWrites.get() > 0, "PostgreSQL refused writes (otherwise this test proves nothing)");
      assertEquals(DestinationWorker.UNSTORABLE_ERROR, node.job("split", "bad-1").lastError());
      recovered.set(true);
      eventually("after recovery every user is delivered and nothing stays pending",
          () -> ep.accepted.delivered() == 603 && node.pending("split") == 0,
          () -> "delivered " + ep.accepted.delivered() + ", pending " + node.pending("split"));
    }
  }

  /** Three events of user "bad", then two of each of 300 users {@code prefix}0.., interleaved. */
  private static void ingestBadBeside300Users(NodeFixture node, String prefix) {
    List<NewJob> jobs = new ArrayList<>();
    for (int s = 1; s <= 3; s++) {
      jobs.add(node.event("web", "bad", s));
    }
    jobs.addAll(node.users("web", prefix, 300, 2));
    node.ingest(jobs);
  }

  /**
   * The real store, whose outcome writes give every FAILED outcome's last error a NUL: PostgreSQL (not this wrapper)
   * refuses each write that carries one. A dynamic proxy, so it follows the store's interface as it changes.
   */
  private static io.eventpipe.jobsdb.JobsDb poisonFailedOutcomes(io.eventpipe.jobsdb.JobsDb real,
      java.util.concurrent.atomic.AtomicLong refused) {
    return (io.eventpipe.jobsdb.JobsDb) java.lang.reflect.Proxy.newProxyInstance(
        io.eventpipe.jobsdb.JobsDb.class.getClassLoader(), new Class<?>[] {io.eventpipe.jobsdb.JobsDb.class},
        (proxy, method, args) -> {
          if (method.getName().equals("updateStates") && args != null) {
            for (int i = 0; i < args.length; i++) {
              if (args[i] instanceof List<?> list && !list.isEmpty() && list.get(0) instanceof io.eventpipe.jobsdb.StateUpdate) {
                List<io.eventpipe.jobsdb.StateUpdate> changed = new ArrayList<>();
                for (Object o : list) {
                  io.eventpipe.jobsdb.StateUpdate u = (io.eventpipe.jobsdb.StateUpdate) o;
                  boolean poison = u.state() == JobState.FAILED && !DestinationWorker.UNSTORABLE_ERROR.equals(u.lastError());
                  changed.add(poison ? new io.eventpipe.jobsdb.StateUpdate(u.jobId(), u.state(), u.attempts(),
                      u.firstAttemptAt(), u.nextRetryAt(), u.lastError() + "\u0000") : u);
                }
                args[i] = changed;
              }
            }
          }
          try {
            Object result = method.invoke(real, args);
            if (result instanceof io.vertx.core.Future<?> f && method.getName().equals("updateStates")) {
              f.onFailure(err -> refused.incrementAndGet());
            }
            return result;
          } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
          }
        });
  }
}
