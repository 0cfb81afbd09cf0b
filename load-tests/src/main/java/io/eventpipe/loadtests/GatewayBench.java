package io.eventpipe.loadtests;

import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.gateway.http.GatewayServer;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Durable ingest through the SDK-facing HTTP API of a real node, next to the raw PostgreSQL insert ceiling measured
 * in the same run.
 *
 * <p>Set-up: one {@link Node} (standalone: the gateway API in front of its own jobsdb, group commit and dedup on)
 * on a fresh database of the embedded/test PostgreSQL; its workspace has one source and no destinations, so the
 * node's processor reads every ingested job and finishes it without fanning it out, and nothing is delivered. A load client in the same JVM, on its own Vert.x instance, drives it over loopback HTTP
 * with keep-alive connections. Every request carries distinct messageIds and users (about 700-byte track events,
 * gzip off); a 200 means the events are committed, so acknowledged events per second are durable events per
 * second, and the run ends by checking that the database holds exactly the acknowledged events.
 *
 * <ol>
 *   <li>Closed loop: {@code -Dconcurrency} connections, each sending its next request when the previous one is
 *       answered, for {@code -Dseconds} after a short warm-up, for each size in {@code -Devents} (1 event per
 *       request on {@code /v1/track}, more on {@code /v1/batch}). This finds the maximum rate.</li>
 *   <li>Open loop at {@code -Dhalf=0.5} of that maximum: requests are started on a fixed schedule whatever the
 *       answers do, and latency counts from the scheduled start (no coordinated omission).</li>
 * </ol>
 * Baselines measured in the same run: the raw insert ceiling ({@link RawCeiling}: the same event bytes one row each, 100
 * rows per transaction by 16 writers for batches, one commit each by 64 writers for single events), measured right
 * before each closed loop so that every figure is a ratio to a ceiling taken seconds apart, and the HTTP side
 * alone (the same gateway with a sink that stores nothing). CPU time of the node, the load client, PostgreSQL (and
 * its autovacuum) and the rest of the machine is sampled around every run, with PostgreSQL's WAL volume and
 * checkpoints, to show where the cores go; "other processes" above zero means the numbers are disturbed.
 *
 * <p>Run: {@code ./bench gateway -Dseconds=5}. Properties: {@code -Dseconds=5 -Dwarmup=1 -Devents=1,20,100
 * -Dconcurrency=64 -Dhalf=0.5 -Druns=3 -Draw.writers.N=W -Dhttp.baseline=true} (each closed loop, with its ceiling, {@code runs}
 * times, reported with min / median / max; the open loop at {@code half} of the best run); for profiling, {@code -Dtimeline=true}
 * (worst latency per 250 ms of each open loop, on stderr) and {@code -Dpg.set=wal_buffers=64MB,...}
 * (ALTER SYSTEM on the embedded server for the run; the durability settings, given on the server's command line,
 * stay on, and the values in effect are printed).
 */
public final class GatewayBench {

  private static final int SECONDS = Integer.getInteger("seconds", 5);
  private static final int WARMUP_SECONDS = Integer.getInteger("warmup", Math.max(1, SECONDS / 3));
  private static final int CONCURRENCY = Integer.getInteger("concurrency", 64);
  private static final double HALF = Double.parseDouble(System.getProperty("half", "0.5"));
  private static final String WRITE_KEY = "benchWriteKey2x9Lk7Qp";
  private static final int USERS = 100_000;
  private static final long RUN = new java.util.Random().nextLong();
  /** Print the worst open-loop latency of every 250 ms on stderr, to line stalls up with GC or checkpoint logs. */
  private static final boolean TIMELINE = Boolean.getBoolean("timeline");

  public static void main(String[] args) throws Exception {
    int[] sizes = ints(System.getProperty("events", "1,20,100"));
    int runs = Integer.getInteger("runs", 3);
    PgServer server = BenchPg.get();
    int cores = Runtime.getRuntime().availableProcessors();
    System.out.printf(Locale.ROOT, "PostgreSQL: %s; workspace: one source, no destinations (the node's processor"
        + " finishes each ingested job, fanning it out to nothing); event ~%d bytes as sent;"
        + " %d s per measurement after %d s warm-up; %d cores; %d keep-alive connections; load client in the same JVM%n",
        server.kind(), event(new StringBuilder(), 0).length(), SECONDS, WARMUP_SECONDS, cores, CONCURRENCY);

    // 1. the raw ceiling (RawCeiling): measured right before each closed loop below, on a database of its own
    PgDatabase raw = server.createDatabase("bench_gwraw");

    // 2. a standalone node with one source and no destinations
    PgDatabase db = server.createDatabase("bench_gw");
    Cpu.findPostmaster(db);
    Cpu.startPostgresSampler();
    applySettings(db, System.getProperty("pg.set", ""));
    PgStats.db = db;
    PgConfig pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    Path dir = Files.createTempDirectory("gateway-bench");
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: bench\n    name: Benchmark\n    writeKey: " + WRITE_KEY
        + "\n    enabled: true\ndestinations: []\n");
    int port = freePort();
    GatewayOptions gateway = GatewayOptions.defaults(port).withHost("127.0.0.1");
    Vertx nodeVertx = Vertx.vertx();
    Node node = await(new Node(nodeVertx, NodeOptions.standalone(0, pg, 1024, gateway, "127.0.0.1", 0,
        "bench-admin-token", workspace)).start());

    Vertx clientVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    HttpClient client = clientVertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setPipelining(false)
        .setDefaultHost("127.0.0.1").setDefaultPort(port), new PoolOptions().setHttp1MaxSize(CONCURRENCY));
    Load load = new Load(clientVertx, client, node);

    // 3. the HTTP side alone: the same gateway (auth, parse, validate, enrich) with a sink that stores nothing
    if (Boolean.parseBoolean(System.getProperty("http.baseline", "true"))) {
      int noopPort = freePort();
      Vertx noopVertx = Vertx.vertx();
      WorkspaceConfigStore noopConfig = WorkspaceConfigStore.watch(workspace);
      GatewayServer noop = new GatewayServer(noopVertx, GatewayOptions.defaults(noopPort).withHost("127.0.0.1"),
          noopConfig, EventParser.create(), new EventSink() {
            @Override
            public Future<Void> accept(io.eventpipe.workspace.Source source, List<io.eventpipe.gateway.Event> events) {
              return Future.succeededFuture();
            }

            @Override
            public Future<Boolean> healthy() {
              return Future.succeededFuture(true);
            }
          }, java.time.Clock.systemUTC(), new SimpleMeterRegistry());
      await(noop.start());
      HttpClient noopClient = clientVertx.createHttpClient(new HttpClientOptions().setKeepAlive(true)
          .setDefaultHost("127.0.0.1").setDefaultPort(noopPort), new PoolOptions().setHttp1MaxSize(CONCURRENCY));
      Load http = new Load(clientVertx, noopClient, null);
      System.out.println();
      System.out.println("| HTTP side alone (gateway with a sink that stores nothing), closed loop | connections"
          + " | events/request | requests/s | events/s | p50 ms | p99 ms |");
      System.out.println("|---|---:|---:|---:|---:|---:|---:|");
      for (int e : sizes) {
        http.closedLoop(e, WARMUP_SECONDS);
        Result r = http.closedLoop(e, SECONDS);
        System.out.printf(Locale.ROOT, "| HTTP → gateway → no-op sink | %d | %d | %,.0f | %,.0f | %.1f | %.1f |%n",
            CONCURRENCY, e, r.requestsPerSecond(), r.eventsPerSecond(), r.p(0.50), r.p(0.99));
      }
      await(noopClient.close());
      await(noop.stop(1000));
      await(noopVertx.close());
      noopConfig.close();
    }

    System.out.println();
    System.out.println("| gateway ingest, closed loop | run | connections | events/request | raw ceiling, rows/s (writers, rows/tx)"
        + " | requests/s | durable events/s | of raw ceiling | p50 ms | p99 ms | p99.9 ms | mean commit (jobs) | WAL bytes/event"
        + " | checkpoints | non-200 |");
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    List<Result> closed = new ArrayList<>();
    java.util.Map<Integer, List<Double>> rates = new java.util.TreeMap<>();
    java.util.Map<Integer, List<Double>> ratios = new java.util.TreeMap<>();
    java.util.Map<Integer, Result> best = new java.util.HashMap<>();
    for (int run = 1; run <= runs; run++) {
      for (int e : sizes) {
        int writers = RawCeiling.writersFor(e);
        double ceiling = RawCeiling.measure(raw, writers, e, SECONDS, seq -> event(new StringBuilder(), seq).toString()
            .getBytes(StandardCharsets.UTF_8), seq -> "user-" + Math.floorMod(seq * 2_654_435_761L, USERS));
        load.closedLoop(e, WARMUP_SECONDS); // warm-up, not reported
        PgStats before = PgStats.sample();
        Result r = load.closedLoop(e, SECONDS);
        PgStats after = PgStats.sample();
        closed.add(r);
        rates.computeIfAbsent(e, k -> new ArrayList<>()).add(r.eventsPerSecond());
        ratios.computeIfAbsent(e, k -> new ArrayList<>()).add(100 * r.eventsPerSecond() / ceiling);
        best.merge(e, r, (a, b) -> a.eventsPerSecond() >= b.eventsPerSecond() ? a : b);
        double events = r.eventsPerSecond() * SECONDS;
        System.out.printf(Locale.ROOT, "| HTTP → node → jobsdb (dedup on) | %d | %d | %d | %,.0f (%d, %d) | %,.0f | %,.0f | %.0f%% | %.1f"
                + " | %.1f | %.1f | %.0f | %s | %s | %d |%n",
            run, CONCURRENCY, e, ceiling, writers, e, r.requestsPerSecond(), r.eventsPerSecond(), 100 * r.eventsPerSecond() / ceiling,
            r.p(0.50), r.p(0.99), r.p(0.999), r.meanCommit,
            before.walBytes < 0 ? "n/a" : String.format(Locale.ROOT, "%,.0f", (after.walBytes - before.walBytes) / events),
            before.checkpoints < 0 ? "n/a" : Long.toString(after.checkpoints - before.checkpoints), r.errors);
      }
    }
    server.dropDatabase(raw);
    System.out.println();
    System.out.printf(Locale.ROOT, "| over %d runs: min / median / max | events/request | durable events/s | of raw ceiling (same run) |%n",
        runs);
    System.out.println("|---|---:|---:|---:|");
    for (int e : rates.keySet()) {
      System.out.printf(Locale.ROOT, "| HTTP → node → jobsdb (dedup on) | %d | %s | %s |%n", e, RawCeiling.spread(rates.get(e), "%,.0f"),
          RawCeiling.spread(ratios.get(e), "%.0f%%"));
    }

    System.out.println();
    System.out.printf(Locale.ROOT, "| gateway ingest, open loop at %.0f%% of the max | events/request | target requests/s"
        + " | achieved requests/s | events/s | p50 ms | p99 ms | p99.9 ms | mean commit (jobs) | non-200 |%n", HALF * 100);
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    List<Result> open = new ArrayList<>();
    for (int e : sizes) {
      Result max = best.get(e);
      double rate = max.requestsPerSecond() * HALF;
      Result r = load.openLoop(max.events, rate, SECONDS);
      open.add(r);
      System.out.printf(Locale.ROOT, "| HTTP → node → jobsdb (dedup on) | %d | %,.0f | %,.0f | %,.0f | %.1f | %.1f | %.1f | %.0f | %d |%n",
          max.events, rate, r.requestsPerSecond(), r.eventsPerSecond(), r.p(0.50), r.p(0.99), r.p(0.999), r.meanCommit, r.errors);
    }

    System.out.println();
    System.out.printf(Locale.ROOT, "| where the CPU went (cores of %d) | events/request | node JVM | load client | PostgreSQL"
        + " | of which autovacuum | other processes | whole machine |%n", cores);
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (Result r : closed) {
      cpuRow("closed loop", r);
    }
    for (Result r : open) {
      cpuRow("open loop", r);
    }

    // 4. durability: every acknowledged event was stored, once. The node's processor may already have finished
    // them and jobsdb dropped their dataset, so count the dedup entries, which are written in the same transaction
    // as the jobs, one per stored job, and kept for the dedup window (an hour)
    long stored;
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT count(*) FROM jobs_gw.dedup")) {
      rs.next();
      stored = rs.getLong(1);
    }
    long autovacuums;
    try (Connection c = db.connect(); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT coalesce(sum(autovacuum_count + autoanalyze_count), 0) FROM pg_stat_user_tables")) {
      rs.next();
      autovacuums = rs.getLong(1);
    }
    System.out.println();
    System.out.printf(Locale.ROOT, "acknowledged events: %,d; stored: %,d%s; autovacuum/autoanalyze runs on the node's"
        + " tables: %d%n", load.acknowledged.get(), stored,
        stored == load.acknowledged.get() ? " (every acknowledged event stored, none twice)" : " MISMATCH", autovacuums);

    await(client.close());
    await(clientVertx.close());
    await(node.stop());
    await(nodeVertx.close());
    System.exit(stored == load.acknowledged.get() ? 0 : 1);
  }

  /**
   * {@code name=value,name=value}: ALTER SYSTEM on the bench's own embedded server, to try PostgreSQL settings
   * (refused on a shared server, where the change would outlive the run).
   */
  private static void applySettings(PgDatabase db, String settings) throws Exception {
    if (settings.isBlank()) {
      return;
    }
    if (!"embedded".equals(BenchPg.get().kind())) {
      throw new IllegalArgumentException("-Dpg.set only applies to the embedded PostgreSQL, not to a "
          + BenchPg.get().kind() + " server");
    }
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      for (String kv : settings.split(",")) {
        String[] p = kv.split("=", 2);
        s.execute("ALTER SYSTEM SET " + p[0].trim() + " = '" + p[1].trim().replace("'", "''") + "'");
      }
      s.execute("SELECT pg_reload_conf()");
    }
    // what the server runs with: a setting the server was started with (-c) is not changed by ALTER SYSTEM
    StringBuilder actual = new StringBuilder();
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      for (String kv : settings.split(",")) {
        String name = kv.split("=", 2)[0].trim();
        try (ResultSet rs = s.executeQuery("SELECT current_setting('" + name.replace("'", "''") + "')")) {
          rs.next();
          actual.append(actual.length() == 0 ? "" : ", ").append(name).append('=').append(rs.getString(1));
        }
      }
    }
    System.out.println("PostgreSQL settings for this run: " + actual);
  }

  /** Server-wide WAL volume and checkpoints (PostgreSQL 14+ / 17+), or -1 where unavailable. */
  record PgStats(long walBytes, long checkpoints) {
    static PgDatabase db;

    static PgStats sample() {
      long wal = -1;
      long checkpoints = -1;
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        try (ResultSet rs = s.executeQuery("SELECT wal_bytes FROM pg_stat_wal")) {
          rs.next();
          wal = rs.getLong(1);
        } catch (java.sql.SQLException e) {
          // before PostgreSQL 14
        }
        try (ResultSet rs = s.executeQuery("SELECT num_timed + num_requested FROM pg_stat_checkpointer")) {
          rs.next();
          checkpoints = rs.getLong(1);
        } catch (java.sql.SQLException e) {
          // before PostgreSQL 17
        }
      } catch (java.sql.SQLException e) {
        // no stats
      }
      return new PgStats(wal, checkpoints);
    }
  }

  private static void cpuRow(String what, Result r) {
    System.out.printf(Locale.ROOT, "| %s | %d | %.2f | %.2f | %s | %s | %s | %.2f |%n", what, r.events, r.cpu.node, r.cpu.client,
        r.cpu.postgres < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f", r.cpu.postgres),
        r.cpu.autovacuum < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f", r.cpu.autovacuum),
        r.cpu.others() < 0 ? "n/a" : String.format(Locale.ROOT, "%.2f", r.cpu.others()), r.cpu.machine);
  }

  // ------------------------------------------------------------------------------------------------ load

  /** Drives the node; all request callbacks run on the client's single event loop. */
  static final class Load {
    private final Vertx vertx;
    private final HttpClient client;
    private final Node node;
    private final String auth = "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8));
    final AtomicLong acknowledged = new AtomicLong();
    private final AtomicLong sequence = new AtomicLong();
    private final Set<Long> clientThreads = ConcurrentHashMap.newKeySet();

    Load(Vertx vertx, HttpClient client, Node node) {
      this.vertx = vertx;
      this.client = client;
      this.node = node;
    }

    /** {@code CONCURRENCY} loops, each sending its next request when the previous one is answered. */
    Result closedLoop(int events, int seconds) throws Exception {
      Latencies latencies = new Latencies();
      AtomicLong ok = new AtomicLong();
      AtomicLong errors = new AtomicLong();
      Cpu.Sample before = Cpu.sample(clientThreads);
      Commit commitBefore = commits();
      long start = System.nanoTime();
      long deadline = start + TimeUnit.SECONDS.toNanos(seconds);
      List<Future<Void>> loops = new ArrayList<>();
      for (int i = 0; i < CONCURRENCY; i++) {
        Promise<Void> done = Promise.promise();
        loop(events, deadline, latencies, ok, errors, done);
        loops.add(done.future());
      }
      await(Future.all(loops));
      double elapsed = (System.nanoTime() - start) / 1e9;
      return new Result(events, ok.get() / elapsed, errors.get(), latencies, Cpu.sample(clientThreads).minus(before, elapsed),
          commits().meanSince(commitBefore));
    }

    private void loop(int events, long deadline, Latencies latencies, AtomicLong ok, AtomicLong errors, Promise<Void> done) {
      if (System.nanoTime() >= deadline) {
        done.complete();
        return;
      }
      long started = System.nanoTime();
      send(events).onComplete(ar -> {
        clientThreads.add(Thread.currentThread().getId());
        latencies.add(System.nanoTime() - started);
        if (ar.succeeded() && ar.result() == 200) {
          ok.incrementAndGet();
          acknowledged.addAndGet(events);
        } else {
          errors.incrementAndGet();
        }
        loop(events, deadline, latencies, ok, errors, done);
      });
    }

    /**
     * Starts requests at {@code rate} per second on a fixed schedule; latency is measured from each request's
     * scheduled start, so a slow answer counts against every request scheduled behind it.
     */
    Result openLoop(int events, double rate, int seconds) throws Exception {
      Latencies latencies = new Latencies();
      AtomicLong ok = new AtomicLong();
      AtomicLong errors = new AtomicLong();
      java.util.Map<Long, Long> timeline = new ConcurrentHashMap<>();
      Commit commitBefore = commits();
      long total = Math.max(1, Math.round(rate * seconds));
      AtomicLong answered = new AtomicLong();
      Promise<Void> done = Promise.promise();
      Cpu.Sample before = Cpu.sample(clientThreads);
      long start = System.nanoTime();
      long[] issued = {0};
      long timer = vertx.setPeriodic(1, tick -> {
        long now = System.nanoTime();
        long due = Math.min(total, (long) ((now - start) / 1e9 * rate) + 1);
        while (issued[0] < due) {
          long scheduled = start + (long) (issued[0] / rate * 1e9);
          issued[0]++;
          send(events).onComplete(ar -> {
            long now2 = System.nanoTime();
            latencies.add(now2 - scheduled);
            if (TIMELINE) {
              timeline.merge((now2 - start) / 250_000_000L, now2 - scheduled, Math::max);
            }
            if (ar.succeeded() && ar.result() == 200) {
              ok.incrementAndGet();
              acknowledged.addAndGet(events);
            } else {
              errors.incrementAndGet();
            }
            if (answered.incrementAndGet() == total) {
              done.complete();
            }
          });
        }
      });
      await(done.future());
      vertx.cancelTimer(timer);
      if (TIMELINE) {
        StringBuilder line = new StringBuilder("worst latency per 250 ms (ms), " + events + " events/request:");
        new java.util.TreeMap<>(timeline).forEach((slot, worst) -> line.append(' ').append(worst / 1_000_000));
        System.err.println(line);
      }
      double elapsed = (System.nanoTime() - start) / 1e9;
      return new Result(events, ok.get() / elapsed, errors.get(), latencies, Cpu.sample(clientThreads).minus(before, elapsed),
          commits().meanSince(commitBefore));
    }

    /** Sends one request of {@code events} fresh events; completes with the status. */
    private Future<Integer> send(int events) {
      StringBuilder sb = new StringBuilder(events * 720 + 64);
      String uri;
      if (events == 1) {
        uri = "/v1/track";
        event(sb, sequence.getAndIncrement());
      } else {
        uri = "/v1/batch";
        sb.append("{\"batch\":[");
        long first = sequence.getAndAdd(events);
        for (int i = 0; i < events; i++) {
          if (i > 0) {
            sb.append(',');
          }
          event(sb, first + i);
        }
        sb.append("],\"sentAt\":\"2026-11-22T10:00:00.120Z\"}");
      }
      Buffer body = Buffer.buffer(sb.toString());
      return client.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(uri)
              .putHeader(HttpHeaders.AUTHORIZATION, auth).putHeader(HttpHeaders.CONTENT_TYPE, "application/json"))
          .compose(req -> req.send(body).compose(res -> res.body().map(b -> res.statusCode())));
    }

    private Commit commits() {
      if (node == null) {
        return new Commit(0, 0);
      }
      DistributionSummary s = node.registry().find("jobsdb.store.batch.jobs").summary();
      return s == null ? new Commit(0, 0) : new Commit(s.count(), s.totalAmount());
    }
  }

  /** Cumulative group-commit counts of the node's ingest queue. */
  record Commit(long count, double jobs) {
    double meanSince(Commit before) {
      long n = count - before.count;
      return n == 0 ? 0 : (jobs - before.jobs) / n;
    }
  }

  /** A track event of about 700 bytes, as an SDK sends it: distinct messageId and user per sequence number. */
  static StringBuilder event(StringBuilder sb, long seq) {
    long user = Math.floorMod(seq * 2_654_435_761L, USERS);
    sb.append("{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"user-").append(user)
        .append("\",\"anonymousId\":\"").append(new UUID(0x6f1c2b9e8d4a4e6bL, user)).append("\",\"messageId\":\"")
        .append(new UUID(RUN, seq)).append("\",\"properties\":{\"orderId\":\"ORD-").append(seq)
        .append("\",\"total\":129.99,\"currency\":\"EUR\",\"coupon\":\"WINTER\",\"products\":[{\"sku\":\"SKU-1\","
            + "\"name\":\"Wool scarf\",\"price\":39.99,\"quantity\":1},{\"sku\":\"SKU-2\",\"name\":\"Gloves\",\"price\":45.00,"
            + "\"quantity\":2}]},\"context\":{\"library\":{\"name\":\"analytics.js\",\"version\":\"2.11.1\"},\"userAgent\":"
            + "\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\","
            + "\"page\":{\"path\":\"/checkout\",\"url\":\"https://shop.example.com/checkout\",\"referrer\":"
            + "\"https://shop.example.com/cart\"},\"locale\":\"en-GB\"},\"originalTimestamp\":\"2026-11-22T10:00:00.000Z\","
            + "\"sentAt\":\"2026-11-22T10:00:00.120Z\"}");
    return sb;
  }

  // ------------------------------------------------------------------------------------------------ results

  record Result(int events, double requestsPerSecond, long errors, Latencies latencies, Cpu cpu, double meanCommit) {
    double eventsPerSecond() {
      return requestsPerSecond * events;
    }

    /** The q-quantile of latency, in milliseconds. */
    double p(double q) {
      return latencies.quantile(q) / 1e6;
    }
  }

  /** Latencies in nanoseconds; appended from the client's event loop, read after the run. */
  static final class Latencies {
    private long[] values = new long[1 << 16];
    private int size;

    synchronized void add(long nanos) {
      if (size == values.length) {
        values = Arrays.copyOf(values, size * 2);
      }
      values[size++] = nanos;
    }

    synchronized double quantile(double q) {
      if (size == 0) {
        return Double.NaN;
      }
      long[] sorted = Arrays.copyOf(values, size);
      Arrays.sort(sorted);
      return sorted[(int) Math.min(size - 1, Math.ceil(q * size) - 1)];
    }
  }

  /** CPU use in cores over a run, from /proc (Linux) and the JVM's per-thread CPU times. */
  record Cpu(double node, double client, double postgres, double autovacuum, double machine) {

    /** CPU of processes outside this benchmark (other work on a shared machine), or -1 if unknown. */
    double others() {
      return postgres < 0 ? -1 : Math.max(0, machine - node - client - postgres);
    }

    /** Cumulative CPU nanoseconds at one instant. */
    record Sample(long jvm, long client, long postgres, long autovacuum, long machineBusy, long wall) {
      Cpu minus(Sample before, double seconds) {
        double ns = seconds * 1e9;
        double jvmCores = (jvm - before.jvm) / ns;
        double clientCores = (client - before.client) / ns;
        return new Cpu(jvmCores - clientCores, clientCores,
            postgres < 0 ? -1 : (postgres - before.postgres) / ns,
            postgres < 0 ? -1 : (autovacuum - before.autovacuum) / ns, (machineBusy - before.machineBusy) / ns);
      }
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();
    private static final long TICK_NANOS = 10_000_000L; // USER_HZ = 100 on Linux

    static Sample sample(Set<Long> clientThreads) {
      long client = 0;
      for (long id : clientThreads) {
        long t = THREADS.getThreadCpuTime(id);
        if (t > 0) {
          client += t;
        }
      }
      long jvm = ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
      long pg = postmaster < 0 ? -1 : (PG_TOTAL.get() * TICK_NANOS);
      return new Sample(jvm, client, pg, PG_AUTOVACUUM.get() * TICK_NANOS, machineBusyTicks() * TICK_NANOS, System.nanoTime());
    }

    private static final AtomicLong PG_TOTAL = new AtomicLong();
    private static final AtomicLong PG_AUTOVACUUM = new AtomicLong();
    private static final java.util.Map<Long, Long> SEEN = new java.util.HashMap<>();

    /**
     * Every 100 ms, adds the CPU ticks each PostgreSQL process used since it was last seen, so that short-lived
     * processes (autovacuum workers) are counted too, and autovacuum separately.
     */
    static void startPostgresSampler() {
      if (postmaster < 0) {
        return;
      }
      poll(false);
      Thread t = new Thread(() -> {
        while (true) {
          try {
            Thread.sleep(100);
          } catch (InterruptedException e) {
            return;
          }
          poll(true);
        }
      }, "postgres-cpu-sampler");
      t.setDaemon(true);
      t.start();
    }

    private static synchronized void poll(boolean count) {
      long pm = postmaster;
      for (ProcessHandle p : (Iterable<ProcessHandle>) ProcessHandle.allProcesses()::iterator) {
        if (p.pid() != pm && p.parent().map(ProcessHandle::pid).orElse(-1L) != pm) {
          continue;
        }
        String[] f = stat(p.pid());
        if (f == null) {
          continue;
        }
        long ticks = Long.parseLong(f[12]) + Long.parseLong(f[13]); // utime, stime (fields 14 and 15)
        Long last = SEEN.put(p.pid(), ticks);
        long delta = ticks - (last == null ? (count ? 0 : ticks) : last);
        if (delta > 0) {
          PG_TOTAL.addAndGet(delta);
          if (p.info().commandLine().orElse("").contains("autovacuum")
              || cmdline(p.pid()).contains("autovacuum")) {
            PG_AUTOVACUUM.addAndGet(delta);
          }
        }
      }
    }

    private static String cmdline(long pid) {
      try {
        return new String(Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline")), StandardCharsets.UTF_8);
      } catch (IOException e) {
        return "";
      }
    }

    /** The PostgreSQL server's postmaster, if it runs on this machine; set once at start. */
    static volatile long postmaster = -1;

    /**
     * Finds the local postmaster of the database's server: the parent of this connection's backend process.
     * Leaves it unset for a server elsewhere (a container, an external URL), whose CPU is then "n/a".
     */
    static void findPostmaster(PgDatabase db) {
      try (Connection c = db.connect(); Statement s = c.createStatement();
           ResultSet rs = s.executeQuery("SELECT pg_backend_pid()")) {
        rs.next();
        long backend = rs.getLong(1);
        String[] stat = stat(backend);
        if (stat != null && stat[0].startsWith("postgres")) {
          postmaster = Long.parseLong(stat[2]);
        }
      } catch (Exception e) {
        postmaster = -1;
      }
    }

    /** /proc/PID/stat split into fields, the first being the command name; null if unreadable. */
    private static String[] stat(long pid) {
      try {
        String stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        int open = stat.indexOf('(');
        int close = stat.lastIndexOf(')');
        String[] rest = stat.substring(close + 2).split(" ");
        String[] out = new String[rest.length + 1];
        out[0] = stat.substring(open + 1, close);
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
      } catch (IOException | RuntimeException e) {
        return null;
      }
    }

    /** Busy ticks of the whole machine (all but idle and iowait) from /proc/stat. */
    private static long machineBusyTicks() {
      try {
        String cpu = Files.readAllLines(Path.of("/proc/stat")).get(0);
        String[] f = cpu.trim().split("\\s+");
        long busy = 0;
        for (int i = 1; i < f.length && i <= 8; i++) {
          if (i != 4 && i != 5) {
            busy += Long.parseLong(f[i]);
          }
        }
        return busy;
      } catch (IOException | RuntimeException e) {
        return 0;
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ helpers

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static int[] ints(String csv) {
    return Arrays.stream(csv.split(",")).map(String::trim).mapToInt(Integer::parseInt).toArray();
  }

  static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(SECONDS + 120L, TimeUnit.SECONDS);
  }
}
