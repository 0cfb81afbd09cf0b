package io.eventpipe.loadtests;

import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.routing.Partitioner;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Delivery throughput from a node to a local webhook sink, with every event's order checked, next to the sink's own
 * capacity measured in the same run (the same requests sent straight to it by a plain HTTP client), and the
 * receipt-to-delivery latency at a steady load of half the measured maximum.
 *
 * <p>Run: {@code ./bench delivery} ({@code -Devents=100000 -Dseconds=10}).
 */
public final class DeliveryBench {

  private static final int EVENTS = Integer.getInteger("events", 100_000);
  private static final int SECONDS = Integer.getInteger("seconds", 10);
  private static final int USERS = 5_000;
  private static final int IN_FLIGHT = 64;

  /** A sink that checks order and measures receipt-to-delivery latency from each event's receivedAt. */
  static final class Sink {
    final SequenceChecker checker = new SequenceChecker();
    final AtomicLong events = new AtomicLong();
    final AtomicLong requests = new AtomicLong();
    final List<Long> latenciesMs = new ArrayList<>();
    volatile boolean recordLatency;
    HttpServer server;

    Future<Integer> start(Vertx vertx) {
      server = vertx.createHttpServer();
      return server.requestHandler(req -> req.body().onSuccess(body -> {
        requests.incrementAndGet();
        long now = System.currentTimeMillis();
        String s = body.toString(StandardCharsets.UTF_8);
        int from = 0;
        // cheap scan: the fields this bench puts in each event, without a JSON parse per event
        while (true) {
          int u = s.indexOf("\"userId\":\"", from);
          if (u < 0) {
            break;
          }
          int ue = s.indexOf('"', u + 10);
          String user = s.substring(u + 10, ue);
          int q = s.indexOf("\"seq\":", ue);
          int qe = q + 6;
          while (qe < s.length() && Character.isDigit(s.charAt(qe))) {
            qe++;
          }
          long seq = Long.parseLong(s.substring(q + 6, qe));
          if (user.startsWith("u-")) {
            checker.observe(user, seq);
          }
          int r = s.indexOf("\"sentMs\":", qe);
          if (recordLatency && r >= 0) {
            int re = r + 9;
            while (re < s.length() && Character.isDigit(s.charAt(re))) {
              re++;
            }
            long sent = Long.parseLong(s.substring(r + 9, re));
            synchronized (latenciesMs) {
              latenciesMs.add(now - sent);
            }
          }
          events.incrementAndGet();
          from = qe;
        }
        req.response().setStatusCode(200).end();
      })).listen(0, "127.0.0.1").map(HttpServer::actualPort);
    }
  }

  public static void main(String[] args) throws Exception {
    BenchPg.get(); // first: its durability settings head the output
    System.out.printf(Locale.ROOT, "%d events over %d users; %d requests in flight; %d cores%n%n", EVENTS, USERS, IN_FLIGHT,
        Runtime.getRuntime().availableProcessors());
    System.out.println("| mode | sink capacity (direct client), events/s | node delivery, events/s | of sink capacity | order violations | duplicates |");
    System.out.println("|---|---:|---:|---:|---:|---:|");
    for (int batch : new int[] {1, 100}) {
      run(batch);
    }
    System.exit(0);
  }

  private static void run(int batch) throws Exception {
    Vertx sinkVertx = Vertx.vertx();
    Sink sink = new Sink();
    int sinkPort = sink.start(sinkVertx).toCompletionStage().toCompletableFuture().get();
    double capacity = io.eventpipe.loadtests.harness.SinkCapacity.measure(sinkVertx, "127.0.0.1", sinkPort, "/events", batch,
        IN_FLIGHT, Math.max(3, SECONDS / 2));
    Sink fresh = new Sink();
    sink.server.close().toCompletionStage().toCompletableFuture().get();
    sinkPort = fresh.start(sinkVertx).toCompletionStage().toCompletableFuture().get();

    PgDatabase db = BenchPg.get().createDatabase("bench_delivery_" + batch);
    Path workspace = Files.createTempFile("bench-workspace", ".yaml");
    Files.writeString(workspace, """
        egress: {allow: [127.0.0.0/8]}
        sources:
          - id: app
            writeKey: bench-delivery-key
        destinations:
          - id: sink
            type: webhook
            sources: [app]
            config:
              url: http://127.0.0.1:%d/events
              maxInFlight: %d
        %s""".formatted(sinkPort, IN_FLIGHT, batch > 1 ? "      batch: {maxEvents: " + batch + "}\n" : ""));
    Vertx vertx = Vertx.vertx();
    Node node = new Node(vertx, NodeOptions.standalone(0, new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password()),
        1024, GatewayOptions.defaults(0).withHost("127.0.0.1"), "127.0.0.1", 0, "bench-token-123", workspace));
    node.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);

    // 1. maximum: store EVENTS at once (group commit, fast), then time until the sink has them all, in order
    long start = System.nanoTime();
    store(node, 0, EVENTS, 0);
    while (fresh.events.get() < EVENTS) {
      Thread.sleep(20);
    }
    double rate = EVENTS / ((System.nanoTime() - start) / 1e9);
    System.out.printf(Locale.ROOT, "| %s | %.0f | %.0f | %.0f%% | %d | %d |%n", batch == 1 ? "one event per request" : "batches of " + batch,
        capacity, rate, 100 * rate / capacity, fresh.checker.violations().size(), fresh.checker.duplicates());

    // 2. steady load at half that rate for SECONDS: receipt-to-delivery latency
    fresh.recordLatency = true;
    double paced = rate / 2;
    int total = (int) (paced * SECONDS);
    long t0 = System.nanoTime();
    int sent = 0;
    long base = fresh.events.get();
    while (sent < total) {
      long due = (long) (((System.nanoTime() - t0) / 1e9) * paced);
      if (due > sent) {
        int n = (int) Math.min(due - sent, 500);
        store(node, EVENTS + sent, n, System.currentTimeMillis());
        sent += n;
      } else {
        Thread.sleep(1);
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
    while (fresh.events.get() < base + total && System.nanoTime() < deadline) {
      Thread.sleep(20);
    }
    long[] lat;
    synchronized (fresh.latenciesMs) {
      lat = fresh.latenciesMs.stream().mapToLong(Long::longValue).sorted().toArray();
    }
    System.out.printf(Locale.ROOT, "|   steady load at %.0f events/s for %d s: receipt to delivery p50 %d ms, p99 %d ms, max %d ms | | | | | |%n",
        paced, SECONDS, pct(lat, 0.50), pct(lat, 0.99), lat.length == 0 ? -1 : lat[lat.length - 1]);

    node.stop().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
    vertx.close().toCompletionStage().toCompletableFuture().get();
    sinkVertx.close().toCompletionStage().toCompletableFuture().get();
    BenchPg.get().dropDatabase(db);
  }

  /** Stores events {@code from..from+n} straight into the node's ingest queue (what a 200 from the gateway means). */
  private static void store(Node node, int from, int n, long sentMs) throws Exception {
    Partitioner partitioner = Partitioner.of(1024);
    List<Future<?>> commits = new ArrayList<>();
    List<NewJob> chunk = new ArrayList<>();
    for (int i = from; i < from + n; i++) {
      // user u gets events i = u, u + USERS, u + 2*USERS, ...: its sequence is i / USERS + 1
      String user = "u-" + (i % USERS);
      long seq = i / USERS + 1;
      String json = "{\"type\":\"track\",\"event\":\"Bench\",\"userId\":\"" + user + "\",\"messageId\":\"m-" + i
          + "\",\"properties\":{\"seq\":" + seq + ",\"sentMs\":" + sentMs + ",\"pad\":\"" + "x".repeat(500) + "\"}}";
      chunk.add(new NewJob(partitioner.partition(user), user, "app", "", "m-" + i, Instant.now(), json.getBytes(StandardCharsets.UTF_8)));
      if (chunk.size() == 1000) {
        commits.add(node.ingestQueue().store(chunk));
        chunk = new ArrayList<>();
      }
    }
    if (!chunk.isEmpty()) {
      commits.add(node.ingestQueue().store(chunk));
    }
    Future.all(new ArrayList<>(commits)).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
  }

  private static long pct(long[] sorted, double q) {
    return sorted.length == 0 ? -1 : sorted[Math.min(sorted.length - 1, (int) (q * sorted.length))];
  }
}
