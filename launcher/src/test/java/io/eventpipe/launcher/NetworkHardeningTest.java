package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.ConnectionLimits;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.RawHttp;
import io.eventpipe.wire.IngestBatch;
import io.eventpipe.wire.WireVersions;
import io.eventpipe.workspace.WriteKeys;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14, on the ports behind the public API: a node's internal port and a proxy's metrics port close idle and
 * trickling connections, and no answer of a node or a proxy carries PostgreSQL's text, an address or an exception
 * (the failure tests run last: they break the node's database).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class NetworkHardeningTest {

  private static final String ADMIN = "nh-admin-token-0123456789";
  private static final String INGEST = "nh-ingest-token-0123456789";
  private static final String WRITE_KEY = "nh-write-key";
  /** Short deadlines so the test need not wait long; an idle wait of 3 s is still far above a burst's gaps. */
  private static final ConnectionLimits LIMITS = new ConnectionLimits(2000, 3, 100);

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http = HttpClient.newHttpClient();
  private ControlStore control;
  private PgDatabase nodeDb;
  private Node node;
  private Proxy proxy;

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    PgServer server = PgServer.get();
    PgConfig controlPg = config(server.createDatabase("nh_control"));
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: nh-source\n    writeKey: " + WRITE_KEY + "\n");
    control = await(ControlStore.open(vertx, controlPg));
    await(control.initialize(8, 1));
    nodeDb = server.createDatabase("nh_node0");
    node = await(new Node(vertx, new NodeOptions(0, config(nodeDb), 8, GatewayOptions.defaults(0), "127.0.0.1", 0, ADMIN, INGEST,
        workspace, controlPg, null, LIMITS).withAllowNonDurableDatabase(true)).start());
    proxy = await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), controlPg, INGEST,
        "127.0.0.1", 0, workspace, LIMITS)).start());
  }

  @AfterAll
  void stop() {
    await(proxy.stop());
    await(node.stop());
    await(control.closeAsync());
    await(vertx.close());
  }

  // ============================================================================================ connections

  @Test
  @Order(1)
  void anIdleConnectionIsClosedOnTheInternalAndMetricsPortsWhileNewOnesAreServed() throws Exception {
    for (int port : new int[] {node.internalPort(), proxy.metricsPort()}) {
      try (Socket s = RawHttp.connect(port)) {
        assertTrue(RawHttp.exchange(s, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").startsWith("HTTP/1.1 200"));
        RawHttp.awaitClosedByServer(s); // kept alive, then idle: closed after the idle timeout
      }
      try (Socket fresh = RawHttp.connect(port)) {
        assertTrue(RawHttp.exchange(fresh, "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n").startsWith("HTTP/1.1 200"));
      }
    }
    assertTrue(counter(node.registry().scrape(), "http_header_timeouts_total{server=\"internal\"}") >= 1);
    assertTrue(counter(proxy.registry().scrape(), "http_header_timeouts_total{server=\"metrics\"}") >= 1);
  }

  @Test
  @Order(2)
  void aClientTricklingHeadersToTheInternalPortIsClosedWhileOthersAreServed() throws Exception {
    AtomicBoolean stop = new AtomicBoolean();
    try (Socket loris = RawHttp.connect(node.internalPort())) {
      Thread t = new Thread(() -> {
        try {
          OutputStream out = loris.getOutputStream();
          out.write(("POST " + IngestBatch.PATH + " HTTP/1.1\r\nHost: x\r\n").getBytes(StandardCharsets.US_ASCII));
          for (int i = 0; !stop.get(); i++) {
            out.write('a' + i % 26);
            out.flush();
            Thread.sleep(50);
          }
        } catch (IOException | InterruptedException closed) {
          // closed by the node: what the test waits for
        }
      });
      t.setDaemon(true);
      t.start();
      for (int i = 0; i < 10; i++) {
        HttpResponse<String> live = get(node.internalPort(), "/health/live", null);
        assertEquals(200, live.statusCode());
      }
      RawHttp.awaitClosedByServer(loris);
    } finally {
      stop.set(true);
    }
    // events still flow through the proxy to the node
    assertEquals(200, track("nh-ok-1").statusCode());
  }

  // ============================================================================================ error bodies

  @Test
  @Order(9)
  void storageFailuresAreAnsweredWithAStableMessageAndARequestIdOnEveryPort() throws Exception {
    assertEquals(200, track("nh-ok-2").statusCode(), "innocent traffic before the failure");
    try (Connection c = nodeDb.connect(); Statement st = c.createStatement()) {
      st.execute("DROP SCHEMA jobs_gw CASCADE");
      st.execute("DROP SCHEMA jobs_rt CASCADE");
    }
    String address = "127.0.0.1:" + node.internalPort();
    List<HttpResponse<String>> answers = new ArrayList<>();
    // 1. the SDK's answer from the proxy: the node's failure, relayed
    HttpResponse<String> sdk = track("nh-fail");
    assertEquals(503, sdk.statusCode(), sdk.body());
    answers.add(sdk);
    // 2. the node's internal ingest, as a proxy sees it
    HttpResponse<String> internal = http.send(HttpRequest.newBuilder(URI.create("http://" + address + IngestBatch.PATH))
        .header("Authorization", "Bearer " + INGEST).header("Content-Type", IngestBatch.CONTENT_TYPE)
        .header(IngestBatch.EPOCH_HEADER, "1").header(IngestBatch.SOURCE_HEADER, "nh-source")
        .header(WireVersions.HEADER, String.valueOf(WireVersions.CURRENT.newest()))
        .POST(HttpRequest.BodyPublishers.ofByteArray(IngestBatch.encode(List.of(new IngestBatch.Item("nh-direct", "nh-direct-1",
            "{}".getBytes(StandardCharsets.UTF_8)))).getBytes())).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(503, internal.statusCode(), internal.body());
    answers.add(internal);
    // 3. the admin API and the node's status (admin token)
    HttpResponse<String> aborted = get(node.internalPort(), "/admin/v1/destinations/h/aborted", "Bearer " + ADMIN);
    assertEquals(503, aborted.statusCode(), aborted.body());
    answers.add(aborted);
    HttpResponse<String> status = get(node.internalPort(), "/internal/v1/status", "Bearer " + ADMIN);
    assertEquals(503, status.statusCode(), status.body());
    answers.add(status);
    for (HttpResponse<String> r : answers) {
      for (String internalText : List.of("jobs_gw", "jobs_rt", "relation", "does not exist", "42P01", "ERROR", address,
          "127.0.0.1", "node 0 at", "Exception", "unreachable")) {
        assertFalse(r.body().contains(internalText), r.uri() + " answered internal text '" + internalText + "': " + r.body());
      }
      JsonObject body = new JsonObject(r.body());
      String id = body.getString("requestId");
      assertNotNull(id, r.body());
      assertTrue(body.getString("error").contains(id), r.body());
      assertEquals("1", r.headers().firstValue("Retry-After").orElse(null), r.uri() + " is retryable");
    }
  }

  // ============================================================================================ helpers

  private HttpResponse<String> track(String user) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/v1/track"))
        .header("Authorization", WriteKeys.basicAuthHeader(WRITE_KEY)).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString("{\"userId\":\"" + user + "\",\"event\":\"E\"}")).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  private HttpResponse<String> get(int port, String path, String authorization) throws Exception {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).GET();
    if (authorization != null) {
      b.header("Authorization", authorization);
    }
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  private static double counter(String scrape, String series) {
    for (String line : scrape.split("\n")) {
      if (line.startsWith(series + " ")) {
        return Double.parseDouble(line.substring(series.length() + 1).trim());
      }
    }
    throw new AssertionError("no " + series + " in the metrics");
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }
}
