package io.eventpipe.loadtests;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.NodeDatabases;
import io.eventpipe.routing.Assignment;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The migrator's copy rate: {@code -Djobs} pending jobs (default 1,000,000) on the partitions that a resize from one node
 * to two moves, copied from node 0's database to node 1's, next to the raw PostgreSQL insert ceiling measured in the same
 * run (the same ~700-byte rows by JDBC multi-row inserts). Median of {@code -Druns} runs (default 3). The nodes do not
 * run (the migrator drains their databases directly), so the figure is the copy alone.
 */
public final class MigrateBench {

  private static final int PARTITIONS = 1024;

  public static void main(String[] args) throws Exception {
    BenchPg.get(); // first: its durability settings head the output
    if ("latency".equals(System.getProperty("mode"))) {
      latency();
      return;
    }
    int jobs = Integer.getInteger("jobs", 1_000_000);
    int runs = Integer.getInteger("runs", 3);
    int batch = Integer.getInteger("batch", 2000);
    Vertx vertx = Vertx.vertx();
    PgServer server = BenchPg.get();
    System.out.printf(Locale.ROOT, "# migration copy rate: %,d pending jobs on the moved partitions, 1 -> 2 nodes, batches of %d%n%n", jobs, batch);
    System.out.println("| run | raw ceiling 1 thread, rows/s | raw ceiling 2 threads, rows/s | copy, jobs/s | of 1-thread ceiling | of 2-thread ceiling |");
    System.out.println("|---:|---:|---:|---:|---:|---:|");
    double[] ratios = new double[runs];
    double[] rates = new double[runs];
    for (int run = 0; run < runs; run++) {
      PgDatabase raw = server.createDatabase("bench_raw");
      double ceiling1 = JobsDbBench.rawInsert(raw, 1, 1000);
      double ceiling2 = JobsDbBench.rawInsert(raw, 2, 1000);
      server.dropDatabase(raw);
      PgDatabase control = server.createDatabase("bench_mig_control");
      PgDatabase node0 = server.createDatabase("bench_mig_node0");
      PgDatabase node1 = server.createDatabase("bench_mig_node1");
      preload(vertx, config(node0), jobs);
      double rate = copy(vertx, config(control), List.of(config(node0), config(node1)), jobs, batch);
      rates[run] = rate;
      ratios[run] = rate / ceiling1;
      System.out.printf(Locale.ROOT, "| %d | %,.0f | %,.0f | %,.0f | %.0f%% | %.0f%% |%n", run + 1, ceiling1, ceiling2, rate,
          100 * rate / ceiling1, 100 * rate / ceiling2);
      for (PgDatabase db : List.of(control, node0, node1)) {
        server.dropDatabase(db);
      }
    }
    Arrays.sort(rates);
    Arrays.sort(ratios);
    System.out.printf(Locale.ROOT, "%nmedian copy rate %,.0f jobs/s, %.0f%% of the single-thread raw insert ceiling%n",
        rates[runs / 2], 100 * ratios[runs / 2]);
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    System.exit(0);
  }

  /**
   * Ingest latency while a resize runs, {@code -Druns} times (default 3) on a fresh cluster each: a node with a backlog of
   * deliveries (its destination refuses, so every user waits for a retry), a proxy, and single-event requests at half
   * the maximum rate measured first; p50/p99 in steady state, then (after the migrator measured its own steady state,
   * nothing moving yet) in a window of the same length while the cluster grows from one node to two (half the backlog
   * moves). Prints each run, the median run (by the p99 ratio), and the throttle's decisions of every run.
   * {@code -Dthrottle=auto|off}, {@code -DtargetLatencyRatio=1.5}, {@code -DmaxJobsPerSecond=0}.
   */
  private static void latency() throws Exception {
    int seconds = Integer.getInteger("seconds", 10);
    int backlogSeconds = Integer.getInteger("backlog", 10);
    int maxRate = Integer.getInteger("maxJobsPerSecond", 0);
    int runs = Integer.getInteger("runs", 3);
    boolean adaptive = !"off".equals(System.getProperty("throttle", "auto"));
    double ratio = Double.parseDouble(System.getProperty("targetLatencyRatio", "1.5"));
    System.out.printf(Locale.ROOT, "# ingest latency during a resize (1 -> 2 nodes), single-event requests through the proxy%n%n"
        + "throttle %s (target %.2fx of steady p99), max-jobs-per-second %s; %d runs, %d s per phase%n%n",
        adaptive ? "auto" : "off", ratio, maxRate > 0 ? maxRate : "none", runs, seconds);
    System.out.println("| run | max req/s | req/s | steady p50 ms | steady p99 ms | during p50 ms | during p99 ms | during p99.9 ms"
        + " | errors | p99 during / steady | jobs moved | copy s | decisions |");
    System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    List<LatencyRun> all = new ArrayList<>();
    for (int run = 1; run <= runs; run++) {
      LatencyRun r = latencyRun(run, seconds, backlogSeconds, maxRate, adaptive, ratio);
      all.add(r);
      System.out.printf(Locale.ROOT, "| %d | %,.0f | %,.0f | %.1f | %.1f | %.1f | %.1f | %.1f | %d | %.2fx | %,d | %.1f | %d |%n", run,
          r.max(), r.steady().requestsPerSecond(), r.steady().p(0.5), r.steady().p(0.99), r.during().p(0.5), r.during().p(0.99),
          r.during().p(0.999), r.steady().errors() + r.during().errors(), r.ratio(), r.jobsMoved(), r.copySeconds(),
          r.decisions().size());
    }
    List<LatencyRun> sorted = new ArrayList<>(all);
    sorted.sort(java.util.Comparator.comparingDouble(LatencyRun::ratio));
    LatencyRun median = sorted.get(sorted.size() / 2);
    System.out.printf(Locale.ROOT, "%nmedian of %d runs (run %d): p99 %.1f ms steady, %.1f ms during the resize: %.2fx (target 2x)%n",
        runs, median.run(), median.steady().p(0.99), median.during().p(0.99), median.ratio());
    System.out.println("\n## the throttle's decisions (seconds from the resize's start)\n");
    for (LatencyRun r : all) {
      System.out.printf(Locale.ROOT, "run %d:%n", r.run());
      if (r.decisions().isEmpty()) {
        System.out.println("  (none)");
      }
      r.decisions().forEach(d -> System.out.println("  " + d));
    }
    System.exit(0);
  }

  private record LatencyRun(int run, double max, GatewayBench.Result steady, GatewayBench.Result during, long jobsMoved,
      double copySeconds, List<String> decisions) {
    double ratio() {
      return during.p(0.99) / steady.p(0.99);
    }
  }

  private static LatencyRun latencyRun(int run, int seconds, int backlogSeconds, int maxRate, boolean adaptive, double ratio)
      throws Exception {
    PgServer server = BenchPg.get();
    Vertx vertx = Vertx.vertx();
    java.nio.file.Path workspace = java.nio.file.Files.createTempDirectory("migrate-bench").resolve("workspace.yaml");
    java.nio.file.Files.writeString(workspace, "egress: {allow: [127.0.0.0/8]}\nsources:\n  - id: bench\n    writeKey: "
        + "benchWriteKey2x9Lk7Qp\ndestinations:\n  - id: down\n    type: webhook\n    sources: [bench]\n    config:\n"
        + "      url: http://127.0.0.1:9/refused\n      retry: {initialBackoffMs: 600000, maxBackoffMs: 600000}\n");
    PgConfig control = config(server.createDatabase("bench_lat_control"));
    List<PgConfig> nodeDbs = List.of(config(server.createDatabase("bench_lat_node0")), config(server.createDatabase("bench_lat_node1")));
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(PARTITIONS, 1));
    String token = "bench-internal-token";
    List<io.eventpipe.node.Node> nodes = new ArrayList<>();
    for (int k = 0; k < 2; k++) {
      nodes.add(await(new io.eventpipe.node.Node(vertx, new io.eventpipe.node.NodeOptions(k, nodeDbs.get(k), PARTITIONS,
          io.eventpipe.gateway.http.GatewayOptions.defaults(0), "127.0.0.1", 0, token, workspace, control, null)).start()));
    }
    io.eventpipe.proxy.Proxy proxy = await(new io.eventpipe.proxy.Proxy(vertx, new io.eventpipe.proxy.Proxy.Options(
        io.eventpipe.gateway.http.GatewayOptions.defaults(0).withHost("127.0.0.1"), control, token, "127.0.0.1", 0, workspace)).start());
    Vertx clientVertx = Vertx.vertx(new io.vertx.core.VertxOptions().setEventLoopPoolSize(1));
    io.vertx.core.http.HttpClient client = clientVertx.createHttpClient(new io.vertx.core.http.HttpClientOptions().setKeepAlive(true)
        .setDefaultHost("127.0.0.1").setDefaultPort(proxy.port()), new io.vertx.core.http.PoolOptions().setHttp1MaxSize(64));
    GatewayBench.Load load = new GatewayBench.Load(clientVertx, client, null);
    GatewayBench.Result max = load.closedLoop(1, backlogSeconds); // also the backlog the resize moves
    double rate = max.requestsPerSecond() / 2;
    GatewayBench.Result steady = load.openLoop(1, rate, seconds);
    long[] copy = {0, 0};
    long started = System.nanoTime();
    List<String> decisions = new java.util.concurrent.CopyOnWriteArrayList<>();
    java.util.concurrent.CountDownLatch baselineTaken = new java.util.concurrent.CountDownLatch(1);
    MigratorOptions.Throttling throttling = (adaptive ? MigratorOptions.Throttling.defaults() : MigratorOptions.Throttling.off())
        .withTargetLatencyRatio(ratio)
        .withDecisions((limit, why) -> decisions.add(String.format(Locale.ROOT, "%6.1f s  %s", (System.nanoTime() - started) / 1e9, why)));
    MigratorOptions options = MigratorOptions.defaults().withMaxJobsPerSecond(maxRate).withThrottling(throttling).withHook(step -> {
      if (step.equals("prepared")) {
        baselineTaken.countDown(); // the throttle's baseline is taken before the first step: data moves from here on
      } else if (step.equals("copied") && copy[0] == 0) {
        copy[0] = System.nanoTime();
      } else if (step.equals("released")) {
        copy[1] = System.nanoTime();
      }
    });
    NodeDatabases dbs = new NodeDatabases(vertx, nodeDbs::get);
    Future<Migrator.Result> resize = new Migrator(vertx, store, dbs, options, p -> {}).run(2, Migrator.Only.ALL);
    // keep the load on while the migrator measures its steady state (nothing moves yet), then measure
    while (!baselineTaken.await(0, TimeUnit.SECONDS) && !resize.isComplete()) {
      load.openLoop(1, rate, 1);
    }
    GatewayBench.Result during = load.openLoop(1, rate, seconds);
    Migrator.Result r = await(resize);
    await(proxy.stop());
    for (io.eventpipe.node.Node n : nodes) {
      await(n.stop());
    }
    dbs.close();
    await(store.closeAsync());
    await(clientVertx.close());
    await(vertx.close());
    return new LatencyRun(run, max.requestsPerSecond(), steady, during, r.jobsMoved(), (copy[1] - copy[0]) / 1e9, decisions);
  }

  /** Stores {@code jobs} pending ingest jobs on node 0, all in partitions that node 1 takes in a resize to two nodes. */
  private static void preload(Vertx vertx, PgConfig pg, int jobs) throws Exception {
    int[] owners = Assignment.compute(PARTITIONS, 2).owners();
    List<Integer> moving = new ArrayList<>();
    for (int p = 0; p < PARTITIONS; p++) {
      if (owners[p] == 1) {
        moving.add(p);
      }
    }
    Pool pool = pg.createPool(vertx, 4);
    JobsDb gw = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("gw").withDedupWindow(Duration.ZERO), new SimpleMeterRegistry()));
    long started = System.nanoTime();
    AtomicLong stored = new AtomicLong();
    int perRequest = 500;
    List<Future<?>> inFlight = new ArrayList<>();
    for (int i = 0; i < jobs; i += perRequest) {
      List<NewJob> request = new ArrayList<>(perRequest);
      for (int k = i; k < Math.min(jobs, i + perRequest); k++) {
        int partition = moving.get(k % moving.size());
        request.add(new NewJob(partition, "user-" + (k % 50_000), "web", "", "m-" + k, Instant.now(), JobsDbBench.EVENT));
      }
      inFlight.add(gw.store(request).onSuccess(r -> stored.addAndGet(r.stored())));
      if (inFlight.size() >= 32) {
        await(Future.all(inFlight));
        inFlight.clear();
      }
    }
    await(Future.all(inFlight));
    await(gw.shutdown());
    await(pool.close());
    System.err.printf(Locale.ROOT, "preloaded %,d jobs in %.1f s%n", stored.get(), (System.nanoTime() - started) / 1e9);
  }

  /** Runs the migration from 1 to 2 nodes and returns the copy step's rate. */
  private static double copy(Vertx vertx, PgConfig control, List<PgConfig> nodes, int jobs, int batch) throws Exception {
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(PARTITIONS, 1));
    await(store.registerNode(1, "127.0.0.1:1"));
    await(store.heartbeat(1, true)); // node 1's database is ready; the migrator drains node 0's, which nobody serves
    long[] copyStart = {0};
    long[] copyEnd = {0};
    MigratorOptions options = MigratorOptions.defaults().withBatch(batch).withLease(Duration.ofMillis(100)).withHook(step -> {
      if (step.equals("copied") && copyStart[0] == 0) {
        copyStart[0] = System.nanoTime();
      } else if (step.equals("released")) {
        copyEnd[0] = System.nanoTime();
      }
    });
    try (NodeDatabases dbs = new NodeDatabases(vertx, nodes::get)) {
      Migrator.Result r = await(new Migrator(vertx, store, dbs, options, p -> {}).run(2, Migrator.Only.ALL));
      if (r.jobsMoved() != jobs) {
        throw new IllegalStateException("moved " + r.jobsMoved() + " jobs, expected " + jobs + ": " + r.summary());
      }
    } finally {
      await(store.closeAsync());
    }
    return jobs / ((copyEnd[0] - copyStart[0]) / 1e9);
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(30, TimeUnit.MINUTES);
  }
}
