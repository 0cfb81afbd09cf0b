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
  /**
   * The sink's path carries this cluster's random token: a node of another test (a process that outlived it, on a
   * port this sink reuses) gets 404 and never reaches this checker; such requests are counted in {@link #foreign}.
   */
  final String sinkPath = "/events/" + java.util.UUID.randomUUID();
  final AtomicLong foreign = new AtomicLong();
  private final long startedNanos = System.nanoTime();
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
    nodeDbs.addAll(server.createDatabases("mig_node", maxNodes)); // one URL template reaches them: nodeUrlTemplate()
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      if (!sinkPath.equals(req.path())) {
        foreign.incrementAndGet();
        req.response().setStatusCode(404).end();
        return;
      }
      // who sent it: the router's origin headers (node, job id in that node's database, attempt)
      String origin = req.getHeader("X-Eventpipe-Node") + " job " + req.getHeader("X-Eventpipe-Job-Ids") + " attempt "
          + req.getHeader("X-Eventpipe-Attempts") + " at " + (System.nanoTime() - startedNanos) / 1_000_000 + " ms";
      boolean fail;
      synchronized (sinkRandom) {
        fail = sinkRandom.nextDouble() < sinkFailureRate;
      }
      JsonObject e = new JsonObject(body.toString(StandardCharsets.UTF_8));
      JsonObject props = e.getJsonObject("properties");
      if (fail) {
        if (props != null && props.containsKey("seq")) {
          delivered.note(e.getString("userId"), props.getLong("seq"), origin + ": answered 503");
        }
        req.response().setStatusCode(503).end();
        return;
      }
      if (props != null && props.containsKey("seq")) {
        delivered.observe(e.getString("userId"), props.getLong("seq"), origin);
      }
      req.response().end();
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n  - id: sink\n    type: webhook\n    sources: [app]\n    config:\n"
        + "      url: http://127.0.0.1:" + sink.actualPort() + sinkPath + "\n"
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
    try {
      waitFor(() -> delivered.delivered() >= expected || !delivered.violations().isEmpty(), seconds,
          () -> "the sink got " + delivered.delivered() + " of " + expected + " acknowledged events");
      delivered.assertComplete(acked);
    } catch (AssertionError e) {
      throw new AssertionError(e.getMessage() + "\n" + evidence(acked), e);
    }
  }

  /**
   * What the databases say about the first broken key (the first one delivered out of order, else the first
   * incomplete one): its job rows on every node (gw and rt: id, partition, messageId, state, attempts, next retry,
   * dead-lettered), the partition's record on every node, and the import marks and ranges, with the key's deliveries.
   */
  String evidence(Map<String, Long> acked) {
    String key = delivered.violatingKeys().stream().findFirst().orElse(acked.entrySet().stream()
        .filter(e -> delivered.delivered(e.getKey()) != e.getValue()).map(Map.Entry::getKey).findFirst().orElse(null));
    StringBuilder out = new StringBuilder();
    out.append("requests to other paths (another test's nodes): ").append(foreign.get()).append('\n');
    if (key == null) {
      return out.toString();
    }
    out.append("key ").append(key).append(": acknowledged ").append(acked.get(key)).append(", deliveries (seq, node, job, attempt):\n");
    delivered.history(key).forEach(h -> out.append("  ").append(h).append('\n'));
    for (int k = 0; k < nodeDbs.size(); k++) {
      out.append("node ").append(k).append(":\n");
      try (java.sql.Connection conn = nodeDbs.get(k).connect()) {
        for (String q : new String[] {"jobs_gw", "jobs_rt"}) {
          dump(out, conn, q + " jobs", "SELECT j.job_id, j.partition_id, j.message_id, s.state, s.attempts, s.next_retry_at,"
              + " s.updated_at FROM " + q + ".jobs j LEFT JOIN " + q + ".job_state s ON s.job_id = j.job_id"
              + " WHERE j.routing_key = ? ORDER BY j.job_id", key);
          dump(out, conn, q + " dead letters", "SELECT job_id, partition_id, message_id, attempts FROM " + q
              + ".dead_letter WHERE routing_key = ? ORDER BY job_id", key);
          dump(out, conn, q + " import marks", "SELECT migration_id, stream, last_source_job_id, imported FROM " + q
              + ".import_progress WHERE ? IS NOT NULL ORDER BY 1, 2", key);
          dump(out, conn, q + " import ranges", "SELECT * FROM " + q + ".import_ranges WHERE ? IS NOT NULL ORDER BY lo", key);
        }
        dump(out, conn, "partition records", "SELECT * FROM node.partition_state WHERE partition_id IN"
            + " (SELECT partition_id FROM jobs_gw.jobs WHERE routing_key = ?) ORDER BY partition_id", key);
      } catch (java.sql.SQLException e) {
        out.append("  (cannot read: ").append(e.getMessage()).append(")\n");
      }
    }
    return out.toString();
  }

  private static void dump(StringBuilder out, java.sql.Connection conn, String what, String sql, String key) {
    out.append("  ").append(what).append(":\n");
    try (java.sql.PreparedStatement st = conn.prepareStatement(sql)) {
      st.setString(1, key);
      try (java.sql.ResultSet rs = st.executeQuery()) {
        int cols = rs.getMetaData().getColumnCount();
        while (rs.next()) {
          out.append("   ");
          for (int c = 1; c <= cols; c++) {
            out.append(' ').append(rs.getMetaData().getColumnName(c)).append('=').append(rs.getString(c));
          }
          out.append('\n');
        }
      }
    } catch (java.sql.SQLException e) {
      out.append("    (").append(e.getMessage().split("\n")[0]).append(")\n");
    }
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

  /** The node databases as the migrator's {@code --node-pg-url} names them ({@code {node}} is the ordinal). */
  String nodeUrlTemplate() {
    String first = nodeDbs.get(0).uri();
    return first.substring(0, first.length() - 1) + "{node}";
  }

  /** The control store's URL as a flag takes it. */
  String controlUrl() {
    return "postgresql://" + control.user() + ":" + control.password() + "@" + control.host() + ":" + control.port() + "/"
        + control.database();
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
