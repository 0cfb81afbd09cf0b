package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.NodeDatabases;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.testing.HeadlessChromium;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.io.TempDir;

/**
 * The operator console on a real cluster (a control store, nodes with their own databases, a proxy, a webhook sink),
 * read by a real headless Chromium over the DevTools protocol: the page loads without errors, shows a migration's jobs
 * moved changing while it runs, and replays a dead letter (the row goes, the sink gets the event). Without Chromium the
 * browser test is skipped, saying how to install it; the session checks run with plain HTTP either way.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.MethodName.class)
class ConsoleBrowserTest {

  private static final String ADMIN = "console-test-admin-token-0123456789abcdef";
  private static final String INGEST = "console-test-ingest-token-0123456789abcdef";
  private static final String WRITE_KEY = "console-test-write-key";
  private static final int PARTITIONS = 16;
  private static final int BACKLOG = 300;

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final List<PgDatabase> nodeDbs = new ArrayList<>();
  private final Node[] nodes = new Node[2];
  private final ConcurrentLinkedQueue<String> hookDelivered = new ConcurrentLinkedQueue<>();
  private volatile boolean hookRejects = true;
  private PgConfig control;
  private Path workspace;
  private io.vertx.core.http.HttpServer sink;
  private Proxy proxy;
  private Path dir;

  @BeforeAll
  void start(@TempDir Path dir) throws Exception {
    this.dir = dir;
    PgServer server = PgServer.get();
    control = config(server.createDatabase("console_control"));
    nodeDbs.addAll(server.createDatabases("console_node", 2));
    // /hook refuses with 400 (abort at once: a dead letter) until the test lets it accept; /backlog always 503
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      if (req.path().equals("/hook")) {
        if (hookRejects) {
          req.response().setStatusCode(400).end("{\"error\":\"rejected by the test\"}");
        } else {
          hookDelivered.add(body.toString(StandardCharsets.UTF_8));
          req.response().setStatusCode(200).end();
        }
      } else {
        req.response().setStatusCode(503).end();
      }
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    workspace = dir.resolve("workspace.yaml");
    String url = "http://127.0.0.1:" + sink.actualPort();
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n"
        + "  - id: hook\n    type: webhook\n    sources: [app]\n    config:\n      url: " + url + "/hook\n"
        + "      eventNames: {allow: [Poison]}\n"
        + "  - id: backlog\n    type: webhook\n    sources: [app]\n    config:\n      url: " + url + "/backlog\n"
        + "      eventNames: {allow: [Load]}\n      retry: {initialBackoffMs: 600000, maxBackoffMs: 600000}\n");
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(PARTITIONS, 1));
    await(store.closeAsync());
    startNode(0);
    proxy = await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), control, INGEST,
        "127.0.0.1", 0, workspace)).start());
    send(List.of(event("poison-user", "Poison", 1)));
    for (int b = 0; b < BACKLOG / 100; b++) {
      List<JsonObject> batch = new ArrayList<>();
      for (int i = 0; i < 100; i++) {
        batch.add(event("user-" + (i % 30), "Load", b * 100 + i));
      }
      send(batch);
    }
    waitFor(() -> deadLetters(0) == 1 && pending(0, "backlog") == BACKLOG, 60,
        () -> "the dead letter and the backlog on node 0");
  }

  private void startNode(int k) throws Exception {
    nodes[k] = await(new Node(vertx, new NodeOptions(k, config(nodeDbs.get(k)), PARTITIONS, GatewayOptions.defaults(0),
        "127.0.0.1", 0, ADMIN, INGEST, workspace, control, null).withAllowNonDurableDatabase(true))
        .withConsole(new Console(vertx, control, ADMIN, 60_000)).start());
  }

  @AfterAll
  void stop() throws Exception {
    if (proxy != null) {
      await(proxy.stop());
    }
    for (Node n : nodes) {
      if (n != null) {
        await(n.stop());
      }
    }
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void aBrowserSeesAMigrationMoveJobsAndReplaysADeadLetterWithoutAnyPageError() throws Exception {
    Optional<Path> chromium = HeadlessChromium.find();
    Assumptions.assumeTrue(chromium.isPresent(), "no Chromium found: the console's browser test is skipped; install it with "
        + HeadlessChromium.INSTALL);
    String console = "http://127.0.0.1:" + nodes[0].internalPort() + Console.PATH;
    try (HeadlessChromium browser = new HeadlessChromium(chromium.get(), dir.resolve("chromium-profile"))) {
      browser.navigate(console);
      assertEquals(Boolean.TRUE, browser.evaluate("document.getElementById('token') !== null"), "the login form");
      browser.evaluate("document.getElementById('token').value = '" + ADMIN + "'; document.querySelector('form').submit(); true");
      waitFor(() -> truthy(browser, "document.readyState === 'complete' && document.getElementById('topology') !== null"), 30,
          () -> "the console after signing in");
      assertEquals(Boolean.FALSE, browser.evaluate("document.cookie.includes('eventpipe_console')"),
          "the session cookie is HttpOnly: the page's scripts cannot read it");
      assertTrue(text(browser, "#topology").contains("16 partitions over 1 nodes"), text(browser, "#topology"));
      waitFor(() -> truthy(browser, "document.querySelector('tr.dead-letter') !== null"
          + " && document.querySelector('#backlog-chart canvas') !== null"), 30, () -> "the dead letter and the backlog chart");
      assertTrue(text(browser, "#destinations").contains("backlog"), text(browser, "#destinations"));

      // a migration to two nodes, slowed so that the page sees its jobs moved grow
      startNode(1);
      CompletableFuture<Migrator.Result> migration = CompletableFuture.supplyAsync(() -> {
        try {
          return migrate(2, MigratorOptions.defaults().withBatch(10).withMaxJobsPerSecond(30).withLease(Duration.ofSeconds(2))
              .withReadyTimeout(Duration.ofSeconds(30)).withThrottling(MigratorOptions.Throttling.off()));
        } catch (Exception e) {
          throw new java.util.concurrent.CompletionException(e);
        }
      });
      List<Long> seen = new ArrayList<>();
      List<String> steps = new ArrayList<>();
      java.util.Set<String> totals = new java.util.TreeSet<>();
      java.util.Set<String> timesLeft = new java.util.LinkedHashSet<>();
      while (!migration.isDone()) {
        Object total = browser.evaluate("(function(){var e=document.getElementById('jobs-total');return e?e.textContent:null})()");
        Object left = browser.evaluate("(function(){var e=document.getElementById('time-left');return e?e.textContent:null})()");
        if (total != null) {
          totals.add(total.toString());
        }
        if (left != null) {
          timesLeft.add(left.toString());
        }
        Object moved = browser.evaluate("(function(){var e=document.getElementById('jobs-moved');return e?e.textContent:null})()");
        Object step = browser.evaluate("(function(){var e=document.querySelector('ol.steps li.current');return e?e.textContent:null})()");
        if (moved != null && (seen.isEmpty() || seen.get(seen.size() - 1) != Long.parseLong(moved.toString()))) {
          seen.add(Long.parseLong(moved.toString()));
        }
        if (step != null && (steps.isEmpty() || !steps.get(steps.size() - 1).equals(step))) {
          steps.add(step.toString());
        }
        if (seen.stream().filter(v -> v > 0).count() == 2) {
          screenshot(browser, "console-migration.png");
        }
        Thread.sleep(100);
      }
      Migrator.Result result = migration.get();
      assertTrue(result.jobsMoved() > 0, "the migration moved jobs: " + result.summary());
      List<Long> positive = seen.stream().filter(v -> v > 0).toList();
      assertTrue(positive.size() >= 2 && positive.get(positive.size() - 1) > positive.get(0),
          "the page showed the jobs moved grow while the migration ran; it showed " + seen + " in steps " + steps
              + " (the migration moved " + result.jobsMoved() + ")");
      assertEquals(java.util.Set.of(String.valueOf(result.jobsMoved())), totals,
          "the page showed the jobs the copy moves in all, as the migrator counted them (times left shown: " + timesLeft + ")");
      waitFor(() -> truthy(browser, "document.getElementById('migration-none') !== null"
          + " && document.getElementById('topology').textContent.includes('over 2 nodes')"), 30,
          () -> "the page after the migration");

      // the dead letter (wherever the migration put it) replayed from the page: its row goes, the sink gets the event
      hookRejects = false;
      browser.evaluate("document.querySelector('tr.dead-letter button').click(); true");
      waitFor(() -> !hookDelivered.isEmpty(), 30, () -> "the replayed event at the sink");
      assertTrue(hookDelivered.peek().contains("poison-user"), hookDelivered.peek());
      waitFor(() -> truthy(browser, "document.querySelector('tr.dead-letter') === null"
          + " && document.getElementById('no-dead-letters') !== null"), 30, () -> "the page without the dead letter");
      screenshot(browser, "console-after-replay.png");
      assertEquals(List.of(), browser.errors(), "the page reported errors");
    }
  }

  @Test
  void theConsoleNeedsASessionThatOnlyTheAdminTokenOpensAndTakesChangesFromItsOwnPagesOnly() throws Exception {
    String console = "http://127.0.0.1:" + nodes[0].internalPort() + Console.PATH;
    HttpResponse<String> anonymous = http.send(HttpRequest.newBuilder(URI.create(console + "/view")).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(401, anonymous.statusCode(), anonymous.body());
    HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(console)).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, page.statusCode());
    assertTrue(page.body().contains("name=\"token\"") && !page.body().contains("topology"), "the login form only: " + page.body());
    assertTrue(page.headers().firstValue("Content-Security-Policy").orElse("").contains("script-src 'self'"), page.headers().toString());

    HttpResponse<String> wrong = login("not-the-admin-token-0123456789abcdef");
    assertEquals(401, wrong.statusCode());
    assertTrue(wrong.headers().firstValue("Set-Cookie").isEmpty(), wrong.headers().toString());

    HttpResponse<String> right = login(ADMIN);
    assertEquals(303, right.statusCode(), right.body());
    String cookie = right.headers().firstValue("Set-Cookie").orElseThrow();
    assertTrue(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict") && cookie.contains("Path=/console"), cookie);
    assertTrue(!cookie.contains(ADMIN), "the cookie does not hold the token: " + cookie);
    String session = cookie.substring(0, cookie.indexOf(';'));
    HttpResponse<String> view = http.send(HttpRequest.newBuilder(URI.create(console + "/view")).header("Cookie", session).build(),
        HttpResponse.BodyHandlers.ofString());
    assertEquals(200, view.statusCode(), view.body());
    assertTrue(view.body().contains("id=\"topology\""), view.body());

    String forged = session.substring(0, session.length() - 2) + (session.endsWith("AA") ? "BB" : "AA");
    assertEquals(401, http.send(HttpRequest.newBuilder(URI.create(console + "/view")).header("Cookie", forged).build(),
        HttpResponse.BodyHandlers.ofString()).statusCode(), "a cookie whose signature was changed");

    HttpResponse<String> crossSite = http.send(HttpRequest.newBuilder(URI.create(console + "/replay")).header("Cookie", session)
        .header("Origin", "http://evil.example").header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("node=0&destination=hook&jobId=1")).build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(403, crossSite.statusCode(), crossSite.body());
  }

  private HttpResponse<String> login(String token) throws Exception {
    return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + nodes[0].internalPort() + Console.PATH + "/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(HttpRequest.BodyPublishers.ofString("token=" + java.net.URLEncoder.encode(token, StandardCharsets.UTF_8))).build(),
        HttpResponse.BodyHandlers.ofString());
  }

  // ------------------------------------------------------------------ helpers

  private Migrator.Result migrate(int n, MigratorOptions options) throws Exception {
    ControlStore store = await(ControlStore.open(vertx, control));
    try (NodeDatabases dbs = new NodeDatabases(vertx, k -> config(nodeDbs.get(k)), true)) {
      return await(new Migrator(vertx, store, dbs, options, p -> {}).run(n, Migrator.Only.ALL), 120);
    } finally {
      await(store.closeAsync());
    }
  }

  /** With {@code -Dconsole.screenshots=DIR}, what the browser shows now, as a PNG there (to look at the page). */
  private static void screenshot(HeadlessChromium browser, String name) throws Exception {
    String to = System.getProperty("console.screenshots");
    if (to != null) {
      browser.screenshot(Path.of(to).resolve(name));
    }
  }

  private static boolean truthy(HeadlessChromium browser, String expression) {
    try {
      return Boolean.TRUE.equals(browser.evaluate(expression));
    } catch (Exception e) {
      return false; // between two pages
    }
  }

  private static String text(HeadlessChromium browser, String selector) throws Exception {
    return String.valueOf(browser.evaluate("document.querySelector('" + selector + "').textContent"));
  }

  private JsonObject admin(int node, String path) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + nodes[node].internalPort() + path))
        .header("Authorization", "Bearer " + ADMIN).build(), HttpResponse.BodyHandlers.ofString());
    return new JsonObject(r.body());
  }

  private int deadLetters(int node) {
    try {
      return admin(node, "/admin/v1/destinations/hook/aborted").getJsonArray("jobs", new JsonArray()).size();
    } catch (Exception e) {
      return -1;
    }
  }

  private long pending(int node, String destination) {
    try {
      return admin(node, "/internal/v1/status").getJsonObject("pendingDeliveries").getLong(destination, 0L);
    } catch (Exception e) {
      return -1;
    }
  }

  private static JsonObject event(String user, String name, int seq) {
    return new JsonObject().put("type", "track").put("userId", user).put("event", name).put("messageId", user + "-" + seq)
        .put("properties", new JsonObject().put("seq", seq));
  }

  private void send(List<JsonObject> events) throws Exception {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/v1/batch"))
        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(new JsonObject().put("batch", new JsonArray(new ArrayList<>(events))).encode()))
        .build(), HttpResponse.BodyHandlers.ofString());
    assertEquals(200, r.statusCode(), r.body());
  }

  private static void waitFor(BooleanSupplier condition, int seconds, java.util.function.Supplier<String> what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("not seen within " + seconds + " s: " + what.get());
      }
      Thread.sleep(100);
    }
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  private static <T> T await(Future<T> f) throws Exception {
    return await(f, 60);
  }

  private static <T> T await(Future<T> f, int seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }
}
