package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.MigrationException;
import io.eventpipe.migrator.NodeDatabases;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.vertx.core.Vertx;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.Statement;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * A node refuses, before it serves anything, a database that does not commit durably, naming the setting, its value
 * and the fix; {@code allowNonDurableDatabase} (tests only) lets it start, with the gauge saying so. A durable
 * database (the server {@code pipeline local} runs) starts without it. The migrator checks the same way.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class NodeDurabilityTest {

  private static final String TOKEN = "durability-test-token";

  private EmbeddedPg durable;
  /** The embedded library's defaults: -F (fsync off) and synchronous_commit=off, trust authentication. */
  private EmbeddedPostgres fast;
  private Path workspace;
  private Vertx vertx;
  private final HttpClient http = HttpClient.newHttpClient();

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    durable = EmbeddedPg.start(dir.resolve("durable"));
    fast = EmbeddedPostgres.builder().start();
    workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: durability\n    writeKey: durability-write-key\n");
  }

  @AfterAll
  void stop() throws Exception {
    durable.close();
    fast.close();
  }

  @AfterEach
  void closeVertx() {
    if (vertx != null) {
      await(vertx.close());
      vertx = null;
    }
  }

  @Test
  void startsOnADurableDatabaseWithoutTheFlag() throws Exception {
    Node node = await(newNode(durable.database("durable_node"), false).start());
    assertTrue(metrics(node).contains("node_database_non_durable 0.0"), "the gauge says durable");
    await(node.stop());
  }

  @Test
  void refusesFsyncOffNamingTheSettingAndTheFix() {
    PgConfig pg = new PgConfig("localhost", fast.getPort(), "postgres", "postgres", "");
    JobsDbException.NotDurable e = assertThrows(JobsDbException.NotDurable.class, () -> await(newNode(pg, false).start()));
    assertEquals("fsync", e.setting());
    assertEquals("off", e.value());
    assertTrue(e.getMessage().contains("fsync is off"), e.getMessage());
    assertTrue(e.getMessage().contains("synchronous_commit is off"), "every problem is listed: " + e.getMessage());
    assertTrue(e.getMessage().contains("ALTER SYSTEM SET fsync = on"), e.getMessage());
    assertTrue(e.getMessage().contains("--allow-non-durable-database"), e.getMessage());
    assertTrue(e.getMessage().contains(pg.redacted()), e.getMessage());
  }

  /** synchronous_commit is per role and database: a durable server with one database set to off is refused too. */
  @Test
  void refusesADatabaseWhoseSynchronousCommitIsOff() throws Exception {
    PgConfig pg = durable.database("async_node");
    try (Connection c = DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password()); Statement s = c.createStatement()) {
      s.execute("ALTER DATABASE async_node SET synchronous_commit = off");
    }
    JobsDbException.NotDurable e = assertThrows(JobsDbException.NotDurable.class, () -> await(newNode(pg, false).start()));
    assertEquals("synchronous_commit", e.setting());
    assertEquals("off", e.value());
    assertTrue(e.getMessage().contains("ALTER DATABASE"), "the fix names where it may be set: " + e.getMessage());

    // the durable values other than "on" are accepted
    for (String value : new String[] {"local", "remote_write", "remote_apply"}) {
      try (Connection c = DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password()); Statement s = c.createStatement()) {
        s.execute("ALTER DATABASE async_node SET synchronous_commit = " + value);
      }
      closeVertx();
      Node node = await(newNode(pg, false).start());
      await(node.stop());
    }
  }

  @Test
  void startsOnANonDurableDatabaseWithTheFlagAndSaysSo() throws Exception {
    PgConfig pg = new PgConfig("localhost", fast.getPort(), "postgres", "postgres", "");
    Node node = await(newNode(pg, true).start());
    assertTrue(metrics(node).contains("node_database_non_durable 1.0"), "the gauge says non-durable");
    HttpResponse<String> status = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.internalPort()
        + "/internal/v1/status")).header("Authorization", "Bearer " + TOKEN).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, status.statusCode(), status.body());
    assertTrue(status.body().contains("\"databaseDurable\":false"), status.body());
    await(node.stop());
  }

  /** The migrator writes jobs into node databases: it refuses a non-durable one too, and opens a durable one. */
  @Test
  void theMigratorRefusesANonDurableNodeDatabase() throws Exception {
    vertx = Vertx.vertx();
    PgConfig fastPg = new PgConfig("localhost", fast.getPort(), "postgres", "postgres", "");
    PgConfig durablePg = durable.database("migrated_node");
    try (NodeDatabases dbs = new NodeDatabases(vertx, k -> k == 0 ? durablePg : fastPg)) {
      assertEquals(0, await(dbs.node(0)).ordinal());
      MigrationException e = assertThrows(MigrationException.class, () -> await(dbs.node(1)));
      assertTrue(e.getMessage().contains("fsync is off") && e.getMessage().contains("--allow-non-durable-database"),
          e.getMessage());
    }
    try (NodeDatabases dbs = new NodeDatabases(vertx, k -> fastPg, true)) {
      assertEquals(1, await(dbs.node(1)).ordinal());
    }
  }

  private Node newNode(PgConfig pg, boolean allowNonDurable) {
    vertx = Vertx.vertx();
    return new Node(vertx, NodeOptions.standalone(0, pg, 8, GatewayOptions.defaults(0).withHost("127.0.0.1"), "127.0.0.1", 0,
        TOKEN, workspace).withAllowNonDurableDatabase(allowNonDurable));
  }

  private String metrics(Node node) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + node.internalPort() + "/metrics")).build(),
        HttpResponse.BodyHandlers.ofString()).body();
  }
}
