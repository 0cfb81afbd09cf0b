package io.eventpipe.loadtests;

import io.eventpipe.control.ControlStore;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.proxy.Proxy;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.PoolOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Ingest through the proxy to N nodes, next to a single node without a proxy, in the same run: the proxy's cost at
 * equal node count, and how throughput grows from 1 to 3 nodes on this machine (all processes share its cores, so
 * more nodes do not add CPU: the figure per core is what a real deployment multiplies).
 *
 * <p>Run: {@code ./bench proxy} ({@code -Dseconds=5 -Devents=1,100}). The load driver is {@link GatewayBench.Load}
 * (64 keep-alive connections, closed loop); every node's workspace has one source and no destinations.
 */
public final class ProxyBench {

  private static final int SECONDS = Integer.getInteger("seconds", 5);
  private static final String WRITE_KEY = "benchWriteKey2x9Lk7Qp";
  private static final String TOKEN = "bench-internal-token";

  public static void main(String[] args) throws Exception {
    BenchPg.get(); // first: its durability settings head the output
    String[] sizes = System.getProperty("events", "1,100").split(",");
    int cores = Runtime.getRuntime().availableProcessors();
    Path workspace = Files.createTempDirectory("proxy-bench").resolve("workspace.yaml");
    Files.writeString(workspace, "sources:\n  - id: bench\n    writeKey: " + WRITE_KEY + "\ndestinations: []\n");
    System.out.printf(Locale.ROOT, "%d cores; %d s per point after a warm-up; 64 connections, closed loop; dedup on%n%n", cores, SECONDS);
    System.out.println("| path | nodes | events/request | requests/s | events/s | events/s per core | p50 ms | p99 ms | vs direct |");
    System.out.println("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (String s : sizes) {
      int events = Integer.parseInt(s.trim());
      GatewayBench.Result direct = direct(workspace, events);
      row("SDK → node (standalone, no proxy)", 1, direct, direct, cores);
      for (int nodes : new int[] {1, 3}) {
        row("SDK → proxy → nodes", nodes, cluster(workspace, nodes, events), direct, cores);
      }
    }
    System.exit(0);
  }

  private static void row(String what, int nodes, GatewayBench.Result r, GatewayBench.Result direct, int cores) {
    System.out.printf(Locale.ROOT, "| %s | %d | %d | %,.0f | %,.0f | %,.0f | %.1f | %.1f | %.0f%% |%n", what, nodes, r.events(),
        r.requestsPerSecond(), r.eventsPerSecond(), r.eventsPerSecond() / cores, r.p(0.50), r.p(0.99),
        100 * r.eventsPerSecond() / direct.eventsPerSecond());
  }

  private static GatewayBench.Result direct(Path workspace, int events) throws Exception {
    PgDatabase db = BenchPg.get().createDatabase("bench_direct");
    Vertx vertx = Vertx.vertx();
    Node node = await(new Node(vertx, NodeOptions.standalone(0, config(db), 1024, GatewayOptions.defaults(0).withHost("127.0.0.1"),
        "127.0.0.1", 0, TOKEN, workspace)).start());
    try {
      return drive(node.gatewayPort(), events);
    } finally {
      await(node.stop());
      await(vertx.close());
      BenchPg.get().dropDatabase(db);
    }
  }

  private static GatewayBench.Result cluster(Path workspace, int nodeCount, int events) throws Exception {
    PgServer server = BenchPg.get();
    PgDatabase controlDb = server.createDatabase("bench_control");
    PgConfig control = config(controlDb);
    Vertx vertx = Vertx.vertx();
    ControlStore store = await(ControlStore.open(vertx, control));
    await(store.initialize(1024, nodeCount));
    await(store.closeAsync());
    List<Node> nodes = new ArrayList<>();
    List<PgDatabase> dbs = new ArrayList<>();
    for (int k = 0; k < nodeCount; k++) {
      PgDatabase db = server.createDatabase("bench_node" + k);
      dbs.add(db);
      nodes.add(await(new Node(vertx, new NodeOptions(k, config(db), 1024, GatewayOptions.defaults(0), "127.0.0.1", 0, TOKEN,
          workspace, control, null)).start()));
    }
    Proxy proxy = await(new Proxy(vertx, new Proxy.Options(GatewayOptions.defaults(0).withHost("127.0.0.1"), control, TOKEN,
        "127.0.0.1", 0, workspace)).start());
    try {
      return drive(proxy.port(), events);
    } finally {
      await(proxy.stop());
      for (Node n : nodes) {
        await(n.stop());
      }
      await(vertx.close());
      for (PgDatabase db : dbs) {
        server.dropDatabase(db);
      }
      server.dropDatabase(controlDb);
    }
  }

  private static GatewayBench.Result drive(int port, int events) throws Exception {
    Vertx clientVertx = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    HttpClient client = clientVertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setDefaultHost("127.0.0.1")
        .setDefaultPort(port), new PoolOptions().setHttp1MaxSize(64));
    try {
      GatewayBench.Load load = new GatewayBench.Load(clientVertx, client, null);
      load.closedLoop(events, Math.max(1, SECONDS / 3));
      return load.closedLoop(events, SECONDS);
    } finally {
      await(client.close());
      await(clientVertx.close());
    }
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
  }
}
