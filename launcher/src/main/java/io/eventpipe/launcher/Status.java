package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Topology;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/** {@code pipeline status}: the topology from the control store, and each node's health and pending jobs. */
final class Status {

  private Status() {}

  /** Where a command that reads the cluster finds it: the control store (read-only role) and the admin token. */
  record Target(PgConfig control, String token) {}

  /**
   * {@code --data-dir DIR} (a running {@code pipeline local}: its local.json and admin token) or {@code --control-url}
   * with {@code --admin-token}: what {@code status} and {@code regulation} take.
   */
  static Target target(Flags flags) throws java.io.IOException {
    String controlUrl = flags.string("control-url", null);
    boolean local = controlUrl == null;
    String token = flags.string("admin-token", null);
    Path dataDir = flags.path("data-dir", Path.of("pipeline-data")).toAbsolutePath();
    if (local) {
      Path localJson = dataDir.resolve("local.json");
      if (!Files.exists(localJson)) {
        throw new Flags.BadFlag("no running `pipeline local` found in " + dataDir + " (no local.json); pass --data-dir,"
            + " or --control-url and --admin-token for a deployed cluster");
      }
      JsonObject json = new JsonObject(Files.readString(localJson, StandardCharsets.UTF_8));
      // status reads with its own read-only role (older data directories have only the one URL)
      controlUrl = json.getString("statusControlUrl", json.getString("controlUrl"));
      if (token == null) {
        token = Files.readString(dataDir.resolve("admin-token"), StandardCharsets.UTF_8).trim();
      }
    }
    if (token == null) {
      throw new Flags.BadFlag("--admin-token (or PIPELINE_ADMIN_TOKEN) is required with --control-url");
    }
    SecretFiles.checkToken("admin-token", token);
    PgConfig control = PgConfig.parse(controlUrl);
    if (local) {
      control = EmbeddedPg.withPassword(control, dataDir);
    }
    return new Target(control, token);
  }

  static void run(Flags flags) throws Exception {
    Target target = target(flags);
    PgConfig control = target.control();
    Vertx vertx = Vertx.vertx();
    HttpClientAgent client = vertx.createHttpClient();
    try {
      ClusterView.View view = ControlStore.open(vertx, control)
          .compose(store -> new ClusterView(vertx, client, control, target.token()).read(store, false, 5)
              .eventually(store::closeAsync))
          .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      System.out.print(report(view));
      System.out.print(decisions(view));
    } catch (java.util.concurrent.ExecutionException e) {
      throw new Flags.BadFlag("cannot read the control store at " + control.redacted() + ": "
          + e.getCause().getMessage() + " (is the cluster running?)");
    } finally {
      client.close();
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  /** The autoscaler's last decisions (control.autoscaler_decisions), newest first; nothing when it never decided. */
  static String decisions(ClusterView.View view) {
    return decisions(view.decisions(), view.decisionsError());
  }

  /** The same, read now from {@code control}. */
  static String decisions(PgConfig control) {
    try {
      return decisions(ClusterView.lastDecisions(control, 5), null);
    } catch (java.sql.SQLException e) {
      return decisions(java.util.List.of(), e.getMessage());
    }
  }

  private static String decisions(java.util.List<io.eventpipe.autoscaler.DecisionStore.Stored> decisions, String error) {
    if (error != null) {
      return "autoscaler decisions: cannot be read (" + error + ")\n";
    }
    if (decisions.isEmpty()) {
      return "";
    }
    StringBuilder out = new StringBuilder("autoscaler, last decisions (newest first):\n");
    for (io.eventpipe.autoscaler.DecisionStore.Stored d : decisions) {
      out.append(d.line()).append('\n');
    }
    return out.toString();
  }

  private static String moving(JsonObject s) {
    int fenced = s.getInteger("fencedPartitions", 0);
    int held = s.getInteger("heldPartitions", 0);
    return fenced == 0 && held == 0 ? "" : " (moved or moving away " + fenced + ", held incoming " + held + ")";
  }

  static String report(ClusterView.View view) {
    if (view.topology().isEmpty()) {
      return "the cluster is not initialized yet\n";
    }
    Topology t = view.topology().get();
    io.eventpipe.control.ClusterStatus.Snapshot cluster = view.cluster();
    StringBuilder out = new StringBuilder();
    out.append(String.format(Locale.ROOT, "topology epoch %d: %d partitions over %d nodes%n", t.epoch(), t.partitionCount(),
        cluster.nodeCount()));
    for (ClusterView.NodeView n : view.nodes()) {
      JsonObject s = n.status();
      if (s == null) {
        out.append(String.format(Locale.ROOT, "  node %-3d %-22s DOWN (%s)%n", n.node(), n.address(), n.error()));
      } else if (s.containsKey("error")) {
        out.append(String.format(Locale.ROOT, "  node %-3d %-22s %s%n", n.node(), n.address(), s.getString("error")));
      } else {
        out.append(String.format(Locale.ROOT, "  node %-3d %-22s %-8s partitions %-5d%s pending ingest %-8d pending deliveries %s%n",
            n.node(), n.address(), s.getBoolean("ready") ? "ready" : "starting", n.partitions(),
            moving(s), s.getLong("pendingIngest"), s.getJsonObject("pendingDeliveries").encode()));
      }
    }
    if (cluster.unavailablePartitions() > 0) {
      out.append(String.format(Locale.ROOT, "STRANDED: %d partitions are owned by nodes that are down %s; their users get 503"
          + " until the nodes are back, or run `pipeline migrator --to N` to drain them from their databases%n",
          cluster.unavailablePartitions(), cluster.downNodes()));
    }
    cluster.migration().ifPresent(m -> {
      JsonObject j = io.eventpipe.control.ClusterStatus.migrationJson(m);
      out.append(String.format(Locale.ROOT, "migration %s: %d -> %d nodes, step %s, partitions copied %d/%d, jobs moved %d%s%s%n",
          m.id(), m.fromNodes(), m.toNodes(), j.getString("step"), j.getLong("partitionsCopied"), m.moves().size(),
          m.jobsMoved(), view.migrationJobsTotal().map(total -> " of " + total).orElse(""),
          m.error() == null ? "" : ", last error: " + m.error()));
    });
    return out.toString();
  }
}
