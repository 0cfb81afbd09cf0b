package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.JobsDbOptions;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The datasets of a queue: the id ranges the jobs and job_state tables are partitioned into. Allocates regular job
 * ids (creating their datasets ahead of use), creates import datasets, and drops datasets whose jobs all finished.
 */
final class Datasets {

  /** Logs under the facade's name, as before the split. */
  private static final Logger LOG = LoggerFactory.getLogger(PgJobsDb.class);

  /** Ids per sequence block; the sequence increments by this much. */
  static final long ID_BLOCK = 1024;

  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final IdAllocator ids = new IdAllocator();
  private final Map<Long, Boolean> knownDatasets = new ConcurrentHashMap<>();
  private final AtomicLong datasetGauge = new AtomicLong();

  Datasets(Pool pool, JobsDbOptions options, MeterRegistry registry) {
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    Gauge.builder("jobsdb.datasets", datasetGauge, AtomicLong::get).description("Live datasets (tables)")
        .tag("queue", options.queue()).register(registry);
  }

  Future<Void> load() {
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

  /** {@code n} fresh regular job ids, in order; their datasets exist. */
  Future<long[]> allocate(int n) {
    return ids.allocate(n);
  }

  Future<List<String>> names() {
    return pool.query("SELECT name FROM " + s + ".datasets ORDER BY lo").execute().map(rows -> {
      List<String> out = new ArrayList<>();
      for (Row r : rows) {
        out.add(r.getString(0));
      }
      return out;
    });
  }

  // ---------------------------------------------------------------- ids and creation

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
  Future<Void> createDatasetIn(SqlConnection conn, String suffix, long lo, long hi, String kind) {
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

  // ---------------------------------------------------------------- rotation

  /**
   * Drops datasets whose jobs are all finished: regular datasets below the one being written, and import
   * datasets whose migration completed. Aborted jobs move to dead_letter first. Both parents are locked up front,
   * with a lock timeout shorter than the deadlock timeout, so a drop never makes a read or a write fail.
   */
  Future<Integer> dropFinished() {
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
}
