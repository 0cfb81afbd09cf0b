package io.eventpipe.node;

import io.eventpipe.gateway.WorkspaceConfigStore;
import io.eventpipe.jobsdb.JobsDb;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import java.time.Clock;
import java.util.List;

/** Builds the node's workers (processor, router) and its admin API. */
final class NodeComponents {

  private NodeComponents() {}

  static List<Node.NodeComponent> create(Vertx vertx, Pool pool, JobsDb ingest, JobsDb deliveries,
      WorkspaceConfigStore config, Clock clock, MeterRegistry registry) {
    return List.of();
  }

  static Handler<HttpServerRequest> adminHandler(Vertx vertx, String token, JobsDb deliveries, WorkspaceConfigStore config) {
    return req -> req.response().setStatusCode(404).putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("error", "no such admin endpoint: " + req.path()).encode());
  }
}
