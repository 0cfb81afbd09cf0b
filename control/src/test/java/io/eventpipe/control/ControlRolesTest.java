package io.eventpipe.control;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Topology;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What each role of the control store may do: the proxy reads, a node writes its own row, the migrator the rest. */
class ControlRolesTest {

  private static final String PW = "role-test-password-0123456789abcdef";

  private final Vertx vertx = Vertx.vertx();
  private PgDatabase db;
  private ControlStore owner;

  @BeforeEach
  void provision() throws Exception {
    db = PgServer.get().createDatabase("control_roles");
    try (Connection c = DriverManager.getConnection(db.jdbcUrl(), db.user(), db.password())) {
      ControlRoles.provision(c, Map.of(ControlRoles.PROXY, PW, ControlRoles.node(0), PW, ControlRoles.node(1), PW,
          ControlRoles.MIGRATOR, PW, ControlRoles.STATUS, PW));
    }
    owner = await(ControlStore.open(vertx, as(db.user(), db.password())));
    await(owner.initialize(64, 2));
    await(owner.registerNode(0, "10.0.0.1:8081"));
    await(owner.registerNode(1, "10.0.0.2:8081"));
  }

  @AfterEach
  void close() throws Exception {
    await(owner.closeAsync());
    await(vertx.close());
  }

  @Test
  void theProxyRoleReadsTheTopologyAndCannotChangeAnything() throws Exception {
    ControlStore proxy = await(ControlStore.open(vertx, as(ControlRoles.PROXY, PW)));
    TopologyWatcher watcher = await(TopologyWatcher.start(vertx, proxy, Duration.ofSeconds(30)));
    assertEquals("10.0.0.2:8081", watcher.current().addressOf(1), "it reads the node addresses");
    assertEquals(2, await(ClusterStatus.read(proxy)).nodeCount(), "and what the cluster gauges read");

    // the escalation: rewriting a node's address would send every proxy's traffic for node 1 to the attacker
    denied(proxy.registerNode(1, "attacker:8081"));
    denied(proxy.heartbeat(1, false));
    denied(proxy.publish(Assignment.compute(64, 1).owners(), 1, "evil"));
    denied(proxy.forgetNodesFrom(0));
    denied(proxy.requestAbort("m"));
    try (Connection c = jdbc(ControlRoles.PROXY)) {
      sqlDenied(c, "UPDATE control.nodes SET address = 'attacker:8081'");
      sqlDenied(c, "DELETE FROM control.topology");
      sqlDenied(c, "INSERT INTO control.migrations (id, from_nodes, to_nodes, from_epoch, old_owners, new_owners, state)"
          + " VALUES ('x', 1, 2, 1, '{}', '{}', 'planned')");
      sqlDenied(c, "CREATE TABLE control.mine (x int)");
    }
    assertEquals("10.0.0.2:8081", await(owner.current()).orElseThrow().addressOf(1));
    watcher.close();
    await(proxy.closeAsync());
  }

  @Test
  void aNodeRoleWritesItsOwnRowOnlyAndNeverTheTopology() throws Exception {
    ControlStore node0 = await(ControlStore.open(vertx, as(ControlRoles.node(0), PW)));
    await(node0.registerNode(0, "10.0.0.9:8081"));
    await(node0.heartbeat(0, true));
    assertEquals("10.0.0.9:8081", await(owner.current()).orElseThrow().addressOf(0), "its own row: allowed");

    // another node's row: the upsert is refused; an UPDATE sees no row it may change
    ExecutionException e = assertThrows(ExecutionException.class, () -> get(node0.registerNode(1, "attacker:8081")));
    assertTrue(e.getCause().getMessage().contains("row-level security"), e.getCause().getMessage());
    await(node0.heartbeat(1, false));
    assertThrows(ExecutionException.class, () -> get(node0.registerNode(7, "attacker:8081")), "nor a row for a node to come");
    try (Connection c = jdbc(ControlRoles.node(0))) {
      try (Statement s = c.createStatement()) {
        assertEquals(0, s.executeUpdate("UPDATE control.nodes SET address = 'attacker:8081' WHERE node_id = 1"));
      }
      sqlDenied(c, "UPDATE control.nodes SET node_id = 5 WHERE node_id = 0");
      sqlDenied(c, "DELETE FROM control.nodes WHERE node_id = 1");
      try (Statement s = c.createStatement()) {
        s.execute("SET ROLE " + ControlRoles.NODES);
        assertEquals(0, s.executeUpdate("UPDATE control.nodes SET address = 'attacker:8081' WHERE node_id = 1"),
            "the group it may switch to matches no row");
      }
    }
    denied(node0.publish(Assignment.compute(64, 1).owners(), 1, "evil"));
    denied(node0.initialize(64, 1));
    Topology t = await(owner.current()).orElseThrow();
    assertEquals("10.0.0.2:8081", t.addressOf(1));
    assertEquals(1, t.epoch());
    assertTrue(await(owner.nodes()).getValue().get(1).ready() == false, "node 1's readiness is untouched");
    await(node0.closeAsync());
  }

  @Test
  void theMigratorRoleChangesTheTopologyAndMigrationsButNotTheSchema() throws Exception {
    ControlStore migrator = await(ControlStore.open(vertx, as(ControlRoles.MIGRATOR, PW)));
    Topology from = await(migrator.current()).orElseThrow();
    int[] owners = Assignment.compute(64, 3).owners();
    await(migrator.beginMigration("m1", 2, 3, from, owners));
    await(migrator.recordStep("m1", Migration.Step.FINISHED, null));
    assertEquals(2, await(migrator.publish(owners, 3, "m1")).epoch());
    await(migrator.forgetNodesFrom(1));
    assertEquals(1, await(owner.nodes()).getValue().size());
    try (Connection c = jdbc(ControlRoles.MIGRATOR)) {
      sqlDenied(c, "DROP TABLE control.migration_moves");
      sqlDenied(c, "ALTER TABLE control.nodes DISABLE ROW LEVEL SECURITY");
    }
    await(migrator.closeAsync());
  }

  @Test
  void regulationsAreRecordedByNodesReadByEveryRoleAndNeverRewritten() throws Exception {
    ControlStore node0 = await(ControlStore.open(vertx, as(ControlRoles.node(0), PW)));
    ControlStore proxy = await(ControlStore.open(vertx, as(ControlRoles.PROXY, PW)));
    ControlStore status = await(ControlStore.open(vertx, as(ControlRoles.STATUS, PW)));
    ControlStore migrator = await(ControlStore.open(vertx, as(ControlRoles.MIGRATOR, PW)));
    Regulations.Requested first = await(Regulations.request(node0, Regulations.Kind.DELETE, "u-1", "ops@example"));
    assertTrue(first.created());
    Regulations.Requested again = await(Regulations.request(node0, Regulations.Kind.DELETE, "u-1", "someone else"));
    assertTrue(!again.created() && again.regulation().id() == first.regulation().id(), "idempotent per kind and user");
    assertEquals("ops@example", again.regulation().requestedBy(), "the first request's author stays");
    await(Regulations.recordApplied(node0, first.regulation().id(), 0, 3, new Integer[] {5}, new String[] {"m-1"}));
    for (ControlStore reader : List.of(proxy, status, migrator)) {
      Regulations.Regulation r = await(Regulations.list(reader)).get(0);
      assertEquals("u-1", r.userId());
      assertEquals(3, r.nodes().get(0).removed(), "status per node is readable");
    }
    var keys = await(Regulations.removedKeys(migrator, first.regulation().id()));
    assertEquals(List.of(5), List.of(keys.getKey()));
    assertEquals(List.of("m-1"), List.of(keys.getValue()));

    // a node writes its own status only; the proxy records nothing; nobody rewrites or deletes a request
    ExecutionException other = assertThrows(ExecutionException.class,
        () -> get(Regulations.recordApplied(node0, first.regulation().id(), 1, 0, new Integer[0], new String[0])));
    assertTrue(other.getCause().getMessage().contains("row-level security"), other.getCause().getMessage());
    denied(Regulations.request(proxy, Regulations.Kind.SUPPRESS, "u-2", "attacker"));
    denied(Regulations.recordApplied(proxy, first.regulation().id(), 0, 0, new Integer[0], new String[0]));
    try (Connection c = jdbc(ControlRoles.node(0))) {
      sqlDenied(c, "UPDATE control.regulations SET user_id = 'someone-else'");
      sqlDenied(c, "DELETE FROM control.regulations");
    }
    try (Connection c = jdbc(ControlRoles.MIGRATOR)) {
      sqlDenied(c, "DELETE FROM control.regulations");
    }
    for (ControlStore st : List.of(node0, proxy, status, migrator)) {
      await(st.closeAsync());
    }
  }

  private PgConfig as(String user, String password) {
    return new PgConfig(db.host(), db.port(), db.database(), user, password);
  }

  private Connection jdbc(String role) throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), role, PW);
  }

  private static void sqlDenied(Connection c, String sql) {
    SQLException e = assertThrows(SQLException.class, () -> {
      try (Statement s = c.createStatement()) {
        s.execute(sql);
      }
    }, sql);
    assertTrue(e.getMessage().contains("permission denied") || e.getMessage().contains("must be owner"), sql + ": " + e.getMessage());
  }

  private static void denied(Future<?> f) {
    ExecutionException e = assertThrows(ExecutionException.class, () -> get(f));
    assertTrue(e.getCause().getMessage().contains("permission denied"), e.getCause().getMessage());
  }

  private static Object get(Future<?> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
  }
}
