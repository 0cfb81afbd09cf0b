package io.eventpipe.node.router;

import io.eventpipe.destinations.http.WebhookDestination;
import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.eventpipe.workspace.InvalidDestinationConfigException;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 9: what a destination may be sent and where. A request that cannot be built is a permanent failure, header
 * values are checked when the configuration loads, and webhooks may not reach loopback or link-local addresses
 * (the node's own ports, the cloud metadata service) unless the workspace's egress policy allows them. A real router
 * on a real PostgreSQL, delivering to a real HTTP sink.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class EgressAndLocalErrorsTest {

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

  /** Workspace YAML with the given egress section (none when null) and destinations. */
  private static String workspace(String egress, String... destinations) {
    String yaml = Workspaces.of(destinations).replace(Workspaces.LOOPBACK_ALLOWED, "");
    return egress == null ? yaml : "egress: " + egress + "\n" + yaml;
  }

  private static NewJob job(NodeFixture node, String user, String messageId, long seq) {
    String payload = "{\"type\":\"track\",\"event\":\"E\",\"messageId\":\"m\",\"anonymousId\":\"" + user
        + "\",\"properties\":{\"seq\":" + seq + "}}";
    return new NewJob(Math.floorMod(user.hashCode(), 64), user, "web", "", messageId, node.clock.instant(),
        payload.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void aMessageIdThatCannotBeAHeaderIsAbortedAtOnceNotRetriedAsANetworkError() {
    String yaml = Workspaces.of(webhook("crlf", "{\"url\": \"" + sink.url("/crlf") + "\"}"));
    try (NodeFixture node = new NodeFixture(db, "crlf", Clock.systemUTC(), yaml)) {
      node.start();
      // stored before ingest refused such ids (or migrated in from an older node)
      node.ingest(job(node, "crlf-bad", "evil\r\nX-Injected: 1", 1), job(node, "crlf-bad", "crlf-bad-2", 2),
          job(node, "crlf-good", "crlf-good-1", 1));
      Sink.Endpoint ep = sink.endpoint("/crlf");
      eventually("the other events delivered", () -> ep.acceptedEvents.get() == 2
          && node.job("crlf", "crlf-bad-2").state() == JobState.SUCCEEDED.code(),
          () -> "accepted " + ep.acceptedEvents.get() + ", bad: " + node.job("crlf", "evil\r\nX-Injected: 1"));
      NodeFixture.JobRow bad = node.job("crlf", "evil\r\nX-Injected: 1");
      assertEquals(JobState.ABORTED.code(), bad.state(), "aborted, not left to retry for hours: " + bad);
      assertEquals(1, bad.attempts());
      assertEquals(2, ep.requests.get(), "the bad event was never sent");
      assertTrue(bad.lastError().contains("control character"), bad.lastError());
      assertTrue(ep.headers.stream().noneMatch(h -> h.containsKey("x-injected")), "no header was injected");
    }
  }

  @Test
  void headerValuesWithControlCharactersAreAnInvalidConfigAtLoad() {
    InvalidDestinationConfigException e = assertThrows(InvalidDestinationConfigException.class, () -> DeliverySettings.of(
        new Destination("d", "webhook", true, List.of(), Map.of("url", "https://example.com/x",
            "headers", Map.of("X-Api-Key", "secret\r\nX-Admin: yes"))), new WebhookDestination()));
    assertEquals(List.of("destinations[d].config.headers.X-Api-Key: has a control character (U+000D) at position 6,"
        + " which an HTTP header value cannot carry"), e.problems());

    String yaml = Workspaces.of(webhook("hv", "{\"url\": \"" + sink.url("/hv") + "\", \"headers\": {\"X-A\": \"a\\nb\"}}"));
    try (NodeFixture node = new NodeFixture(db, "hv", Clock.systemUTC(), yaml)) {
      node.start();
      Router.DestinationStatus status = node.router.status().get("hv");
      assertEquals(Router.DestinationStatus.INVALID, status.state());
      assertTrue(status.error().contains("headers.X-A: has a control character (U+000A)"), status.error());
    }
  }

  @Test
  void loopbackAndMetadataAddressesAreDeniedByDefaultAndLoopbackCanBeAllowed() {
    String local = webhook("lo", "{\"url\": \"" + sink.url("/egress-lo") + "\"}");
    String metadata = webhook("md", "{\"url\": \"http://169.254.169.254/latest/meta-data/\"}");
    try (NodeFixture node = new NodeFixture(db, "egr", Clock.systemUTC(), workspace(null, local, metadata))) {
      node.start();
      node.ingest(node.event("web", "egr-u", 1));
      for (String id : List.of("lo", "md")) {
        Router.DestinationStatus status = node.router.status().get(id);
        assertEquals(Router.DestinationStatus.INVALID, status.state(), id + ": " + status);
        assertTrue(status.error().contains("egress policy denies"), status.error());
      }
      assertTrue(node.router.status().get("md").error().contains("169.254.0.0/16"), node.router.status().get("md").error());
      eventually("fanned out", () -> node.pending("lo") == 1);

      // the operator allows loopback: the waiting job is delivered; the metadata address stays denied
      node.config(workspace("{allow: [127.0.0.0/8]}", local, metadata));
      Sink.Endpoint ep = sink.endpoint("/egress-lo");
      eventually("delivered once allowed", () -> ep.acceptedEvents.get() == 1);
      assertEquals(Router.DestinationStatus.DELIVERING, node.router.status().get("lo").state());
      assertEquals(Router.DestinationStatus.INVALID, node.router.status().get("md").state());

      // an explicit deny of a longer prefix wins over the allowance
      node.config(workspace("{allow: [127.0.0.0/8], deny: [127.0.0.1/32]}", local, metadata));
      assertEquals(Router.DestinationStatus.INVALID, node.router.status().get("lo").state());
    }
  }

  @Test
  void aHostNameIsCheckedAgainstTheAddressesItResolvesToAtDelivery() {
    int port = Integer.parseInt(sink.url("").replaceAll(".*:", ""));
    String byName = webhook("name", "{\"url\": \"http://localhost:" + port + "/egress-name\"}");
    try (NodeFixture node = new NodeFixture(db, "egn", Clock.systemUTC(), workspace(null, byName))) {
      node.start();
      assertEquals(Router.DestinationStatus.DELIVERING, node.router.status().get("name").state(),
          "a host name cannot be judged when the configuration loads");
      node.ingest(node.event("web", "egn-u", 1));
      eventually("aborted", () -> {
        NodeFixture.JobRow row = node.job("name", "egn-u-1");
        return row != null && row.state() == JobState.ABORTED.code();
      });
      String error = node.job("name", "egn-u-1").lastError();
      assertTrue(error.contains("egress policy denies localhost"), error);
      assertEquals(0, sink.endpoint("/egress-name").requests.get(), "nothing was sent");

      node.config(workspace("{allow: [127.0.0.0/8, \"::1\"]}", byName));
      node.ingest(node.event("web", "egn-u", 2));
      eventually("delivered once allowed", () -> sink.endpoint("/egress-name").acceptedEvents.get() == 1,
          () -> node.job("name", "egn-u-2") + " " + node.router.status());
    }
  }

  @Test
  void theEgressPolicyPicksTheLongestMatchingRule() throws Exception {
    EgressPolicy defaults = EgressPolicy.defaults();
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("127.0.0.1")));
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("::1")));
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("169.254.169.254")));
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("fe80::1")));
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("0.0.0.0")));
    assertNotNull(defaults.denial(java.net.InetAddress.getByName("::ffff:127.0.0.1")), "IPv4-mapped loopback");
    assertNull(defaults.denial(java.net.InetAddress.getByName("203.0.113.7")));

    EgressPolicy allowList = EgressPolicy.of(List.of("203.0.113.0/24"), List.of("0.0.0.0/0", "::/0"));
    assertNull(allowList.denial(java.net.InetAddress.getByName("203.0.113.7")));
    assertNotNull(allowList.denial(java.net.InetAddress.getByName("198.51.100.1")));
    assertNotNull(allowList.denial(java.net.InetAddress.getByName("2001:db8::1")));

    assertEquals("'localhost' is not an IP address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)",
        EgressPolicy.ruleProblem("localhost"));
    assertEquals("'10.0.0.0/33' has a prefix length outside 0..32", EgressPolicy.ruleProblem("10.0.0.0/33"));
  }
}
