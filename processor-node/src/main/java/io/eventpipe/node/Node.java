package io.eventpipe.node;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.http.BodyReader;
import io.eventpipe.gateway.http.ConnectionGuard;
import io.eventpipe.wire.IngestBatch;
import io.eventpipe.wire.WireVersions;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.gateway.http.GatewayServer;
import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.node.admin.InternalHttp;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.routing.Partitioner;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import java.time.Clock;
import java.time.Duration;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A processor node: the gateway API storing into this node's jobsdb, the processor fanning events out to
 * destinations, the router delivering them, and an internal port with internal ingest (from proxies), the admin API,
 * status, metrics and probes.
 */
public final class Node {

  private static final Logger LOG = LoggerFactory.getLogger(Node.class);

  private final Vertx vertx;
  private final NodeOptions options;
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private final Clock clock = Clock.systemUTC();
  private Pool pool;
  private ControlStore control;
  private TopologyWatcher topology;
  private JobsDb ingest;
  private JobsDb deliveries;
  private WorkspaceConfigStore config;
  private GatewayServer gateway;
  private HttpServer internalServer;
  private volatile boolean ready;
  private NodeComponents components;
  private NodePartitions partitions;
  private PartitionFollower follower;
  private RegulationApplier regulations;
  private long heartbeatTimer = -1;
  private long clusterGauges = -1;
  private volatile WireVersions wireVersions = WireVersions.CURRENT;
  private volatile Durability durability;
  private io.vertx.core.Handler<io.vertx.core.http.HttpServerRequest> console;

  private static final String FIX_OR_ALLOW = "Fix the server; only for a test on a throwaway server, start the node"
      + " with --allow-non-durable-database (PIPELINE_ALLOW_NON_DURABLE_DATABASE=true)";

  public Node(Vertx vertx, NodeOptions options) {
    this.vertx = vertx;
    this.options = options;
    new JvmMemoryMetrics().bindTo(registry);
    new JvmGcMetrics().bindTo(registry);
    new JvmThreadMetrics().bindTo(registry);
    new ProcessorMetrics().bindTo(registry);
  }

  public Future<Node> start() {
    config = WorkspaceConfigStore.watch(options.workspace());
    pool = options.pg().createPool(vertx, 16);
    Future<Void> cluster = checkDurable();
    if (options.clustered()) {
      // the control store's topology and migration records decide where acknowledged events live: it must commit
      // durably too, under the same tests-only allowance as this node's own database
      cluster = cluster.compose(v -> Durability.check(vertx, options.control(), options.allowNonDurableDatabase(),
              "This is the control store. " + FIX_OR_ALLOW))
          .compose(v -> ControlStore.open(vertx, options.control()))
          .compose(store -> {
            control = store;
            return TopologyWatcher.start(vertx, store, Duration.ofSeconds(2));
          })
          .map(w -> {
            topology = w;
            if (w.current().partitionCount() != options.partitions()) {
              throw new IllegalStateException("the cluster has " + w.current().partitionCount()
                  + " partitions but this node was started with --partitions " + options.partitions());
            }
            return null;
          });
    }
    return cluster.compose(x -> NodePartitions.open(vertx, options.pg(), pool))
        .compose(np -> {
          partitions = np;
          return JobsDb.open(vertx, options.pg(), pool, JobsDbOptions.defaults("gw")
              .withFinishedRetention(options.finishedRetention()), registry);
        })
        .compose(gw -> {
          ingest = gw;
          return JobsDb.open(vertx, options.pg(), pool, JobsDbOptions.defaults("rt").withDedupWindow(java.time.Duration.ZERO)
              .withFinishedRetention(options.finishedRetention()).withDeadLetterRetention(options.deadLetterRetention()), registry);
        })
        .compose(rt -> {
          deliveries = rt;
          return startComponents();
        })
        .compose(v -> {
          if (options.clustered()) {
            return Future.succeededFuture(0);
          }
          gateway = new GatewayServer(vertx, options.gateway(), config,
              EventParser.builder().maxRequestBytes(options.gateway().maxRequestBytes()).build(),
              new JobsDbSink(ingest, pool, Partitioner.of(options.partitions()), components.processor::wake, clock), clock, registry);
          return gateway.start();
        })
        .compose(port -> {
          if (!options.clustered()) {
            return Future.succeededFuture();
          }
          regulations = new RegulationApplier(vertx, control, pool, components.router, options.nodeId(), registry);
          return regulations.start();
        })
        .compose(port -> startInternalPort())
        .compose(v -> {
          if (!options.clustered()) {
            return Future.succeededFuture();
          }
          return control.registerNode(options.nodeId(), advertised());
        })
        .map(v -> {
          ready = true;
          if (control != null) {
            heartbeat();
            heartbeatTimer = vertx.setPeriodic(3000, t -> heartbeat());
            clusterGauges = io.eventpipe.control.ClusterStatus.gauges(vertx, control, registry, Duration.ofSeconds(5));
          }
          LOG.info("node {} ready: {}, internal port {}, PostgreSQL {}", options.nodeId(),
              gateway == null ? "cluster member at epoch " + topology.current().epoch() : "SDK API on port " + gateway.port(),
              internalServer.actualPort(), options.pg().redacted());
          return this;
        });
  }

  /**
   * Refuses a database that does not commit durably, before anything is served: an event acknowledged there can be
   * lost by a crash. {@link NodeOptions#allowNonDurableDatabase()} (tests) lets the node start, loudly.
   */
  private Future<Void> checkDurable() {
    return Durability.read(pool).map(d -> {
      durability = d;
      Gauge.builder("node.database.non.durable", () -> d.durable() ? 0 : 1)
          .description("1 when this node's database does not commit durably (allowed for tests only)").register(registry);
      if (d.durable()) {
        LOG.info("node {} database {}", options.nodeId(), d.summary());
      } else if (options.allowNonDurableDatabase()) {
        LOG.warn("NON-DURABLE DATABASE, FOR TESTS ONLY: node {} starts on {}, which does not commit durably ({}): a crash"
            + " of PostgreSQL or its host can lose acknowledged events", options.nodeId(), options.pg().redacted(), d.problems());
      } else {
        d.requireDurable(options.pg().redacted(), FIX_OR_ALLOW);
      }
      return null;
    });
  }

  /**
   * The router learns what is fenced before its workers start; the follower takes the database's instance lock first,
   * so a second process on the same database fails here, before it serves anything.
   */
  private Future<Void> startComponents() {
    components = new NodeComponents(vertx, pool, ingest, deliveries, config, clock, registry, "node-" + options.nodeId());
    follower = new PartitionFollower(vertx, options.pg(), partitions, components.router, components.processor, options.nodeId(),
        options.selfFence(), registry);
    return PartitionFollower.initiallyFenced(partitions)
        .compose(fenced -> fenced.isEmpty() ? Future.<Void>succeededFuture() : components.router.fence(fenced))
        .compose(v -> follower.start())
        .compose(v -> components.start());
  }

  private Future<Void> startInternalPort() {
    // every body read on this port (internal ingest, the admin API's replay) shares one byte budget and has the public
    // API's body deadline
    BodyReader.Budget bodies = new BodyReader.Budget(options.gateway().maxInFlightBytes());
    var adminApi = components.adminApi(vertx, deliveries, config, options.adminToken(), bodies, options.gateway().bodyTimeoutMs());
    InternalIngest internal = options.clustered() ? new InternalIngest(vertx, options.nodeId(), topology, ingest, registry,
        components.processor::wake, bodies, options.gateway().bodyTimeoutMs(),
        clock, () -> wireVersions)
        : null;
    if (internal != null) {
      internal.suppress(regulations::suppressed);
    }
    ConnectionGuard guard = new ConnectionGuard(vertx, "internal", options.internalConnections(), registry,
        IngestBatch.MAX_BYTES, options.gateway().bodyTimeoutMs());
    internalServer = guard.createServer(new HttpServerOptions().setHost(options.internalHost()).setPort(options.internalPort()), req -> {
      req.response().putHeader(WireVersions.RANGE_HEADER, wireVersions.header());
      switch (req.path()) {
        case "/metrics" -> req.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape());
        case "/health/live" -> req.response().putHeader("Content-Type", "application/json").end(new JsonObject().put("status", "ok").encode());
        case "/health/ready" -> req.response().setStatusCode(ready ? 200 : 503).putHeader("Content-Type", "application/json")
            .end(new JsonObject().put("status", ready ? "ready" : "starting").encode());
        case IngestBatch.PATH -> {
          if (internal == null) {
            InternalHttp.error(req.response(), 404, "this node is standalone (no control store): send events to its public API");
          } else if (!InternalHttp.bearer(req, options.ingestToken())) {
            InternalHttp.error(req.response(), 401, "internal ingest needs Authorization: Bearer <ingest token>");
          } else if (!ready) {
            req.response().putHeader("Retry-After", "1");
            InternalHttp.error(req.response(), 503, "node " + options.nodeId() + " is starting or stopping");
          } else {
            internal.handle(req);
          }
        }
        case "/admin/v1/cluster" -> {
          if (!InternalHttp.bearer(req, options.adminToken())) {
            InternalHttp.error(req.response(), 401, "the cluster status needs Authorization: Bearer <admin token>");
          } else if (control == null) {
            InternalHttp.error(req.response(), 404, "this node is standalone (no control store)");
          } else {
            io.eventpipe.control.ClusterStatus.read(control)
                .onSuccess(st -> req.response().putHeader("Content-Type", "application/json").end(st.toJson().encode()))
                .onFailure(err -> InternalHttp.internalError(req.response(), 503, "cannot read the control store", LOG,
                    "cluster status: reading the control store failed", err));
          }
        }
        case RegulationApplier.PATH -> {
          if (!InternalHttp.bearer(req, options.adminToken())) {
            InternalHttp.error(req.response(), 401, "regulations need Authorization: Bearer <admin token>");
          } else if (regulations == null) {
            InternalHttp.error(req.response(), 404, "this node is standalone (no control store): regulations need a cluster");
          } else {
            regulations.handle(req, bodies, options.gateway().bodyTimeoutMs(), () -> new java.util.HashSet<>(topology.current().nodes()));
          }
        }
        case "/internal/v1/status" -> {
          if (!InternalHttp.bearer(req, options.adminToken())) {
            InternalHttp.error(req.response(), 401, "status needs Authorization: Bearer <admin token>");
          } else {
            status(req);
          }
        }
        default -> {
          if (console != null && (req.path().equals("/console") || req.path().startsWith("/console/"))) {
            console.handle(req); // it checks the admin token's session itself
          } else {
            adminApi.handle(req);
          }
        }
      }
    });
    return internalServer.listen().mapEmpty();
  }

  private void status(io.vertx.core.http.HttpServerRequest req) {
    Future.all(ingest.pendingCounts(), deliveries.pendingCounts(), ingest.oldestPending(), deliveries.oldestPending())
        .map(all -> {
          Map<String, Long> gw = all.resultAt(0);
          Map<String, Long> rt = all.resultAt(1);
          Map<String, java.time.Instant> gwOldest = all.resultAt(2);
          Map<String, java.time.Instant> rtOldest = all.resultAt(3);
          long pendingIngest = gw.values().stream().mapToLong(Long::longValue).sum();
          return new JsonObject()
            .put("node", options.nodeId())
            .put("ready", ready)
            .put("databaseDurable", durability == null ? null : durability.durable())
            .put("epoch", topology == null ? null : topology.current().epoch())
            .put("ownedPartitions", topology == null ? options.partitions() : topology.current().ownedBy(options.nodeId()).length)
            .put("fencedPartitions", follower == null ? 0 : follower.fenced())
            .put("heldPartitions", follower == null ? 0 : follower.held())
            .put("pendingIngest", pendingIngest)
            .put("pendingDeliveries", new JsonObject(new java.util.LinkedHashMap<String, Object>(rt)))
            .put("autoscaling", autoscalingSignals(pendingIngest, gwOldest, rt, rtOldest));
        })
        .onSuccess(json -> req.response().putHeader("Content-Type", "application/json").end(json.encode()))
        .onFailure(err -> InternalHttp.internalError(req.response(), 503, "cannot read this node's job store", LOG,
            "node status: reading pending counts failed", err));
  }

  /**
   * What the autoscaler reads (README, Operations, Autoscaling): the ingest queue's pending count and oldest age, the
   * events stored and fanned out since start, and per destination its pending count, oldest age, events delivered and
   * failed attempts since start.
   */
  private JsonObject autoscalingSignals(long pendingIngest, Map<String, java.time.Instant> gwOldest, Map<String, Long> rt,
      Map<String, java.time.Instant> rtOldest) {
    java.time.Instant now = clock.instant();
    java.time.Instant oldestIngest = gwOldest.values().stream().min(java.util.Comparator.naturalOrder()).orElse(null);
    JsonObject destinations = new JsonObject();
    java.util.Set<String> ids = new java.util.TreeSet<>(rt.keySet());
    registry.find("router.delivered").counters().forEach(c -> {
      String id = c.getId().getTag("destination");
      if (id != null) {
        ids.add(id);
      }
    });
    ids.remove("");
    for (String id : ids) {
      destinations.put(id, new JsonObject()
          .put("pending", rt.getOrDefault(id, 0L))
          .put("oldestAgeSeconds", age(rtOldest.get(id), now))
          .put("delivered", count("router.delivered", id))
          .put("failedAttempts", count("router.failed", id)));
    }
    io.micrometer.core.instrument.Counter ingested = registry.find("node.ingested.events").counter();
    io.micrometer.core.instrument.Counter fanned = registry.find("processor.events").counter();
    return new JsonObject()
        .put("ingest", new JsonObject().put("pending", pendingIngest).put("oldestAgeSeconds", age(oldestIngest, now)))
        .put("ingestedEvents", ingested == null ? 0 : (long) ingested.count())
        .put("fannedOutEvents", fanned == null ? 0 : (long) fanned.count())
        .put("destinations", destinations);
  }

  private static double age(java.time.Instant oldest, java.time.Instant now) {
    return oldest == null ? 0 : Math.max(0, java.time.Duration.between(oldest, now).toMillis() / 1000.0);
  }

  private long count(String name, String destination) {
    io.micrometer.core.instrument.Counter c = registry.find(name).tag("destination", destination).counter();
    return c == null ? 0 : (long) c.count();
  }

  private void heartbeat() {
    control.heartbeat(options.nodeId(), ready)
        .compose(registered -> registered ? Future.<Void>succeededFuture() : registerAgain())
        .onFailure(e -> LOG.debug("heartbeat to the control store failed: {}", e.toString()));
  }

  /** A shrink forgot this node while it runs on (a rollback back to this size keeps its pod): it registers again. */
  private Future<Void> registerAgain() {
    LOG.info("node {} is not registered in the control store (a shrink forgot it): registering again", options.nodeId());
    return control.registerNode(options.nodeId(), advertised()).compose(v -> control.heartbeat(options.nodeId(), ready)).mapEmpty();
  }

  private String advertised() {
    return options.advertise() != null ? options.advertise() : options.internalHost() + ":" + internalServer.actualPort();
  }

  /**
   * The wire versions this node accepts on internal ingest ({@link WireVersions#CURRENT} unless set): a test hook that
   * makes a node of this build behave like one of an adjacent release (it takes effect with the next request).
   */
  public Node wireVersions(WireVersions versions) {
    this.wireVersions = versions;
    return this;
  }

  /**
   * Serves {@code console} under {@code /console} on the internal port (set before {@link #start}): the operator console,
   * which the launcher provides (it reads what the node does not depend on, such as the autoscaler's decisions). It
   * checks the admin token itself; one that is {@link AutoCloseable} is closed when the node stops.
   */
  public Node withConsole(io.vertx.core.Handler<io.vertx.core.http.HttpServerRequest> console) {
    this.console = console;
    return this;
  }

  public int gatewayPort() {
    return gateway == null ? -1 : gateway.port();
  }

  /** The internal port: internal ingest, admin API, status, metrics and probes. */
  public int internalPort() {
    return internalServer.actualPort();
  }

  /** The topology epoch this node follows, or -1 for a standalone node. */
  public long topologyEpoch() {
    return topology == null ? -1 : topology.current().epoch();
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  public JobsDb ingestQueue() {
    return ingest;
  }

  public JobsDb deliveryQueue() {
    return deliveries;
  }

  /**
   * Graceful stop: the gateway stops accepting and finishes requests in flight, the processor and router finish
   * or hand back their work, group commit flushes, then connections close.
   */
  public Future<Void> stop() {
    ready = false;
    if (heartbeatTimer >= 0) {
      vertx.cancelTimer(heartbeatTimer);
      heartbeatTimer = -1;
    }
    if (clusterGauges >= 0) {
      vertx.cancelTimer(clusterGauges);
      clusterGauges = -1;
    }
    if (regulations != null) {
      regulations.close();
    }
    Future<Void> f = gateway == null ? Future.succeededFuture() : gateway.stop(10_000);
    return f.transform(ar -> components == null ? Future.succeededFuture() : components.stop())
        .transform(ar -> ingest == null ? Future.succeededFuture() : ingest.shutdown())
        .transform(ar -> follower == null ? Future.succeededFuture() : follower.close())
        .transform(ar -> deliveries == null ? Future.succeededFuture() : deliveries.shutdown())
        .transform(ar -> internalServer == null ? Future.succeededFuture() : internalServer.close())
        .transform(ar -> {
          if (console instanceof AutoCloseable c) {
            try {
              c.close();
            } catch (Exception e) {
              LOG.debug("closing the console failed: {}", e.toString());
            }
          }
          return Future.succeededFuture();
        })
        .transform(ar -> pool == null ? Future.succeededFuture() : pool.close())
        .transform(ar -> {
          if (topology != null) {
            topology.close();
          }
          return control == null ? Future.succeededFuture() : control.closeAsync();
        })
        .transform(ar -> {
          if (config != null) {
            config.close();
          }
          LOG.info("node {} stopped", options.nodeId());
          return Future.succeededFuture();
        });
  }
}
