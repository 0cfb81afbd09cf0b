package io.eventpipe.launcher;

import io.eventpipe.control.ControlRoles;
import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.ConnectionGuard;
import io.eventpipe.gateway.http.ConnectionLimits;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.gateway.http.InternalErrors;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A whole cluster in one process on one embedded PostgreSQL server: the control store (database {@code control}),
 * N nodes (databases {@code node0..}), and a proxy in front. Internal ports: the proxy's metrics on
 * {@code adminPort}, node k's internal port on {@code adminPort + 1 + k} (all free ports when adminPort is 0).
 * Each connects to the control store with its own role ({@link ControlRoles}: the proxy reads, node k writes its own
 * row, {@code pipeline scale}'s migrator and {@code pipeline status} have theirs), with a generated password kept in
 * {@code rolesDir}; the control store's roles cannot connect to the node databases.
 */
final class LocalCluster {

  private static final Logger LOG = LoggerFactory.getLogger(LocalCluster.class);

  private final Vertx vertx;
  private final EmbeddedPg pg;
  private final Integer requestedNodes;
  private final int partitions;
  private final GatewayOptions gateway;
  private final ConnectionLimits internal;
  private final int adminPort;
  private final String token;
  private final String ingestToken;
  private final Path workspace;
  private final Path rolesDir;
  private final List<Node> nodes = new ArrayList<>();
  private PgConfig control;
  private Proxy proxy;

  private final java.util.Map<Integer, Node> running = new java.util.TreeMap<>();
  private io.vertx.core.http.HttpServer controlServer;
  private Future<Void> changing = Future.succeededFuture();

  /** @param requestedNodes {@code --nodes}, or null: a new data directory gets 1, an existing one its recorded count */
  LocalCluster(Vertx vertx, EmbeddedPg pg, Integer requestedNodes, int partitions, GatewayOptions gateway,
      ConnectionLimits internal, int adminPort, String token, String ingestToken, Path workspace, Path rolesDir) {
    this.internal = internal;
    this.vertx = vertx;
    this.pg = pg;
    this.requestedNodes = requestedNodes;
    this.partitions = partitions;
    this.gateway = gateway;
    this.adminPort = adminPort;
    this.token = token;
    this.ingestToken = ingestToken;
    this.workspace = workspace;
    this.rolesDir = rolesDir;
  }

  /**
   * Starts everything. A new data directory gets {@code --nodes} (default 1); an existing one starts the node count
   * recorded in its control store (and the nodes of a migration in progress), and refuses a different {@code --nodes}:
   * resizing is {@code pipeline scale}'s job.
   */
  Future<Void> start() {
    try {
      control = pg.database("control");
    } catch (java.sql.SQLException e) {
      return Future.failedFuture(e);
    }
    int fresh = requestedNodes == null ? 1 : requestedNodes;
    return vertx.executeBlocking(() -> {
          provision(ControlRoles.PROXY, ControlRoles.MIGRATOR, ControlRoles.STATUS);
          return null;
        }, false)
        .compose(v -> ControlStore.open(vertx, control))
        .compose(store -> store.initialize(partitions, fresh)
            .compose(topology -> store.nodeCount().compose(count -> store.activeMigration().map(active -> {
              int run = active.map(m -> Math.max(count, Math.max(m.fromNodes(), m.toNodes()))).orElse(count);
              if (requestedNodes != null && requestedNodes != count && active.isEmpty()) {
                throw new IllegalStateException("the cluster in this data directory has " + count + " nodes; start it without"
                    + " --nodes (or with --nodes " + count + "), then resize it live with `./pipeline scale --nodes "
                    + requestedNodes + "`");
              }
              active.ifPresent(m -> LOG.warn("{} is in progress: starting {} nodes; `./pipeline scale --nodes {}` finishes it",
                  m, run, m.toNodes()));
              LOG.info("topology epoch {}: {} partitions over {} nodes", topology.epoch(), topology.partitionCount(), count);
              return run;
            })))
            .eventually(() -> store.closeAsync()))
        .compose(run -> ensureNodes(run))
        .compose(v -> {
          proxy = new Proxy(vertx, new Proxy.Options(gateway, as(ControlRoles.PROXY), ingestToken, "127.0.0.1", adminPort, workspace,
              internal));
          return proxy.start();
        })
        .compose(v -> startControl())
        .mapEmpty();
  }

  /** Starts nodes {@code 0 .. count-1} that do not run yet. */
  private Future<Void> ensureNodes(int count) {
    Future<Void> f = Future.succeededFuture();
    for (int k = 0; k < count; k++) {
      int id = k;
      f = f.compose(v -> running.containsKey(id) ? Future.succeededFuture() : startNode(id));
    }
    return f;
  }

  /** Stops nodes {@code count ..} (after a migration moved everything off them). */
  private Future<Void> stopNodesFrom(int count) {
    Future<Void> f = Future.succeededFuture();
    for (int id : new ArrayList<>(running.keySet())) {
      if (id >= count) {
        Node n = running.remove(id);
        nodes.remove(n);
        f = f.compose(v -> n.stop());
      }
    }
    return f;
  }

  /**
   * The endpoint {@code pipeline scale} drives (loopback, admin token): {@code POST /local/v1/nodes/start?count=N}
   * and {@code POST /local/v1/nodes/stop?count=N}.
   */
  private Future<Void> startControl() {
    controlServer = new ConnectionGuard(vertx, "local-control", internal, proxy.registry())
        .createServer(new io.vertx.core.http.HttpServerOptions().setHost("127.0.0.1").setPort(0), req -> {
      if (!("Bearer " + token).equals(req.getHeader("Authorization"))) {
        req.response().setStatusCode(401).end("{\"error\":\"needs the admin token\"}");
        return;
      }
      int count;
      try {
        count = Integer.parseInt(req.getParam("count"));
      } catch (NumberFormatException e) {
        req.response().setStatusCode(400).end("{\"error\":\"count must be a whole number\"}");
        return;
      }
      String path = req.path();
      Future<Void> work;
      if (path.equals("/local/v1/nodes/start")) {
        work = ensureNodes(count);
      } else if (path.equals("/local/v1/nodes/stop")) {
        work = stopNodesFrom(count);
      } else {
        req.response().setStatusCode(404).end("{\"error\":\"no such endpoint\"}");
        return;
      }
      changing = changing.transform(x -> work);
      changing.onComplete(ar -> {
        if (ar.succeeded()) {
          req.response().putHeader("Content-Type", "application/json")
              .end(new io.vertx.core.json.JsonObject().put("running", running.size()).encode());
        } else {
          String id = InternalErrors.log(LOG, "local cluster: " + path + " failed", ar.cause());
          req.response().setStatusCode(500).putHeader("Content-Type", "application/json")
              .end(InternalErrors.body("changing the nodes failed; see the log of `pipeline local`", id).encode());
        }
      });
    });
    return controlServer.listen().mapEmpty();
  }

  private Future<Void> startNode(int id) {
    return vertx.executeBlocking(() -> {
      PgConfig db = pg.database("node" + id);
      try (java.sql.Connection c = jdbc(control)) {
        ControlRoles.denyConnect(c, db.database());
      }
      provision(ControlRoles.node(id));
      return db;
    }, false).compose(db -> {
      int port = adminPort == 0 ? 0 : adminPort + 1 + id;
      Node node = new Node(vertx, new NodeOptions(id, db, partitions, gateway, "127.0.0.1", port, token, ingestToken, workspace,
          as(ControlRoles.node(id)), null, internal))
          .withConsole(new Console(vertx, as(ControlRoles.node(id)), token, gateway.bodyTimeoutMs()));
      nodes.add(node);
      running.put(id, node);
      return node.start().mapEmpty();
    });
  }

  /** Creates {@code roles} (or sets their passwords) with the passwords kept in {@code rolesDir}, generated once. */
  private void provision(String... roles) throws java.io.IOException, java.sql.SQLException {
    java.util.Map<String, String> passwords = new java.util.LinkedHashMap<>();
    java.nio.file.Files.createDirectories(rolesDir);
    for (String role : roles) {
      passwords.put(role, SecretFiles.readOrCreate(rolesDir.resolve(role)));
    }
    try (java.sql.Connection c = jdbc(control)) {
      ControlRoles.provision(c, passwords);
    }
  }

  /** The control store as {@code role}. */
  private PgConfig as(String role) {
    try {
      return new PgConfig(control.host(), control.port(), control.database(), role, SecretFiles.readOrCreate(rolesDir.resolve(role)));
    } catch (java.io.IOException e) {
      throw new java.io.UncheckedIOException(e);
    }
  }

  private static java.sql.Connection jdbc(PgConfig pg) throws java.sql.SQLException {
    return java.sql.DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password());
  }

  /** Where {@code pipeline scale} reaches this process. */
  String localControlUrl() {
    return "http://127.0.0.1:" + controlServer.actualPort();
  }

  /** Node databases, {@code {node}} for the ordinal. */
  String nodeUrlTemplate() {
    return "postgresql://" + control.user() + "@" + control.host() + ":" + control.port() + "/node{node}";
  }

  /** The control store as the migrator ({@code pipeline scale}), password included. */
  String controlUrl() {
    return url(as(ControlRoles.MIGRATOR));
  }

  /** The control store as {@code pipeline status}, password included. */
  String statusControlUrl() {
    return url(as(ControlRoles.STATUS));
  }

  private static String url(PgConfig pg) {
    return "postgresql://" + pg.user() + ":" + pg.password() + "@" + pg.host() + ":" + pg.port() + "/" + pg.database();
  }

  int proxyPort() {
    return proxy.port();
  }

  /** The proxy's meters (its metrics port): where {@code local --autoscale} puts the autoscaler's. */
  io.micrometer.core.instrument.MeterRegistry proxyRegistry() {
    return proxy.registry();
  }

  int proxyMetricsPort() {
    return proxy.metricsPort();
  }

  /** The operator console: on node 0's internal port (every node serves it). */
  String consoleUrl() {
    Node first = running.values().iterator().next();
    return "http://127.0.0.1:" + first.internalPort() + Console.PATH;
  }

  List<Node> nodes() {
    return nodes;
  }

  /** The proxy stops accepting first, then the nodes finish their work and stop. */
  Future<Void> stop() {
    Future<Void> f = proxy == null ? Future.succeededFuture() : proxy.stop();
    if (controlServer != null) {
      f = f.transform(ar -> controlServer.close());
    }
    for (Node n : nodes) {
      f = f.transform(ar -> n.stop());
    }
    return f;
  }
}
