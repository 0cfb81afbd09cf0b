package io.eventpipe.jobsdb.impl;

import static io.eventpipe.jobsdb.impl.Rows.insertTuple;
import static io.eventpipe.jobsdb.impl.Rows.instant;
import static io.eventpipe.jobsdb.impl.Rows.ts;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.KeyReadRequest;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.NodePartitions;
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
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.flywaydb.core.Flyway;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The PostgreSQL job queue. See {@link JobsDb} for the contract and {@code V1__queue.sql} for the schema.
 *
 * <p>This class stores (group-committed), reads and updates jobs, and schedules maintenance; it delegates the rest:
 * {@link Statements} (the hot-path SQL), {@link Datasets} (ids, dataset creation and rotation), {@link DedupBuckets},
 * {@link DeadLetters}; the migration primitives are {@link PgPartitionMover}'s.
 */
public final class PgJobsDb implements JobsDb {

  private static final Logger LOG = LoggerFactory.getLogger(PgJobsDb.class);

  private final Vertx vertx;
  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final Statements statements;
  private final Datasets datasets;
  private final DedupBuckets dedup;
  private final DeadLetters deadLetters;
  private final GroupCommitter committer;
  private final AtomicLong pendingGauge = new AtomicLong();
  private final Timer storeTimer;
  private final Timer readTimer;
  private final DistributionSummary batchJobs;
  private final DistributionSummary readJobs;
  private long maintenanceTimer = -1;
  private volatile boolean maintaining;

  private PgJobsDb(Vertx vertx, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    this.vertx = vertx;
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    String q = options.queue();
    this.storeTimer = Timer.builder("jobsdb.store.latency").description("Group commit transaction time")
        .tag("queue", q).publishPercentileHistogram().register(registry);
    this.readTimer = Timer.builder("jobsdb.read.latency").description("Pending read time")
        .tag("queue", q).publishPercentileHistogram().register(registry);
    this.batchJobs = DistributionSummary.builder("jobsdb.store.batch.jobs").description("Jobs per group commit")
        .tag("queue", q).register(registry);
    this.readJobs = DistributionSummary.builder("jobsdb.read.batch.jobs").description("Jobs per pending read")
        .tag("queue", q).register(registry);
    Gauge.builder("jobsdb.pending.jobs", pendingGauge, AtomicLong::get)
        .description("Pending jobs (refreshed by maintenance), each destination's counted up to " + PENDING_COUNT_CAP)
        .tag("queue", q).register(registry);
    this.statements = new Statements(s);
    this.datasets = new Datasets(pool, options, registry);
    this.dedup = new DedupBuckets(pool, options);
    this.deadLetters = new DeadLetters(pool, options, statements, new PartitionMoves(pool, options, statements, datasets));
    this.committer = new GroupCommitter(vertx.getOrCreateContext(), options, this::commit, registry);
  }

  public static Future<JobsDb> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    PgJobsDb db = new PgJobsDb(vertx, pool, options, registry);
    return vertx.executeBlocking(() -> {
          NodePartitions.migrate(pg);
          Flyway.configure()
              .dataSource(pg.jdbcUrl(), pg.user(), pg.password())
              .schemas(options.schema())
              .defaultSchema(options.schema())
              .locations("classpath:db/jobsdb")
              .load()
              .migrate();
          return null;
        }, false)
        .compose(v -> db.datasets.load())
        .compose(v -> db.dedup.load())
        .map(v -> {
          db.maintenanceTimer = vertx.setPeriodic(options.maintenanceEvery().toMillis(), t -> db.runMaintenance());
          return (JobsDb) db;
        });
  }

  @Override
  public JobsDbOptions options() {
    return options;
  }

  // ---------------------------------------------------------------- store

  @Override
  public Future<StoreResult> store(List<NewJob> jobs, long writerEpoch) {
    if (jobs.isEmpty()) {
      return Future.succeededFuture(new StoreResult(new long[0]));
    }
    return committer.submit(jobs, writerEpoch);
  }

  /**
   * One group commit, in one transaction: check the partitions against this node's record (a caller with a fenced
   * partition, or a held one whose floor is above the caller's epoch, is left out whole, its jobs marked
   * {@link GroupCommitter#FENCED}), dedup, insert the fresh jobs. Called by the committer with the callers' sizes and
   * epochs, in order.
   */
  private Future<long[]> commit(List<NewJob> jobs, int[] callerSizes, long[] callerEpochs) {
    long started = System.nanoTime();
    Instant now = now();
    boolean dedupOn = dedup.enabled();
    Future<Void> ready = dedupOn ? dedup.ensure(now) : Future.succeededFuture();
    java.util.Set<Integer> partitions = new java.util.HashSet<>();
    for (NewJob j : jobs) {
      partitions.add(j.partitionId());
    }
    return ready
        .compose(v -> datasets.allocate(jobs.size()))
        .compose(allocated -> pool.withTransaction(conn -> NodePartitions.writeFloors(conn, partitions).compose(floors -> {
          long[] result = new long[jobs.size()];
          List<NewJob> accepted = new ArrayList<>(jobs.size());
          List<Integer> acceptedAt = new ArrayList<>(jobs.size());
          int at = 0;
          for (int c = 0; c < callerSizes.length; c++) {
            int size = callerSizes[c];
            boolean fenced = false;
            for (int i = at; i < at + size && !floors.isEmpty(); i++) {
              Long floor = floors.get(jobs.get(i).partitionId());
              fenced |= floor != null && (floor == NodePartitions.NO_WRITER || floor > callerEpochs[c]);
            }
            for (int i = at; i < at + size; i++) {
              if (fenced) {
                result[i] = GroupCommitter.FENCED;
              } else {
                accepted.add(jobs.get(i));
                acceptedAt.add(i);
              }
            }
            at += size;
          }
          Future<boolean[]> fresh = dedupOn && !accepted.isEmpty() ? dedup.fresh(conn, accepted, now) : Future.succeededFuture(null);
          return fresh.compose(isFresh -> {
            List<NewJob> toInsert = new ArrayList<>(accepted.size());
            List<Long> insertIds = new ArrayList<>(accepted.size());
            for (int k = 0; k < accepted.size(); k++) {
              int i = acceptedAt.get(k);
              if (isFresh == null || isFresh[k]) {
                result[i] = allocated[i];
                toInsert.add(accepted.get(k));
                insertIds.add(allocated[i]);
              } else {
                result[i] = StoreResult.DUPLICATE;
              }
            }
            if (toInsert.isEmpty()) {
              return Future.succeededFuture(result);
            }
            return conn.preparedQuery(statements.insert).execute(insertTuple(toInsert, insertIds, null)).map(r -> result);
          });
        })))
        .onSuccess(r -> {
          storeTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
          batchJobs.record(jobs.size());
        });
  }

  @Override
  public Future<long[]> storeIn(SqlClient tx, List<NewJob> jobs) {
    if (jobs.isEmpty()) {
      return Future.succeededFuture(new long[0]);
    }
    return datasets.allocate(jobs.size()).compose(allocated -> {
      List<Long> list = new ArrayList<>(allocated.length);
      for (long id : allocated) {
        list.add(id);
      }
      return tx.preparedQuery(statements.insert).execute(insertTuple(jobs, list, null)).map(r -> allocated);
    });
  }

  // ---------------------------------------------------------------- reads and state

  @Override
  public Future<List<Job>> readPending(ReadRequest r) {
    long started = System.nanoTime();
    return pool.preparedQuery(statements.read(r.scanLimit()))
        .execute(Tuple.of(r.destinationId(), ts(r.now()), r.maxBytes(), r.maxJobs()))
        .map(Rows::toJobs)
        .onSuccess(list -> {
          readTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
          readJobs.record(list.size());
        });
  }

  @Override
  public Future<KeyReadRequest.Result> readKeys(KeyReadRequest r) {
    long started = System.nanoTime();
    Tuple params = Tuple.of(r.destinationId(), ts(r.now()), r.maxBytes(), r.maxJobs(), r.afterKey(), r.maxKeys())
        .addValue(r.excludedKeys().toArray(new String[0])).addValue(r.maxJobsPerKey());
    return pool.preparedQuery(statements.readKeys).execute(params).map(rows -> {
      List<Job> jobs = new ArrayList<>(rows.rowCount());
      String lastKey = null;
      boolean reachedEnd = true; // no key after afterKey at all
      for (Row row : rows) {
        lastKey = row.getString("last_key");
        // the walk stopped before its key and job limits: there was no next key
        reachedEnd = row.getInteger("last_step") < r.maxKeys() && row.getInteger("found") < r.maxJobs();
        if (row.getValue(0) != null) {
          jobs.add(Rows.toJob(row));
        }
      }
      return new KeyReadRequest.Result(jobs, lastKey, reachedEnd);
    }).onSuccess(result -> {
      readTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
      readJobs.record(result.jobs().size());
    });
  }

  @Override
  public Future<Void> updateStates(List<StateUpdate> updates) {
    if (updates.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.withTransaction(tx -> updateStates(tx, updates));
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
    // the fence lock first (shared), so a confirmation waits for this write and a later write sees it (the update is
    // the next statement, with a new snapshot): outcomes of partitions confirmed away or gone are skipped, see
    // Statements.update
    return tx.query("SELECT 1 FROM node.fence_lock FOR SHARE").execute()
        .compose(v -> tx.preparedQuery(statements.update)
            .execute(Tuple.of(jobIds, states, attempts, first, next, errors, ts(now()))))
        .mapEmpty();
  }

  @Override
  public Future<Map<String, Long>> pendingCounts() {
    // 1. enumerate the destinations with pending jobs by skipping through the pending index (loose index scan);
    // 2. count each one's pending index entries up to the cap: O(destinations * cap), never O(pending).
    String sql = "WITH RECURSIVE " + destinationsWithPending()
        + " SELECT d.destination_id, c.n FROM d CROSS JOIN LATERAL (SELECT count(*) AS n FROM (SELECT 1 FROM " + s
        + ".job_state f WHERE f.state < 3 AND f.destination_id = d.destination_id LIMIT $1) l) c"
        + " WHERE d.destination_id IS NOT NULL ORDER BY 1";
    return pool.preparedQuery(sql).execute(Tuple.of(PENDING_COUNT_CAP)).map(rows -> {
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

  /** The recursive CTE {@code d(destination_id)}: destinations with pending jobs, then a NULL row. */
  private String destinationsWithPending() {
    return "d AS ("
        + " (SELECT destination_id FROM " + s + ".job_state WHERE state < 3 ORDER BY destination_id LIMIT 1)"
        + " UNION ALL"
        + " SELECT (SELECT n.destination_id FROM " + s + ".job_state n WHERE n.state < 3 AND n.destination_id > d.destination_id"
        + " ORDER BY n.destination_id LIMIT 1) FROM d WHERE d.destination_id IS NOT NULL)";
  }

  @Override
  public Future<Map<String, Instant>> oldestPending() {
    // 1. enumerate the destinations with pending jobs by skipping through the pending index (loose index scan);
    // 2. for each, its first pending job id (the index is ordered by destination, then job id), then its row.
    String sql = "WITH RECURSIVE " + destinationsWithPending()
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

  // ---------------------------------------------------------------- dead letters

  @Override
  public Future<List<Job>> listAborted(String destinationId, long afterJobId, int limit) {
    return deadLetters.listAborted(destinationId, afterJobId, limit);
  }

  @Override
  public Future<Integer> replayAborted(String destinationId, ReplayFilter filter) {
    return deadLetters.replayAborted(destinationId, filter);
  }

  // ---------------------------------------------------------------- maintenance

  @Override
  public Future<Integer> runMaintenance() {
    if (maintaining) {
      return Future.succeededFuture(0);
    }
    maintaining = true;
    return datasets.dropFinished()
        .compose(dropped -> datasets.compactOne().map(dropped))
        .compose(dropped -> dedup.dropExpired().map(dropped))
        .compose(dropped -> deadLetters.dropExpired().map(expired -> {
          if (expired > 0) {
            LOG.info("queue {}: deleted {} dead letters aborted more than {} ago (the dead-letter retention)", options.queue(),
                expired, options.deadLetterRetention());
          }
          return dropped;
        }))
        .compose(dropped -> pendingCounts().map(dropped))
        .onFailure(e -> LOG.warn("queue {}: maintenance failed: {}", options.queue(), e.toString()))
        .onComplete(ar -> maintaining = false);
  }

  @Override
  public Future<List<String>> datasets() {
    return datasets.names();
  }

  @Override
  public Future<Void> shutdown() {
    if (maintenanceTimer >= 0) {
      vertx.cancelTimer(maintenanceTimer);
      maintenanceTimer = -1;
    }
    return committer.close();
  }

  private Instant now() {
    return options.clock().instant();
  }
}
