package io.eventpipe.node.router;

import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.eventpipe.node.processor.ProcessorOptions;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** The webhook's origin headers: which node, job and attempt sent a request (tracing a delivery to its job row). */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class OriginHeadersTest {

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
  void everyRequestSaysWhichNodeJobAndAttemptSentIt() {
    String path = "/origin";
    String yaml = Workspaces.of(webhook("or", "{\"url\": \"" + sink.url(path) + "\","
        + " \"retry\": {\"initialBackoffMs\": 5, \"maxBackoffMs\": 20}}"));
    AtomicBoolean failed = new AtomicBoolean();
    sink.behave((p, events) -> p.equals(path) && failed.compareAndSet(false, true) ? Sink.Reply.status(503, "later") : Sink.Reply.OK);
    try (NodeFixture node = new NodeFixture(db, "origin", Clock.systemUTC(), yaml)) {
      node.start(ProcessorOptions.defaults().withIdlePoll(Duration.ofMillis(20)),
          RouterOptions.defaults().withIdlePoll(Duration.ofMillis(20)).withNodeName("node-7"));
      node.ingest(node.event("web", "origin-user", 1));
      Sink.Endpoint ep = sink.endpoint(path);
      eventually("delivered after one failure", () -> ep.acceptedEvents.get() == 1 && ep.requests.get() == 2);
      List<Map<String, String>> seen = List.copyOf(ep.headers);
      long jobId = node.job("or", "origin-user-1").jobId();
      assertEquals("node-7", seen.get(0).get("x-eventpipe-node"));
      assertEquals(String.valueOf(jobId), seen.get(0).get("x-eventpipe-job-ids"));
      assertEquals("1", seen.get(0).get("x-eventpipe-attempts"));
      assertEquals(String.valueOf(jobId), seen.get(1).get("x-eventpipe-job-ids"));
      assertEquals("2", seen.get(1).get("x-eventpipe-attempts"), "the retry says it is the second attempt");
    }
  }
}
