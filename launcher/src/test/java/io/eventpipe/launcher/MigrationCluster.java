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
import io.eventpipe.testing.HistoryChecker;
import io.eventpipe.testing.TcpProxy;
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
 * PostgreSQL, nodes started and stopped at will, a proxy, a webhook sink (which can fail a share of requests), and a
 * load of SDK-shaped requests that keeps going while the cluster is resized. The load's requests and acknowledgements,
 * every delivery attempt the sink saw (who sent it, what it answered) and the cluster's events (migration steps, kills,
 * cuts) go to one {@link HistoryChecker}, which {@link #assertAllDelivered} checks.
 *
 * <p>With {@code faultLinks}, every connection to a database goes through a {@link TcpProxy}: one per node database
 * ({@link #nodePg}, used by that node and by the migrator) and one for the control store ({@link #controlPg}, used by
 * every node, the proxy and the migrator). The test server is one embedded PostgreSQL for the whole JVM, so "a node's
 * PostgreSQL restarts" is modelled by its proxy cutting every connection and refusing new ones for a while: what
 * clients see of a restart (connections reset mid-transaction, then refused), without the server losing anything.
 * The migrator reaches node k through one more proxy of its own ({@link #migratorLink}), so it can be cut from that
 * node alone while the node keeps its database; node k likewise through {@link #nodeLink}, so the node alone can be
 * cut off (partitioned) from a database the migrator still reaches.
 */
final class MigrationCluster implements AutoCloseable {

  static final String WRITE_KEY = "migration-test-write-key";
  static final String TOKEN = "migration-test-token-0123456789abcdef";

  final Vertx vertx = Vertx.vertx();
  final int partitions;
  final List<PgDatabase> nodeDbs = new ArrayList<>();
  final Node[] nodes;
  final Process[] processes;
  private final long startedNanos = System.nanoTime();
  final HistoryChecker history = new HistoryChecker(() -> (System.nanoTime() - startedNanos) / 1_000_000);
  /** A node process was killed (kill -9): a delivery it made and had no time to record may be made again. */
  volatile boolean nodeKilled;
  final PgConfig control;
  /** The connections between the processes and the databases, when {@code faultLinks}; else empty / null. */
  final List<TcpProxy> nodePg = new ArrayList<>();
  final List<TcpProxy> migratorLink = new ArrayList<>();
  final List<TcpProxy> nodeLink = new ArrayList<>();
  TcpProxy controlPg;
  private final PgConfig controlDirect;
  final Path workspace;
  /** share of sink requests answered 503, in [0, 1) */
  volatile double sinkFailureRate;
  /**
   * The sink's path carries this cluster's random token: a node of another test (a process that outlived it, on a
   * port this sink reuses) gets 404 and never reaches this checker; such requests are counted in {@link #foreign}.
   */
  final String sinkPath = "/events/" + java.util.UUID.randomUUID();
  final AtomicLong foreign = new AtomicLong();
  /** The sink holds the first request from this sender (an X-Eventpipe-Node value) unanswered; null: none. */
  volatile String holdFrom;
  /** The request held, once there is one. */
  final java.util.concurrent.atomic.AtomicReference<Held> held = new java.util.concurrent.atomic.AtomicReference<>();

  /** A request the sink never answered, when its connection closed and when another sender first delivered its user. */
  record Held(String user, long seq, String sender, AtomicLong closedAtNanos, AtomicLong otherDeliveryAtNanos) {
    Held(String user, long seq, String sender) {
      this(user, seq, sender, new AtomicLong(), new AtomicLong());
    }
  }
  /** Every event the sink answered, as {userId, seq, status}, for tests that check deliveries themselves. */
  final java.util.Queue<Object[]> sinkLog = new java.util.concurrent.ConcurrentLinkedQueue<>();
  private final Random sinkRandom = new Random(1);
  private io.vertx.core.http.HttpServer sink;
  volatile Proxy proxy;
  /** The proxy as a process of its own ({@link #startProxyProcess}), else null. */
  private Process proxyProcess;
  private int proxyProcessPort;

  MigrationCluster(Path dir, int partitions, int maxNodes, int initialNodes) throws Exception {
    this(dir, partitions, maxNodes, initialNodes, false);
  }

  MigrationCluster(Path dir, int partitions, int maxNodes, int initialNodes, boolean faultLinks) throws Exception {
    this.partitions = partitions;
    this.nodes = new Node[maxNodes];
    this.processes = new Process[maxNodes];
    PgServer server = PgServer.get();
    PgDatabase controlDb = server.createDatabase("mig_control");
    controlDirect = config(controlDb);
    nodeDbs.addAll(server.createDatabases("mig_node", maxNodes)); // one URL template reaches them: nodeUrlTemplate()
    if (faultLinks) {
      controlPg = new TcpProxy(controlDb.host(), controlDb.port());
      for (int k = 0; k < maxNodes; k++) {
        TcpProxy db = new TcpProxy(nodeDbs.get(k).host(), nodeDbs.get(k).port());
        nodePg.add(db);
        migratorLink.add(new TcpProxy(db.host(), db.port()));
        nodeLink.add(new TcpProxy(db.host(), db.port()));
      }
    }
    control = controlPg == null ? controlDirect : via(controlDirect, controlPg);
    sink = vertx.createHttpServer().requestHandler(req -> req.body().onSuccess(body -> {
      if (!sinkPath.equals(req.path())) {
        foreign.incrementAndGet();
        req.response().setStatusCode(404).end();
        return;
      }
      boolean fail;
      synchronized (sinkRandom) {
        fail = sinkRandom.nextDouble() < sinkFailureRate;
      }
      int status = fail ? 503 : 200;
      JsonObject e = new JsonObject(body.toString(StandardCharsets.UTF_8));
      JsonObject props = e.getJsonObject("properties");
      sinkLog.add(new Object[] {e.getString("userId"), props == null ? -1L : props.getLong("seq", -1L), status});
      String sender = req.getHeader("X-Eventpipe-Node");
      if (props != null && props.containsKey("seq") && holdFrom != null && holdFrom.equals(sender)
          && held.compareAndSet(null, new Held(e.getString("userId"), props.getLong("seq"), sender))) {
        // never answered: the request stays open until its sender gives up on it or closes its connection
        Held h = held.get();
        history.delivery(h.user(), h.seq(), sender, req.getHeader("X-Eventpipe-Job-Ids"), req.getHeader("X-Eventpipe-Attempts"), 0);
        history.event("sink holds " + h.user() + " #" + h.seq() + " from " + sender + " unanswered");
        req.connection().closeHandler(v -> {
          h.closedAtNanos().compareAndSet(0, System.nanoTime());
          history.event("the held request's connection (" + h.user() + " #" + h.seq() + ") closed");
        });
        return;
      }
      if (props != null && props.containsKey("seq")) {
        Held h = held.get();
        if (h != null && h.user().equals(e.getString("userId")) && !h.sender().equals(sender)) {
          h.otherDeliveryAtNanos().compareAndSet(0, System.nanoTime());
        }
      }
      if (props != null && props.containsKey("seq")) {
        // who sent it: the router's origin headers (node, job id in that node's database, attempt), and the answer
        history.delivery(e.getString("userId"), props.getLong("seq"), req.getHeader("X-Eventpipe-Node"),
            req.getHeader("X-Eventpipe-Job-Ids"), req.getHeader("X-Eventpipe-Attempts"), status);
      }
      req.response().setStatusCode(status).end();
    })).listen(0, "127.0.0.1").toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: app\n    writeKey: " + WRITE_KEY + "\n"
        + "destinations:\n  - id: sink\n    type: webhook\n    sources: [app]\n    config:\n"
        + "      url: http://127.0.0.1:" + sink.actualPort() + sinkPath + "\n"
        + "      timeoutMs: 60000\n" // longer than any test's wait: a request the sink holds stays open until its sender closes it
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

  /** The port the load sends to: the in-process proxy's, or the proxy process's. */
  int proxyPort() {
    Proxy p = proxy;
    return p != null ? p.port() : proxyProcessPort;
  }

  /**
   * Replaces the proxy by a {@code pipeline proxy} process on a port of its own, which a restart after
   * {@link #killProxyProcess} takes again (the load keeps sending there, and gets refused while it is down).
   */
  void startProxyProcess(Path dir) throws Exception {
    if (proxyProcessPort == 0) {
      proxyProcessPort = freePort();
    }
    int adminPort = freePort();
    Path log = dir.resolve("proxy.log");
    ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
        "-cp", System.getProperty("java.class.path"), "io.eventpipe.launcher.Main", "proxy", "--control-url", controlUrl(),
        "--config", workspace.toString(), "--port", String.valueOf(proxyProcessPort), "--host", "127.0.0.1",
        "--admin-port", String.valueOf(adminPort), "--admin-host", "127.0.0.1", "--ingest-token", TOKEN);
    pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    Proxy inProcess = proxy;
    proxyProcess = pb.start();
    awaitReady(adminPort, () -> "the proxy process became ready; the end of its log " + log + ":\n" + tail(log));
    proxy = null;
    if (inProcess != null) {
      await(inProcess.stop());
    }
    history.event("proxy process started on port " + proxyProcessPort);
  }

  /** kill -9 of the proxy process. */
  void killProxyProcess() throws InterruptedException {
    if (proxyProcess != null) {
      history.event("kill -9 of the proxy (a process)");
      proxyProcess.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
      proxyProcess = null;
    }
  }

  private static int freePort() throws java.io.IOException {
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      return socket.getLocalPort();
    }
  }

  private static void awaitReady(int adminPort, java.util.function.Supplier<String> what) throws InterruptedException {
    HttpClient probe = HttpClient.newHttpClient();
    waitFor(() -> {
      try {
        return probe.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + adminPort + "/health/ready")).build(),
            HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
      } catch (Exception e) {
        return false;
      }
    }, 90, what);
  }

  /** Stops the proxy and starts another (the load follows its new port). */
  void restartProxy() throws Exception {
    Proxy old = proxy;
    proxy = startProxy();
    await(old.stop());
  }

  void startNode(int k) throws Exception {
    if (nodes[k] == null && processes[k] == null) {
      nodes[k] = await(new Node(vertx, new NodeOptions(k, nodeConfig(k), partitions, GatewayOptions.defaults(0),
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
    PgConfig db = nodeConfig(k);
    Path log = dir.resolve("node" + k + ".log");
    int adminPort = freePort();
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx384m", "-cp", System.getProperty("java.class.path"),
        "io.eventpipe.launcher.Main", "node", "--node-id", String.valueOf(k), "--pg-url", url(db),
        "--control-url", controlUrl(),
        "--config", workspace.toString(), "--port", "0", "--host", "127.0.0.1", "--admin-port", String.valueOf(adminPort),
        "--admin-host", "127.0.0.1", "--admin-token", TOKEN + "-admin", "--ingest-token", TOKEN,
        "--partitions", String.valueOf(partitions), "--allow-non-durable-database");
    pb.redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    processes[k] = pb.start();
    awaitReady(adminPort, () -> "node process " + k + " became ready; the end of its log " + log + ":\n" + tail(log));
    history.event("node " + k + " started (a process)");
  }

  /** kill -9 of a node process. */
  void killNodeProcess(int k) throws InterruptedException {
    Process p = processes[k];
    if (p != null) {
      nodeKilled = true;
      history.event("kill -9 of node " + k + " (a process)");
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
    MigratorOptions.StepHook hook = options.hook();
    MigratorOptions recorded = options.withHook(step -> {
      history.event("migrator to " + n + ": before " + step);
      hook.before(step);
    });
    try (NodeDatabases dbs = new NodeDatabases(vertx, this::migratorConfig, true)) {
      return await(new Migrator(vertx, store, dbs, recorded, p -> {}).run(n, Migrator.Only.ALL), 300);
    } catch (Exception e) {
      history.event("migrator to " + n + " failed: " + e.getCause());
      throw e;
    } finally {
      await(store.closeAsync());
    }
  }

  /** How node {@code k} reaches its database: through {@link #nodeLink}, then {@link #nodePg}, with fault links. */
  PgConfig nodeConfig(int k) {
    return nodeLink.isEmpty() ? config(nodeDbs.get(k)) : via(config(nodeDbs.get(k)), nodeLink.get(k));
  }

  /** How the migrator reaches node {@code k}'s database: through {@link #migratorLink}, then the node's own link. */
  PgConfig migratorConfig(int k) {
    return migratorLink.isEmpty() ? config(nodeDbs.get(k)) : via(config(nodeDbs.get(k)), migratorLink.get(k));
  }

  private static PgConfig via(PgConfig c, TcpProxy link) {
    return new PgConfig(link.host(), link.port(), c.database(), c.user(), c.password());
  }

  /**
   * A restart of the database behind {@code link}, as its clients see it: every connection cut at once, new ones
   * refused for {@code downMillis}, then accepted again.
   */
  void restart(TcpProxy link, String what, long downMillis) {
    history.event(what + " down (connections cut, new ones refused)");
    link.refuse(true);
    link.cutAll();
    sleep(downMillis);
    link.refuse(false);
    history.event(what + " up again");
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
    /** every refused request, retryable or not */
    final AtomicLong errors = new AtomicLong();
    /**
     * refused requests an SDK would not retry: anything but a 503 with Retry-After or a network error (a node or proxy
     * that is down, which a test that kills one expects; the load retries those with the same messageId, as an SDK
     * does)
     */
    final AtomicLong permanentErrors = new AtomicLong();
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
          int attempt = 1;
          history.sent(user, seq, messageId, messageId + "#" + attempt);
          while (!send(user, seq, messageId)) {
            if (stop.get()) {
              return; // not acknowledged: not expected at the sink
            }
            sleep(100);
            history.sent(user, seq, messageId, messageId + "#" + ++attempt);
          }
          history.acked(user, seq, messageId, messageId + "#" + attempt);
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
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxyPort() + "/v1/track"))
            .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
            .header("Content-Type", "application/json").timeout(Duration.ofSeconds(30))
            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
        if (r.statusCode() == 200) {
          return true;
        }
        boolean retryable = r.statusCode() == 503 && r.headers().firstValue("Retry-After").isPresent();
        note(r.statusCode() + " " + r.body(), retryable);
      } catch (java.io.IOException e) {
        note(e.toString(), true); // refused, reset or timed out: an SDK retries those too
      } catch (Exception e) {
        note(e.toString(), false);
      }
      return false;
    }

    private void note(String error, boolean retryable) {
      errors.incrementAndGet();
      if (!retryable) {
        permanentErrors.incrementAndGet();
      }
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

  /**
   * Waits until the sink delivered every acknowledged event (at most {@code seconds}), then checks the history: nothing
   * lost, reordered or delivered unsent, and no duplicate beyond a retry unless a node process was killed (which may
   * redeliver what the sink answered before the kill). A failure prints the first anomaly's history and
   * {@link #evidence}.
   */
  /** Pending delivery jobs on the databases of every node that has run (a database without the queue counts 0). */
  long pendingDeliveries() {
    long pending = 0;
    for (PgDatabase db : nodeDbs) {
      try (java.sql.Connection conn = db.connect(); java.sql.Statement st = conn.createStatement();
           java.sql.ResultSet rs = st.executeQuery("SELECT count(*) FROM jobs_rt.job_state WHERE state < 3")) {
        rs.next();
        pending += rs.getLong(1);
      } catch (java.sql.SQLException e) {
        // no queue yet: that node never started
      }
    }
    return pending;
  }

  void assertAllDelivered(int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (history.deliveredAcked() < history.acked() && System.nanoTime() < deadline) {
      Thread.sleep(100);
    }
    java.util.Set<HistoryChecker.Kind> failing = java.util.EnumSet.allOf(HistoryChecker.Kind.class);
    if (nodeKilled) {
      failing.remove(HistoryChecker.Kind.DUPLICATED);
    }
    history.assertNo(failing, this::evidence);
    System.out.println("history: " + history.acked() + " events acknowledged and delivered; anomalies allowed (a node was"
        + " killed: " + nodeKilled + "): " + HistoryChecker.counts(history.check()));
  }

  /**
   * What the databases say about {@code key}: its job rows on every node (gw and rt: id, partition, messageId, state,
   * attempts, next retry, dead-lettered), the partition's record on every node, and the import marks and ranges.
   */
  String evidence(String key) {
    StringBuilder out = new StringBuilder();
    out.append("requests to other paths (another test's nodes): ").append(foreign.get()).append('\n');
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
    for (TcpProxy link : nodeLink) {
      link.freeze(false); // a partition the test left in place: the nodes must be able to stop
    }
    if (proxy != null) {
      await(proxy.stop());
    }
    killProxyProcess();
    for (int k = 0; k < nodes.length; k++) {
      killNodeProcess(k);
      stopNode(k);
    }
    await(sink.close());
    await(vertx.close());
    for (TcpProxy link : migratorLink) {
      link.close();
    }
    for (TcpProxy link : nodeLink) {
      link.close();
    }
    for (TcpProxy link : nodePg) {
      link.close();
    }
    if (controlPg != null) {
      controlPg.close();
    }
  }

  /** The node databases as the migrator's {@code --node-pg-url} names them ({@code {node}} is the ordinal). */
  String nodeUrlTemplate() {
    String first = nodeDbs.get(0).uri();
    return first.substring(0, first.length() - 1) + "{node}";
  }

  /** The control store's URL as a flag takes it. */
  String controlUrl() {
    return url(control);
  }

  static String url(PgConfig c) {
    return "postgresql://" + c.user() + ":" + c.password() + "@" + c.host() + ":" + c.port() + "/" + c.database();
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

  /** The last lines of a process's log, for a failure message (JUnit deletes the temporary directory after the test). */
  static String tail(Path log) {
    try {
      List<String> lines = java.nio.file.Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 60), lines.size()));
    } catch (java.io.IOException | RuntimeException e) {
      return "(cannot read it: " + e + ")";
    }
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
