package io.eventpipe.launcher;

import static io.eventpipe.launcher.MigrationCluster.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.NodeDatabases;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Partitioner;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Privacy regulations on a real cluster (issue 20): a proxy and nodes in one JVM, their databases on a real PostgreSQL,
 * a webhook sink that fails every delivery until the test lets it recover, and a resize from one node to two while
 * deletes are requested in the middle of it. Every user of the test shares one partition, which moves.
 *
 * <ul>
 *   <li>a user deleted after the copy's fence and before its copy (on the source; the copy must not bring it back),</li>
 *   <li>a user deleted after the copy and before the release (on both sides: the target holds the copied jobs),</li>
 *   <li>a user suppressed before the resize, whose later events get 200,</li>
 * </ul>
 * are never delivered once the sink recovers, and nothing of the deleted users' events stays in any node's database
 * (jobs of both queues, dead letters, dedup entries); the innocent users of the same partition get every event, in order.
 */
class RegulationTest {

  private static final int PARTITIONS = 8;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @Test
  void deletedAndSuppressedUsersAreNeverDeliveredAcrossAResizeAndInnocentsKeepTheirOrder(@TempDir Path dir) throws Exception {
    // a partition that moves from node 0 to node 1 when one node becomes two, and users in it
    int[] twoNodes = Assignment.compute(PARTITIONS, 2).owners();
    Partitioner partitioner = Partitioner.of(PARTITIONS);
    int moving = -1;
    for (int p = 0; p < PARTITIONS && moving < 0; p++) {
      if (twoNodes[p] == 1) {
        moving = p;
      }
    }
    List<String> users = new ArrayList<>();
    for (int i = 0; users.size() < 6; i++) {
      if (partitioner.partition("user-" + i) == moving) {
        users.add("user-" + i);
      }
    }
    String beforeCopy = users.get(0);
    String beforeRelease = users.get(1);
    String suppressed = users.get(2);
    List<String> innocents = users.subList(3, 6);

    try (MigrationCluster c = new MigrationCluster(dir, PARTITIONS, 2, 1)) {
      c.sinkFailureRate = 1.0; // the destination is down: every event waits, in backoff
      // the command line records it and waits until every node applied it (exit 0)
      assertEquals(0, Regulation.run("suppress", new Flags(new String[] {"--user", suppressed, "--control-url", c.controlUrl(),
          "--admin-token", MigrationCluster.TOKEN, "--requested-by", "RegulationTest", "--progress", "plain"},
          Main.flagsOf("regulation"), Map.of())));
      JsonObject s = regulate(c, 0, "suppress", suppressed);
      assertEquals(200, s.getInteger("status"), "a repeated request is the same one: " + s.encode());
      assertEquals(false, s.getBoolean("created"));
      awaitApplied(c, 0, s.getLong("id"));
      assertEquals(0, Regulation.run("list", new Flags(new String[] {"--control-url", c.controlUrl(), "--admin-token",
          MigrationCluster.TOKEN}, Main.flagsOf("regulation"), Map.of())));

      Map<String, Integer> seqs = new HashMap<>();
      for (int round = 1; round <= 5; round++) {
        for (String u : users) {
          assertEquals(200, send(c, u, round), "every event is acknowledged, a suppressed user's too");
          seqs.put(u, round);
        }
      }
      Thread.sleep(1000); // the failing sink sees the pending ones

      c.startNode(1);
      Vertx mv = Vertx.vertx();
      ControlStore store = await(ControlStore.open(mv, c.control));
      MigratorOptions options = MigrationCluster.fastOptions().withLease(Duration.ofSeconds(120)).withHook(step -> {
        try {
          if (step.equals("copied")) { // fenced and switched, nothing copied yet: the data is on the source
            JsonObject d = regulate(c, 0, "delete", beforeCopy);
            awaitApplied(c, 0, d.getLong("id"));
          } else if (step.equals("released")) { // copied, held on the target, still on the source as migrated
            JsonObject d = regulate(c, 1, "delete", beforeRelease);
            awaitApplied(c, 1, d.getLong("id"));
          }
        } catch (Exception e) {
          throw new IllegalStateException(e);
        }
      });
      try (NodeDatabases dbs = new NodeDatabases(mv, c::migratorConfig, true)) {
        Migrator.Result r = await(new Migrator(mv, store, dbs, options, p -> {}).run(2, Migrator.Only.ALL), 240);
        assertEquals(2, r.toNodes(), r.summary());
      } finally {
        await(store.closeAsync());
        await(mv.close());
      }

      for (String u : users) { // after the resize: the suppressed user's later events are acknowledged too
        assertEquals(200, send(c, u, 6), u);
      }
      c.sinkLog.clear();
      c.sinkFailureRate = 0;
      long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
      while (!allDelivered(c, innocents, 6) && System.nanoTime() < deadline) {
        Thread.sleep(200);
      }
      assertTrue(allDelivered(c, innocents, 6), "innocent users get every event: " + summary(c));
      Thread.sleep(1500); // time for a wrongly kept job to be sent
      Map<String, List<Long>> delivered = delivered(c);
      assertEquals(List.of(), delivered.getOrDefault(suppressed, List.of()), suppressed + " (suppressed) is never delivered");
      for (String gone : List.of(beforeCopy, beforeRelease)) {
        // a delete without --suppress forgets what was stored; what the user sends afterwards is delivered
        assertEquals(List.of(6L), delivered.getOrDefault(gone, List.of()).stream().distinct().toList(),
            gone + "'s events stored before its delete are never delivered");
      }
      for (String u : innocents) {
        List<Long> order = delivered.get(u);
        List<Long> firsts = order.stream().distinct().toList();
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L), firsts, u + " keeps its order: " + order);
      }
      for (int k = 0; k < 2; k++) {
        try (java.sql.Connection conn = c.nodeDbs.get(k).connect()) {
          for (String gone : List.of(beforeCopy, beforeRelease)) {
            for (String q : new String[] {"jobs_gw", "jobs_rt"}) {
              assertEquals(0, count(conn, "SELECT count(*) FROM " + q + ".jobs j JOIN " + q + ".job_state s USING (job_id)"
                  +  " WHERE j.routing_key = ? AND j.message_id NOT LIKE '%-6'", gone), gone + " in " + q + " of node " + k);
              assertEquals(0, count(conn, "SELECT count(*) FROM " + q + ".dead_letter WHERE routing_key = ?", gone), gone);
              assertEquals(0, count(conn, "SELECT count(*) FROM " + q + ".dedup WHERE message_id LIKE ? AND message_id NOT LIKE '%-6'", gone + "-%"),
                  gone + "'s dedup entries in " + q + " of node " + k);
            }
          }
          for (String u : innocents) {
            if (k == 1) {
              assertEquals(6, count(conn, "SELECT count(*) FROM jobs_gw.dedup WHERE message_id LIKE ?", u + "-%"),
                  u + "'s dedup entries (the window copied, then its new event) are untouched on its new owner");
            }
          }
        }
      }
    }
  }

  private static boolean allDelivered(MigrationCluster c, List<String> users, long last) {
    Map<String, List<Long>> d = delivered(c);
    return users.stream().allMatch(u -> d.getOrDefault(u, List.of()).contains(last)
        && d.get(u).stream().distinct().count() == last);
  }

  private static Map<String, List<Long>> delivered(MigrationCluster c) {
    Map<String, List<Long>> out = new HashMap<>();
    for (Object[] e : c.sinkLog) {
      if ((int) e[2] == 200) {
        out.computeIfAbsent((String) e[0], k -> new ArrayList<>()).add((Long) e[1]);
      }
    }
    return out;
  }

  private static String summary(MigrationCluster c) {
    return delivered(c).toString();
  }

  private static long count(java.sql.Connection conn, String sql, String arg) throws java.sql.SQLException {
    try (java.sql.PreparedStatement st = conn.prepareStatement(sql)) {
      st.setString(1, arg);
      try (java.sql.ResultSet rs = st.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  private int send(MigrationCluster c, String user, long seq) throws Exception {
    String body = "{\"userId\":\"" + user + "\",\"event\":\"Step\",\"messageId\":\"" + user + "-" + seq
        + "\",\"properties\":{\"seq\":" + seq + "}}";
    for (int attempt = 0; ; attempt++) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + c.proxyPort() + "/v1/track"))
          .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((MigrationCluster.WRITE_KEY + ":")
              .getBytes(StandardCharsets.UTF_8)))
          .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
          .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
      if (r.statusCode() != 503 || attempt >= 50) {
        return r.statusCode();
      }
      Thread.sleep(100); // retried with the same messageId, as an SDK does
    }
  }

  /** POST /admin/v1/regulations on node {@code node}; the answer with its status code as "status". */
  private JsonObject regulate(MigrationCluster c, int node, String kind, String user) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + c.nodes[node].internalPort()
            + "/admin/v1/regulations")).header("Authorization", "Bearer " + MigrationCluster.TOKEN)
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("kind", kind).put("userId", user)
            .put("requestedBy", "RegulationTest").encode())).build(), HttpResponse.BodyHandlers.ofString());
    assertTrue(r.statusCode() == 200 || r.statusCode() == 201, r.statusCode() + " " + r.body());
    return new JsonObject(r.body()).put("status", r.statusCode());
  }

  /** Waits until every node of the topology recorded regulation {@code id} as applied. */
  private void awaitApplied(MigrationCluster c, int node, long id) throws Exception {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    String last = "";
    while (System.nanoTime() < deadline) {
      HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + c.nodes[node].internalPort()
          + "/admin/v1/regulations")).header("Authorization", "Bearer " + MigrationCluster.TOKEN).GET().build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(200, r.statusCode(), r.body());
      last = r.body();
      for (Object o : new JsonObject(r.body()).getJsonArray("regulations")) {
        JsonObject reg = (JsonObject) o;
        if (reg.getLong("id") == id && reg.getBoolean("complete")) {
          assertEquals("RegulationTest", reg.getString("requestedBy"), "who asked is recorded");
          return;
        }
      }
      Thread.sleep(100);
    }
    throw new AssertionError("regulation " + id + " not applied on every node within 30 s: " + last);
  }
}
