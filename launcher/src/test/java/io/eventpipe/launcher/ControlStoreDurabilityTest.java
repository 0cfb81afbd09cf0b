package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.vertx.core.Vertx;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14: the control store's topology and migration records decide where acknowledged events live, yet only the
 * node databases were checked for durability. Every process that writes the control store checks it where it starts
 * (a node, {@code pipeline control-init}, {@code pipeline migrator}) and refuses a non-durable one naming the setting,
 * unless given the tests-only {@code --allow-non-durable-database}. All on one durable server ({@code pipeline
 * local}'s), where one database has {@code synchronous_commit = off} (per database: the check runs as the process
 * connects), beside a durable control store that starts without the flag.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ControlStoreDurabilityTest {

  private static final String ADMIN = "control-durability-admin-token-0123456789";
  private static final String INGEST = "control-durability-ingest-token-012345678";

  private EmbeddedPg server;
  private Path workspace;
  private PgConfig nodeDb;
  private Vertx vertx;

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    server = EmbeddedPg.start(dir.resolve("pg"));
    nodeDb = server.database("durable_node");
    workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: control-durability\n    writeKey: control-durability-write-key\n");
  }

  @AfterAll
  void stop() throws Exception {
    server.close();
  }

  @AfterEach
  void closeVertx() {
    if (vertx != null) {
      await(vertx.close());
      vertx = null;
    }
  }

  @Test
  void aNodeRefusesANonDurableControlStoreAndStartsOnADurableOne() throws Exception {
    PgConfig durableControl = initialized(server.database("durable_control"));
    PgConfig asyncControl = initialized(asynchronous(server.database("async_control")));

    Node innocent = await(clusterNode(durableControl, false).start());
    await(innocent.stop());
    closeVertx();

    JobsDbException.NotDurable e = assertThrows(JobsDbException.NotDurable.class,
        () -> await(clusterNode(asyncControl, false).start()));
    assertEquals("synchronous_commit", e.setting());
    assertTrue(e.getMessage().contains("control store") && e.getMessage().contains(asyncControl.redacted())
        && e.getMessage().contains("--allow-non-durable-database"), e.getMessage());
    closeVertx();

    Node allowed = await(clusterNode(asyncControl, true).start()); // tests only, logged loudly
    await(allowed.stop());
  }

  @Test
  void controlInitRefusesANonDurableControlStore() throws Exception {
    PgConfig async = asynchronous(server.database("async_init"));
    Flags.BadFlag e = assertThrows(Flags.BadFlag.class, () -> controlInit(async));
    assertTrue(e.getMessage().contains("synchronous_commit is off") && e.getMessage().contains("pipeline control-init")
        && e.getMessage().contains("--allow-non-durable-database"), e.getMessage());
    assertTrue(!e.getMessage().contains(server.superuser().password()), "no password in the message");
    assertEquals(false, holdsACluster(async), "nothing was created");

    controlInit(server.database("durable_init"));
    assertEquals(true, holdsACluster(server.database("durable_init")));
    controlInit(async, "--allow-non-durable-database");
    assertEquals(true, holdsACluster(async));
  }

  @Test
  void theMigratorRefusesANonDurableControlStore() throws Exception {
    PgConfig async = asynchronous(server.database("async_migrator"));
    String nodes = url(nodeDb).replace("durable_node", "node_{node}");
    // a first install's hook (--if-initialized, no cluster yet): nothing to do, so nothing to check
    assertEquals(0, migrator(async, nodes, 2));
    initialized(async);
    Flags.BadFlag e = assertThrows(Flags.BadFlag.class, () -> migrator(async, nodes, 2));
    assertTrue(e.getMessage().contains("synchronous_commit is off") && e.getMessage().contains("pipeline migrator"),
        e.getMessage());
    assertEquals(0, migrator(server.database("durable_migrator"), nodes, 2));
    assertEquals(0, migrator(async, nodes, 1, "--allow-non-durable-database")); // accepted: 1 node already, nothing to move
  }

  /** The URL a deployment passes (the generated password is URL-safe). */
  private static String url(PgConfig c) {
    return "postgresql://" + c.user() + ":" + c.password() + "@" + c.host() + ":" + c.port() + "/" + c.database();
  }

  private PgConfig asynchronous(PgConfig db) throws Exception {
    PgConfig su = server.superuser();
    try (Connection c = DriverManager.getConnection(su.jdbcUrl(), su.user(), su.password()); Statement s = c.createStatement()) {
      s.execute("ALTER DATABASE " + db.database() + " SET synchronous_commit = off");
    }
    return db;
  }

  private PgConfig initialized(PgConfig control) {
    Vertx v = Vertx.vertx();
    try {
      ControlStore store = await(ControlStore.open(v, control));
      await(store.initialize(8, 1));
      await(store.closeAsync());
    } finally {
      await(v.close());
    }
    return control;
  }

  private boolean holdsACluster(PgConfig control) {
    Vertx v = Vertx.vertx();
    try {
      return await(ControlStore.holdsACluster(v, control));
    } finally {
      await(v.close());
    }
  }

  private Node clusterNode(PgConfig control, boolean allowNonDurable) {
    vertx = Vertx.vertx();
    return new Node(vertx, new NodeOptions(0, nodeDb, 8, GatewayOptions.defaults(0), "127.0.0.1", 0, ADMIN, INGEST,
        workspace, control, null).withAllowNonDurableDatabase(allowNonDurable));
  }

  private static void controlInit(PgConfig control, String... more) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("--control-url", url(control), "--cluster-nodes", "1",
        "--partitions", "8", "--wait-seconds", "0"));
    args.addAll(List.of(more));
    ControlInit.run(new Flags(args.toArray(String[]::new), Main.flagsOf("control-init"), Map.of()), 8);
  }

  private static int migrator(PgConfig control, String nodes, int to, String... more) throws Exception {
    List<String> args = new java.util.ArrayList<>(List.of("--to", String.valueOf(to), "--control-url", url(control), "--node-pg-url",
        nodes, "--if-initialized", "--progress", "plain"));
    args.addAll(List.of(more));
    return Migrate.migrator(new Flags(args.toArray(String[]::new), Main.flagsOf("migrator"), Map.of()));
  }
}
