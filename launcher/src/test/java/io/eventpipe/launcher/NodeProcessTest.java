package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.ServerSocket;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real node process ({@code pipeline node}) killed with SIGKILL while it ingests and delivers, then restarted:
 * every acknowledged event is delivered, in each user's order; duplicates only for deliveries in flight at the
 * crash. And a SIGTERM that stops it gracefully, within a bound.
 */
class NodeProcessTest {

  private static final String WRITE_KEY = "process-test-write-key";
  private static final String TOKEN = "process-test-token-0123456789abcdef";

  private final Vertx vertx = Vertx.vertx();
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private final SequenceChecker checker = new SequenceChecker();
  private final AtomicLong sinkRequests = new AtomicLong();
  private final List<String> sinkErrors = new java.util.concurrent.CopyOnWriteArrayList<>();
  private HttpServer sink;
  private Process process;

  @AfterEach
  void stop() throws Exception {
    if (process != null && process.isAlive()) {
      process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    if (sink != null) {
      sink.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  @Test
  void killNineDuringIngestAndDeliveryLosesNothingAcknowledgedAndKeepsEachUsersOrder(@TempDir Path dir) throws Exception {
    PgDatabase db = PgServer.get().createDatabase("process_kill");
    Path workspace = workspace(dir, startSink());
    int port = freePort();
    int adminPort = freePort();

    process = startNode(db, workspace, port, adminPort, dir.resolve("node-1.log"));
    eventually("the node is up", () -> healthy(port));

    int users = 200;
    int perUser = 25;
    Map<String, Long> acked = new HashMap<>();
    // users send concurrently, each user's events one after another; the node is killed in the middle
    List<CompletableFuture<Void>> senders = new ArrayList<>();
    java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newFixedThreadPool(50);
    for (int u = 0; u < users; u++) {
      String user = "user-" + u;
      senders.add(CompletableFuture.runAsync(() -> {
        for (int seq = 1; seq <= perUser; seq++) {
          if (!send(port, user, seq)) {
            return; // the node died under this user's request: what was acknowledged stands
          }
          synchronized (acked) {
            acked.merge(user, 1L, Long::sum);
          }
        }
      }, threads));
      if (u == users / 2) {
        eventually("deliveries are flowing", () -> sinkRequests.get() > 200);
        process.destroyForcibly().waitFor(30, TimeUnit.SECONDS); // SIGKILL
      }
    }
    CompletableFuture.allOf(senders.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    threads.shutdown();
    long ackedTotal = acked.values().stream().mapToLong(Long::longValue).sum();
    assertTrue(ackedTotal > 0 && ackedTotal < (long) users * perUser, "the kill cut ingestion short: " + ackedTotal);

    process = startNode(db, workspace, port, adminPort, dir.resolve("node-2.log"));
    eventually("the node is up again", () -> healthy(port));
    // what the first run did not acknowledge, the SDK would send again: do it, with the same messageIds
    for (int u = 0; u < users; u++) {
      String user = "user-" + u;
      for (long seq = acked.getOrDefault(user, 0L) + 1; seq <= perUser; seq++) {
        assertTrue(send(port, user, (int) seq), "the restarted node accepts " + user + " #" + seq);
      }
      acked.put(user, (long) perUser);
    }
    try {
      eventually("every event is delivered", () -> checker.delivered() >= (long) users * perUser);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + ": delivered " + checker.delivered() + " of " + (long) users * perUser
          + ", duplicates " + checker.duplicates() + ", violations " + checker.violations() + ", sink errors " + sinkErrors.subList(0, Math.min(3, sinkErrors.size())) + "\nlog:\n"
          + tail(dir.resolve("node-1.log")) + "\n---\n" + tail(dir.resolve("node-2.log")), e);
    }
    checker.assertComplete(acked);
    assertTrue(checker.duplicates() <= 2_000, "duplicates only for deliveries in flight at the crash: " + checker.duplicates());

    // SIGTERM: a graceful stop within a bound
    long t0 = System.nanoTime();
    process.destroy();
    assertTrue(process.waitFor(45, TimeUnit.SECONDS), "SIGTERM stops the node within the bound");
    assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(45));
    String log = Files.readString(dir.resolve("node-2.log"));
    assertTrue(log.contains("node 0 stopped"), "graceful stop ran: " + log.lines().reduce((a, b) -> b).orElse(""));
  }

  // ------------------------------------------------------------------ helpers

  private int startSink() throws Exception {
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      sinkRequests.incrementAndGet();
      String text = body.toString(StandardCharsets.UTF_8);
      List<JsonObject> events = new ArrayList<>();
      try {
        if (text.startsWith("[")) {
          new io.vertx.core.json.JsonArray(text).forEach(o -> events.add((JsonObject) o));
        } else {
          events.add(new JsonObject(text));
        }
        for (JsonObject e : events) {
          checker.observe(e.getString("userId"), e.getJsonObject("properties").getLong("seq"));
        }
      } catch (RuntimeException e) {
        sinkErrors.add(e + " on " + text);
      }
      // a little latency, so deliveries are in flight when the node dies
      vertx.setTimer(2, t -> req.response().setStatusCode(200).end());
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    return sink.actualPort();
  }

  private static Path workspace(Path dir, int sinkPort) throws IOException {
    Path ws = dir.resolve("workspace.yaml");
    Files.writeString(ws, """
        egress: {allow: [127.0.0.0/8]}
        sources:
          - id: app
            writeKey: %s
        destinations:
          - id: sink
            type: webhook
            sources: [app]
            config:
              url: http://127.0.0.1:%d/events
        """.formatted(WRITE_KEY, sinkPort));
    return ws;
  }

  private static Process startNode(PgDatabase db, Path workspace, int port, int adminPort, Path log) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx512m", "-cp", System.getProperty("java.class.path"),
        "io.eventpipe.launcher.Main", "node", "--node-id", "0", "--pg-url", db.uri(), "--config", workspace.toString(),
        "--port", String.valueOf(port), "--host", "127.0.0.1", "--admin-port", String.valueOf(adminPort),
        "--admin-host", "127.0.0.1", "--admin-token", TOKEN, "--allow-non-durable-database");
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return pb.start();
  }

  private boolean send(int port, String user, int seq) {
    String body = "{\"userId\":\"" + user + "\",\"event\":\"Step\",\"messageId\":\"" + user + "-" + seq
        + "\",\"properties\":{\"seq\":" + seq + "}}";
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/track"))
        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
        .timeout(Duration.ofSeconds(20))
        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
    try {
      return http.send(req, HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private boolean healthy(int port) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
    } catch (Exception e) {
      return false;
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return e.toString();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

}
