package io.eventpipe.launcher;

import io.eventpipe.autoscaler.ControlStoreReader;
import io.eventpipe.autoscaler.DecisionStore;
import io.eventpipe.control.ClusterStatus;
import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * What an operator sees of a cluster, gathered in one place for {@code pipeline status} and the console: the topology
 * and the cluster's status from the control store, each node's {@code GET /internal/v1/status} (admin token), the
 * autoscaler's last decisions, and (for the console) each node's dead letters per destination from its admin API. A
 * view over the control store and the admin API, never a second source of truth.
 */
final class ClusterView {

  /** Dead letters listed per node and destination: the oldest ones, as the admin API pages them. */
  static final int DEAD_LETTERS_SHOWN = 20;

  /**
   * One node: its address and partitions from the topology; its status (null when it did not answer, then
   * {@code error} says why); its dead letters per destination (empty unless asked for).
   */
  record NodeView(int node, String address, int partitions, JsonObject status, String error, List<DeadLetters> deadLetters) {

    boolean up() {
      return status != null && !status.containsKey("error");
    }
  }

  /** A destination's aborted jobs on one node ({@code GET /admin/v1/destinations/{id}/aborted}). */
  record DeadLetters(String destination, JsonArray jobs, boolean more) {}

  /** One reading: empty topology when the cluster is not initialized. */
  record View(Optional<Topology> topology, ClusterStatus.Snapshot cluster, Optional<Long> migrationJobsTotal,
      List<NodeView> nodes, List<DecisionStore.Stored> decisions, String decisionsError) {}

  private final Vertx vertx;
  private final HttpClientAgent client;
  private final PgConfig control;
  private final String token;

  /** @param control the control store, as a role that reads it (status's, a node's) */
  ClusterView(Vertx vertx, HttpClientAgent client, PgConfig control, String token) {
    this.vertx = vertx;
    this.client = client;
    this.control = control;
    this.token = token;
  }

  /** Reads the cluster through {@code store}; {@code deadLetters}: also each node's dead letters (the console). */
  Future<View> read(ControlStore store, boolean deadLetters, int decisions) {
    Future<List<DecisionStore.Stored>> last = decisions <= 0 ? Future.succeededFuture(List.of())
        : vertx.executeBlocking(() -> lastDecisions(control, decisions), false);
    return store.current().compose(opt -> ClusterStatus.read(store).compose(cluster -> cluster.migration()
        .map(m -> store.jobsTotal(m.id()).otherwise(Optional.empty())).orElse(Future.succeededFuture(Optional.empty()))
        .compose(jobsTotal -> {
      List<Future<NodeView>> nodes = new ArrayList<>();
      opt.ifPresent(t -> {
        for (int node : t.nodes()) {
          nodes.add(node(t, node, deadLetters));
        }
      });
      return Future.join(nodes).transform(ignored -> last.transform(d -> {
        List<NodeView> views = nodes.stream().map(Future::result).toList();
        return Future.succeededFuture(d.succeeded() ? new View(opt, cluster, jobsTotal, views, d.result(), null)
            : new View(opt, cluster, jobsTotal, views, List.of(), d.cause().getMessage()));
      }));
    })));
  }

  /** The autoscaler's last {@code limit} decisions (control.autoscaler_decisions), newest first; blocking (JDBC). */
  static List<DecisionStore.Stored> lastDecisions(PgConfig control, int limit) throws java.sql.SQLException {
    return new DecisionStore(new ControlStoreReader(control.jdbcUrl(), control.user(), control.password())).last(limit);
  }

  private Future<NodeView> node(Topology t, int node, boolean deadLetters) {
    String address = t.addressOf(node);
    int partitions = t.ownedBy(node).length;
    return get(address, "/internal/v1/status").compose(status -> {
      if (!deadLetters || status.containsKey("error")) {
        return Future.succeededFuture(new NodeView(node, address, partitions, status, null, List.of()));
      }
      return deadLetters(address).map(dl -> new NodeView(node, address, partitions, status, null, dl));
    }).otherwise(err -> new NodeView(node, address, partitions, null, String.valueOf(err.getMessage()), List.of()));
  }

  /** Every destination the node knows (the workspace's and those with jobs but no longer in it), with its dead letters. */
  private Future<List<DeadLetters>> deadLetters(String address) {
    return get(address, "/admin/v1/destinations").compose(list -> {
      List<String> ids = new ArrayList<>();
      for (String key : List.of("destinations", "notInWorkspace")) {
        JsonArray a = list.getJsonArray(key, new JsonArray());
        for (int i = 0; i < a.size(); i++) {
          ids.add(a.getJsonObject(i).getString("id"));
        }
      }
      List<Future<DeadLetters>> each = new ArrayList<>();
      for (String id : ids) {
        each.add(get(address, "/admin/v1/destinations/" + java.net.URLEncoder.encode(id, java.nio.charset.StandardCharsets.UTF_8)
            + "/aborted?limit=" + DEAD_LETTERS_SHOWN)
            .map(page -> new DeadLetters(id, page.getJsonArray("jobs", new JsonArray()), page.getValue("next") != null)));
      }
      return Future.all(each).map(all -> each.stream().map(Future::result).toList());
    });
  }

  private Future<JsonObject> get(String address, String path) {
    return client.request(new RequestOptions().setMethod(HttpMethod.GET).setAbsoluteURI("http://" + address + path)
            .putHeader("Authorization", "Bearer " + token).setIdleTimeout(5000))
        .compose(r -> r.send()).compose(r -> r.body()).map(b -> new JsonObject(b));
  }

  /**
   * Asks node {@code address} to replay its aborted jobs {@code jobIds} of {@code destination}
   * ({@code POST /admin/v1/destinations/{id}/replay}); the answer's JSON, with its HTTP status as {@code status}.
   */
  Future<JsonObject> replay(String address, String destination, List<Long> jobIds) {
    return client.request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI("http://" + address
            + "/admin/v1/destinations/" + java.net.URLEncoder.encode(destination, java.nio.charset.StandardCharsets.UTF_8)
            + "/replay").putHeader("Authorization", "Bearer " + token).putHeader("Content-Type", "application/json")
            .setIdleTimeout(10_000))
        .compose(r -> r.send(new JsonObject().put("jobIds", new JsonArray(new ArrayList<>(jobIds))).toBuffer())
            .compose(resp -> resp.body().map(b -> {
              JsonObject o;
              try {
                o = new JsonObject(b);
              } catch (RuntimeException e) {
                o = new JsonObject().put("error", "the node answered " + resp.statusCode() + " without JSON");
              }
              return o.put("status", resp.statusCode());
            })));
  }
}
