package io.eventpipe.node.router;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.JobState;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Clock;
import java.util.List;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A {@code kafka} destination whose brokers are down, or an {@code s3} destination whose endpoint is down, beside a
 * healthy webhook on the same node (issue 18: "one failing destination beside a healthy one that keeps its pace"): the
 * webhook gets every event in each user's order while the failing destination delivered nothing and its jobs wait in
 * retry. (No broker or S3 server is needed for the failing side: nothing listens at its address.)
 */
@ExtendWith(PostgresExtension.class)
class IntegrationDownBesideAHealthyOneTest {

  @ParameterizedTest(name = "{0} down beside a healthy webhook")
  @ValueSource(strings = {"kafka", "s3"})
  void theHealthyWebhookGetsEverythingWhileTheDownIntegrationWaitsInRetry(String type, PgDatabase db) throws Exception {
    int closed = closedPort();
    String retry = "\"retry\": {\"initialBackoffMs\": 50, \"maxBackoffMs\": 200, \"maxAttempts\": 1000}";
    String config = type.equals("kafka")
        ? "{\"bootstrapServers\": \"127.0.0.1:" + closed + "\", \"topic\": \"events\", \"timeoutMs\": 1000, " + retry + "}"
        : "{\"bucket\": \"lake\", \"endpoint\": \"http://127.0.0.1:" + closed + "\", \"accessKeyId\": \"k\","
            + " \"secretAccessKey\": \"s\", \"timeoutMs\": 1000, " + retry + "}";
    try (Sink sink = new Sink()) {
      String yaml = Workspaces.of("  - {id: down, type: " + type + ", sources: [web], config: " + config + "}",
          Workspaces.webhook("hook", "{\"url\": \"" + sink.url("/ok") + "\"}"));
      try (NodeFixture node = new NodeFixture(db, "down_" + type, Clock.systemUTC(), yaml)) {
        node.start();
        int users = 20;
        int perUser = 5;
        long t0 = System.nanoTime();
        node.ingest(node.users("web", "u", users, perUser));
        Sink.Endpoint ep = sink.endpoint("/ok");
        eventually("every event at the healthy webhook", () -> ep.acceptedEvents.get() >= users * perUser,
            () -> "webhook has " + ep.acceptedEvents.get());
        System.out.printf("%s down: the healthy webhook had every event %.1f s after the ingest%n", type,
            (System.nanoTime() - t0) / 1e9);
        eventually("the down destination was tried", () -> node.job("down", "u0-1") != null
            && node.job("down", "u0-1").attempts() > 0, () -> String.valueOf(node.job("down", "u0-1")));
        assertEquals(List.of(), ep.accepted.violations(), "each user's order at the webhook");
        assertEquals(0, ep.accepted.duplicates());
        for (int u = 0; u < users; u++) {
          NodeFixture.JobRow job = node.job("down", "u" + u + "-1");
          assertTrue(job == null || job.state() != JobState.SUCCEEDED.code() && job.state() != JobState.ABORTED.code(),
              "u" + u + "'s first job at the down " + type + " waits in retry: " + job);
        }
      }
    }
  }

  private static int closedPort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }
}
