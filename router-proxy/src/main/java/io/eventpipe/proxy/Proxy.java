package io.eventpipe.proxy;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.gateway.http.ConnectionGuard;
import io.eventpipe.gateway.http.ConnectionLimits;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.gateway.http.GatewayServer;
import io.eventpipe.jobsdb.PgConfig;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.json.JsonObject;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A stateless proxy: the public gateway API at the edge (auth, validation, enrichment once), forwarding each
 * user's events to the node that owns the user's partition. Run as many as you like.
 */
public final class Proxy {

  private static final Logger LOG = LoggerFactory.getLogger(Proxy.class);

  /**
   * @param gateway      the public API
   * @param control      the control store
   * @param ingestToken  the nodes' ingest token ({@code --ingest-token}): it lets the proxy store events on nodes and
   *                     nothing else (the admin API takes the admin token, which proxies never hold)
   * @param metricsPort  metrics and probes (0 picks a free port)
   * @param workspace    the workspace YAML (write keys)
   * @param metricsConnections the metrics port's header deadline, idle timeout and connection cap
   */
  public record Options(GatewayOptions gateway, PgConfig control, String ingestToken, String metricsHost, int metricsPort, Path workspace,
      ConnectionLimits metricsConnections) {

    public Options {
      java.util.Objects.requireNonNull(metricsConnections, "metricsConnections");
    }

    /** With the metrics port's default {@link ConnectionLimits#internalDefaults()}. */
    public Options(GatewayOptions gateway, PgConfig control, String ingestToken, String metricsHost, int metricsPort, Path workspace) {
      this(gateway, control, ingestToken, metricsHost, metricsPort, workspace, ConnectionLimits.internalDefaults());
    }
  }

  private final Vertx vertx;
  private final Options options;
  private final PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
  private ControlStore control;
  private long clusterGauges = -1;
  private TopologyWatcher topology;
  private io.eventpipe.control.Regulations.Watcher regulations;
  private WorkspaceConfigStore config;
  private ForwardingSink sink;
  private GatewayServer gateway;
  private HttpServer metrics;

  public Proxy(Vertx vertx, Options options) {
    this.vertx = vertx;
    this.options = options;
    new JvmMemoryMetrics().bindTo(registry);
  }

  public Future<Proxy> start() {
    config = WorkspaceConfigStore.watch(options.workspace());
    return ControlStore.open(vertx, options.control())
        .compose(store -> {
          control = store;
          return io.eventpipe.control.Regulations.Watcher.start(vertx, store, Duration.ofSeconds(1));
        })
        .compose(r -> {
          regulations = r;
          return TopologyWatcher.start(vertx, control, Duration.ofSeconds(2));
        })
        .compose(w -> {
          topology = w;
          registry.gauge("proxy.topology.epoch", w, x -> x.current() == null ? -1 : x.current().epoch());
          clusterGauges = io.eventpipe.control.ClusterStatus.gauges(vertx, control, registry, Duration.ofSeconds(5));
          sink = new ForwardingSink(vertx, w, options.ingestToken(), registry);
          gateway = new GatewayServer(vertx, options.gateway(), config,
              EventParser.builder().maxRequestBytes(options.gateway().maxRequestBytes()).build(),
              new io.eventpipe.gateway.SuppressingSink(sink, regulations::suppressed, regulations::anySuppressed, registry),
              Clock.systemUTC(), registry);
          return gateway.start();
        })
        .compose(port -> {
          metrics = new ConnectionGuard(vertx, "metrics", options.metricsConnections(), registry,
              ConnectionGuard.DEFAULT_UNREAD_BODY_BYTES, options.gateway().bodyTimeoutMs())
              .createServer(new HttpServerOptions().setHost(options.metricsHost()).setPort(options.metricsPort()), req -> {
            switch (req.path()) {
              case "/metrics" -> req.response().putHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8").end(registry.scrape());
              case "/health/live", "/health/ready" -> req.response().putHeader("Content-Type", "application/json")
                  .end(new JsonObject().put("status", "ok").put("epoch", topology.current().epoch())
                      .put("controlStoreReachable", topology.controlStoreReachable()).encode());
              default -> req.response().setStatusCode(404).end();
            }
          });
          return metrics.listen();
        })
        .map(m -> {
          LOG.info("proxy ready: SDK API on port {}, metrics on port {}, topology epoch {} with {} nodes", gateway.port(),
              m.actualPort(), topology.current().epoch(), topology.current().nodes().size());
          return this;
        });
  }

  public int port() {
    return gateway.port();
  }

  public int metricsPort() {
    return metrics.actualPort();
  }

  public TopologyWatcher topology() {
    return topology;
  }

  public PrometheusMeterRegistry registry() {
    return registry;
  }

  /** Stops accepting, lets requests in flight finish, closes connections. */
  public Future<Void> stop() {
    if (clusterGauges >= 0) {
      vertx.cancelTimer(clusterGauges);
    }
    Future<Void> f = gateway == null ? Future.succeededFuture() : gateway.stop(10_000);
    return f.transform(ar -> sink == null ? Future.succeededFuture() : sink.close())
        .transform(ar -> metrics == null ? Future.succeededFuture() : metrics.close())
        .transform(ar -> {
          if (topology != null) {
            topology.close();
          }
          if (regulations != null) {
            regulations.close();
          }
          if (config != null) {
            config.close();
          }
          return control == null ? Future.succeededFuture() : control.closeAsync();
        });
  }
}
