package io.eventpipe.node;

import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.node.admin.AdminApi;
import io.eventpipe.node.processor.Processor;
import io.eventpipe.destinations.DestinationTypes;
import io.eventpipe.node.router.Router;
import io.eventpipe.node.router.RouterOptions;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.time.Clock;

/** The node's workers: the processor (fan-out) and the router (delivery), wired to wake each other. */
final class NodeComponents {

  final Router router;
  final Processor processor;

  NodeComponents(Vertx vertx, Pool pool, JobsDb ingest, JobsDb deliveries, WorkspaceConfigStore config, Clock clock,
      MeterRegistry registry, String nodeName) {
    this.router = new Router(vertx, deliveries, config, clock, registry, DestinationTypes.installed(),
        RouterOptions.defaults().withNodeName(nodeName)
            // what integrations may use: the staged ones (s3) record their batches in the node's delivery schema
            .withServices(java.util.Map.of("jobsdb.pool", pool, "jobsdb.schema", deliveries.options().schema())));
    this.processor = new Processor(vertx, pool, ingest, deliveries, config, clock, registry);
    processor.onFanOut(ids -> ids.forEach(router::wake));
  }

  /** The router first, so fanned-out jobs find their workers; the processor starts reading after it. */
  Future<Void> start() {
    return router.start().compose(v -> processor.start());
  }

  /** The processor stops first (it feeds the router), then the router finishes or hands back its deliveries. */
  Future<Void> stop() {
    return processor.stop().transform(ar -> router.stop());
  }

  AdminApi adminApi(Vertx vertx, JobsDb deliveries, WorkspaceConfigStore config, String token,
      io.eventpipe.gateway.http.BodyReader.Budget budget, long bodyTimeoutMs) {
    return new AdminApi(deliveries, config, router, token, vertx, budget, bodyTimeoutMs);
  }
}
