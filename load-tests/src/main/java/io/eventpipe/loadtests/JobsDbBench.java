package io.eventpipe.loadtests;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.KeyReadRequest;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.jobsdb.ReadRequest;
import io.eventpipe.jobsdb.StateUpdate;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.Locale;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * jobsdb store and read-and-ack throughput next to the raw PostgreSQL ceiling measured in the same run.
 *
 * <p>Raw ceiling: the same rows (a ~700-byte event) inserted by N JDBC threads in multi-row batches of
 * {@code -Draw.batch} rows per transaction, with no jobsdb in between. jobsdb: W concurrent writers, each
 * storing requests of E events and waiting for the acknowledgement before the next (as SDK requests do).
 *
 * <p>Run: {@code ./bench jobsdb} (see README). Properties: {@code -Dseconds=5 -Dwriters=1,4,16,64 -Devents=1,100}.
 */
public final class JobsDbBench {

  private static final int SECONDS = Integer.getInteger("seconds", 5);
  static final byte[] EVENT = sampleEvent();

  public static void main(String[] args) throws Exception {
    int[] writers = ints(System.getProperty("writers", "1,4,16,64"));
    int[] events = ints(System.getProperty("events", "1,100"));
    PgServer server = BenchPg.get();
    System.out.printf(Locale.ROOT, "PostgreSQL: %s; event payload %d bytes; %d s per measurement; %d cores%n",
        server.kind(), EVENT.length, SECONDS, Runtime.getRuntime().availableProcessors());

    PgDatabase raw = server.createDatabase("bench_raw");
    System.out.println();
    System.out.println("| raw JDBC ceiling | threads | rows/tx | rows/s |");
    System.out.println("|---|---:|---:|---:|");
    double ceiling = 0;
    for (int threads : new int[] {1, 2, 4}) {
      double r = rawInsert(raw, threads, 1000);
      ceiling = Math.max(ceiling, r);
      System.out.printf(Locale.ROOT, "| multi-row INSERT | %d | 1000 | %.0f |%n", threads, r);
    }

    PgDatabase db = server.createDatabase("bench_jobsdb");
    PgConfig pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    Vertx vertx = Vertx.vertx();
    Pool pool = pg.createPool(vertx, 8);
    System.out.println();
    System.out.println("| jobsdb store | dedup | writers | events/request | events/s | % of raw ceiling | mean batch |");
    System.out.println("|---|---|---:|---:|---:|---:|---:|");
    int q = 0;
    for (boolean dedup : new boolean[] {false, true}) {
      for (int e : events) {
        for (int w : writers) {
          JobsDbOptions options = JobsDbOptions.defaults("b" + q++)
              .withDedupWindow(dedup ? Duration.ofHours(1) : Duration.ZERO);
          SimpleMeterRegistry registry = new SimpleMeterRegistry();
          JobsDb jobs = JobsDb.open(vertx, pg, pool, options, registry).toCompletionStage().toCompletableFuture().get();
          double rate = store(vertx, jobs, w, e);
          double meanBatch = registry.get("jobsdb.store.batch.jobs").summary().mean();
          System.out.printf(Locale.ROOT, "| unnest arrays, group commit | %s | %d | %d | %.0f | %.0f%% | %.0f |%n",
              dedup ? "on" : "off", w, e, rate, 100 * rate / ceiling, meanBatch);
          jobs.shutdown().toCompletionStage().toCompletableFuture().get();
        }
      }
    }

    System.out.println();
    System.out.println("| read and ack | batch | jobs/s |");
    System.out.println("|---|---:|---:|");
    JobsDb readQueue = JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("readbench").withDedupWindow(Duration.ZERO),
        new SimpleMeterRegistry()).toCompletionStage().toCompletableFuture().get();
    System.out.printf(Locale.ROOT, "| raw JDBC (select by id cursor, update state by id array) | 1000 | %.0f |%n", rawReadAck(raw, 1000));
    System.out.printf(Locale.ROOT, "| jobsdb readPending + updateStates | 1000 | %.0f |%n", readAck(readQueue, 200_000, 1000));
    readQueue.shutdown().toCompletionStage().toCompletableFuture().get();
    JobsDb keyQueue = JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("keybench").withDedupWindow(Duration.ZERO),
        new SimpleMeterRegistry()).toCompletionStage().toCompletableFuture().get();
    System.out.printf(Locale.ROOT, "| jobsdb readKeys (router's key walk) + updateStates | 1000 | %.0f |%n",
        readKeysAck(keyQueue, 200_000, 1000));
    readLatency(keyQueue);
    keyQueue.shutdown().toCompletionStage().toCompletableFuture().get();
    pool.close().toCompletionStage().toCompletableFuture().get();
    vertx.close().toCompletionStage().toCompletableFuture().get();
    System.exit(0);
  }

  /** Closed-loop writers for SECONDS; returns committed events per second. */
  static double store(Vertx vertx, JobsDb db, int writers, int eventsPerRequest) throws Exception {
    AtomicLong done = new AtomicLong();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(SECONDS);
    List<Future<Void>> loops = new ArrayList<>();
    long start = System.nanoTime();
    for (int w = 0; w < writers; w++) {
      Promise<Void> p = Promise.promise();
      int writer = w;
      vertx.runOnContext(v -> loop(db, writer, eventsPerRequest, deadline, done, p));
      loops.add(p.future());
    }
    Future.all(loops).toCompletionStage().toCompletableFuture().get(SECONDS + 60L, TimeUnit.SECONDS);
    return done.get() / ((System.nanoTime() - start) / 1e9);
  }

  private static void loop(JobsDb db, int writer, int n, long deadline, AtomicLong done, Promise<Void> finished) {
    if (System.nanoTime() >= deadline) {
      finished.complete();
      return;
    }
    List<NewJob> req = new ArrayList<>(n);
    Instant now = Instant.now();
    for (int i = 0; i < n; i++) {
      String user = "user-" + writer + "-" + (i % 10);
      req.add(new NewJob(Math.floorMod(user.hashCode(), 1024), user, "web", "", UUID.randomUUID().toString(), now, EVENT));
    }
    db.store(req).onComplete(ar -> {
      if (ar.failed()) {
        finished.fail(ar.cause());
        return;
      }
      done.addAndGet(n);
      loop(db, writer, n, deadline, done, finished);
    });
  }

  static double readAck(JobsDb db, int total, int batch) throws Exception {
    storeUsers(db, total, "user-", 5000);
    long start = System.nanoTime();
    long read = 0;
    while (true) {
      List<Job> jobs = db.readPending(new ReadRequest("hook", batch, 16L << 20, batch * 2, Instant.now()))
          .toCompletionStage().toCompletableFuture().get();
      if (jobs.isEmpty()) {
        break;
      }
      List<StateUpdate> ups = new ArrayList<>(jobs.size());
      for (Job j : jobs) {
        ups.add(StateUpdate.of(j, JobState.SUCCEEDED));
      }
      db.updateStates(ups).toCompletionStage().toCompletableFuture().get();
      read += jobs.size();
    }
    return read / ((System.nanoTime() - start) / 1e9);
  }

  /** As {@link #readAck}, with the router's key walk (100 jobs per key, on from where the last read stopped). */
  static double readKeysAck(JobsDb db, int total, int batch) throws Exception {
    storeUsers(db, total, "user-", 5000);
    long start = System.nanoTime();
    long read = 0;
    String after = "";
    boolean emptyFromStart = false;
    while (!emptyFromStart) {
      KeyReadRequest.Result r = db.readKeys(new KeyReadRequest("hook", after, batch * 2, 100, batch, 16L << 20, Set.of(),
          Instant.now())).toCompletionStage().toCompletableFuture().get();
      emptyFromStart = r.jobs().isEmpty() && after.isEmpty() && r.reachedEnd();
      after = r.jobs().size() >= batch ? r.jobs().get(r.jobs().size() - 1).routingKey() : r.reachedEnd() ? "" : r.lastKey();
      List<StateUpdate> ups = new ArrayList<>(r.jobs().size());
      for (Job j : r.jobs()) {
        ups.add(StateUpdate.of(j, JobState.SUCCEEDED));
      }
      db.updateStates(ups).toCompletionStage().toCompletableFuture().get();
      read += r.jobs().size();
    }
    return read / ((System.nanoTime() - start) / 1e9);
  }

  private static void storeUsers(JobsDb db, int total, String prefix, int users) throws Exception {
    List<NewJob> chunk = new ArrayList<>();
    for (int i = 0; i < total; i++) {
      chunk.add(new NewJob(i % 1024, prefix + (i % users), "web", "hook", UUID.randomUUID().toString(), Instant.now(), EVENT));
      if (chunk.size() == 2000 || i == total - 1) {
        db.store(chunk).toCompletionStage().toCompletableFuture().get();
        chunk = new ArrayList<>();
      }
    }
  }

  /**
   * Latency of one read of 1000 when a failing user's 5,000 jobs come first and 60,000 jobs of 5,000 users follow:
   * the job-order read (which finds nothing: its window is the blocked user's) against the key walk.
   */
  static void readLatency(JobsDb db) throws Exception {
    List<NewJob> bad = new ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      bad.add(new NewJob(1, "0-bad", "web", "hook", UUID.randomUUID().toString(), Instant.now(), EVENT));
    }
    for (int i = 0; i < bad.size(); i += 2000) {
      db.store(bad.subList(i, Math.min(bad.size(), i + 2000))).toCompletionStage().toCompletableFuture().get();
    }
    storeUsers(db, 60_000, "user-", 5000);
    Instant now = Instant.now();
    Job first = db.readPending(new ReadRequest("hook", 1, 1 << 20, 1, now)).toCompletionStage().toCompletableFuture().get().get(0);
    db.updateStates(List.of(new StateUpdate(first.jobId(), JobState.FAILED, 1, now, now.plusSeconds(3600), "HTTP 503")))
        .toCompletionStage().toCompletableFuture().get();
    System.out.println();
    System.out.println("| one read of 1000, a failing user's 5,000 jobs first, then 60,000 of 5,000 users | jobs | p50 ms | max ms |");
    System.out.println("|---|---:|---:|---:|");
    for (boolean keys : new boolean[] {false, true}) {
      long[] ms = new long[30];
      int jobs = 0;
      for (int i = 0; i < ms.length; i++) {
        long t = System.nanoTime();
        jobs = keys
            ? db.readKeys(new KeyReadRequest("hook", "", 2000, 100, 1000, 16L << 20, Set.of(), Instant.now()))
                .toCompletionStage().toCompletableFuture().get().jobs().size()
            : db.readPending(new ReadRequest("hook", 1000, 16L << 20, 2000, Instant.now()))
                .toCompletionStage().toCompletableFuture().get().size();
        ms[i] = System.nanoTime() - t;
      }
      java.util.Arrays.sort(ms);
      System.out.printf(Locale.ROOT, "| %s | %d | %.1f | %.1f |%n", keys ? "readKeys (key walk)" : "readPending (oldest-jobs window)",
          jobs, ms[ms.length / 2] / 1e6, ms[ms.length - 1] / 1e6);
    }
  }

  static double rawInsert(PgDatabase db, int threads, int batch) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS raw_jobs");
      s.execute("CREATE TABLE raw_jobs (job_id bigserial PRIMARY KEY, partition_id int NOT NULL, routing_key text NOT NULL,"
          + " source_id text NOT NULL, destination_id text NOT NULL, message_id text NOT NULL, received_at timestamptz NOT NULL,"
          + " payload bytea NOT NULL)");
    }
    return RawCeiling.writers(db, threads, batch, SECONDS, "INSERT INTO raw_jobs (partition_id, routing_key, source_id,"
        + " destination_id, message_id, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)", (ps, thread, i, now) -> {
          ps.setInt(1, i % 1024);
          ps.setString(2, "user-" + thread + "-" + (i % 10));
          ps.setString(3, "web");
          ps.setString(4, "");
          ps.setString(5, UUID.randomUUID().toString());
          ps.setTimestamp(6, now);
          ps.setBytes(7, EVENT);
        });
  }

  static double rawReadAck(PgDatabase db, int batch) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS raw_state");
      s.execute("CREATE TABLE raw_state (job_id bigint PRIMARY KEY, state smallint NOT NULL)");
      s.execute("INSERT INTO raw_state SELECT job_id, 0 FROM raw_jobs");
      s.execute("CREATE INDEX ON raw_state (job_id) WHERE state = 0");
      s.execute("ANALYZE raw_state");
      c.setAutoCommit(false);
      long start = System.nanoTime();
      long read = 0;
      try (PreparedStatement sel = c.prepareStatement("SELECT j.job_id, j.routing_key, j.payload FROM raw_state s"
               + " JOIN raw_jobs j ON j.job_id = s.job_id WHERE s.state = 0 ORDER BY s.job_id LIMIT ?");
           PreparedStatement upd = c.prepareStatement("UPDATE raw_state SET state = 3 WHERE job_id = ANY(?)")) {
        while (read < 200_000) {
          sel.setInt(1, batch);
          List<Long> ids = new ArrayList<>(batch);
          try (ResultSet rs = sel.executeQuery()) {
            while (rs.next()) {
              ids.add(rs.getLong(1));
              rs.getBytes(3);
            }
          }
          if (ids.isEmpty()) {
            break;
          }
          upd.setArray(1, c.createArrayOf("bigint", ids.toArray()));
          upd.executeUpdate();
          c.commit();
          read += ids.size();
        }
      }
      return read / ((System.nanoTime() - start) / 1e9);
    }
  }

  private static int[] ints(String csv) {
    String[] parts = csv.split(",");
    int[] out = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      out[i] = Integer.parseInt(parts[i].trim());
    }
    return out;
  }

  /** A realistic track event of about 700 bytes, as the gateway stores it. */
  static byte[] sampleEvent() {
    String json = "{\"type\":\"track\",\"event\":\"Order Completed\",\"userId\":\"user-12345\","
        + "\"anonymousId\":\"6f1c2b9e-8d4a-4e6b-9a1f-3c2d1e0f9a8b\",\"messageId\":\"1f7c8d2e-4b3a-4c5d-8e9f-0a1b2c3d4e5f\","
        + "\"properties\":{\"orderId\":\"ORD-2026-000123\",\"total\":129.99,\"currency\":\"EUR\",\"coupon\":\"WINTER\","
        + "\"products\":[{\"sku\":\"SKU-1\",\"name\":\"Wool scarf\",\"price\":39.99,\"quantity\":1},"
        + "{\"sku\":\"SKU-2\",\"name\":\"Gloves\",\"price\":45.00,\"quantity\":2}]},"
        + "\"context\":{\"ip\":\"203.0.113.7\",\"library\":{\"name\":\"analytics.js\",\"version\":\"2.11.1\"},"
        + "\"userAgent\":\"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36\","
        + "\"page\":{\"path\":\"/checkout\",\"url\":\"https://shop.example.com/checkout\",\"referrer\":\"https://shop.example.com/cart\"},"
        + "\"locale\":\"en-GB\"},\"timestamp\":\"2026-11-22T10:00:00.000Z\",\"sentAt\":\"2026-11-22T10:00:00.120Z\","
        + "\"receivedAt\":\"2026-11-22T10:00:00.150Z\",\"request_ip\":\"203.0.113.7\"}";
    return json.getBytes(StandardCharsets.UTF_8);
  }
}
