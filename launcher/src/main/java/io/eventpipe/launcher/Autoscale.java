package io.eventpipe.launcher;

import io.eventpipe.autoscaler.Autoscaler;
import io.eventpipe.autoscaler.ControlStoreReader;
import io.eventpipe.autoscaler.DecisionStore;
import io.eventpipe.autoscaler.KubernetesResizer;
import io.eventpipe.autoscaler.Resizer;
import io.eventpipe.autoscaler.ScalingPolicy;
import io.eventpipe.autoscaler.SignalReader;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.Set;
import java.util.function.IntFunction;

/**
 * {@code pipeline autoscaler} (a running {@code local} with {@code --data-dir}, or a Kubernetes StatefulSet with
 * {@code --kubernetes-statefulset}) and {@code pipeline local --autoscale MIN..MAX}: the {@link Autoscaler} loop with
 * the policy's flags, a {@link SignalReader} on the control store and the nodes, and a resizer.
 */
final class Autoscale {

  /** The policy's flags, shared by {@code autoscaler} and {@code local}. */
  static final Set<String> POLICY_FLAGS = Set.of("interval-seconds", "up-age-seconds", "up-window-seconds", "down-age-seconds",
      "down-events-per-node", "down-window-seconds", "cooldown-seconds", "failing-ratio");

  private Autoscale() {}

  /** {@code MIN..MAX}, validated. */
  static int[] bounds(Flags flags, String name) {
    String v = flags.raw(name);
    if (v == null) {
      throw new Flags.BadFlag("--" + name + " MIN..MAX (the node count's bounds) is required");
    }
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d{1,4})\\.\\.(\\d{1,4})").matcher(v.trim());
    if (!m.matches()) {
      throw new Flags.BadFlag("--" + name + "=" + v + " must be MIN..MAX, e.g. 1..4");
    }
    int min = Integer.parseInt(m.group(1));
    int max = Integer.parseInt(m.group(2));
    if (min < 1 || max < min || max > 4096) {
      throw new Flags.BadFlag("--" + name + "=" + v + " must satisfy 1 <= MIN <= MAX <= 4096");
    }
    return new int[] {min, max};
  }

  static ScalingPolicy.Config policy(Flags flags, int min, int max) {
    ScalingPolicy.Config d = ScalingPolicy.Config.defaults(min, max);
    return new ScalingPolicy.Config(min, max,
        seconds(flags, "up-age-seconds", d.upAge()),
        seconds(flags, "up-window-seconds", d.upWindow()),
        seconds(flags, "down-age-seconds", d.downAge()),
        flags.decimal("down-events-per-node", d.downEventsPerNode(), -1e-9, 1e9),
        seconds(flags, "down-window-seconds", d.downWindow()),
        seconds(flags, "cooldown-seconds", d.cooldown()),
        flags.decimal("failing-ratio", d.failingRatio(), 0, 1));
  }

  private static Duration seconds(Flags flags, String name, Duration def) {
    return Duration.ofMillis(Math.round(flags.decimal(name, def.toMillis() / 1000.0, -1e-9, 86_400) * 1000));
  }

  static Duration interval(Flags flags) {
    return Duration.ofMillis(Math.round(flags.decimal("interval-seconds", 10, 0.05, 3600) * 1000));
  }

  /** {@code pipeline autoscaler}: runs until stopped. */
  static void run(Flags flags) throws Exception {
    int[] b = bounds(flags, "nodes");
    ScalingPolicy policy = new ScalingPolicy(policy(flags, b[0], b[1]));
    PrometheusMeterRegistry registry = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
    String statefulSet = flags.string("kubernetes-statefulset", null);
    ControlStoreReader control;
    String token;
    Resizer resizer;
    io.fabric8.kubernetes.client.KubernetesClient kube = null;
    if (statefulSet == null) {
      Path dataDir = flags.path("data-dir", Path.of("pipeline-data")).toAbsolutePath();
      Path localJson = dataDir.resolve("local.json");
      if (!Files.exists(localJson)) {
        throw new Flags.BadFlag("no running `pipeline local` found in " + dataDir + " (no local.json); pass --data-dir, or"
            + " --kubernetes-statefulset NAME with --control-url, --admin-token and --node-pg-url");
      }
      JsonObject local = new JsonObject(Files.readString(localJson, StandardCharsets.UTF_8));
      PgConfig pg = EmbeddedPg.withPassword(PgConfig.parse(local.getString("controlUrl")), dataDir);
      control = new ControlStoreReader(pg.jdbcUrl(), pg.user(), pg.password());
      token = Files.readString(dataDir.resolve("admin-token"), StandardCharsets.UTF_8).trim();
      resizer = Migrate.localResizer(dataDir, Migrate.options(flags), flags.string("progress", "plain"));
    } else {
      PgConfig pg = PgConfig.parse(flags.required("control-url"));
      token = flags.required("admin-token");
      SecretFiles.checkToken("admin-token", token);
      control = new ControlStoreReader(pg.jdbcUrl(), pg.user(), pg.password());
      IntFunction<PgConfig> nodes = io.eventpipe.migrator.NodeDatabases.template(flags.required("node-pg-url"));
      boolean allowNonDurable = flags.bool("allow-non-durable-database", false);
      ControlInit.requireDurable(pg, allowNonDurable, "autoscaler");
      MigratorOptions options = Migrate.options(flags);
      String progress = flags.string("progress", "plain");
      String namespace = flags.string("kubernetes-namespace", null);
      if (namespace == null) {
        Path ns = Path.of("/var/run/secrets/kubernetes.io/serviceaccount/namespace");
        namespace = Files.exists(ns) ? Files.readString(ns, StandardCharsets.UTF_8).trim() : "default";
      }
      kube = new io.fabric8.kubernetes.client.KubernetesClientBuilder().build();
      resizer = new KubernetesResizer(kube, namespace, statefulSet, to -> {
        int code = Migrate.run(pg, nodes, allowNonDurable, options, Duration.ofSeconds(60), progress, to, Migrator.Only.ALL, false);
        if (code != 0) {
          throw new Resizer.ResizeException("the migration to " + to + " nodes failed (exit " + code + "); see above");
        }
      }, control, Duration.ofSeconds(flags.integer("ready-timeout-seconds", 300, 1, 86_400)), Clock.systemUTC());
    }
    Autoscaler autoscaler = new Autoscaler(new SignalReader(control, token, Clock.systemUTC())::read, policy, resizer,
        new DecisionStore(control), registry, Clock.systemUTC(), interval(flags));
    com.sun.net.httpserver.HttpServer metrics = metricsServer(flags.port("admin-port", 8081), flags.string("admin-host", "0.0.0.0"),
        registry);
    Thread loop = new Thread(autoscaler, "autoscaler");
    loop.start();
    io.fabric8.kubernetes.client.KubernetesClient client = kube;
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      autoscaler.stop();
      loop.interrupt();
      try {
        loop.join(30_000);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
      metrics.stop(0);
      if (client != null) {
        client.close();
      }
    }, "autoscaler-stop"));
    loop.join();
  }

  /**
   * {@code pipeline local --autoscale MIN..MAX}: the loop on a thread of its own, resizing the {@code local} of
   * {@code dataDir} the way {@code pipeline scale} does; its meters go to {@code registry} (the proxy's metrics port).
   */
  static Autoscaler startLocal(Flags flags, Path dataDir, io.micrometer.core.instrument.MeterRegistry registry) throws Exception {
    int[] b = bounds(flags, "autoscale");
    ScalingPolicy policy = new ScalingPolicy(policy(flags, b[0], b[1]));
    JsonObject local = new JsonObject(Files.readString(dataDir.resolve("local.json"), StandardCharsets.UTF_8));
    PgConfig pg = EmbeddedPg.withPassword(PgConfig.parse(local.getString("controlUrl")), dataDir);
    ControlStoreReader control = new ControlStoreReader(pg.jdbcUrl(), pg.user(), pg.password());
    String token = Files.readString(dataDir.resolve("admin-token"), StandardCharsets.UTF_8).trim();
    Resizer resizer = Migrate.localResizer(dataDir, Migrate.options(flags), "plain");
    Autoscaler autoscaler = new Autoscaler(new SignalReader(control, token, Clock.systemUTC())::read, policy, resizer,
        new DecisionStore(control), registry, Clock.systemUTC(), interval(flags));
    Thread loop = new Thread(autoscaler, "autoscaler");
    loop.setDaemon(true);
    loop.start();
    return autoscaler;
  }

  /** {@code /metrics} (Prometheus) and {@code /healthz} for the autoscaler's pod. */
  private static com.sun.net.httpserver.HttpServer metricsServer(int port, String host, PrometheusMeterRegistry registry)
      throws java.io.IOException {
    com.sun.net.httpserver.HttpServer server = com.sun.net.httpserver.HttpServer.create(new java.net.InetSocketAddress(host, port), 16);
    server.createContext("/metrics", ex -> {
      byte[] body = registry.scrape().getBytes(StandardCharsets.UTF_8);
      ex.getResponseHeaders().add("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.createContext("/healthz", ex -> {
      byte[] body = "ok\n".getBytes(StandardCharsets.UTF_8);
      ex.sendResponseHeaders(200, body.length);
      ex.getResponseBody().write(body);
      ex.close();
    });
    server.start();
    return server;
  }
}
