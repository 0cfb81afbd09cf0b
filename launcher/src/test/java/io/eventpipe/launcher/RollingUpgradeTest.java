package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventSinkContract;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.ForwardingSink;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.wire.IngestBatch;
import io.eventpipe.wire.WireVersions;
import io.eventpipe.workspace.Source;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A rolling upgrade mixes proxies and nodes of adjacent releases: a real node and a real proxy, one of them made to speak
 * only the previous wire version, store every event and fail no request; a version the node does not speak gets a 400
 * naming it and the node's range.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RollingUpgradeTest {

  private static final String TOKEN = "upgrade-test-token";
  private static final WireVersions PREVIOUS = new WireVersions(WireVersions.NEWEST, WireVersions.NEWEST);
  private static final WireVersions NEXT = new WireVersions(WireVersions.NEWEST, WireVersions.NEWEST + 1);

  private final Vertx vertx = Vertx.vertx();
  private ControlStore control;
  private TopologyWatcher topology;
  private Node node;
  private PgDatabase db;
  private final HttpClient http = HttpClient.newHttpClient();
  private final List<ForwardingSink> sinks = new ArrayList<>();

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    PgServer server = PgServer.get();
    PgConfig controlPg = config(server.createDatabase("upgrade_control"));
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: upgrade-source\n    writeKey: upgrade-write-key\n");
    control = await(ControlStore.open(vertx, controlPg));
    await(control.initialize(8, 1));
    db = server.createDatabase("upgrade_node0");
    node = await(new Node(vertx, new NodeOptions(0, config(db), 8, GatewayOptions.defaults(0), "127.0.0.1", 0, TOKEN, TOKEN,
        workspace, controlPg, null).withAllowNonDurableDatabase(true)).start());
    topology = await(TopologyWatcher.start(vertx, control, Duration.ofSeconds(1)));
  }

  @AfterAll
  void stop() {
    for (ForwardingSink s : sinks) {
      await(s.close());
    }
    topology.close();
    await(node.stop());
    await(control.closeAsync());
    await(vertx.close());
  }

  private ForwardingSink proxy(WireVersions speaks) {
    ForwardingSink sink = new ForwardingSink(vertx, topology, TOKEN, new SimpleMeterRegistry()).wireVersions(speaks);
    sinks.add(sink);
    return sink;
  }

  @Test
  void anUpgradedNodeTakesBatchesFromAPreviousProxy() throws Exception {
    node.wireVersions(NEXT);
    ForwardingSink old = proxy(PREVIOUS);
    for (int n = 0; n < 3; n++) {
      await(old.accept(source(), List.of(event("up-node", "un-" + n))));
    }
    assertEquals(List.of("un-0", "un-1", "un-2"), stored("up-node"));
  }

  @Test
  void anUpgradedProxySendsThePreviousVersionToANodeNotYetUpgraded() throws Exception {
    node.wireVersions(PREVIOUS);
    ForwardingSink upgraded = proxy(NEXT);
    // the first batch goes out at the proxy's newest, is refused, and is resent at once at the node's newest
    for (int n = 0; n < 3; n++) {
      await(upgraded.accept(source(), List.of(event("up-proxy", "up-" + n))));
    }
    // the node is upgraded (the proxy's cached range is stale but its version still accepted; the answer updates it),
    // then rolled back: the proxy's cached version is refused and it learns the range from the refusal
    node.wireVersions(NEXT);
    await(upgraded.accept(source(), List.of(event("up-proxy", "up-3"))));
    node.wireVersions(PREVIOUS);
    await(upgraded.accept(source(), List.of(event("up-proxy", "up-4"))));
    assertEquals(List.of("up-0", "up-1", "up-2", "up-3", "up-4"), stored("up-proxy"));
  }

  @Test
  void anUnsupportedVersionGetsAClear400AndNoVersionIsVersionOne() throws Exception {
    node.wireVersions(WireVersions.CURRENT);
    int unsupported = WireVersions.NEWEST + 1;
    Answer refused = post(String.valueOf(unsupported), "raw-0");
    assertEquals(400, refused.status(), refused.body());
    assertTrue(refused.body().contains("unsupported wire version " + unsupported), refused.body());
    assertTrue(refused.body().contains("accepts versions " + WireVersions.OLDEST + " to " + WireVersions.NEWEST), refused.body());
    assertEquals(WireVersions.CURRENT.header(), refused.range());

    Answer garbage = post("two", "raw-1");
    assertEquals(400, garbage.status(), garbage.body());
    assertTrue(garbage.body().contains("unsupported wire version two"), garbage.body());

    // a proxy older than wire versions sends no header: version 1
    Answer unversioned = post(null, "raw-2");
    assertEquals(WireVersions.CURRENT.accepts(1) ? 200 : 400, unversioned.status(), unversioned.body());
    assertEquals(WireVersions.CURRENT.header(), unversioned.range());
    assertEquals(List.of("raw-2"), stored("raw"));
  }

  private record Answer(int status, String body, String range) {}

  /** A raw internal batch (the JDK's client: blocking, outside Vert.x). */
  private Answer post(String version, String messageId) throws Exception {
    Event e = event("raw", messageId);
    Buffer batch = IngestBatch.encode(List.of(new IngestBatch.Item(e.routingKey(), e.messageId(), e.payload())));
    HttpRequest.Builder req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.internalPort() + IngestBatch.PATH))
        .header("Authorization", "Bearer " + TOKEN)
        .header("Content-Type", IngestBatch.CONTENT_TYPE)
        .header(IngestBatch.EPOCH_HEADER, String.valueOf(topology.current().epoch()))
        .header(IngestBatch.SOURCE_HEADER, "upgrade-source")
        .POST(HttpRequest.BodyPublishers.ofByteArray(batch.getBytes()));
    if (version != null) {
      req.header(WireVersions.HEADER, version);
    }
    HttpResponse<String> resp = http.send(req.build(), HttpResponse.BodyHandlers.ofString());
    return new Answer(resp.statusCode(), resp.body(), resp.headers().firstValue(WireVersions.RANGE_HEADER).orElse(null));
  }

  private static Source source() {
    return Source.of("upgrade-source", "upgrade-write-key");
  }

  private static Event event(String user, String messageId) {
    return EventSinkContract.event(user, messageId);
  }

  private List<String> stored(String routingKey) throws Exception {
    return EventSinkContract.gwMessageIds(db, routingKey);
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }
}
