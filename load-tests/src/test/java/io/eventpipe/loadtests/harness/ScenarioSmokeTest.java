package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every scenario for a few seconds at a tiny rate against one real {@code pipeline local} process (durable embedded
 * PostgreSQL), so that none rots: each must pass the checker, deliver every acknowledged event, and write its result
 * and page. The figures mean nothing here. Full runs: {@code ./bench scenario NAME}, see BENCHMARKS.md, or this class
 * with {@code -Dharness.full=true}.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ScenarioSmokeTest {

  /**
   * {@code -Dharness.full=true}: every scenario at its full size instead (minutes each; {@code -Dseconds=...} and the
   * other options of {@code ./bench scenario} apply), results in {@code -Dout} (default load-tests/target/scenarios).
   */
  static final boolean FULL = Boolean.getBoolean("harness.full");

  /** Where the smoke runs' results and pages stay after the build, for a look. */
  static final Path OUT = Path.of("target", "scenarios-smoke");

  @TempDir
  static Path dir;
  static Vertx vertx;
  static VerifyingSink sink;
  static LocalProcessCluster cluster;
  static ScenarioRunner runner;

  @BeforeAll
  static void start() throws Exception {
    vertx = Vertx.vertx();
    sink = new VerifyingSink(vertx, "127.0.0.1");
    int port = sink.start(0).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    cluster = new LocalProcessCluster(dir.resolve("cluster"), 1, "http://127.0.0.1:" + port + "/events", 180,
        FULL ? List.of() : List.of("-XX:TieredStopAtLevel=1"));
    runner = new ScenarioRunner(vertx, sink, "127.0.0.1", port);
  }

  @AfterAll
  static void stop() throws Exception {
    if (cluster != null) {
      cluster.kill9(); // its data directory goes with the test's: a graceful stop would only cost seconds
    }
    // the processes' logs (pipeline local, each pipeline scale) stay beside the results, for a failure to explain itself
    Path logs = dir.resolve("cluster");
    if (Files.isDirectory(logs)) {
      Files.createDirectories(OUT.resolve("logs"));
      try (java.util.stream.Stream<Path> files = Files.list(logs)) {
        for (Path f : files.filter(f -> f.toString().endsWith(".log")).toList()) {
          Files.copy(f, OUT.resolve("logs").resolve(f.getFileName()), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
      }
    }
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private JsonObject run(Scenario scenario) throws Exception {
    ScenarioOptions o = FULL ? ScenarioOptions.of(scenario, System::getProperty) : ScenarioOptions.smoke(scenario, OUT.toString());
    List<LoadGenerator.Ack> acks = new ArrayList<>();
    JsonObject r = runner.run(scenario, o, cluster, acks);
    Path json = ScenarioMain.write(r, acks, Path.of(o.out()), false); // the page in a browser: HtmlReportBrowserTest
    JsonObject v = r.getJsonObject("verdict");
    assertTrue(v.getBoolean("pass"), ScenarioMain.summary(r));
    long acked = r.getJsonObject("totals").getLong("eventsAcked");
    assertTrue(acked > 0, "nothing was acknowledged: " + r.getJsonObject("load"));
    assertEquals(v.getLong("eventsAcked"), v.getLong("eventsAckedAndDelivered"),
        "every acknowledged event delivered: " + ScenarioMain.summary(r));
    assertEquals(acked, acks.size());
    assertTrue(Files.readString(json.resolveSibling(json.getFileName().toString().replace(".json", ".html")))
        .contains(HtmlReport.RESULT_ELEMENT));
    return r;
  }

  private static void assertBand(JsonObject r, String label) {
    JsonArray bands = r.getJsonArray("bands");
    assertFalse(bands.isEmpty(), "no band: " + r.encode());
    assertTrue(bands.getJsonObject(0).getString("label").contains(label), bands.encode());
  }

  @Test
  @Order(1)
  void steady() throws Exception {
    run(Scenario.STEADY);
  }

  @Test
  @Order(2)
  void burst() throws Exception {
    assertBand(run(Scenario.BURST), "burst");
  }

  @Test
  @Order(3)
  void outage() throws Exception {
    JsonObject r = run(Scenario.OUTAGE);
    assertBand(r, "outage");
  }

  @Test
  @Order(4)
  void slow() throws Exception {
    assertBand(run(Scenario.SLOW), "answers in");
  }

  @Test
  @Order(5)
  void kill9() throws Exception {
    assertBand(run(Scenario.KILL9), "kill -9");
  }

  @Test
  @Order(6)
  void scaleUp() throws Exception {
    JsonObject r = run(Scenario.SCALE_UP);
    assertBand(r, "scale 1 → 2");
    assertEquals(2, r.getJsonObject("cluster").getInteger("nodesAfter"));
  }

  @Test
  @Order(7)
  void scaleDown() throws Exception {
    JsonObject r = run(Scenario.SCALE_DOWN);
    assertBand(r, "scale 2 → 1");
    assertEquals(1, r.getJsonObject("cluster").getInteger("nodesAfter"));
  }

  @Test
  @Order(8)
  void failingUser() throws Exception {
    JsonObject r = run(Scenario.FAILING_USER);
    assertBand(r, "refused by the destination");
    JsonObject failing = r.getJsonObject("failingUser");
    assertTrue(failing.getLong("eventsAcked") >= 200, "its backlog was acknowledged: " + failing);
    assertTrue(r.getJsonObject("load").getLong("eventsAcked") < r.getJsonObject("verdict").getLong("eventsAcked"),
        "and checked with the others' events, delivered once it healed");
  }

  @Test
  @Order(9)
  void resizeKill9() throws Exception {
    JsonObject r = run(Scenario.RESIZE_KILL9);
    assertBand(r, "kill -9 of it and the cluster");
    assertEquals(2, r.getJsonObject("cluster").getInteger("nodesAfter"), "the rerun finished the resize");
    assertTrue(r.getJsonObject("fault").containsKey("interruptedDuring"), r.getJsonObject("fault").encode());
  }

  @Test
  @Order(10)
  void hostile() throws Exception {
    JsonObject r = run(Scenario.HOSTILE);
    assertBand(r, "hostile");
    JsonObject h = r.getJsonObject("fault").getJsonObject("hostile");
    assertEquals(0, h.getLong("accepted"), h.encodePrettily());
    JsonObject answers = h.getJsonObject("answers");
    assertTrue(answers.getJsonObject("unknown write key").containsKey("401"), answers.encode());
    assertTrue(answers.getJsonObject("NUL in userId").containsKey("400"), answers.encode());
    assertTrue(answers.getJsonObject("gzip bomb").containsKey("413"), answers.encode());
  }
}
