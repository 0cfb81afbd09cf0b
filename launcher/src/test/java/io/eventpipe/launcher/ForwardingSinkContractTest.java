package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventSinkContract;
import io.eventpipe.gateway.EventType;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.ForwardingSink;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
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

/** The proxy's sink, in front of two real nodes: stored means committed on each user's owner node. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ForwardingSinkContractTest extends EventSinkContract {

  private static final String TOKEN = "contract-test-token";
  private static final int PARTITIONS = 16;

  private final Vertx vertx = Vertx.vertx();
  private final List<Node> nodes = new ArrayList<>();
  private ControlStore control;
  private TopologyWatcher topology;
  private ForwardingSink forwarding;
  private final SimpleMeterRegistry registry = new SimpleMeterRegistry();

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    PgServer server = PgServer.get();
    PgConfig controlPg = config(server.createDatabase("sink_contract_control"));
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: contract-source\n    writeKey: contract-write-key\n");
    control = await(ControlStore.open(vertx, controlPg));
    await(control.initialize(PARTITIONS, 2));
    for (int k = 0; k < 2; k++) {
      PgDatabase db = server.createDatabase("sink_contract_node" + k);
      databases.add(db);
      nodes.add(await(new Node(vertx, new NodeOptions(k, config(db), PARTITIONS, GatewayOptions.defaults(0), "127.0.0.1", 0,
          TOKEN, TOKEN, workspace, controlPg, null).withAllowNonDurableDatabase(true)).start()));
    }
    topology = await(TopologyWatcher.start(vertx, control, Duration.ofSeconds(1)));
    forwarding = new ForwardingSink(vertx, topology, TOKEN, registry);
    sink = forwarding;
  }

  /**
   * Issue 14: a node refuses one event of an internal batch that coalesced many requests (a payload that escapes a
   * NUL, made by hand past the edge): only the request that sent it fails, with a 400 naming the event's index in
   * that request; the requests coalesced with it are stored (they used to fail with it, as a retryable 503).
   */
  @Test
  void aNodeRefusingOneEventOfACoalescedBatchFailsOnlyTheRequestThatSentIt() throws Exception {
    double coalescedBefore = registry.get("proxy.coalesced.requests").summary().totalAmount();
    long batchesBefore = registry.get("proxy.coalesced.requests").summary().count();
    List<Future<Void>> innocent = new ArrayList<>();
    List<Future<Void>> bad = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      innocent.add(sink.accept(source(), List.of(event("fwd-innocent-" + i, "fwd-in-" + i))));
      if (i % 20 == 10) {
        String user = "fwd-poison-" + i;
        byte[] poison = ("{\"type\":\"track\",\"event\":\"a\\u0000b\",\"userId\":\"" + user + "\"}")
            .getBytes(StandardCharsets.UTF_8);
        bad.add(sink.accept(source(), List.of(event(user, "fwd-p-" + i),
            new Event("fwd-bad-" + i, EventType.TRACK, null, user, user, poison))));
      }
    }
    for (Future<Void> f : innocent) {
      await(f);
    }
    for (Future<Void> f : bad) {
      Throwable err = assertThrows(Throwable.class, () -> await(f));
      GatewayException refused = assertInstanceOf(GatewayException.class, err, err.toString());
      assertEquals(400, refused.status());
      assertEquals(1, refused.eventIndex(), refused.getMessage());
      assertTrue(refused.getMessage().startsWith("batch[1]: refused by the node that stores it: event "), refused.getMessage());
    }
    for (int i = 0; i < 60; i++) {
      assertEquals(List.of("fwd-in-" + i), storedMessageIds("fwd-innocent-" + i));
    }
    double requests = registry.get("proxy.coalesced.requests").summary().totalAmount() - coalescedBefore;
    long batches = registry.get("proxy.coalesced.requests").summary().count() - batchesBefore;
    assertTrue(requests > batches, "requests were coalesced (" + requests + " in " + batches + " batches);"
        + " otherwise this test proves nothing");
  }

  /** Issue 14: a raw internal batch (a sender that skips every check) whose second event's key holds a NUL byte. */
  @Test
  void aNodeAnswersARawBatchWithANulInAKeyWith400NamingTheEvent() throws Exception {
    byte[] ok = "{}".getBytes(StandardCharsets.UTF_8);
    io.vertx.core.buffer.Buffer batch = io.vertx.core.buffer.Buffer.buffer().appendInt(0x45504231).appendInt(2);
    for (String key : List.of("raw-ok", "raw-\u0000")) {
      byte[] k = key.getBytes(StandardCharsets.UTF_8);
      batch.appendUnsignedShort(k.length).appendBytes(k).appendUnsignedShort(2).appendString("m" + key.length())
          .appendInt(ok.length).appendBytes(ok);
    }
    io.vertx.core.http.HttpClientAgent client = vertx.createHttpClient();
    try {
      Object[] answer = await(client.request(new io.vertx.core.http.RequestOptions()
              .setMethod(io.vertx.core.http.HttpMethod.POST)
              .setAbsoluteURI("http://127.0.0.1:" + nodes.get(0).internalPort() + io.eventpipe.wire.IngestBatch.PATH)
              .putHeader("Authorization", "Bearer " + TOKEN)
              .putHeader(io.eventpipe.wire.IngestBatch.EPOCH_HEADER, "0")
              .putHeader(io.eventpipe.wire.IngestBatch.SOURCE_HEADER, "contract-source"))
          .compose(req -> req.send(batch))
          .compose(resp -> resp.body().map(b -> new Object[] {resp.statusCode(), b.toString(StandardCharsets.UTF_8),
              "HTTP " + resp.statusCode() + " " + resp.statusMessage() + " " + resp.headers().entries() + " from "
                  + resp.request().connection().remoteAddress() + ", node 0's internal port " + nodes.get(0).internalPort()})));
      // once (clean clone, 2026-12-02) this answer had an empty body: say everything about an answer before reading it
      String raw = (String) answer[1];
      String evidence = answer[2] + ", body '" + raw + "'";
      assertEquals(400, answer[0], evidence);
      assertTrue(raw.startsWith("{"), evidence);
      io.vertx.core.json.JsonObject body = new io.vertx.core.json.JsonObject(raw);
      assertEquals(1, body.getInteger("index"), body.encode());
      assertTrue(body.getString("error").startsWith("event 1: routing key is not valid UTF-8"), body.encode());
    } finally {
      client.close();
    }
    assertEquals(List.of(), storedMessageIds("raw-ok"), "the whole batch is refused");
  }

  @AfterAll
  void stop() {
    await(forwarding.close());
    topology.close();
    for (Node n : nodes) {
      await(n.stop());
    }
    await(control.closeAsync());
    await(vertx.close());
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }
}
