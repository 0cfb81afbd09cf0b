package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
    String token = target.token();
    Vertx vertx = Vertx.vertx();
    try {
      String report = report(vertx, control, token).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      System.out.print(report);
      System.out.print(decisions(control));
    } catch (java.util.concurrent.ExecutionException e) {
      throw new Flags.BadFlag("cannot read the control store at " + control.redacted() + ": "
          + e.getCause().getMessage() + " (is the cluster running?)");
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  /** The autoscaler's last decisions (control.autoscaler_decisions), newest first; nothing when it never decided. */
  static String decisions(PgConfig control) {
    try {
      List<io.eventpipe.autoscaler.DecisionStore.Stored> last = new io.eventpipe.autoscaler.DecisionStore(
          new io.eventpipe.autoscaler.ControlStoreReader(control.jdbcUrl(), control.user(), control.password())).last(5);
      if (last.isEmpty()) {
        return "";
      }
      StringBuilder out = new StringBuilder("autoscaler, last decisions (newest first):\n");
      for (io.eventpipe.autoscaler.DecisionStore.Stored d : last) {
        out.append(d.line()).append('\n');
      }
      return out.toString();
    } catch (java.sql.SQLException e) {
      return "autoscaler decisions: cannot be read (" + e.getMessage() + ")\n";
    }
  }

  private static String moving(JsonObject s) {
    int fenced = s.getInteger("fencedPartitions", 0);
    int held = s.getInteger("heldPartitions", 0);
    return fenced == 0 && held == 0 ? "" : " (moved or moving away " + fenced + ", held incoming " + held + ")";
  }

  private static Future<String> report(Vertx vertx, PgConfig control, String token) {
    HttpClientAgent client = vertx.createHttpClient();
    return ControlStore.open(vertx, control).compose(store -> store.current()
        .compose(opt -> io.eventpipe.control.ClusterStatus.read(store).map(st -> java.util.Map.entry(opt, st)))
        .eventually(store::closeAsync)).compose(both -> {
      var opt = both.getKey();
      io.eventpipe.control.ClusterStatus.Snapshot cluster = both.getValue();
      if (opt.isEmpty()) {
        return Future.succeededFuture("the cluster is not initialized yet\n");
      }
      Topology t = opt.get();
      List<Future<String>> rows = new ArrayList<>();
      for (int node : t.nodes()) {
        String address = t.addressOf(node);
        rows.add(client.request(new RequestOptions().setMethod(HttpMethod.GET).setAbsoluteURI("http://" + address + "/internal/v1/status")
                .putHeader("Authorization", "Bearer " + token).setIdleTimeout(5000))
            .compose(r -> r.send()).compose(r -> r.body())
            .map(b -> {
              JsonObject s = new JsonObject(b);
              if (s.containsKey("error")) {
                return String.format(Locale.ROOT, "  node %-3d %-22s %s%n", node, address, s.getString("error"));
              }
              return String.format(Locale.ROOT, "  node %-3d %-22s %-8s partitions %-5d%s pending ingest %-8d pending deliveries %s%n",
                  node, address, s.getBoolean("ready") ? "ready" : "starting", t.ownedBy(node).length,
                  moving(s), s.getLong("pendingIngest"), s.getJsonObject("pendingDeliveries").encode());
            })
            .otherwise(err -> String.format(Locale.ROOT, "  node %-3d %-22s DOWN (%s)%n", node, address, err.getMessage())));
      }
      return Future.join(rows).transform(ar -> {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "topology epoch %d: %d partitions over %d nodes%n", t.epoch(), t.partitionCount(),
            cluster.nodeCount()));
        for (Future<String> r : rows) {
          out.append(r.result());
        }
        if (cluster.unavailablePartitions() > 0) {
          out.append(String.format(Locale.ROOT, "STRANDED: %d partitions are owned by nodes that are down %s; their users get 503"
              + " until the nodes are back, or run `pipeline migrator --to N` to drain them from their databases%n",
              cluster.unavailablePartitions(), cluster.downNodes()));
        }
        cluster.migration().ifPresent(m -> {
          io.vertx.core.json.JsonObject j = io.eventpipe.control.ClusterStatus.migrationJson(m);
          out.append(String.format(Locale.ROOT, "migration %s: %d -> %d nodes, step %s, partitions copied %d/%d, jobs moved %d%s%n",
              m.id(), m.fromNodes(), m.toNodes(), j.getString("step"), j.getLong("partitionsCopied"), m.moves().size(),
              m.jobsMoved(), m.error() == null ? "" : ", last error: " + m.error()));
        });
        return Future.succeededFuture(out.toString());
      });
    }).eventually(client::close);
  }
}
