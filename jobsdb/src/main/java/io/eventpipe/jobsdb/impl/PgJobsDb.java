package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.jobsdb.ReadRequest;
import io.eventpipe.jobsdb.ReplayFilter;
import io.eventpipe.jobsdb.StateUpdate;
import io.eventpipe.jobsdb.StoreResult;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The PostgreSQL job queue. See {@link JobsDb} for the contract and {@code V1__queue.sql} for the schema. */
public final class PgJobsDb implements JobsDb {

  private static final Logger LOG = LoggerFactory.getLogger(PgJobsDb.class);

  /** Ids per sequence block; the sequence increments by this much. */
  static final long ID_BLOCK = 1024;
  /** Imported jobs take ids in [IMPORT_BASE + r * IMPORT_RANGE, +IMPORT_RANGE) for reservation r: below every local id. */
  static final long IMPORT_BASE = -(1L << 62);
  static final long IMPORT_RANGE = 1L << 32;

  private final Vertx vertx;
  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final GroupCommitter committer;
  private final IdAllocator ids;
  private final Map<Long, Boolean> knownDatasets = new ConcurrentHashMap<>();
  private final Map<Long, Boolean> knownDedupBuckets = new ConcurrentHashMap<>();
  private final AtomicLong pendingGauge = new AtomicLong();
  private final AtomicLong datasetGauge = new AtomicLong();
  private final Timer storeTimer;
  private final Timer readTimer;
  private final DistributionSummary batchJobs;
  private final DistributionSummary readJobs;
  private long maintenanceTimer = -1;
  private volatile boolean maintaining;

  private final String insertSql;
  private final String readSqlPrefix;
  private final String readSqlSuffix;
  private final String updateSql;
  private final String exportSql;

  private PgJobsDb(Vertx vertx, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    this.vertx = vertx;
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    this.ids = new IdAllocator();
    String q = options.queue();
    this.storeTimer = Timer.builder("jobsdb.store.latency").description("Group commit transaction time")
        .tag("queue", q).publishPercentileHistogram().register(registry);
    this.readTimer = Timer.builder("jobsdb.read.latency").description("Pending read time")
        .tag("queue", q).publishPercentileHistogram().register(registry);
    this.batchJobs = DistributionSummary.builder("jobsdb.store.batch.jobs").description("Jobs per group commit")
        .tag("queue", q).register(registry);
    this.readJobs = DistributionSummary.builder("jobsdb.read.batch.jobs").description("Jobs per pending read")
        .tag("queue", q).register(registry);
    Gauge.builder("jobsdb.pending.jobs", pendingGauge, AtomicLong::get).description("Pending jobs (refreshed by maintenance)")
        .tag("queue", q).register(registry);
    Gauge.builder("jobsdb.datasets", datasetGauge, AtomicLong::get).description("Live datasets (tables)")
        .tag("queue", q).register(registry);
    this.committer = new GroupCommitter(vertx.getOrCreateContext(), options, this::commit, registry);

    this.insertSql = "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
        + " $7::timestamptz[], $8::bytea[], $9::int2[], $10::int[], $11::timestamptz[], $12::timestamptz[], $13::text[])"
        + " AS u(job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload,"
        + " state, attempts, first_attempt_at, next_retry_at, last_error)),"
        + " j AS (INSERT INTO " + s + ".jobs SELECT job_id, partition_id, routing_key, source_id, destination_id,"
        + " message_id, received_at, payload FROM u)"
        + " INSERT INTO " + s + ".job_state (job_id, partition_id, destination_id, state, attempts, first_attempt_at,"
        + " next_retry_at, last_error) SELECT job_id, partition_id, destination_id, state, attempts, first_attempt_at,"
        + " next_retry_at, last_error FROM u";
    // 1. take the first scanLimit pending jobs of the consumer in job order (partial index, O(scan));
    // 2. a key is blocked from its first executing or failed-and-not-yet-due job on (running bool_or);
    // 3. keep the unblocked jobs within the byte budget (the first job always fits), at most maxJobs.
    String cols = "x.job_id, x.partition_id, x.routing_key, x.source_id, x.destination_id, x.message_id, x.received_at,"
        + " x.payload, x.state, x.attempts, x.first_attempt_at, x.next_retry_at, x.last_error";
    // The scan limit is a literal (one statement per limit, see readSql(int)) and the job rows are fetched by a LATERAL
    // lookup: with LIMIT $n, PostgreSQL's generic plan (used once the statement is cached) guesses 10% of the pending
    // rows, and even custom plans for a 2000-row window chose a hash join that read every job row of the dataset
    // (measured: 50 ms instead of 14 ms per read of 1000 with 60K pending, growing with the dataset). The flagged
    // partitions are one array (an InitPlan) rather than a NOT EXISTS anti-join, which the planner could turn into a
    // hash join over all pending rows followed by a sort, instead of walking the pending index in job order.
    this.readSqlPrefix = "WITH p AS (SELECT s.* FROM " + s + ".job_state s"
        + " WHERE s.state < 3 AND s.destination_id = $1"
        + " AND s.partition_id <> ALL (ARRAY(SELECT f.partition_id FROM " + s + ".partition_flags f WHERE f.excluded OR f.held))"
        + " ORDER BY s.job_id LIMIT ";
    this.readSqlSuffix = "),"
        + " b AS (SELECT p.*, j.routing_key, j.source_id, j.message_id, j.received_at, j.payload,"
        + " bool_or(p.state = 1 OR (p.state = 2 AND p.next_retry_at > $2))"
        + " OVER (PARTITION BY j.routing_key ORDER BY p.job_id) AS blocked"
        + " FROM p CROSS JOIN LATERAL (SELECT jj.routing_key, jj.source_id, jj.message_id, jj.received_at, jj.payload"
        + " FROM " + s + ".jobs jj WHERE jj.job_id = p.job_id LIMIT 1) j),"
        + " x AS (SELECT b.*, sum(octet_length(b.payload)) OVER (ORDER BY b.job_id) - octet_length(b.payload) AS before"
        + " FROM b WHERE NOT b.blocked)"
        + " SELECT " + cols + " FROM x WHERE x.before < $3 ORDER BY x.job_id LIMIT $4";
    this.updateSql = "UPDATE " + s + ".job_state t SET state = u.state, attempts = u.attempts,"
        + " first_attempt_at = u.first_attempt_at, next_retry_at = u.next_retry_at, last_error = u.last_error, updated_at = $7"
        + " FROM unnest($1::bigint[], $2::int2[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[])"
        + " AS u(job_id, state, attempts, first_attempt_at, next_retry_at, last_error) WHERE t.job_id = u.job_id"
        // redundant with the join, but lets the planner probe the primary key: without it the plan for a large batch
        // is a hash join over every row of job_state, finished ones included (47 ms instead of 9 ms for 1000 of 60K)
        + " AND t.job_id = ANY($1::bigint[])";
    this.exportSql = "WITH x AS (SELECT s.*, j.routing_key, j.source_id, j.message_id, j.received_at, j.payload,"
        + " sum(octet_length(j.payload)) OVER (ORDER BY s.job_id) - octet_length(j.payload) AS before"
        + " FROM (SELECT * FROM " + s + ".job_state WHERE state < 3 AND destination_id = $5 AND job_id > $2"
        + " AND partition_id = ANY($1::int[]) ORDER BY job_id LIMIT $3) s JOIN " + s + ".jobs j ON j.job_id = s.job_id)"
        + " SELECT " + cols + " FROM x WHERE x.before < $4 ORDER BY x.job_id";
  }

  public static Future<JobsDb> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    PgJobsDb db = new PgJobsDb(vertx, pool, options, registry);
    return vertx.executeBlocking(() -> {
          Flyway.configure()
              .dataSource(pg.jdbcUrl(), pg.user(), pg.password())
              .schemas(options.schema())
              .defaultSchema(options.schema())
              .locations("classpath:db/jobsdb")
              .load()
              .migrate();
          return null;
        }, false)
        .compose(v -> db.recoverExecuting())
        .compose(v -> db.loadDatasets())
        .compose(v -> db.loadDedupBuckets())
        .map(v -> {
          db.maintenanceTimer = vertx.setPeriodic(options.maintenanceEvery().toMillis(), t -> db.runMaintenance());
          return (JobsDb) db;
        });
  }

  @Override
  public JobsDbOptions options() {
    return options;
  }

  // ---------------------------------------------------------------- start-up

  /** Jobs left executing by a crash were in flight: they become pending again, keeping their attempts. */
  private Future<Void> recoverExecuting() {
    return pool.preparedQuery("UPDATE " + s + ".job_state SET state = CASE WHEN attempts > 0 THEN 2 ELSE 0 END,"
            + " next_retry_at = CASE WHEN attempts > 0 THEN $1 ELSE next_retry_at END WHERE state = 1")
        .execute(Tuple.of(ts(now())))
        .map(rows -> {
          if (rows.rowCount() > 0) {
            LOG.info("queue {}: {} jobs left executing by the previous run are pending again", options.queue(), rows.rowCount());
          }
          return null;
        });
  }

  private Future<Void> loadDatasets() {
    return pool.query("SELECT lo, kind FROM " + s + ".datasets").execute().map(rows -> {
      for (Row r : rows) {
        if ("regular".equals(r.getString(1))) {
          knownDatasets.put(r.getLong(0) / options.datasetSize(), Boolean.TRUE);
        }
      }
      datasetGauge.set(rows.rowCount());
      return null;
    });
  }

  private Future<Void> loadDedupBuckets() {
    return dedupBucketNames().map(names -> {
      for (String name : names) {
        knownDedupBuckets.put(Long.parseLong(name.substring("dedup_b".length())), Boolean.TRUE);
      }
      return null;
    });
  }

  private Future<List<String>> dedupBucketNames() {
    return pool.preparedQuery("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            + " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
            + " WHERE n.nspname = $1 AND p.relname = 'dedup'")
        .execute(Tuple.of(s))
        .map(rows -> {
          List<String> out = new ArrayList<>();
          for (Row r : rows) {
            out.add(r.getString(0));
          }
          return out;
        });
  }

  // ---------------------------------------------------------------- store

  @Override
  public Future<StoreResult> store(List<NewJob> jobs) {
    if (jobs.isEmpty()) {
      return Future.succeededFuture(new StoreResult(new long[0]));
    }
    return committer.submit(jobs);
  }

  /** One group commit: dedup, then insert the fresh jobs, in one transaction. Called by the committer. */
  private Future<long[]> commit(List<NewJob> jobs) {
    long started = System.nanoTime();
    Instant now = now();
    boolean dedup = !options.dedupWindow().isZero();
    Future<Void> ready = dedup ? ensureDedupBucket(now) : Future.succeededFuture();
    return ready
        .compose(v -> ids.allocate(jobs.size()))
        .compose(allocated -> pool.withTransaction(conn -> {
          Future<boolean[]> fresh = dedup ? dedupFresh(conn, jobs, now) : Future.succeededFuture(null);
          return fresh.compose(isFresh -> {
            long[] result = new long[jobs.size()];
            List<NewJob> toInsert = new ArrayList<>(jobs.size());
            List<Long> insertIds = new ArrayList<>(jobs.size());
            for (int i = 0; i < jobs.size(); i++) {
              if (isFresh == null || isFresh[i]) {
                result[i] = allocated[i];
                toInsert.add(jobs.get(i));
                insertIds.add(allocated[i]);
              } else {
                result[i] = StoreResult.DUPLICATE;
              }
            }
            if (toInsert.isEmpty()) {
              return Future.succeededFuture(result);
            }
            return conn.preparedQuery(insertSql).execute(insertTuple(toInsert, insertIds, null)).map(r -> result);
          });
        }))
        .onSuccess(r -> {
          storeTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
          batchJobs.record(jobs.size());
        });
  }

  /**
   * Inserts the batch's messageIds into the current dedup bucket unless seen within the window; returns which
   * jobs are new. A messageId repeated inside the batch counts once (its first occurrence).
   */
  private Future<boolean[]> dedupFresh(SqlConnection conn, List<NewJob> jobs, Instant now) {
    Integer[] parts = new Integer[jobs.size()];
    String[] msgs = new String[jobs.size()];
    for (int i = 0; i < jobs.size(); i++) {
      parts[i] = jobs.get(i).partitionId();
      msgs[i] = jobs.get(i).messageId();
    }
    // The current bucket's unique index decides within the bucket (an index probe, whatever the table's
    // statistics); the previous bucket, if it exists, is probed row by row through LATERAL for ids seen
    // within the window. Older buckets are outside the window by construction.
    long bucket = bucketOf(now);
    String previous = knownDedupBuckets.containsKey(bucket - 1)
        ? " AND NOT EXISTS (SELECT 1 FROM " + s + "." + dedupBucketName(bucket - 1) + " d"
          + " WHERE d.partition_id = u.p AND d.message_id = u.m AND d.seen_at >= $4)"
        : " AND $4::timestamptz IS NOT NULL";
    String sql = "INSERT INTO " + s + "." + dedupBucketName(bucket) + " (partition_id, message_id, seen_at)"
        + " SELECT DISTINCT u.p, u.m, $3::timestamptz FROM unnest($1::int[], $2::text[]) AS u(p, m)"
        + " WHERE true" + previous
        + " ON CONFLICT DO NOTHING RETURNING partition_id, message_id";
    return conn.preparedQuery(sql)
        .execute(Tuple.of(parts, msgs, ts(now), ts(now.minus(options.dedupWindow()))))
        .map(rows -> {
          Map<String, Boolean> fresh = new HashMap<>(rows.rowCount() * 2);
          for (Row r : rows) {
            fresh.put(r.getInteger(0) + "/" + r.getString(1), Boolean.TRUE);
          }
          boolean[] isFresh = new boolean[jobs.size()];
          for (int i = 0; i < jobs.size(); i++) {
            // remove(): the first occurrence takes the fresh mark, later repeats in the batch are duplicates
            isFresh[i] = fresh.remove(parts[i] + "/" + msgs[i]) != null;
          }
          return isFresh;
        });
  }

  @Override
  public Future<long[]> storeIn(SqlClient tx, List<NewJob> jobs) {
    if (jobs.isEmpty()) {
      return Future.succeededFuture(new long[0]);
    }
    return ids.allocate(jobs.size()).compose(allocated -> {
      List<Long> list = new ArrayList<>(allocated.length);
      for (long id : allocated) {
        list.add(id);
      }
      return tx.preparedQuery(insertSql).execute(insertTuple(jobs, list, null)).map(r -> allocated);
    });
  }

  /** Binds jobs as arrays; {@code states} carries imported delivery state, or null for new jobs. */
  private static Tuple insertTuple(List<NewJob> jobs, List<Long> jobIds, List<Job> states) {
    int n = jobs.size();
    Long[] idArr = jobIds.toArray(new Long[0]);
    Integer[] parts = new Integer[n];
    String[] keys = new String[n];
    String[] sources = new String[n];
    String[] dests = new String[n];
    String[] msgs = new String[n];
    OffsetDateTime[] received = new OffsetDateTime[n];
    Buffer[] payloads = new Buffer[n];
    Short[] stateArr = new Short[n];
    Integer[] attempts = new Integer[n];
    OffsetDateTime[] first = new OffsetDateTime[n];
    OffsetDateTime[] next = new OffsetDateTime[n];
    String[] errors = new String[n];
    for (int i = 0; i < n; i++) {
      NewJob j = jobs.get(i);
      parts[i] = j.partitionId();
      keys[i] = j.routingKey();
      sources[i] = j.sourceId();
      dests[i] = j.destinationId();
      msgs[i] = j.messageId();
      received[i] = ts(j.receivedAt());
      payloads[i] = Buffer.buffer(j.payload());
      if (states == null) {
        stateArr[i] = JobState.UNPROCESSED.code();
        attempts[i] = 0;
      } else {
        Job st = states.get(i);
        // a job exported while executing was in flight on the source: it is pending here, its attempts kept
        JobState state = st.state() == JobState.EXECUTING
            ? (st.attempts() > 0 ? JobState.FAILED : JobState.UNPROCESSED) : st.state();
        stateArr[i] = state.code();
        attempts[i] = st.attempts();
        first[i] = ts(st.firstAttemptAt());
        next[i] = ts(st.nextRetryAt());
        errors[i] = st.lastError();
      }
    }
    return Tuple.tuple()
        .addValue(idArr).addValue(parts).addValue(keys).addValue(sources).addValue(dests).addValue(msgs)
        .addValue(received).addValue(payloads).addValue(stateArr).addValue(attempts).addValue(first).addValue(next)
        .addValue(errors);
  }

  // ---------------------------------------------------------------- ids and datasets

  /**
   * Hands out regular job ids from sequence blocks, creating the dataset of a block (and the next one, so the
   * creation is rarely on a writer's path) before any id of it is used. Allocations are serialized.
   */
  private final class IdAllocator {
    private long next;
    private long end;
    private Future<?> tail = Future.succeededFuture();

    synchronized Future<long[]> allocate(int n) {
      Future<long[]> f = tail.transform(ignored -> doAllocate(n));
      tail = f;
      return f;
    }

    private Future<long[]> doAllocate(int n) {
      long have = end - next;
      if (have >= n) {
        return Future.succeededFuture(take(n));
      }
      int blocks = (int) ((n - have + ID_BLOCK - 1) / ID_BLOCK);
      return pool.preparedQuery("SELECT nextval('" + s + ".job_id_seq') FROM generate_series(1, $1)")
          .execute(Tuple.of(blocks))
          .compose(rows -> {
            List<Long> starts = new ArrayList<>();
            for (Row r : rows) {
              starts.add(r.getLong(0));
            }
            Future<Void> created = Future.succeededFuture();
            for (long start : starts) {
              long dataset = start / options.datasetSize();
              created = created.compose(v -> ensureDataset(dataset)).compose(v -> ensureDataset(dataset + 1));
            }
            return created.map(v -> {
              // keep what is left of the current block, then the new blocks in order
              List<long[]> ranges = new ArrayList<>();
              if (have > 0) {
                ranges.add(new long[] {next, end});
              }
              for (long start : starts) {
                ranges.add(new long[] {start, start + ID_BLOCK});
              }
              long[] out = new long[n];
              int k = 0;
              for (long[] range : ranges) {
                long id = range[0];
                while (k < n && id < range[1]) {
                  out[k++] = id++;
                }
                next = id;
                end = range[1];
              }
              return out;
            });
          });
    }

    private long[] take(int n) {
      long[] out = new long[n];
      for (int i = 0; i < n; i++) {
        out[i] = next++;
      }
      return out;
    }
  }

  private Future<Void> ensureDataset(long dataset) {
    if (knownDatasets.containsKey(dataset)) {
      return Future.succeededFuture();
    }
    long lo = dataset * options.datasetSize();
    long hi = lo + options.datasetSize();
    return createDataset("r" + dataset, lo, hi, "regular").onSuccess(v -> knownDatasets.put(dataset, Boolean.TRUE));
  }

  private Future<Void> createDataset(String suffix, long lo, long hi, String kind) {
    return pool.withTransaction(conn -> createDatasetIn(conn, suffix, lo, hi, kind));
  }

  /**
   * Creates a dataset's two tables and attaches them to the parents. {@code CREATE TABLE ... PARTITION OF} would take
   * an ACCESS EXCLUSIVE lock on each parent in turn, which deadlocks with concurrent reads (they lock job_state, then
   * jobs) and writes (jobs, then job_state). ATTACH PARTITION takes only SHARE UPDATE EXCLUSIVE on the parent (PostgreSQL
   * 12+), which conflicts with neither, so reads and writes go on while a dataset is added. The advisory lock
   * serializes creators; the datasets row, written in the same transaction, says whether the dataset exists.
   */
  private Future<Void> createDatasetIn(SqlConnection conn, String suffix, long lo, long hi, String kind) {
    String bounds = " FOR VALUES FROM (" + lo + ") TO (" + hi + ")";
    String jobs = s + ".jobs_" + suffix;
    String state = s + ".job_state_" + suffix;
    return conn.query("SELECT pg_advisory_xact_lock(hashtext('" + s + ".datasets'))").execute()
        .compose(v -> conn.preparedQuery("SELECT 1 FROM " + s + ".datasets WHERE name = $1").execute(Tuple.of(suffix)))
        .compose(existing -> {
          if (existing.rowCount() > 0) {
            return Future.<Void>succeededFuture();
          }
          return conn.query("CREATE TABLE " + jobs + " (LIKE " + s + ".jobs INCLUDING DEFAULTS)").execute()
              .compose(v -> conn.query("ALTER TABLE " + s + ".jobs ATTACH PARTITION " + jobs + bounds).execute())
              .compose(v -> conn.query("CREATE TABLE " + state + " (LIKE " + s + ".job_state INCLUDING DEFAULTS)"
                  + " WITH (fillfactor = 70)").execute())
              .compose(v -> conn.query("ALTER TABLE " + s + ".job_state ATTACH PARTITION " + state + bounds).execute())
              .compose(v -> conn.preparedQuery("INSERT INTO " + s + ".datasets (name, lo, hi, kind) VALUES ($1, $2, $3, $4)")
                  .execute(Tuple.of(suffix, lo, hi, kind)))
              .map(v -> {
                datasetGauge.incrementAndGet();
                return null;
              });
        });
  }

  // ---------------------------------------------------------------- dedup buckets

  private long bucketOf(Instant t) {
    return Math.floorDiv(t.toEpochMilli(), options.dedupWindow().toMillis());
  }

  private static String dedupBucketName(long bucket) {
    return "dedup_b" + bucket;
  }

  private Future<Void> ensureDedupBucket(Instant t) {
    long bucket = bucketOf(t);
    if (knownDedupBuckets.containsKey(bucket)) {
      return Future.succeededFuture();
    }
    long w = options.dedupWindow().toMillis();
    String name = s + "." + dedupBucketName(bucket);
    String lo = ts(Instant.ofEpochMilli(bucket * w)).toString();
    String hi = ts(Instant.ofEpochMilli((bucket + 1) * w)).toString();
    return pool.withTransaction(conn -> conn.query("SELECT pg_advisory_xact_lock(hashtext('" + s + ".dedup'))").execute()
            .compose(v -> conn.query("CREATE TABLE IF NOT EXISTS " + name + " PARTITION OF " + s + ".dedup"
                + " FOR VALUES FROM ('" + lo + "') TO ('" + hi + "')").execute())
            .compose(v -> conn.query("CREATE UNIQUE INDEX IF NOT EXISTS " + dedupBucketName(bucket) + "_key ON " + name
                + " (partition_id, message_id)").execute()))
        .compose(v -> knownDedupBuckets.containsKey(bucket - 1)
            ? pool.query("ANALYZE " + s + "." + dedupBucketName(bucket - 1)).execute().<Void>mapEmpty()
            : Future.<Void>succeededFuture())
        .map(v -> {
          knownDedupBuckets.put(bucket, Boolean.TRUE);
          return null;
        });
  }

  // ---------------------------------------------------------------- reads and state

  @Override
  public Future<List<Job>> readPending(ReadRequest r) {
    long started = System.nanoTime();
    return pool.preparedQuery(readSql(r.scanLimit()))
        .execute(Tuple.of(r.destinationId(), ts(r.now()), r.maxBytes(), r.maxJobs()))
        .map(PgJobsDb::toJobs)
        .onSuccess(list -> {
          readTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
          readJobs.record(list.size());
        });
  }

  /**
   * The pending read for a scan window of {@code scanLimit} jobs. Callers use one or two limits each, so the client's
   * prepared statement cache holds one statement per limit.
   */
  private String readSql(int scanLimit) {
    return readSqlPrefix + scanLimit + readSqlSuffix;
  }

  private static List<Job> toJobs(RowSet<Row> rows) {
    List<Job> out = new ArrayList<>(rows.rowCount());
    for (Row r : rows) {
      out.add(new Job(r.getLong(0), r.getInteger(1), r.getString(2), r.getString(3), r.getString(4), r.getString(5),
          instant(r.getOffsetDateTime(6)), r.getBuffer(7).getBytes(), JobState.of(r.getShort(8)), r.getInteger(9),
          instant(r.getOffsetDateTime(10)), instant(r.getOffsetDateTime(11)), r.getString(12)));
    }
    return out;
  }

  @Override
  public Future<Void> updateStates(List<StateUpdate> updates) {
    return updateStates(pool, updates);
  }

  @Override
  public Future<Void> updateStates(SqlClient tx, List<StateUpdate> updates) {
    if (updates.isEmpty()) {
      return Future.succeededFuture();
    }
    int n = updates.size();
    Long[] jobIds = new Long[n];
    Short[] states = new Short[n];
    Integer[] attempts = new Integer[n];
    OffsetDateTime[] first = new OffsetDateTime[n];
    OffsetDateTime[] next = new OffsetDateTime[n];
    String[] errors = new String[n];
    for (int i = 0; i < n; i++) {
      StateUpdate u = updates.get(i);
      jobIds[i] = u.jobId();
      states[i] = u.state().code();
      attempts[i] = u.attempts();
      first[i] = ts(u.firstAttemptAt());
      next[i] = ts(u.nextRetryAt());
      errors[i] = u.lastError();
    }
    return tx.preparedQuery(updateSql)
        .execute(Tuple.of(jobIds, states, attempts, first, next, errors, ts(now())))
        .mapEmpty();
  }

  @Override
  public Future<Map<String, Long>> pendingCounts() {
    return pool.query("SELECT destination_id, count(*) FROM " + s + ".job_state WHERE state < 3 GROUP BY 1 ORDER BY 1")
        .execute()
        .map(rows -> {
          Map<String, Long> out = new LinkedHashMap<>();
          long total = 0;
          for (Row r : rows) {
            out.put(r.getString(0), r.getLong(1));
            total += r.getLong(1);
          }
          pendingGauge.set(total);
          return out;
        });
  }

  @Override
  public Future<Map<String, Instant>> oldestPending() {
    // 1. enumerate the destinations with pending jobs by skipping through the pending index (loose index scan);
    // 2. for each, its first pending job id (the index is ordered by destination, then job id), then its row.
    String sql = "WITH RECURSIVE d AS ("
        + " (SELECT destination_id FROM " + s + ".job_state WHERE state < 3 ORDER BY destination_id LIMIT 1)"
        + " UNION ALL"
        + " SELECT (SELECT n.destination_id FROM " + s + ".job_state n WHERE n.state < 3 AND n.destination_id > d.destination_id"
        + " ORDER BY n.destination_id LIMIT 1) FROM d WHERE d.destination_id IS NOT NULL)"
        + " SELECT d.destination_id, j.received_at FROM d"
        + " CROSS JOIN LATERAL (SELECT f.job_id FROM " + s + ".job_state f WHERE f.state < 3 AND f.destination_id = d.destination_id"
        + " ORDER BY f.job_id LIMIT 1) h"
        + " JOIN " + s + ".jobs j ON j.job_id = h.job_id"
        + " WHERE d.destination_id IS NOT NULL ORDER BY 1";
    return pool.query(sql).execute().map(rows -> {
      Map<String, Instant> out = new LinkedHashMap<>();
      for (Row r : rows) {
        out.put(r.getString(0), instant(r.getOffsetDateTime(1)));
      }
      return out;
    });
  }

  @Override
  public Future<List<Job>> listAborted(String destinationId, long afterJobId, int limit) {
    String sql = "SELECT * FROM ("
        + " SELECT s.job_id, s.partition_id, j.routing_key, j.source_id, s.destination_id, j.message_id, j.received_at,"
        + " j.payload, s.state, s.attempts, s.first_attempt_at, s.next_retry_at, s.last_error"
        + " FROM " + s + ".job_state s JOIN " + s + ".jobs j ON j.job_id = s.job_id"
        + " WHERE s.state = 4 AND s.destination_id = $1 AND s.job_id > $2"
        + " UNION ALL"
        + " SELECT job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload,"
        + " 4::int2, attempts, first_attempt_at, NULL::timestamptz, last_error"
        + " FROM " + s + ".dead_letter WHERE destination_id = $1 AND job_id > $2) a ORDER BY job_id LIMIT $3";
    return pool.preparedQuery(sql).execute(Tuple.of(destinationId, afterJobId, limit)).map(PgJobsDb::toJobs);
  }

  @Override
  public Future<Integer> replayAborted(String destinationId, ReplayFilter filter) {
    Long[] jobIds = filter.jobIds() == null ? null : filter.jobIds().toArray(new Long[0]);
    OffsetDateTime from = ts(filter.from());
    OffsetDateTime to = ts(filter.to());
    Instant now = now();
    String live = "UPDATE " + s + ".job_state s SET state = 0, attempts = 0, first_attempt_at = NULL, next_retry_at = NULL,"
        + " last_error = NULL, updated_at = $5 WHERE s.state = 4 AND s.destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR s.job_id = ANY($2::bigint[]))"
        + " AND ($3::timestamptz IS NULL OR EXISTS (SELECT 1 FROM " + s + ".jobs j WHERE j.job_id = s.job_id AND j.received_at >= $3))"
        + " AND ($4::timestamptz IS NULL OR EXISTS (SELECT 1 FROM " + s + ".jobs j WHERE j.job_id = s.job_id AND j.received_at < $4))";
    String dead = "DELETE FROM " + s + ".dead_letter WHERE destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR job_id = ANY($2::bigint[]))"
        + " AND ($3::timestamptz IS NULL OR received_at >= $3) AND ($4::timestamptz IS NULL OR received_at < $4)"
        + " RETURNING job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload";
    return pool.withTransaction(conn -> conn.preparedQuery(live).execute(Tuple.of(destinationId, jobIds, from, to, ts(now)))
        .compose(liveRows -> conn.preparedQuery(dead).execute(Tuple.of(destinationId, jobIds, from, to)).compose(deadRows -> {
          if (deadRows.rowCount() == 0) {
            return Future.succeededFuture(liveRows.rowCount());
          }
          List<long[]> order = new ArrayList<>();
          List<NewJob> jobs = new ArrayList<>();
          for (Row r : deadRows) {
            jobs.add(new NewJob(r.getInteger(1), r.getString(2), r.getString(3), r.getString(4), r.getString(5),
                instant(r.getOffsetDateTime(6)), r.getBuffer(7).getBytes()));
            order.add(new long[] {r.getLong(0), order.size()});
          }
          // stored again in their original order, with ids below every local id (see importRange)
          order.sort((a, b) -> Long.compare(a[0], b[0]));
          List<NewJob> sorted = new ArrayList<>(jobs.size());
          for (long[] o : order) {
            sorted.add(jobs.get((int) o[1]));
          }
          String replayId = "replay-" + java.util.UUID.randomUUID();
          return importRange(conn, replayId).compose(range -> {
            List<Long> ids = new ArrayList<>(sorted.size());
            for (int i = 0; i < sorted.size(); i++) {
              ids.add(range[1] + i);
            }
            return conn.preparedQuery(insertSql).execute(insertTuple(sorted, ids, null))
                .compose(v -> conn.preparedQuery("UPDATE " + s + ".import_ranges SET next_id = $2, completed = true WHERE migration_id = $1")
                    .execute(Tuple.of(replayId, range[1] + sorted.size())))
                .map(v -> liveRows.rowCount() + sorted.size());
          });
        })));
  }

  // ---------------------------------------------------------------- migration primitives

  @Override
  public Future<Void> setPartitionFlags(Collection<Integer> partitions, boolean excluded, boolean held) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    if (!excluded && !held) {
      return pool.preparedQuery("DELETE FROM " + s + ".partition_flags WHERE partition_id = ANY($1::int[])")
          .execute(Tuple.of((Object) parts)).mapEmpty();
    }
    return pool.preparedQuery("INSERT INTO " + s + ".partition_flags (partition_id, excluded, held)"
            + " SELECT p, $2, $3 FROM unnest($1::int[]) AS p"
            + " ON CONFLICT (partition_id) DO UPDATE SET excluded = EXCLUDED.excluded, held = EXCLUDED.held")
        .execute(Tuple.of(parts, excluded, held)).mapEmpty();
  }

  @Override
  public Future<List<Job>> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs,
      long maxBytes) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return pool.preparedQuery(exportSql).execute(Tuple.of(parts, afterJobId, maxJobs, maxBytes, destinationId))
        .map(PgJobsDb::toJobs);
  }

  @Override
  public Future<Integer> importBatch(String migrationId, String stream, List<Job> batch) {
    if (batch.isEmpty()) {
      return Future.succeededFuture(0);
    }
    return pool.withTransaction(conn -> importRange(conn, migrationId).compose(range -> conn.preparedQuery(
            "SELECT last_source_job_id FROM " + s + ".import_progress WHERE migration_id = $1 AND stream = $2 FOR UPDATE")
        .execute(Tuple.of(migrationId, stream))
        .compose(rows -> {
          long mark = rows.rowCount() == 0 ? Long.MIN_VALUE : rows.iterator().next().getLong(0);
          List<Job> fresh = new ArrayList<>(batch.size());
          long last = mark;
          for (Job j : batch) {
            if (j.jobId() <= last) {
              if (j.jobId() > mark) {
                throw new JobsDbException.ImportConflict(migrationId, "stream " + stream + " batch is not in job order at " + j.jobId());
              }
              continue; // already imported by an earlier attempt of this batch
            }
            fresh.add(j);
            last = j.jobId();
          }
          if (fresh.isEmpty()) {
            return Future.succeededFuture(0);
          }
          long first = range[1];
          if (first + fresh.size() > range[2]) {
            throw new JobsDbException.ImportConflict(migrationId, "reserved id range exhausted");
          }
          List<NewJob> jobs = new ArrayList<>(fresh.size());
          List<Long> newIds = new ArrayList<>(fresh.size());
          for (int i = 0; i < fresh.size(); i++) {
            Job j = fresh.get(i);
            jobs.add(new NewJob(j.partitionId(), j.routingKey(), j.sourceId(), j.destinationId(), j.messageId(),
                j.receivedAt(), j.payload()));
            newIds.add(first + i);
          }
          long newMark = last;
          return conn.preparedQuery(insertSql).execute(insertTuple(jobs, newIds, fresh))
              .compose(v -> conn.preparedQuery("UPDATE " + s + ".import_ranges SET next_id = $2 WHERE migration_id = $1")
                  .execute(Tuple.of(migrationId, first + fresh.size())))
              .compose(v -> conn.preparedQuery("INSERT INTO " + s + ".import_progress (migration_id, stream, last_source_job_id, imported)"
                      + " VALUES ($1, $2, $3, $4) ON CONFLICT (migration_id, stream) DO UPDATE"
                      + " SET last_source_job_id = EXCLUDED.last_source_job_id,"
                      + " imported = " + s + ".import_progress.imported + EXCLUDED.imported")
                  .execute(Tuple.of(migrationId, stream, newMark, (long) fresh.size())))
              .map(v -> fresh.size());
        })));
  }

  /** The migration's reserved id range {lo, next, hi}, reserving it (and its dataset) on first use. */
  private Future<long[]> importRange(SqlConnection conn, String migrationId) {
    return conn.preparedQuery("SELECT lo, next_id, hi FROM " + s + ".import_ranges WHERE migration_id = $1 FOR UPDATE")
        .execute(Tuple.of(migrationId))
        .compose(rows -> {
          if (rows.rowCount() > 0) {
            Row r = rows.iterator().next();
            return Future.succeededFuture(new long[] {r.getLong(0), r.getLong(1), r.getLong(2)});
          }
          return conn.query("SELECT nextval('" + s + ".import_range_seq')").execute().compose(seq -> {
            long r = seq.iterator().next().getLong(0);
            long lo = IMPORT_BASE + r * IMPORT_RANGE;
            long hi = lo + IMPORT_RANGE;
            return createDatasetIn(conn, "i" + r, lo, hi, "import")
                .compose(v -> conn.preparedQuery("INSERT INTO " + s + ".import_ranges (migration_id, lo, next_id, hi) VALUES ($1, $2, $2, $3)")
                    .execute(Tuple.of(migrationId, lo, hi)))
                .map(v -> new long[] {lo, lo, hi});
          });
        });
  }

  @Override
  public Future<Void> markMigrated(Collection<Long> jobIds) {
    if (jobIds.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("UPDATE " + s + ".job_state SET state = 5, updated_at = $2 WHERE job_id = ANY($1::bigint[]) AND state < 3")
        .execute(Tuple.of(jobIds.toArray(new Long[0]), ts(now()))).mapEmpty();
  }

  @Override
  public Future<List<DedupEntry>> exportDedup(Collection<Integer> partitions) {
    if (options.dedupWindow().isZero()) {
      return Future.succeededFuture(List.of());
    }
    return pool.preparedQuery("SELECT partition_id, message_id, seen_at FROM " + s + ".dedup"
            + " WHERE partition_id = ANY($1::int[]) AND seen_at >= $2 ORDER BY seen_at")
        .execute(Tuple.of(partitions.toArray(new Integer[0]), ts(now().minus(options.dedupWindow()))))
        .map(rows -> {
          List<DedupEntry> out = new ArrayList<>(rows.rowCount());
          for (Row r : rows) {
            out.add(new DedupEntry(r.getInteger(0), r.getString(1), instant(r.getOffsetDateTime(2))));
          }
          return out;
        });
  }

  @Override
  public Future<Void> importDedup(List<DedupEntry> entries) {
    if (entries.isEmpty() || options.dedupWindow().isZero()) {
      return Future.succeededFuture();
    }
    Map<Long, List<DedupEntry>> byBucket = new LinkedHashMap<>();
    for (DedupEntry e : entries) {
      byBucket.computeIfAbsent(bucketOf(e.seenAt()), b -> new ArrayList<>()).add(e);
    }
    Future<Void> f = Future.succeededFuture();
    for (Map.Entry<Long, List<DedupEntry>> b : byBucket.entrySet()) {
      List<DedupEntry> list = b.getValue();
      f = f.compose(v -> ensureDedupBucket(list.get(0).seenAt())).compose(v -> {
        Integer[] parts = new Integer[list.size()];
        String[] msgs = new String[list.size()];
        OffsetDateTime[] seen = new OffsetDateTime[list.size()];
        for (int i = 0; i < list.size(); i++) {
          parts[i] = list.get(i).partitionId();
          msgs[i] = list.get(i).messageId();
          seen[i] = ts(list.get(i).seenAt());
        }
        return pool.preparedQuery("INSERT INTO " + s + "." + dedupBucketName(b.getKey()) + " (partition_id, message_id, seen_at)"
                + " SELECT * FROM unnest($1::int[], $2::text[], $3::timestamptz[]) ON CONFLICT DO NOTHING")
            .execute(Tuple.of(parts, msgs, seen)).mapEmpty();
      });
    }
    return f;
  }

  @Override
  public Future<Void> completeImport(String migrationId) {
    return pool.preparedQuery("UPDATE " + s + ".import_ranges SET completed = true WHERE migration_id = $1")
        .execute(Tuple.of(migrationId)).mapEmpty();
  }

  // ---------------------------------------------------------------- rotation

  @Override
  public Future<Integer> runMaintenance() {
    if (maintaining) {
      return Future.succeededFuture(0);
    }
    maintaining = true;
    return dropFinishedDatasets()
        .compose(dropped -> dropExpiredDedupBuckets().map(dropped))
        .compose(dropped -> pendingCounts().map(dropped))
        .onFailure(e -> LOG.warn("queue {}: maintenance failed: {}", options.queue(), e.toString()))
        .onComplete(ar -> maintaining = false);
  }

  /**
   * Drops datasets whose jobs are all finished: regular datasets below the one being written, and import
   * datasets whose migration completed. Aborted jobs move to dead_letter first. Both parents are locked up front,
   * with a lock timeout shorter than the deadlock timeout, so a drop never makes a read or a write fail.
   */
  private Future<Integer> dropFinishedDatasets() {
    long writing = ids.end == 0 ? Long.MAX_VALUE : (ids.end - 1) / options.datasetSize();
    return pool.query("SELECT d.name, d.lo, d.kind, coalesce(r.completed, false) FROM " + s + ".datasets d"
            + " LEFT JOIN " + s + ".import_ranges r ON d.kind = 'import' AND r.lo = d.lo ORDER BY d.lo")
        .execute()
        .compose(rows -> {
          List<String> candidates = new ArrayList<>();
          for (Row r : rows) {
            boolean regular = "regular".equals(r.getString(2));
            if (regular ? r.getLong(1) / options.datasetSize() < writing : r.getBoolean(3)) {
              candidates.add(r.getString(0));
            }
          }
          Future<Integer> f = Future.succeededFuture(0);
          for (String name : candidates) {
            f = f.compose(n -> dropIfFinished(name).map(dropped -> n + (dropped ? 1 : 0)));
          }
          return f;
        });
  }

  private Future<Boolean> dropIfFinished(String name) {
    String jobs = s + ".jobs_" + name;
    String state = s + ".job_state_" + name;
    return pool.query("SELECT EXISTS (SELECT 1 FROM " + state + " WHERE state < 3)").execute().compose(pending -> {
      if (pending.iterator().next().getBoolean(0)) {
        return Future.succeededFuture(false);
      }
      // the lock timeout is below deadlock_timeout (1 s by default): if taking both parents forms a cycle with a read
      // (job_state, then jobs) or a write (jobs, then job_state), the drop gives up first, never the read or the write,
      // and the next maintenance tries again
      return pool.withTransaction(conn -> conn.query("SET LOCAL lock_timeout = '500ms'").execute()
              .compose(v -> conn.query("LOCK TABLE " + s + ".jobs, " + s + ".job_state IN ACCESS EXCLUSIVE MODE").execute())
              .compose(v -> conn.query("SELECT EXISTS (SELECT 1 FROM " + state + " WHERE state < 3)").execute())
              .compose(again -> {
                if (again.iterator().next().getBoolean(0)) {
                  return Future.succeededFuture(false);
                }
                return conn.query("INSERT INTO " + s + ".dead_letter SELECT j.job_id, j.partition_id, j.routing_key, j.source_id,"
                        + " j.destination_id, j.message_id, j.received_at, j.payload, st.attempts, st.first_attempt_at,"
                        + " st.last_error, st.updated_at FROM " + jobs + " j JOIN " + state + " st ON st.job_id = j.job_id"
                        + " WHERE st.state = 4 ON CONFLICT DO NOTHING").execute()
                    .compose(v -> conn.query("DROP TABLE " + jobs + ", " + state).execute())
                    .compose(v -> conn.preparedQuery("DELETE FROM " + s + ".datasets WHERE name = $1").execute(Tuple.of(name)))
                    .map(v -> true);
              }))
          .onSuccess(dropped -> {
            if (dropped) {
              datasetGauge.decrementAndGet();
              if (name.startsWith("r")) {
                knownDatasets.remove(Long.parseLong(name.substring(1)));
              }
              LOG.debug("queue {}: dropped finished dataset {}", options.queue(), name);
            }
          });
    });
  }

  private Future<Void> dropExpiredDedupBuckets() {
    if (options.dedupWindow().isZero()) {
      return Future.succeededFuture();
    }
    long oldestNeeded = bucketOf(now().minus(options.dedupWindow()));
    return dedupBucketNames().compose(names -> {
      Future<Void> f = Future.succeededFuture();
      for (String name : names) {
        long bucket = Long.parseLong(name.substring("dedup_b".length()));
        if (bucket < oldestNeeded) {
          f = f.compose(v -> pool.query("DROP TABLE IF EXISTS " + s + "." + name).execute().<Void>mapEmpty())
              .onSuccess(v -> knownDedupBuckets.remove(bucket));
        }
      }
      return f;
    });
  }

  @Override
  public Future<List<String>> datasets() {
    return pool.query("SELECT name FROM " + s + ".datasets ORDER BY lo").execute().map(rows -> {
      List<String> out = new ArrayList<>();
      for (Row r : rows) {
        out.add(r.getString(0));
      }
      return out;
    });
  }

  @Override
  public Future<Void> shutdown() {
    if (maintenanceTimer >= 0) {
      vertx.cancelTimer(maintenanceTimer);
      maintenanceTimer = -1;
    }
    return committer.close();
  }

  // ---------------------------------------------------------------- time

  private Instant now() {
    return options.clock().instant();
  }

  static OffsetDateTime ts(Instant t) {
    return t == null ? null : OffsetDateTime.ofInstant(t, ZoneOffset.UTC);
  }

  static Instant instant(OffsetDateTime t) {
    return t == null ? null : t.toInstant();
  }
}
