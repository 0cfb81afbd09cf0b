package io.eventpipe.launcher;

import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.gateway.http.ConnectionLimits;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.routing.Partitioner;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code pipeline} executable. Roles:
 * <ul>
 *   <li>{@code local}: a whole pipeline on one machine, PostgreSQL embedded, data kept in {@code --data-dir};</li>
 *   <li>{@code node}: one processor node against its own PostgreSQL (for real deployments).</li>
 * </ul>
 */
public final class Main {

  private static final Logger LOG = LoggerFactory.getLogger(Main.class);

  /** The public API's and the internal ports' limits, taken by every role that serves HTTP. */
  private static final Set<String> HTTP_FLAGS = Set.of("max-request-bytes", "trust-forwarded-for", "trusted-proxy-hops",
      "body-timeout-ms", "header-timeout-ms", "idle-timeout-seconds", "max-connections", "admin-max-connections");
  private static final Set<String> LOCAL_FLAGS = with(HTTP_FLAGS, "config", "port", "nodes", "data-dir", "admin-port",
      "admin-token", "ingest-token", "partitions", "demo-sink-port", "secret-env-allow", "secret-file-allow", "autoscale",
      "interval-seconds", "up-age-seconds", "up-window-seconds", "down-age-seconds", "down-events-per-node",
      "down-window-seconds", "cooldown-seconds", "failing-ratio");
  private static final Set<String> NODE_FLAGS = with(HTTP_FLAGS, "node-id", "pg-url", "control-url", "cluster-nodes", "advertise",
      "config", "port", "host", "admin-port", "admin-host", "admin-token", "ingest-token", "partitions", "secret-env-allow",
      "secret-file-allow", "allow-non-durable-database", "self-fence-ms", "retention-finished-hours",
      "retention-dead-letter-days");
  private static final Set<String> PROXY_FLAGS = with(HTTP_FLAGS, "control-url", "config", "port", "host", "admin-port",
      "admin-host", "ingest-token", "secret-env-allow", "secret-file-allow");
  private static final Set<String> STATUS_FLAGS = Set.of("data-dir", "control-url", "admin-token");
  private static final Set<String> REGULATION_FLAGS = Set.of("data-dir", "control-url", "admin-token", "user", "suppress", "delete",
      "requested-by", "wait-seconds", "progress");
  private static final Set<String> MIGRATOR_FLAGS = Set.of("to", "control-url", "node-pg-url", "abort", "only",
      "batch-jobs", "max-jobs-per-second", "throttle", "target-latency-ratio", "ready-timeout-seconds", "lease-seconds", "progress",
      "allow-non-durable-database", "lock-wait-seconds", "if-initialized");
  private static final Set<String> CONTROL_INIT_FLAGS = Set.of("control-url", "cluster-nodes", "partitions", "wait-seconds",
      "proxy-role-password", "node-role-password", "migrator-role-password", "status-role-password",
      "allow-non-durable-database");
  private static final Set<String> AUTOSCALER_FLAGS = with(Autoscale.POLICY_FLAGS, "nodes", "data-dir", "control-url",
      "admin-token", "node-pg-url", "kubernetes-statefulset", "kubernetes-namespace", "ready-timeout-seconds", "admin-port",
      "admin-host", "batch-jobs", "max-jobs-per-second", "throttle", "target-latency-ratio", "lease-seconds", "progress",
      "allow-non-durable-database");
  private static final Set<String> SCALE_FLAGS = Set.of("nodes", "data-dir", "batch-jobs", "max-jobs-per-second", "throttle",
      "target-latency-ratio", "progress");

  /**
   * The flags a role accepts (each also read from {@code PIPELINE_<FLAG>}): the contract that the Helm chart, the
   * compose file and the Dockerfile are checked against.
   *
   * @throws IllegalArgumentException for an unknown role
   */
  public static Set<String> flagsOf(String role) {
    return switch (role) {
      case "local" -> LOCAL_FLAGS;
      case "node" -> NODE_FLAGS;
      case "proxy" -> PROXY_FLAGS;
      case "status" -> STATUS_FLAGS;
      case "regulation" -> REGULATION_FLAGS;
      case "migrator" -> MIGRATOR_FLAGS;
      case "scale" -> SCALE_FLAGS;
      case "autoscaler" -> AUTOSCALER_FLAGS;
      case "control-init" -> CONTROL_INIT_FLAGS;
      default -> throw new IllegalArgumentException("unknown role '" + role + "'");
    };
  }

  private Main() {}

  private static Set<String> with(Set<String> shared, String... own) {
    Set<String> all = new java.util.TreeSet<>(shared);
    all.addAll(java.util.List.of(own));
    return java.util.Collections.unmodifiableSet(all);
  }

  public static void main(String[] args) {
    if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
      usage();
      System.exit(args.length == 0 ? 2 : 0);
    }
    String role = args[0];
    String[] rest = java.util.Arrays.copyOfRange(args, 1, args.length);
    try {
      switch (role) {
        case "local" -> local(new Flags(rest, LOCAL_FLAGS, System.getenv()));
        case "node" -> node(new Flags(rest, NODE_FLAGS, System.getenv()));
        case "proxy" -> proxy(new Flags(rest, PROXY_FLAGS, System.getenv()));
        case "status" -> Status.run(new Flags(rest, STATUS_FLAGS, System.getenv()));
        case "regulation" -> {
          if (rest.length == 0 || rest[0].startsWith("--")) {
            throw new Flags.BadFlag("an action is required: regulation suppress|delete|list --user ID");
          }
          System.exit(Regulation.run(rest[0], new Flags(java.util.Arrays.copyOfRange(rest, 1, rest.length), REGULATION_FLAGS,
              System.getenv())));
        }
        case "migrator" -> System.exit(Migrate.migrator(new Flags(rest, MIGRATOR_FLAGS, System.getenv())));
        case "scale" -> System.exit(Migrate.scale(new Flags(rest, SCALE_FLAGS, System.getenv())));
        case "autoscaler" -> Autoscale.run(new Flags(rest, AUTOSCALER_FLAGS, System.getenv()));
        case "control-init" -> {
          Flags f = new Flags(rest, CONTROL_INIT_FLAGS, System.getenv());
          ControlInit.run(f, partitions(f));
        }
        default -> {
          System.err.println("unknown role '" + role + "'");
          usage();
          System.exit(2);
        }
      }
    } catch (Flags.BadFlag | IllegalArgumentException e) {
      System.err.println("pipeline " + role + ": " + e.getMessage());
      System.exit(2);
    } catch (Exception e) {
      LOG.error("pipeline {} failed", role, e);
      System.exit(1);
    }
  }

  private static void usage() {
    System.err.println("""
        usage: pipeline ROLE [--flag value ...]   (every flag also reads PIPELINE_<FLAG> from the environment)

          local   a whole cluster on this machine with embedded PostgreSQL: control store, N nodes, a proxy
                  --config FILE (workspace YAML; default: a demo workspace)  --port 8080  --nodes 1
                  --data-dir ./pipeline-data  --admin-port PORT+1  --admin-token TOKEN  --ingest-token TOKEN
                  --partitions 1024   (tokens default to generated ones, kept in the data directory)
                  --autoscale MIN..MAX (the autoscaler in process, with the policy flags of `autoscaler`)
          node    one processor node; with --control-url a cluster member behind proxies, else standalone
                  --node-id K|auto  --pg-url postgresql://user:pw@host:5432/db  --control-url postgresql://...
                  --cluster-nodes N (creates the topology of a new cluster)
                  --advertise HOST:PORT  --config FILE  --port 8080  --admin-port 8081  --admin-token TOKEN
                  --ingest-token TOKEN (what proxies send; required with --control-url, not the admin token)
                  --self-fence-ms 5000 (cannot renew its hold on its database this long: abort deliveries, stop)
                  --retention-finished-hours 0 (keep finished jobs, delivered or aborted, that long after their last
                  state change before their dataset is dropped whole; 0: drop it once all its jobs finished)
                  --retention-dead-letter-days 14 (delete dead letters that long after their abort; 0: keep them)
                  --allow-non-durable-database (tests only: start although its database or the control store has
                  fsync/synchronous_commit/full_page_writes off)
          proxy   the stateless user-keyed proxy
                  --control-url postgresql://...  --config FILE  --port 8080  --admin-port 8081  --ingest-token TOKEN
          status  the topology, each node's health and pending jobs, the migration in progress, stranded partitions
                  --data-dir DIR (of a running `local`)  or  --control-url postgresql://... --admin-token TOKEN
          regulation suppress|delete|list  a privacy regulation: suppress a user's future events at the edge, delete
                  what is stored of them (delete --suppress: both), or list the requests with their status per node
                  --user ID (matches userId or anonymousId)  --data-dir DIR (of a running `local`)  or  --control-url
                  postgresql://... --admin-token TOKEN  --requested-by WHO  --wait-seconds 120  --progress auto|bar|plain
          migrator  changes the node count of a cluster: moves partitions and their jobs, live; a rerun resumes
                  --to N  --control-url postgresql://...  --node-pg-url 'postgresql://user:pw@host-{node}:5432/db'
                  --only all|grow|shrink  --abort  --batch-jobs 2000  --max-jobs-per-second 0 (no ceiling)
                  --throttle auto|off (auto: slow the copy while ingest p99 on a node involved exceeds
                  --target-latency-ratio 1.5 times its steady state, measured before the copy)
                  --ready-timeout-seconds 300  --lease-seconds 15  --progress auto|bar|plain
                  --lock-wait-seconds 0 (for another migrator to end)  --if-initialized (no cluster yet: exit 0)
                  --allow-non-durable-database (tests only: node databases or a control store not durable)
          control-init  provisions the control store as its owner: roles and their passwords, schema, grants, topology
                  --control-url postgresql://owner:pw@host:5432/control  --cluster-nodes N (a new cluster's topology)
                  --partitions 1024  --proxy-role-password  --node-role-password  --migrator-role-password
                  --status-role-password (each creates that role; use the PIPELINE_ variables)  --wait-seconds 300
                  --allow-non-durable-database (tests only: a control store with fsync/synchronous_commit off)
          scale   resizes a running `local`: starts or stops its nodes and migrates; a rerun finishes the job
                  --nodes N  --data-dir ./pipeline-data  --batch-jobs  --max-jobs-per-second  --throttle
                  --target-latency-ratio  --progress
          autoscaler  sizes the node count from the nodes' backlog: grows when a queue more nodes can drain stays old,
                  shrinks when the cluster stays underused; never during a migration, never for a failing destination
                  --nodes MIN..MAX  and  --data-dir DIR (a running `local`)  or  --kubernetes-statefulset NAME
                  --kubernetes-namespace NS (default: the pod's)  --control-url postgresql://... (the migrator's role)
                  --admin-token TOKEN  --node-pg-url 'postgresql://...{node}...'  --ready-timeout-seconds 300
                  --interval-seconds 10  --up-age-seconds 30  --up-window-seconds 120  --down-age-seconds 5
                  --down-events-per-node 200  --down-window-seconds 600  --cooldown-seconds 300  --failing-ratio 0.5
                  --admin-port 8081 (/metrics, /healthz)  and the migrator's --batch-jobs --max-jobs-per-second
                  --throttle --target-latency-ratio --lease-seconds --progress

        Long commands (scale, migrator, regulation): a progress bar on a terminal (log lines go above it), plain lines
        otherwise (--progress forces one); exit code 0 done, 1 failed or not done in time (rerun: each resumes or is
        idempotent), 2 bad usage.

        HTTP flags of local, node and proxy:
                  --max-request-bytes 4096000  --body-timeout-ms 60000
                  --trust-forwarded-for (false)  --trusted-proxy-hops 1 (the client is that many X-Forwarded-For
                  entries from the right)  --header-timeout-ms 10000  --idle-timeout-seconds 120 (every port)
                  --max-connections 10000 (public port)  --admin-max-connections 4096 (internal/metrics port)
        """);
  }

  // ------------------------------------------------------------------ local

  private static void local(Flags flags) throws Exception {
    int port = flags.port("port", 8080);
    Integer nodes = flags.raw("nodes") == null ? null : flags.integer("nodes", 1, 1, 64);
    Path dataDir = flags.path("data-dir", Path.of("pipeline-data")).toAbsolutePath();
    int adminPort = flags.port("admin-port", port == 0 ? 0 : port + 1);
    int partitions = partitions(flags);
    if (flags.raw("autoscale") != null) { // checked before anything starts
      int[] bounds = Autoscale.bounds(flags, "autoscale");
      Autoscale.policy(flags, bounds[0], bounds[1]);
      Autoscale.interval(flags);
    }
    GatewayOptions gateway = gatewayOptions(flags, port).withHost("0.0.0.0");
    Path config = flags.existingFile("config");
    Files.createDirectories(dataDir);
    secretPolicy(flags, dataDir);
    String token = flags.string("admin-token", null);
    SecretFiles.checkToken("admin-token", token);
    if (token == null) {
      token = SecretFiles.readOrCreate(dataDir.resolve("admin-token"));
    }
    String ingestToken = flags.string("ingest-token", null);
    SecretFiles.checkToken("ingest-token", ingestToken);
    if (ingestToken == null) {
      ingestToken = SecretFiles.readOrCreate(dataDir.resolve("ingest-token"));
    }
    distinctTokens(token, ingestToken);

    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    DemoSink demo = null;
    String demoWriteKey = null;
    if (config == null) {
      demo = new DemoSink();
      int sinkPort = demo.start(vertx, flags.port("demo-sink-port", 0)).toCompletionStage().toCompletableFuture().get();
      demoWriteKey = SecretFiles.readOrCreate(dataDir.resolve("demo-write-key"));
      config = dataDir.resolve("workspace.yaml");
      Files.writeString(config, demoWorkspace(demoWriteKey, sinkPort), StandardCharsets.UTF_8);
    } else {
      WorkspaceConfig.load(config); // fail fast, naming the bad value
    }

    EmbeddedPg pg = EmbeddedPg.start(dataDir.resolve(EmbeddedPg.LOCAL_DIRECTORY));
    LocalCluster cluster = new LocalCluster(vertx, pg, nodes, partitions, gateway, internalConnections(flags), adminPort, token,
        ingestToken, config, dataDir.resolve("control-roles"));
    try {
      cluster.start().toCompletionStage().toCompletableFuture().get(180, TimeUnit.SECONDS);
    } catch (java.util.concurrent.ExecutionException e) {
      pg.close();
      throw e.getCause() instanceof IllegalStateException ise ? new Flags.BadFlag(ise.getMessage()) : e;
    }
    // it holds the migrator's and status's control store passwords: owner-only, like the tokens
    SecretFiles.write(dataDir.resolve("local.json"), new io.vertx.core.json.JsonObject()
        .put("controlUrl", cluster.controlUrl())
        .put("statusControlUrl", cluster.statusControlUrl())
        .put("nodeUrlTemplate", cluster.nodeUrlTemplate())
        .put("localControl", cluster.localControlUrl())
        .put("proxy", "http://localhost:" + cluster.proxyPort())
        .put("proxyMetrics", "http://127.0.0.1:" + cluster.proxyMetricsPort())
        .encodePrettily());

    System.out.println();
    System.out.println("eventpipe is running: " + cluster.nodes().size() + " node(s) behind a proxy; SDK API on http://localhost:" + cluster.proxyPort()
        + ", proxy metrics on http://127.0.0.1:" + cluster.proxyMetricsPort() + "/metrics");
    System.out.println("data directory: " + dataDir + "   workspace: " + config + "   status: ./pipeline status --data-dir " + dataDir);
    System.out.println("console: " + cluster.consoleUrl() + " (sign in with the admin token in " + dataDir.resolve("admin-token") + ")");
    if (demoWriteKey != null) {
      System.out.println();
      System.out.println("Demo workspace: write key " + demoWriteKey + "; deliveries are logged by the demo sink. Try:");
      System.out.println("  curl -u " + demoWriteKey + ": -H 'Content-Type: application/json' http://localhost:" + cluster.proxyPort()
          + "/v1/track -d '{\"userId\":\"u1\",\"event\":\"Signed Up\",\"properties\":{\"plan\":\"pro\"}}'");
    }
    io.eventpipe.autoscaler.Autoscaler autoscaler = null;
    if (flags.raw("autoscale") != null) {
      autoscaler = Autoscale.startLocal(flags, dataDir, cluster.proxyRegistry());
      System.out.println("autoscaling " + flags.raw("autoscale") + " nodes: decisions in the log, in `./pipeline status` and in"
          + " autoscaler_decisions_total on the proxy's metrics");
    } else if (Autoscale.POLICY_FLAGS.stream().anyMatch(f -> flags.raw(f) != null)) {
      throw new Flags.BadFlag("the autoscaler's flags need --autoscale MIN..MAX");
    }
    System.out.println();
    DemoSink demoSink = demo;
    io.eventpipe.autoscaler.Autoscaler scaler = autoscaler;
    runUntilStopped(() -> {
      try {
        if (scaler != null) {
          scaler.stop();
        }
        cluster.stop().toCompletionStage().toCompletableFuture().get(40, TimeUnit.SECONDS);
        if (demoSink != null) {
          demoSink.stop().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        }
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      } finally {
        pg.close(); // last, whatever failed before: the nodes stop before their database
      }
    });
  }

  private static String demoWorkspace(String writeKey, int sinkPort) {
    return """
        # Demo workspace written by `pipeline local` (pass --config FILE to use your own).
        # The demo sink listens on this machine: loopback is denied to destinations unless allowed.
        egress: {allow: [127.0.0.0/8]}
        sources:
          - id: demo
            name: Demo source
            writeKey: %s
            enabled: true
        destinations:
          - id: demo-sink
            type: webhook
            enabled: true
            sources: [demo]
            config:
              url: http://127.0.0.1:%d/demo
        """.formatted(writeKey, sinkPort);
  }

  // ------------------------------------------------------------------ node

  private static void node(Flags flags) throws Exception {
    int nodeId = nodeId(flags);
    PgConfig pg = PgConfig.parse(flags.required("pg-url"));
    secretPolicy(flags, null);
    Path config = flags.existingFile("config");
    if (config == null) {
      throw new Flags.BadFlag("--config (or PIPELINE_CONFIG) is required: the workspace YAML file");
    }
    WorkspaceConfig.load(config);
    int port = flags.port("port", 8080);
    GatewayOptions gateway = gatewayOptions(flags, port).withHost(flags.string("host", "0.0.0.0"));
    String controlUrl = flags.string("control-url", null);
    int clusterNodes = flags.integer("cluster-nodes", 0, 0, 4096);
    String adminToken = flags.required("admin-token");
    String ingestToken = controlUrl == null ? flags.string("ingest-token", null) : flags.required("ingest-token");
    SecretFiles.checkToken("admin-token", adminToken);
    SecretFiles.checkToken("ingest-token", ingestToken);
    distinctTokens(adminToken, ingestToken);
    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    boolean allowNonDurable = flags.bool("allow-non-durable-database", false);
    if (controlUrl != null && clusterNodes > 0) {
      ControlInit.requireDurable(PgConfig.parse(controlUrl), allowNonDurable, "node"); // before it writes the topology
      // the first node of a new cluster creates its topology; later starts find it and keep it
      io.eventpipe.control.ControlStore store = io.eventpipe.control.ControlStore.open(vertx, PgConfig.parse(controlUrl))
          .toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      try {
        io.eventpipe.routing.Topology t = store.initialize(partitions(flags), clusterNodes)
            .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        int count = store.nodeCount().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        if (count != clusterNodes) {
          // not fatal: during a resize new nodes start (with the new count) before the migrator moves their share
          LOG.warn("--cluster-nodes {} does not match the cluster, which has {} nodes at epoch {}: this node serves the"
              + " current topology (it owns {} partitions); change the node count with `pipeline migrator --to {}`",
              clusterNodes, count, t.epoch(), t.ownedBy(nodeId).length, clusterNodes);
        }
      } finally {
        store.closeAsync();
      }
    }
    Node node = new Node(vertx, new NodeOptions(nodeId, pg, partitions(flags), gateway, flags.string("admin-host", "0.0.0.0"),
        flags.port("admin-port", 8081), adminToken, ingestToken, config,
        controlUrl == null ? null : PgConfig.parse(controlUrl), flags.string("advertise", null), internalConnections(flags))
        .withAllowNonDurableDatabase(allowNonDurable)
        .withSelfFence(java.time.Duration.ofMillis(flags.integer("self-fence-ms", (int) NodeOptions.DEFAULT_SELF_FENCE.toMillis(),
            100, 600_000)))
        .withFinishedRetention(java.time.Duration.ofHours(flags.integer("retention-finished-hours", 0, 0, 24 * 366)))
        .withDeadLetterRetention(java.time.Duration.ofDays(flags.integer("retention-dead-letter-days",
            (int) io.eventpipe.jobsdb.JobsDbOptions.DEFAULT_DEAD_LETTER_RETENTION.toDays(), 0, 3660))));
    if (controlUrl != null) {
      node.withConsole(new Console(vertx, PgConfig.parse(controlUrl), adminToken, gateway.bodyTimeoutMs()));
    }
    node.start().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    runUntilStopped(() -> {
      node.stop().toCompletionStage().toCompletableFuture().get(40, TimeUnit.SECONDS);
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    });
  }

  // ------------------------------------------------------------------ proxy

  private static void proxy(Flags flags) throws Exception {
    secretPolicy(flags, null);
    Path config = flags.existingFile("config");
    if (config == null) {
      throw new Flags.BadFlag("--config (or PIPELINE_CONFIG) is required: the workspace YAML file");
    }
    WorkspaceConfig.load(config);
    int port = flags.port("port", 8080);
    String ingestToken = flags.required("ingest-token");
    SecretFiles.checkToken("ingest-token", ingestToken);
    Vertx vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
    Proxy proxy = new Proxy(vertx, new Proxy.Options(gatewayOptions(flags, port).withHost(flags.string("host", "0.0.0.0")),
        PgConfig.parse(flags.required("control-url")), ingestToken, flags.string("admin-host", "0.0.0.0"),
        flags.port("admin-port", 8081), config, internalConnections(flags)));
    proxy.start().toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    runUntilStopped(() -> {
      proxy.stop().toCompletionStage().toCompletableFuture().get(40, TimeUnit.SECONDS);
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    });
  }

  // ------------------------------------------------------------------ shared

  /** {@code --node-id K}, or {@code auto}: the ordinal at the end of the host name (a StatefulSet pod's "name-K"). */
  private static int nodeId(Flags flags) {
    String raw = flags.string("node-id", "0");
    if (!raw.equals("auto")) {
      return flags.integer("node-id", 0, 0, 4095);
    }
    String host = System.getenv().getOrDefault("HOSTNAME", "");
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("-(\\d+)$").matcher(host);
    if (!m.find()) {
      throw new Flags.BadFlag("--node-id=auto needs a host name ending in -<ordinal> (a StatefulSet pod); HOSTNAME is '" + host + "'");
    }
    return Integer.parseInt(m.group(1));
  }

  private static GatewayOptions gatewayOptions(Flags flags, int port) {
    GatewayOptions g = GatewayOptions.defaults(port);
    boolean trust = flags.bool("trust-forwarded-for", false);
    if (!trust && flags.raw("trusted-proxy-hops") != null) {
      throw new Flags.BadFlag("--trusted-proxy-hops counts the proxies whose X-Forwarded-For entries are trusted: it needs"
          + " --trust-forwarded-for");
    }
    return g.withMaxRequestBytes(flags.integer("max-request-bytes", g.maxRequestBytes(), 1024, 64 << 20))
        .withTrustForwardedFor(trust)
        .withTrustedProxyHops(flags.integer("trusted-proxy-hops", 1, 1, 16))
        .withBodyTimeoutMs(flags.integer("body-timeout-ms", (int) GatewayOptions.DEFAULT_BODY_TIMEOUT_MS, 100, 3_600_000))
        .withConnections(connections(flags, "max-connections", ConnectionLimits.DEFAULT_MAX_CONNECTIONS));
  }

  /** The limits of the internal port of a node, the metrics port of a proxy (and the local cluster's control port). */
  private static ConnectionLimits internalConnections(Flags flags) {
    return connections(flags, "admin-max-connections", ConnectionLimits.DEFAULT_INTERNAL_MAX_CONNECTIONS);
  }

  private static ConnectionLimits connections(Flags flags, String capFlag, int defaultCap) {
    int header = flags.integer("header-timeout-ms", (int) ConnectionLimits.DEFAULT_HEADER_TIMEOUT_MS, 100, 600_000);
    int idle = flags.integer("idle-timeout-seconds", ConnectionLimits.DEFAULT_IDLE_TIMEOUT_SECONDS, 1, 86_400);
    if (idle * 1000L < header) {
      throw new Flags.BadFlag("--idle-timeout-seconds=" + idle + " is shorter than --header-timeout-ms=" + header
          + ": a kept-alive connection must be allowed at least the header deadline for its next request");
    }
    return new ConnectionLimits(header, idle, flags.integer(capFlag, defaultCap, 1, 1_000_000));
  }

  /**
   * The ingest token (proxies hold it) must not open the admin API: equal tokens would give the internet-facing tier
   * the aborted payloads and replay.
   */
  private static void distinctTokens(String adminToken, String ingestToken) {
    if (ingestToken != null && ingestToken.equals(adminToken)) {
      throw new Flags.BadFlag("--ingest-token must differ from --admin-token: proxies hold the ingest token, and the admin"
          + " token opens the admin API (aborted payloads, replay)");
    }
  }

  /**
   * What the workspace's secret references may read ({@link io.eventpipe.workspace.SecretPolicy}): nothing unless
   * allowed, never the process's own secrets nor {@code deniedDir} (the data directory, with the tokens).
   */
  private static void secretPolicy(Flags flags, Path deniedDir) {
    try {
      io.eventpipe.workspace.SecretPolicy.install(io.eventpipe.workspace.SecretPolicy.parse(flags.string("secret-env-allow", null),
          flags.string("secret-file-allow", null), deniedDir == null ? java.util.List.of() : java.util.List.of(deniedDir)));
    } catch (IllegalArgumentException e) {
      throw new Flags.BadFlag(e.getMessage());
    }
  }

  private static int partitions(Flags flags) {
    int p = flags.integer("partitions", Partitioner.DEFAULT_PARTITIONS, 1, Partitioner.MAX_PARTITIONS);
    if (Integer.bitCount(p) != 1) {
      throw new Flags.BadFlag("--partitions=" + p + " must be a power of two");
    }
    return p;
  }

  /** Something to run at shutdown. */
  interface Stopper {
    void stop() throws Exception;
  }

  /** Blocks until SIGTERM/SIGINT, then stops gracefully. */
  private static void runUntilStopped(Stopper stopper) throws InterruptedException {
    CountDownLatch stopped = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      LOG.info("stopping (signal received)");
      try {
        stopper.stop();
      } catch (Exception e) {
        LOG.warn("graceful stop incomplete: {}", e.toString());
      }
      stopped.countDown();
    }, "pipeline-stop"));
    stopped.await();
  }
}
