package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
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
 */
final class LocalCluster {

  private static final Logger LOG = LoggerFactory.getLogger(LocalCluster.class);

  private final Vertx vertx;
  private final EmbeddedPg pg;
  private final int nodeCount;
  private final int partitions;
  private final GatewayOptions gateway;
  private final int adminPort;
  private final String token;
  private final Path workspace;
  private final List<Node> nodes = new ArrayList<>();
  private PgConfig control;
  private Proxy proxy;

  LocalCluster(Vertx vertx, EmbeddedPg pg, int nodeCount, int partitions, GatewayOptions gateway, int adminPort, String token,
      Path workspace) {
    this.vertx = vertx;
    this.pg = pg;
    this.nodeCount = nodeCount;
    this.partitions = partitions;
    this.gateway = gateway;
    this.adminPort = adminPort;
    this.token = token;
    this.workspace = workspace;
  }

  /** Starts everything; fails if the data directory holds a cluster of another size (that needs the migrator). */
  Future<Void> start() {
    try {
      control = pg.database("control");
    } catch (java.sql.SQLException e) {
      return Future.failedFuture(e);
    }
    return ControlStore.open(vertx, control)
        .compose(store -> store.initialize(partitions, nodeCount).eventually(() -> store.closeAsync()))
        .compose(topology -> {
          if (topology.assignment().nodeCount() != nodeCount) {
            return Future.failedFuture(new IllegalStateException("the cluster in this data directory has "
                + topology.assignment().nodeCount() + " nodes; start it with --nodes " + topology.assignment().nodeCount()
                + " (changing the node count moves partitions, which is the migrator's job)"));
          }
          LOG.info("topology epoch {}: {} partitions over {} nodes", topology.epoch(), topology.partitionCount(), nodeCount);
          Future<Void> f = Future.succeededFuture();
          for (int k = 0; k < nodeCount; k++) {
            int id = k;
            f = f.compose(v -> startNode(id));
          }
          return f;
        })
        .compose(v -> {
          proxy = new Proxy(vertx, new Proxy.Options(gateway, control, token, "127.0.0.1", adminPort, workspace));
          return proxy.start();
        })
        .mapEmpty();
  }

  private Future<Void> startNode(int id) {
    PgConfig db;
    try {
      db = pg.database("node" + id);
    } catch (java.sql.SQLException e) {
      return Future.failedFuture(e);
    }
    int port = adminPort == 0 ? 0 : adminPort + 1 + id;
    Node node = new Node(vertx, new NodeOptions(id, db, partitions, gateway, "127.0.0.1", port, token, workspace, control, null));
    nodes.add(node);
    return node.start().mapEmpty();
  }

  String controlUrl() {
    return "postgresql://" + control.user() + "@" + control.host() + ":" + control.port() + "/" + control.database();
  }

  int proxyPort() {
    return proxy.port();
  }

  int proxyMetricsPort() {
    return proxy.metricsPort();
  }

  List<Node> nodes() {
    return nodes;
  }

  /** The proxy stops accepting first, then the nodes finish their work and stop. */
  Future<Void> stop() {
    Future<Void> f = proxy == null ? Future.succeededFuture() : proxy.stop();
    for (Node n : nodes) {
      f = f.transform(ar -> n.stop());
    }
    return f;
  }
}
