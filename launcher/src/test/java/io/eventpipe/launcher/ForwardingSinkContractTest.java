package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.EventSinkContract;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.ForwardingSink;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
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
    forwarding = new ForwardingSink(vertx, topology, TOKEN, new SimpleMeterRegistry());
    sink = forwarding;
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
