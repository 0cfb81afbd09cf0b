package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.eventually;
import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.rudderstack.sdk.java.analytics.RudderAnalytics;
import com.segment.analytics.Analytics;
import com.segment.analytics.messages.TrackMessage;
import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.routing.Partitioner;
import io.eventpipe.routing.Topology;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.SequenceChecker;
import io.eventpipe.testing.TcpProxy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real cluster in one JVM: a control store, three nodes each with its own database, and two proxies, on a real
 * PostgreSQL; real SDKs send through the proxies. Proxy B reaches the control store through a TCP proxy that the
 * tests cut, to play a control store that goes away (for it).
 *
 * <p>The tests share the cluster but not their data, so they pass in any order: each uses its own users and
 * messageIds, reads the topology when it starts (one test moves a partition), and leaves every node running. They run
 * by name, which puts the SDK test after the ones that stop a node and move a partition.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.MethodName.class)
class ClusterTest {

  private static final String WRITE_KEY = "cluster-test-write-key";
  private static final String ADMIN_TOKEN = "cluster-test-admin-token";
  private static final String INGEST_TOKEN = "cluster-test-ingest-token";
  private static final int PARTITIONS = 64;
  private static final Pattern SEQ = Pattern.compile("\"seq\":\"?(\\d+)");

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http = HttpClient.newHttpClient();
  private final List<PgDatabase> nodeDbs = new ArrayList<>();
  private final Node[] nodes = new Node[3];
  private final int[] nodePorts = new int[3];
  private PgDatabase controlDb;
  private TcpProxy controlCut;
  private PgConfig controlDirect;
  private PgConfig controlViaCut;
  private Path workspace;
  private final SequenceChecker delivered = new SequenceChecker();
  private io.vertx.core.http.HttpServer sink;
  private Proxy proxyA;
  private Proxy proxyB;

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    PgServer server = PgServer.get();
    controlDb = server.createDatabase("cluster_control");
    controlDirect = config(controlDb);
    controlCut = new TcpProxy(controlDb.host(), controlDb.port());
    controlViaCut = new PgConfig(controlCut.host(), controlCut.port(), controlDb.database(), controlDb.user(), controlDb.password());
    workspace = dir.resolve("workspace.yaml");
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      io.vertx.core.json.JsonObject e = new io.vertx.core.json.JsonObject(body.toString(StandardCharsets.UTF_8));
      io.vertx.core.json.JsonObject props = e.getJsonObject("properties");
      if (props != null && props.containsKey("seq")) {
        delivered.observe(e.getString("userId"), Long.parseLong(String.valueOf(props.getValue("seq"))));
      }
      req.response().end();
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n  - id: sink\n    type: webhook\n    sources: [app]\n    config:\n"
        + "      url: http://127.0.0.1:" + sink.actualPort() + "/events\n");
    ControlStore store = await(ControlStore.open(vertx, controlDirect));
    await(store.initialize(PARTITIONS, 3));
    await(store.closeAsync());
    for (int k = 0; k < 3; k++) {
      nodeDbs.add(server.createDatabase("cluster_node" + k));
      startNode(k, 0);
    }
    proxyA = await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), controlDirect, INGEST_TOKEN,
        "127.0.0.1", 0, workspace)).start());
    proxyB = await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), controlViaCut, INGEST_TOKEN,
        "127.0.0.1", 0, workspace)).start());
  }

  private void startNode(int k, int port) throws Exception {
    nodes[k] = await(new Node(vertx, new NodeOptions(k, config(nodeDbs.get(k)), PARTITIONS, GatewayOptions.defaults(0),
        "127.0.0.1", port, ADMIN_TOKEN, INGEST_TOKEN, workspace, controlDirect, null).withAllowNonDurableDatabase(true)).start());
    nodePorts[k] = nodes[k].internalPort();
  }

  @AfterAll
  void stop() throws Exception {
    for (Proxy p : new Proxy[] {proxyA, proxyB}) {
      if (p != null) {
        await(p.stop());
      }
    }
    for (Node n : nodes) {
      if (n != null) {
        await(n.stop());
      }
    }
    controlCut.close();
    if (sink != null) {
      await(sink.close());
    }
    await(vertx.close());
  }

  @Test
  void sdkEventsThroughTwoProxiesLandOnTheirOwnerNodeOncePerUserInOrder() throws Exception {
    int users = 1000;
    int perUser = 3;
    Analytics segment = Analytics.builder(WRITE_KEY).endpoint("http://127.0.0.1:" + proxyA.port()).flushQueueSize(50).build();
    RudderAnalytics rudder = RudderAnalytics.builder(WRITE_KEY).setDataPlaneUrl("http://127.0.0.1:" + proxyB.port())
        .flushQueueSize(50).build();
    for (int seq = 1; seq <= perUser; seq++) {
      for (int u = 0; u < users; u++) {
        segment.enqueue(TrackMessage.builder("Segment Event").userId("s-" + u).properties(Map.of("seq", seq)));
        rudder.enqueue(com.rudderstack.sdk.java.analytics.messages.TrackMessage.builder("Rudder Event").userId("r-" + u)
            .properties(Map.of("seq", seq)));
      }
    }
    segment.flush();
    rudder.flush();
    long expected = 2L * users * perUser;
    try {
      eventually("all " + expected + " SDK events are stored", () -> sdkEventsStored() >= expected);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "; stored " + sdkEventsStored() + "; proxy A: " + requests(proxyA) + "; proxy B: " + requests(proxyB), e);
    }
    segment.shutdown();
    rudder.shutdown();

    Topology topology = proxyA.topology().current();
    Partitioner partitioner = Partitioner.of(PARTITIONS);
    SequenceChecker checker = new SequenceChecker();
    Set<String> messageIds = new HashSet<>();
    Map<String, Integer> nodeOfUser = new HashMap<>();
    for (int k = 0; k < 3; k++) {
      for (String[] row : sdkRows(k)) {
        String key = row[0];
        assertEquals(k, topology.ownerOf(partitioner.partition(key)), "user " + key + " stored on its owner");
        assertEquals(k, (int) nodeOfUser.computeIfAbsent(key, x -> Integer.valueOf(row[3])), "user " + key + " on one node only");
        assertTrue(messageIds.add(row[1]), "messageId stored once: " + row[1]);
        Matcher m = SEQ.matcher(row[2]);
        assertTrue(m.find(), row[2]);
        checker.observe(key, Long.parseLong(m.group(1)));
      }
    }
    Map<String, Long> want = new HashMap<>();
    for (int u = 0; u < users; u++) {
      want.put("s-" + u, (long) perUser);
      want.put("r-" + u, (long) perUser);
    }
    checker.assertComplete(want);
    assertEquals(0, checker.duplicates());
    // and each node delivers its users' events to the webhook in order
    eventually("all " + expected + " events are delivered", () -> delivered.delivered() >= expected);
    delivered.assertComplete(want);
    assertTrue(new HashSet<>(nodeOfUser.values()).size() == 3, "every node got users");
  }

  @Test
  void aNodeThatIsDownFailsItsUsersRetryablyWithoutReroutingAndTheRetryAfterRestartStoresOnce() throws Exception {
    Topology topology = proxyA.topology().current();
    String onNode1 = userOwnedBy(topology, 1, "down");
    String onNode0 = userOwnedBy(topology, 0, "up");
    await(nodes[1].stop());

    HttpResponse<String> refused = track(proxyA.port(), onNode1, "retry-me-1");
    assertEquals(503, refused.statusCode(), refused.body());
    assertTrue(refused.headers().firstValue("Retry-After").isPresent());
    assertEquals(200, track(proxyA.port(), onNode0, "fine-1").statusCode(), "other nodes' users are not affected");
    assertEquals(0, countMessage(0, "retry-me-1") + countMessage(2, "retry-me-1"), "never sent to a node that does not own it");

    startNode(1, nodePorts[1]);
    assertEquals(200, track(proxyA.port(), onNode1, "retry-me-1").statusCode());
    assertEquals(200, track(proxyA.port(), onNode1, "retry-me-1").statusCode(), "a retry is acknowledged");
    assertEquals(1, countMessage(1, "retry-me-1"), "and stored once");
  }

  @Test
  void aProxyWithAStaleTopologyIsToldMisdirectedAndReroutesOnceItCanRefresh() throws Exception {
    Topology before = proxyB.topology().current();
    String user = userOwnedBy(before, 0, "moving");
    int partition = Partitioner.of(PARTITIONS).partition(user);
    int[] owners = before.owners().clone();
    owners[partition] = 2;

    // the control store goes away for proxy B (and its LISTEN connection with it), then the topology changes
    controlCut.refuse(true);
    controlCut.cutAll();
    ControlStore admin = await(ControlStore.open(vertx, controlDirect));
    long epoch = await(admin.publish(owners, 3, "test-move")).epoch();
    await(admin.closeAsync());
    assertEquals(before.epoch(), proxyB.topology().current().epoch(), "proxy B cannot know yet");
    eventually("node 0 follows the new epoch", () -> nodes[0].topologyEpoch() == epoch);

    // with the store down, proxy B keeps working on its last topology for partitions that did not move
    String stays = userOwnedBy(before, 1, "stays");
    assertEquals(200, track(proxyB.port(), stays, "stays-1").statusCode());

    // the old owner refuses the moved partition as misdirected; proxy B cannot refresh yet, so the SDK gets 503
    HttpResponse<String> stale = track(proxyB.port(), user, "moved-1");
    assertEquals(503, stale.statusCode(), stale.body());
    assertEquals(0, countMessage(0, "moved-1"), "the old owner stored nothing");

    controlCut.refuse(false);
    HttpResponse<String> ok = track(proxyB.port(), user, "moved-1");
    assertEquals(200, ok.statusCode(), ok.body());
    assertEquals(1, countMessage(2, "moved-1"), "stored on the new owner");
    assertEquals(0, countMessage(0, "moved-1"));
    assertTrue(proxyB.topology().current().epoch() >= epoch);
    assertTrue(proxyB.registry().get("proxy.rerouted.batches").counter().count() >= 1, "proxy B was told misdirected");
  }

  // ------------------------------------------------------------------ helpers

  private static String requests(Proxy p) {
    return p.registry().scrape().lines().filter(l -> l.startsWith("gateway_requests_total")).toList().toString();
  }

  private HttpResponse<String> track(int port, String userId, String messageId) throws Exception {
    String body = "{\"userId\":\"" + userId + "\",\"event\":\"Clicked\",\"messageId\":\"" + messageId + "\"}";
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/track"))
        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }

  private static String userOwnedBy(Topology t, int node, String prefix) {
    Partitioner p = Partitioner.of(PARTITIONS);
    for (int i = 0; ; i++) {
      String user = prefix + "-" + i;
      if (t.ownerOf(p.partition(user)) == node) {
        return user;
      }
    }
  }

  /** The rows of this class's SDK users ({@code s-*}, {@code r-*}), leaving out what other tests stored. */
  private List<String[]> sdkRows(int node) {
    return storedRows(node).stream().filter(r -> r[0].startsWith("s-") || r[0].startsWith("r-")).toList();
  }

  private long sdkEventsStored() {
    long n = 0;
    for (int k = 0; k < 3; k++) {
      n += sdkRows(k).size();
    }
    return n;
  }

  private List<String[]> storedRows(int node) {
    List<String[]> rows = new ArrayList<>();
    try (Connection c = nodeDbs.get(node).connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT routing_key, message_id, convert_from(payload, 'UTF8') FROM jobs_gw.jobs ORDER BY job_id")) {
      while (rs.next()) {
        rows.add(new String[] {rs.getString(1), rs.getString(2), rs.getString(3), String.valueOf(node)});
      }
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
    return rows;
  }

  private long countMessage(int node, String messageId) {
    return storedRows(node).stream().filter(r -> r[1].equals(messageId)).count();
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  /**
   * Issue 9: proxies (the internet-facing tier) held the one token that also opened the admin API, so they could list
   * aborted payloads and replay them. The ingest token they hold now stores events and nothing else.
   */
  /** The autoscaler's reading of this cluster: every node's status exports the signals (README, Autoscaling). */
  @Test
  void theAutoscalersSignalReaderReadsEveryNodesBacklogAndCounters() throws Exception {
    io.eventpipe.autoscaler.Signals s = new io.eventpipe.autoscaler.SignalReader(new io.eventpipe.autoscaler.ControlStoreReader(
        controlDirect.jdbcUrl(), controlDirect.user(), controlDirect.password()), ADMIN_TOKEN, java.time.Clock.systemUTC()).read();
    assertEquals(3, s.nodes());
    assertEquals(java.util.Map.of(), s.unreachable());
    assertEquals(null, s.migration());
    assertEquals(3, s.perNode().size());
    for (io.eventpipe.autoscaler.Signals.NodeSignals n : s.perNode()) {
      // the workspace's destination is there whether or not it has pending jobs (a node restarted by another test
      // counts from its restart: no relation between the counters is asserted)
      assertTrue(n.destinations().containsKey("sink"), "node " + n.node() + ": " + n.destinations());
      assertTrue(n.ingested() >= 0 && n.fannedOut() >= 0 && n.ingest().oldestAgeSeconds() >= 0, n.toString());
    }
  }

  @Test
  void theIngestTokenThatProxiesHoldOpensInternalIngestOnlyAndTheAdminTokenTheRest() throws Exception {
    String base = "http://127.0.0.1:" + nodes[0].internalPort();
    for (String path : List.of("/admin/v1/destinations", "/admin/v1/destinations/sink/aborted", "/internal/v1/status",
        "/admin/v1/cluster")) {
      assertEquals(401, get(base + path, INGEST_TOKEN).statusCode(), path + " with the ingest token");
      assertEquals(200, get(base + path, ADMIN_TOKEN).statusCode(), path + " with the admin token");
    }
    HttpResponse<String> replay = http.send(HttpRequest.newBuilder(URI.create(base + "/admin/v1/destinations/sink/replay"))
        .header("Authorization", "Bearer " + INGEST_TOKEN).POST(HttpRequest.BodyPublishers.ofString("{\"all\": true}")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(401, replay.statusCode(), "replay with the ingest token");

    io.vertx.core.http.HttpClientResponse asAdmin = internalIngest(nodes[0].internalPort(), ADMIN_TOKEN, false,
        io.vertx.core.buffer.Buffer.buffer("EPB1"));
    assertEquals(401, asAdmin.statusCode(), "internal ingest takes the ingest token, not the admin token");
    // and the proxies, holding only the ingest token, still store events (the SDK test goes through them)
  }

  /** Issue 9: the internal ingest endpoint read bodies without a cap; a batch over the limit is now a 413. */
  @Test
  void anInternalBatchOverTheLimitIsRefusedWith413WhetherItsLengthIsDeclaredOrStreamed() throws Exception {
    io.vertx.core.buffer.Buffer tooLarge = io.vertx.core.buffer.Buffer.buffer(new byte[io.eventpipe.wire.IngestBatch.MAX_BYTES + 1024]);
    for (boolean chunked : new boolean[] {false, true}) {
      io.vertx.core.http.HttpClientResponse r = internalIngest(nodes[0].internalPort(), INGEST_TOKEN, chunked, tooLarge);
      assertEquals(413, r.statusCode(), chunked ? "streamed (chunked)" : "declared length");
    }
    // the node still takes batches afterwards
    io.vertx.core.http.HttpClientResponse ok = internalIngest(nodes[0].internalPort(), INGEST_TOKEN, false,
        io.eventpipe.wire.IngestBatch.encode(List.of()));
    assertEquals(200, ok.statusCode());
  }

  private HttpResponse<String> get(String url, String token) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + token).GET().build(),
        HttpResponse.BodyHandlers.ofString());
  }

  /** POSTs a raw internal ingest body; the answer may come before the body is sent whole (a refusal). */
  private io.vertx.core.http.HttpClientResponse internalIngest(int port, String token, boolean chunked,
      io.vertx.core.buffer.Buffer body) throws Exception {
    io.vertx.core.http.HttpClientAgent client = vertx.createHttpClient();
    try {
      return await(client.request(new io.vertx.core.http.RequestOptions().setMethod(io.vertx.core.http.HttpMethod.POST)
              .setAbsoluteURI("http://127.0.0.1:" + port + io.eventpipe.wire.IngestBatch.PATH)
              .putHeader("Authorization", "Bearer " + token)
              .putHeader(io.eventpipe.wire.IngestBatch.EPOCH_HEADER, "0")
              .putHeader(io.eventpipe.wire.IngestBatch.SOURCE_HEADER, "app"))
          .compose(req -> {
            if (!chunked) {
              return req.send(body);
            }
            req.setChunked(true);
            for (int i = 0; i < body.length(); i += 1 << 20) {
              req.write(body.slice(i, Math.min(body.length(), i + (1 << 20))));
            }
            req.end();
            return req.response();
          })
          .compose(resp -> resp.body().otherwiseEmpty().map(b -> resp)));
    } finally {
      client.close();
    }
  }

}
