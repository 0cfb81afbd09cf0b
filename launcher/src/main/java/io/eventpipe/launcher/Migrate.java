package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.AdvisoryRunLock;
import io.eventpipe.migrator.MigrationException;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.NodeDatabases;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/** The {@code migrator} role (what a Kubernetes Job runs) and {@code scale} (the same for a running {@code local}). */
final class Migrate {

  private Migrate() {}

  /** {@code pipeline migrator --to N ...}: returns the exit code. */
  static int migrator(Flags flags) throws Exception {
    return migrator(flags, step -> {});
  }

  /** The same, with {@code hook} called before each step (tests crash a hook's run with it). */
  static int migrator(Flags flags, MigratorOptions.StepHook hook) throws Exception {
    boolean abort = flags.bool("abort", false);
    int to = abort ? 0 : requiredCount(flags, "to");
    PgConfig control = PgConfig.parse(flags.required("control-url"));
    IntFunction<PgConfig> nodes = NodeDatabases.template(flags.required("node-pg-url"));
    Migrator.Only only = switch (flags.string("only", "all").toLowerCase(Locale.ROOT)) {
      case "all" -> Migrator.Only.ALL;
      case "grow" -> Migrator.Only.GROW;
      case "shrink" -> Migrator.Only.SHRINK;
      default -> throw new Flags.BadFlag("--only=" + flags.raw("only") + " must be all, grow or shrink");
    };
    Duration lockWait = Duration.ofSeconds(flags.integer("lock-wait-seconds", 0, 0, 86_400));
    boolean allowNonDurable = flags.bool("allow-non-durable-database", false);
    Boolean cluster = flags.bool("if-initialized", false) ? holdsACluster(control) : Boolean.TRUE;
    if (cluster == null) {
      return 1;
    }
    if (!cluster) {
      System.out.println("the control store holds no cluster yet (no topology: a first install or sync): nothing to "
          + (abort ? "abort" : "move") + " (--if-initialized)");
      return 0;
    }
    // checked once there is something to do: a first install's hook has no control store database to check yet
    ControlInit.requireDurable(control, allowNonDurable, "migrator");
    return run(control, nodes, allowNonDurable, options(flags).withHook(hook), lockWait,
        flags.string("progress", "auto"), to, only, abort);
  }

  /** Whether the control store holds a cluster; null (said on stderr) when it cannot be read. */
  private static Boolean holdsACluster(PgConfig control) throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      return ControlStore.holdsACluster(vertx, control).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
    } catch (ExecutionException e) {
      System.err.println("pipeline migrator: cannot read the control store at " + control.redacted() + " to see whether it"
          + " holds a cluster (--if-initialized): " + e.getCause().getMessage());
      return null;
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  /** {@code pipeline scale --nodes N --data-dir D}: resizes a running {@code local}. */
  static int scale(Flags flags) throws Exception {
    int to = requiredCount(flags, "nodes");
    Path dataDir = flags.path("data-dir", Path.of("pipeline-data")).toAbsolutePath();
    return scaleLocal(dataDir, to, options(flags), flags.string("progress", "auto"));
  }

  /** Resizes the running {@code local} of {@code dataDir} to {@code to} nodes ({@code pipeline scale}, the autoscaler). */
  static int scaleLocal(Path dataDir, int to, MigratorOptions options, String progress) throws Exception {
    Path localJson = dataDir.resolve("local.json");
    if (!Files.exists(localJson)) {
      throw new Flags.BadFlag("no running `pipeline local` found in " + dataDir + " (no local.json): start it first,"
          + " `./pipeline local --data-dir " + dataDir + "`");
    }
    JsonObject local = new JsonObject(Files.readString(localJson, StandardCharsets.UTF_8));
    String token = Files.readString(dataDir.resolve("admin-token"), StandardCharsets.UTF_8).trim();
    PgConfig control = EmbeddedPg.withPassword(PgConfig.parse(local.getString("controlUrl")), dataDir);
    IntFunction<PgConfig> nodes = localNodes(dataDir, local);
    String localControl = local.getString("localControl");
    Vertx vertx = Vertx.vertx();
    try {
      // 1. new nodes come up empty and healthy first
      System.out.println("starting the nodes up to " + to + " (new nodes own nothing until the migration moves their share)");
      call(vertx, localControl, token, "start", to);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    // 2. the migration (it waits for new nodes, and resumes one a crash interrupted)
    int code = run(control, nodes, false, options, Duration.ZERO, progress, to, Migrator.Only.ALL, false);
    if (code != 0) {
      return code;
    }
    // 3. removed nodes hold nothing now: stop them
    Vertx v2 = Vertx.vertx();
    try {
      call(v2, localControl, token, "stop", to);
    } finally {
      v2.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
    System.out.println("the local cluster runs " + to + " node(s)");
    return 0;
  }

  /**
   * The autoscaler's resizer for the running {@code local} of {@code dataDir}: the same three steps as
   * {@link #scaleLocal}, through the same loopback endpoint of the {@code local} process.
   */
  static io.eventpipe.autoscaler.LocalResizer localResizer(Path dataDir, MigratorOptions options, String progress)
      throws Exception {
    JsonObject local = new JsonObject(Files.readString(dataDir.resolve("local.json"), StandardCharsets.UTF_8));
    String token = Files.readString(dataDir.resolve("admin-token"), StandardCharsets.UTF_8).trim();
    PgConfig control = EmbeddedPg.withPassword(PgConfig.parse(local.getString("controlUrl")), dataDir);
    IntFunction<PgConfig> nodes = localNodes(dataDir, local);
    String localControl = local.getString("localControl");
    io.eventpipe.autoscaler.ControlStoreReader owners = new io.eventpipe.autoscaler.ControlStoreReader(control.jdbcUrl(),
        control.user(), control.password());
    return new io.eventpipe.autoscaler.LocalResizer(new io.eventpipe.autoscaler.LocalResizer.Nodes() {
      @Override
      public void start(int count) throws Exception {
        callOnce(localControl, token, "start", count);
      }

      @Override
      public void stopFrom(int count) throws Exception {
        callOnce(localControl, token, "stop", count);
      }
    }, to -> {
      int code = run(control, nodes, false, options, Duration.ofSeconds(60), progress, to, Migrator.Only.ALL, false);
      if (code != 0) {
        throw new io.eventpipe.autoscaler.Resizer.ResizeException("the migration to " + to + " nodes failed (exit " + code
            + "); see above");
      }
    }, owners);
  }

  private static void callOnce(String localControl, String token, String action, int count) throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      call(vertx, localControl, token, action, count);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  /** The node databases of a running {@code local} (one embedded server: the superuser's, closed to the roles). */
  static IntFunction<PgConfig> localNodes(Path dataDir, JsonObject local) throws java.io.IOException {
    IntFunction<PgConfig> nodeTemplate = NodeDatabases.template(local.getString("nodeUrlTemplate"));
    String password = EmbeddedPg.withPassword(nodeTemplate.apply(0), dataDir).password();
    return k -> {
      PgConfig c = nodeTemplate.apply(k);
      return c.password().isEmpty() ? new PgConfig(c.host(), c.port(), c.database(), c.user(), password) : c;
    };
  }

  private static int requiredCount(Flags flags, String name) {
    if (flags.raw(name) == null) {
      throw new Flags.BadFlag("--" + name + " N (the new node count) is required");
    }
    return flags.integer(name, 1, 1, 4096);
  }

  /** The migrator flags shared by {@code migrator} and {@code scale}. */
  static MigratorOptions options(Flags flags) {
    MigratorOptions.Throttling throttling = switch (flags.string("throttle", "auto").toLowerCase(Locale.ROOT)) {
      case "auto" -> MigratorOptions.Throttling.defaults();
      case "off" -> MigratorOptions.Throttling.off();
      default -> throw new Flags.BadFlag("--throttle=" + flags.raw("throttle") + " must be auto (slow the copy when ingest"
          + " latency rises) or off (only --max-jobs-per-second paces it)");
    };
    if (!throttling.adaptive() && flags.raw("target-latency-ratio") != null) {
      throw new Flags.BadFlag("--target-latency-ratio=" + flags.raw("target-latency-ratio") + " has no effect with --throttle off"
          + " (drop one of them)");
    }
    return MigratorOptions.defaults()
        .withThrottling(throttling.withTargetLatencyRatio(flags.decimal("target-latency-ratio", 1.5, 1, 100)))
        .withBatch(flags.integer("batch-jobs", 2000, 1, 100_000))
        .withMaxJobsPerSecond(flags.integer("max-jobs-per-second", 0, 0, 10_000_000))
        .withReadyTimeout(Duration.ofSeconds(flags.integer("ready-timeout-seconds", 300, 1, 86_400)))
        .withLease(Duration.ofSeconds(flags.integer("lease-seconds", 15, 1, 3600)));
  }

  static int run(PgConfig control, IntFunction<PgConfig> nodes, boolean allowNonDurable, MigratorOptions options,
      Duration lockWait,
      String progressMode, int to, Migrator.Only only, boolean abort) throws Exception {
    ProgressPrinter printer = new ProgressPrinter(System.out, progressMode);
    Vertx vertx = Vertx.vertx();
    NodeDatabases dbs = new NodeDatabases(vertx, nodes, allowNonDurable);
    try {
      ControlStore store = ControlStore.open(vertx, control).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      try {
        Migrator migrator = new Migrator(vertx, store, dbs, options, printer, new AdvisoryRunLock(vertx, control, lockWait));
        Future<Migrator.Result> f = abort ? migrator.abort() : migrator.run(to, only);
        Migrator.Result r = f.toCompletionStage().toCompletableFuture().get();
        printer.done();
        System.out.println(r.summary());
        return 0;
      } finally {
        store.closeAsync();
      }
    } catch (ExecutionException e) {
      printer.done();
      Throwable cause = e.getCause();
      String why = cause instanceof MigrationException || cause instanceof IllegalStateException ? cause.getMessage()
          : cause.toString();
      System.err.println("pipeline migrator: " + why);
      return 1;
    } finally {
      dbs.close();
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static void call(Vertx vertx, String localControl, String token, String action, int count) throws Exception {
    // held until the answer: Vert.x closes a client that is no longer referenced when it is collected ("Pool closed")
    io.vertx.core.http.HttpClient client = vertx.createHttpClient();
    try {
      JsonObject answer = client
          .request(new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI(localControl + "/local/v1/nodes/" + action
              + "?count=" + count).putHeader("Authorization", "Bearer " + token).setIdleTimeout(300_000))
          .compose(r -> r.send()).compose(r -> r.body().map(b -> {
            if (r.statusCode() != 200) {
              throw new MigrationException("the local cluster refused to " + action + " nodes: " + b);
            }
            return new JsonObject(b);
          }))
          .toCompletionStage().toCompletableFuture().get(300, TimeUnit.SECONDS);
      System.out.println("local cluster: " + answer.getInteger("running") + " node(s) running");
    } catch (ExecutionException e) {
      throw new Flags.BadFlag("cannot reach the running `pipeline local` at " + localControl + ": " + e.getCause().getMessage());
    } finally {
      client.close();
    }
  }
}
