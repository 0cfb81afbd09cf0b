package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlRoles;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Base64;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code pipeline local}'s cluster with its roles: the proxy routes events end to end with a role that can read the
 * topology and change nothing (on the old code it connected as the server's superuser, so the UPDATE below
 * succeeded and rewrote where node 1's traffic goes), and a node's role cannot touch another node's row.
 */
class LocalPrivilegeTest {

  private static final String WRITE_KEY = "local-privilege-write-key";

  @Test
  void theProxyRoutesWithAReadOnlyRoleAndNodesWriteOnlyTheirOwnRows(@TempDir Path dir) throws Exception {
    Vertx vertx = Vertx.vertx();
    SequenceChecker delivered = new SequenceChecker();
    HttpServer sink = await(vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      JsonObject e = new JsonObject(body.toString(StandardCharsets.UTF_8));
      delivered.observe(e.getString("userId"), e.getJsonObject("properties").getLong("seq"));
      req.response().end();
    })).listen(0, "127.0.0.1"));
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n  - id: sink\n    type: webhook\n    sources: [app]\n    config:\n"
        + "      url: http://127.0.0.1:" + sink.actualPort() + "/events\n");
    Path roles = dir.resolve("control-roles");
    EmbeddedPg pg = EmbeddedPg.start(dir.resolve("postgres"));
    LocalCluster cluster = new LocalCluster(vertx, pg, 2, 16, GatewayOptions.defaults(0).withHost("127.0.0.1"),
        io.eventpipe.gateway.http.ConnectionLimits.internalDefaults(), 0, "local-privilege-admin-token-0123456789",
        "local-privilege-ingest-token-012345678", workspace, roles);
    try {
      await(cluster.start(), java.time.Duration.ofSeconds(120));
      String jdbc = "jdbc:postgresql://localhost:" + pg.port() + "/";

      // 1. events of many users reach both nodes through the proxy, which holds the read-only role
      HttpClient http = HttpClient.newHttpClient();
      for (int u = 0; u < 40; u++) {
        String body = "{\"userId\":\"u" + u + "\",\"event\":\"Step\",\"properties\":{\"seq\":1}}";
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + cluster.proxyPort() + "/v1/track"))
            .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode(), r.body());
      }
      eventually("every event is delivered", () -> delivered.delivered() == 40);

      // 2. the proxy's role: reads, never writes, no node database
      try (Connection c = DriverManager.getConnection(jdbc + "control", ControlRoles.PROXY, password(roles, ControlRoles.PROXY))) {
        denied(c, "UPDATE control.nodes SET address = 'attacker:8081' WHERE node_id = 1");
        denied(c, "INSERT INTO control.topology (epoch, partition_count, owners, node_count) VALUES (99, 16, '{}', 1)");
        try (Statement s = c.createStatement()) {
          assertTrue(s.executeQuery("SELECT 1 FROM control.nodes").next(), "it reads the node addresses");
        }
      }
      SQLException noConnect = assertThrows(SQLException.class,
          () -> DriverManager.getConnection(jdbc + "node0", ControlRoles.PROXY, password(roles, ControlRoles.PROXY)).close());
      assertTrue(noConnect.getMessage().contains("permission denied"), noConnect.getMessage());

      // 3. node 0's role: its own row only
      String node0 = ControlRoles.node(0);
      try (Connection c = DriverManager.getConnection(jdbc + "control", node0, password(roles, node0));
           Statement s = c.createStatement()) {
        assertEquals(0, s.executeUpdate("UPDATE control.nodes SET address = 'attacker:8081' WHERE node_id = 1"));
        assertEquals(1, s.executeUpdate("UPDATE control.nodes SET ready = true WHERE node_id = 0"));
        denied(c, "UPDATE control.topology SET owners = '{}'");
      }

      // 4. the generated role passwords are owner-only
      for (String role : new String[] {ControlRoles.PROXY, node0, ControlRoles.MIGRATOR, ControlRoles.STATUS}) {
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(roles.resolve(role))), role);
      }
      assertTrue(cluster.statusControlUrl().contains(ControlRoles.STATUS + ":"));
    } finally {
      await(cluster.stop(), java.time.Duration.ofSeconds(60));
      await(vertx.close());
      pg.close();
    }
  }

  private static String password(Path roles, String role) throws java.io.IOException {
    return Files.readString(roles.resolve(role)).trim();
  }

  private static void denied(Connection c, String sql) {
    SQLException e = assertThrows(SQLException.class, () -> {
      try (Statement s = c.createStatement()) {
        s.execute(sql);
      }
    }, sql);
    assertTrue(e.getMessage().contains("permission denied"), sql + ": " + e.getMessage());
  }
}
