package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.NodeDatabases;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
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
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;

/**
 * A real cluster in one JVM for migration tests: a control store, up to {@code maxNodes} node databases on a real
 * PostgreSQL, nodes started and stopped at will, a proxy, a webhook sink that checks every user's order (and can fail
 * a share of requests), and a load of SDK-shaped requests that keeps going while the cluster is resized.
 */
final class MigrationCluster implements AutoCloseable {

  static final String WRITE_KEY = "migration-test-write-key";
  static final String TOKEN = "migration-test-token-0123456789abcdef";

  final Vertx vertx = Vertx.vertx();
  final int partitions;
  final List<PgDatabase> nodeDbs = new ArrayList<>();
  final Node[] nodes;
  final Process[] processes;
  final SequenceChecker delivered = new SequenceChecker();
  final PgConfig control;
  final Path workspace;
  /** share of sink requests answered 503, in [0, 1) */
  volatile double sinkFailureRate;
  private final Random sinkRandom = new Random(1);
  private io.vertx.core.http.HttpServer sink;
  volatile Proxy proxy;

  MigrationCluster(Path dir, int partitions, int maxNodes, int initialNodes) throws Exception {
    this.partitions = partitions;
    this.nodes = new Node[maxNodes];
    this.processes = new Process[maxNodes];
    PgServer server = PgServer.get();
    PgDatabase controlDb = server.createDatabase("mig_control");
    control = config(controlDb);
    for (int k = 0; k < maxNodes; k++) {
      nodeDbs.add(server.createDatabase("mig_node" + k));
    }
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      boolean fail;
      synchronized (sinkRandom) {
        fail = sinkRandom.nextDouble() < sinkFailureRate;
      }
      if (fail) {
        req.response().setStatusCode(503).end();
        return;
      }
      JsonObject e = new JsonObject(body.toString(StandardCharsets.UTF_8));
      JsonObject props = e.getJsonObject("properties");
      if (props != null && props.containsKey("seq")) {
        delivered.observe(e.getString("userId"), props.getLong("seq"));
      }
      req.response().end();
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n  - id: sink\n    type: webhook\n    sources: [app]\n    config:\n"
        + "      url: http://127.0.0.1:" + sink.actualPort() + "/events\n"
        + "      retry: {initialBackoffMs: 50, maxBackoffMs: 400}\n");
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(partitions, initialNodes));
    await(store.closeAsync());
    for (int k = 0; k < initialNodes; k++) {
      startNode(k);
    }
    proxy = startProxy();
  }

  private Proxy startProxy() throws Exception {
    return await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), control, TOKEN,
        "127.0.0.1", 0, workspace)).start());
  }

  /** Stops the proxy and starts another (the load follows its new port). */
  void restartProxy() throws Exception {
    Proxy old = proxy;
    proxy = startProxy();
    await(old.stop());
  }

  void startNode(int k) throws Exception {
    if (nodes[k] == null && processes[k] == null) {
      nodes[k] = await(new Node(vertx, new NodeOptions(k, config(nodeDbs.get(k)), partitions, GatewayOptions.defaults(0),
          "127.0.0.1", 0, TOKEN, workspace, control, null).withAllowNonDurableDatabase(true)).start());
    }
  }

  void stopNode(int k) throws Exception {
    if (nodes[k] != null) {
      await(nodes[k].stop());
      nodes[k] = null;
    }
    Process p = processes[k];
    if (p != null) {
      p.destroy();
      p.waitFor(60, TimeUnit.SECONDS);
      processes[k] = null;
    }
  }

  /** Runs node {@code k} as a process of its own (a {@code pipeline node}), so a test can kill -9 it. */
  void startNodeProcess(int k, Path dir) throws Exception {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    PgDatabase db = nodeDbs.get(k);
    Path log = dir.resolve("node" + k + ".log");
    int adminPort;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      adminPort = socket.getLocalPort();
    }
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx384m", "-cp", System.getProperty("java.class.path"),
        "io.eventpipe.launcher.Main", "node", "--node-id", String.valueOf(k), "--pg-url", db.uri(),
        "--control-url", "postgresql://" + control.user() + ":" + control.password() + "@" + control.host() + ":"
            + control.port() + "/" + control.database(),
        "--config", workspace.toString(), "--port", "0", "--host", "127.0.0.1", "--admin-port", String.valueOf(adminPort),
        "--admin-host", "127.0.0.1", "--admin-token", TOKEN + "-admin", "--ingest-token", TOKEN,
        "--partitions", String.valueOf(partitions), "--allow-non-durable-database");
    pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    processes[k] = pb.start();
    HttpClient probe = HttpClient.newHttpClient();
    waitFor(() -> {
      try {
        return probe.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/health/ready")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
      } catch (Exception e) {
        return false;
      }
    }, 90, () -> "node process " + k + " became ready; its log: " + log);
  }

  /** kill -9 of a node process. */
  void killNodeProcess(int k) throws InterruptedException {
    Process p = processes[k];
    if (p != null) {
      p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      processes[k] = null;
    }
  }

  /** Starts nodes up to {@code n}, migrates to {@code n}, stops nodes from {@code n}: what {@code pipeline scale} does. */
  Migrator.Result scale(int n, MigratorOptions options) throws Exception {
    for (int k = 0; k < n; k++) {
      startNode(k);
    }
    Migrator.Result r = migrate(n, options);
    for (int k = n; k < nodes.length; k++) {
      stopNode(k);
    }
    return r;
  }

  Migrator.Result migrate(int n, MigratorOptions options) throws Exception {
    ControlStore store = await(ControlStore.open(vertx, control));
    try (NodeDatabases dbs = new NodeDatabases(vertx, k -> config(nodeDbs.get(k)), true)) {
      return await(new Migrator(vertx, store, dbs, options, p -> {}).run(n, Migrator.Only.ALL), 300);
    } finally {
      await(store.closeAsync());
    }
  }

  /** {@link #fastOptions()} with the migrator crashing before {@code step} (a crash of the migrator's process). */
  static MigratorOptions crashingBefore(String step) {
    return fastOptions().withHook(s -> {
      if (s.equals(step)) {
        throw new IllegalStateException("injected crash before " + step);
      }
    });
  }

  /** {@link #fastOptions()} with node process {@code node} killed (kill -9) and the migrator crashing before {@code step}. */
  MigratorOptions killingNodeAndCrashingBefore(String step, int node) {
    return fastOptions().withHook(s -> {
      if (s.equals(step)) {
        try {
          killNodeProcess(node);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        throw new IllegalStateException("injected crash before " + step + ", with node " + node + " killed");
      }
    });
  }

  static MigratorOptions fastOptions() {
    // the adaptive throttle stays on (it scrapes the nodes' /metrics), with a short baseline: these tests migrate often
    return MigratorOptions.defaults().withBatch(500).withLease(Duration.ofSeconds(2)).withReadyTimeout(Duration.ofSeconds(60))
        .withThrottling(MigratorOptions.Throttling.defaults().withTiming(Duration.ofMillis(500), Duration.ofMillis(250)));
  }

  /** SDK-shaped load: each user sends its events one at a time, numbered 1, 2, ...; a refused request is retried. */
  final class Load implements AutoCloseable {
    final Map<String, Long> acked = new ConcurrentHashMap<>();
    final AtomicLong errors = new AtomicLong();
    final List<String> errorSamples = new java.util.concurrent.CopyOnWriteArrayList<>();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final List<Thread> threads = new ArrayList<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    Load(int users, int clients, long pauseMillis) {
      for (int c = 0; c < clients; c++) {
        int client = c;
        Thread t = new Thread(() -> run(client, clients, users, pauseMillis), "load-" + c);
        t.setDaemon(true);
        threads.add(t);
        t.start();
      }
    }

    private void run(int client, int clients, int users, long pauseMillis) {
      long round = 0;
      while (!stop.get()) {
        round++;
        for (int u = client; u < users && !stop.get(); u += clients) {
          String user = "user-" + u;
          long seq = acked.getOrDefault(user, 0L) + 1;
          String messageId = user + "-" + seq;
          while (!send(user, seq, messageId)) {
            if (stop.get()) {
              return; // not acknowledged: not expected at the sink
            }
            sleep(100);
          }
          acked.put(user, seq);
        }
        if (pauseMillis > 0) {
          sleep(pauseMillis);
        }
      }
    }

    private boolean send(String user, long seq, String messageId) {
      String body = "{\"userId\":\"" + user + "\",\"event\":\"Step\",\"messageId\":\"" + messageId
          + "\",\"properties\":{\"seq\":" + seq + "}}";
      try {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + "/v1/track"))
            .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
            .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return true;
        }
        note(r.statusCode() + " " + r.body());
      } catch (Exception e) {
        note(e.toString());
      }
      return false;
    }

    private void note(String error) {
      errors.incrementAndGet();
      if (errorSamples.size() < 20) {
        errorSamples.add(error);
      }
    }

    long total() {
      return acked.values().stream().mapToLong(Long::longValue).sum();
    }

    @Override
    public void close() throws InterruptedException {
      stop.set(true);
      for (Thread t : threads) {
        t.join(60_000);
      }
    }
  }

  /** Waits until the sink got every acknowledged event, then checks every user's order. */
  void assertAllDelivered(Map<String, Long> acked, int seconds) throws InterruptedException {
    long expected = acked.values().stream().mapToLong(Long::longValue).sum();
    waitFor(() -> delivered.delivered() >= expected || !delivered.violations().isEmpty(), seconds,
        () -> "the sink got " + delivered.delivered() + " of " + expected + " acknowledged events");
    delivered.assertComplete(acked);
  }

  @Override
  public void close() throws Exception {
    if (proxy != null) {
      await(proxy.stop());
    }
    for (int k = 0; k < nodes.length; k++) {
      killNodeProcess(k);
      stopNode(k);
    }
    await(sink.close());
    await(vertx.close());
  }

  static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  static <T> T await(Future<T> f) throws Exception {
    return await(f, 60);
  }

  static <T> T await(Future<T> f, int seconds) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(seconds, TimeUnit.SECONDS);
  }

  static void waitFor(BooleanSupplier condition, int seconds, java.util.function.Supplier<String> what) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out: " + what.get());
      }
      Thread.sleep(100);
    }
  }

  static void sleep(long ms) {
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
