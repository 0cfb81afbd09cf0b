package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The verifying sink and the checker's verdict against histories with known defects, delivered over real HTTP as the
 * router sends them (single events and batches, with the origin headers): a lost event, a reorder and a duplicate
 * must each be reported and fail the run; a clean history, and a redelivery after a refusal, pass.
 */
class VerifyingSinkTest extends VertxPerClass {

  private VerifyingSink sink;
  private HttpClientAgent client;
  private int port;
  private RunClock clock;
  private HistoryChecker history;
  private Timeline timeline;

  @BeforeEach
  void start() throws Exception {
    sink = new VerifyingSink(vertx, "127.0.0.1");
    port = sink.start(0).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    client = vertx.createHttpClient();
    clock = new RunClock();
    history = new HistoryChecker(clock::millis);
    timeline = new Timeline();
    sink.record(new VerifyingSink.Run("run1", history, timeline, clock));
    for (long seq = 1; seq <= 3; seq++) { // the load's side: user run1-u0's events 1..3 acknowledged
      history.sent("run1-u0", seq, "m" + seq, "request " + seq);
      history.acked("run1-u0", seq, "m" + seq, "request " + seq);
    }
  }

  @AfterEach
  void stop() throws Exception {
    client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    sink.stop().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private static JsonObject event(String user, long seq) {
    return new JsonObject().put("type", "track").put("userId", user).put("messageId", "m" + seq)
        .put("properties", new JsonObject().put("seq", seq).put("t", 0L));
  }

  /** Delivers {@code seqs} of run1-u0 from {@code node}, one request each (or one batch); returns the status. */
  private int deliver(String node, boolean batch, long... seqs) throws Exception {
    int status = 0;
    if (batch) {
      JsonArray all = new JsonArray();
      StringBuilder ids = new StringBuilder();
      for (long s : seqs) {
        all.add(event("run1-u0", s));
        ids.append(ids.length() == 0 ? "" : ",").append(100 + s);
      }
      return post(all.toBuffer(), node, ids.toString(), "1,".repeat(seqs.length - 1) + "1");
    }
    for (long s : seqs) {
      status = post(event("run1-u0", s).toBuffer(), node, String.valueOf(100 + s), "1");
    }
    return status;
  }

  private int post(Buffer body, String node, String jobIds, String attempts) throws Exception {
    return client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost("127.0.0.1").setPort(port).setURI("/events")
            .putHeader("X-Eventpipe-Node", node).putHeader("X-Eventpipe-Job-Ids", jobIds).putHeader("X-Eventpipe-Attempts", attempts))
        .compose(r -> r.send(body)).compose(r -> r.body().map(b -> r.statusCode()))
        .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  private JsonObject verdict(Scenario s) {
    return ScenarioRunner.verdict(s, history);
  }

  @Test
  void aCleanHistoryPasses() throws Exception {
    assertEquals(200, deliver("node-0", false, 1, 2));
    assertEquals(200, deliver("node-1", true, 3));
    JsonObject v = verdict(Scenario.STEADY);
    assertTrue(v.getBoolean("pass"), v.encodePrettily());
    assertEquals(3, v.getLong("eventsAckedAndDelivered"));
    assertEquals(0, v.getInteger("usersWithAnomalies"));
    assertEquals(3, timeline.deliveredEvents(), "each event's first 2xx gives its lag");
  }

  @Test
  void aLostEventIsReportedForItsUser() throws Exception {
    deliver("node-0", false, 1, 3);
    JsonObject v = verdict(Scenario.STEADY);
    assertFalse(v.getBoolean("pass"));
    assertEquals(1, v.getJsonObject("anomalies").getInteger("LOST"));
    assertEquals(1, v.getJsonObject("perUser").getJsonObject("run1-u0").getInteger("LOST"));
    assertTrue(v.getJsonArray("firstFailures").getString(0).contains("LOST run1-u0 seq 2"), v.encodePrettily());
  }

  @Test
  void aReorderIsReportedWithWhoDeliveredIt() throws Exception {
    deliver("node-0", false, 2);
    deliver("node-1", true, 1, 3);
    JsonObject v = verdict(Scenario.STEADY);
    assertFalse(v.getBoolean("pass"));
    assertEquals(1, v.getJsonObject("anomalies").getInteger("REORDERED"));
    assertTrue(v.getString("firstFailureHistory").contains("by node node-1 job 101 attempt 1"), v.getString("firstFailureHistory"));
  }

  @Test
  void aDuplicateAfterASuccessIsReportedAndFailsUnlessTheScenarioKillsProcesses() throws Exception {
    deliver("node-0", false, 1, 2, 2, 3);
    JsonObject steady = verdict(Scenario.STEADY);
    assertFalse(steady.getBoolean("pass"));
    assertEquals(1, steady.getJsonObject("anomalies").getInteger("DUPLICATED"));
    JsonObject kill = verdict(Scenario.KILL9);
    assertTrue(kill.getBoolean("pass"), "after a kill -9 a redelivery is the at-least-once promise: " + kill.encodePrettily());
    assertEquals(1, kill.getJsonObject("anomalies").getInteger("DUPLICATED"), "still reported");
  }

  @Test
  void aRedeliveryAfterARefusalIsARetryNotADuplicate() throws Exception {
    deliver("node-0", false, 1);
    sink.failUser("run1-u0");
    assertEquals(503, deliver("node-0", false, 2));
    sink.healUser("run1-u0");
    deliver("node-0", false, 2, 3);
    sink.outage(true);
    assertEquals(503, deliver("node-0", false, 3), "an outage refuses everything");
    sink.outage(false);
    JsonObject v = verdict(Scenario.STEADY);
    assertTrue(v.getBoolean("pass"), v.encodePrettily());
  }

  @Test
  void anotherRunsEventsAreAnsweredAndOnlyCounted() throws Exception {
    assertEquals(200, post(event("run0-u0", 1).toBuffer(), "node-0", "1", "1"));
    assertEquals(1, sink.counts().getLong("foreignEvents"));
    assertEquals(3, verdict(Scenario.STEADY).getJsonObject("anomalies").getInteger("LOST"), "none of run1's arrived");
  }
}
