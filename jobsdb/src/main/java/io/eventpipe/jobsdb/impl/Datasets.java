package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.JobsDbOptions;
import io.micrometer.core.instrument.Counter;
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
 * ids (creating their datasets ahead of use), creates import datasets, drops datasets whose jobs all finished, and
 * compacts old datasets that only a few unfinished jobs keep alive.
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
  private final Counter compacted;

  Datasets(Pool pool, JobsDbOptions options, MeterRegistry registry) {
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    Gauge.builder("jobsdb.datasets", datasetGauge, AtomicLong::get).description("Live datasets (tables)")
        .tag("queue", options.queue()).register(registry);
    this.compacted = Counter.builder("jobsdb.compacted.datasets")
        .description("Datasets rewritten to hold only their unfinished jobs (see Datasets#compactOne)")
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
   * with a lock timeout shorter than the deadlock timeout, so a drop never makes a read or a write fail; a drop that
   * times out is left to the next maintenance (without failing this one, so compaction and the rest still run).
   */
  Future<Integer> dropFinished() {
    return writingDataset().compose(writing -> pool.query("SELECT d.name, d.lo, d.kind, coalesce(r.completed, false) FROM " + s + ".datasets d"
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
        }));
  }

  /**
   * The regular dataset ids are being handed out from; those below it are full, so they may be dropped or compacted.
   * Before this process has allocated any id it is the dataset of the sequence's last value, where the next block
   * starts at the earliest. (It used to be "none" then, MAX_VALUE, so maintenance on a node restarted over finished
   * datasets dropped the very dataset an allocation in flight had just found to exist, and the insert failed with "no
   * partition of relation job_state found for row": seen on a migration's target taking its first writes.)
   */
  private Future<Long> writingDataset() {
    if (ids.end != 0) {
      return Future.succeededFuture((ids.end - 1) / options.datasetSize());
    }
    return pool.query("SELECT last_value FROM " + s + ".job_id_seq").execute()
        .map(rows -> rows.iterator().next().getLong(0) / options.datasetSize());
  }

  private Future<Boolean> dropIfFinished(String name) {
    String jobs = s + ".jobs_" + name;
    String state = s + ".job_state_" + name;
    return pool.preparedQuery("SELECT EXISTS (SELECT 1 FROM " + state + " WHERE state < 3) OR " + retained(state))
        .execute(Tuple.of(retentionCutoff())).compose(pending -> {
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
                return conn.query(toDeadLetter(jobs, state)).execute()
                    .compose(v -> conn.query("DROP TABLE " + jobs + ", " + state).execute())
                    .compose(v -> conn.preparedQuery("DELETE FROM " + s + ".datasets WHERE name = $1").execute(Tuple.of(name)))
                    .map(v -> true);
              }))
          .recover(e -> {
            if (!lockTimeout(e)) {
              return Future.failedFuture(e);
            }
            LOG.debug("queue {}: drop of dataset {} postponed, the tables are busy", options.queue(), name);
            return Future.succeededFuture(false);
          })
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

  /**
   * Whether a dataset still holds finished jobs within the retention ({@link JobsDbOptions#finishedRetention}): a job
   * whose last state change is after the cutoff {@code $1} (null when there is no retention: nothing is retained).
   */
  private static String retained(String state) {
    return "($1::timestamptz IS NOT NULL AND EXISTS (SELECT 1 FROM " + state + " WHERE state >= 3 AND updated_at > $1))";
  }

  private java.time.OffsetDateTime retentionCutoff() {
    return options.finishedRetention().isZero() ? null
        : java.time.OffsetDateTime.ofInstant(options.clock().instant().minus(options.finishedRetention()), java.time.ZoneOffset.UTC);
  }

  /** Copies a dataset's aborted jobs to dead_letter (its tables are about to go). */
  private String toDeadLetter(String jobs, String state) {
    return "INSERT INTO " + s + ".dead_letter SELECT j.job_id, j.partition_id, j.routing_key, j.source_id,"
        + " j.destination_id, j.message_id, j.received_at, j.payload, st.attempts, st.first_attempt_at,"
        + " st.last_error, st.updated_at FROM " + jobs + " j JOIN " + state + " st ON st.job_id = j.job_id"
        + " WHERE st.state = 4 ON CONFLICT DO NOTHING";
  }

  // ---------------------------------------------------------------- compaction

  /*
   * Compaction. One unfinished job keeps its whole dataset: a disabled destination, or one whose config is invalid,
   * pins every dataset from then on, so the tables grow without bound. rudder-server moves the few live jobs of a
   * mostly-done dataset into a new dataset, renumbering them; here job ids are referenced everywhere (the router's
   * memory, the admin API, migration progress marks) and give each user's order, so they must not change. Instead, a
   * dataset is rewritten in place: fresh tables for the same id range hold only its unfinished jobs (state < 3, rows
   * copied exactly, ids and states unchanged), its aborted jobs move to dead_letter as when a dataset is dropped, and
   * the fresh tables replace the old ones as the partitions of that range (DETACH, ATTACH: the range never changes, so
   * nothing else notices).
   *
   * Reads and writes go on during the copy; only the catch-up and the swap hold a parent's lock, and their work is
   * O(unfinished jobs) reads plus O(rows changed during the copy) writes, bounded by COMPACT_MAX_LIVE_JOBS.
   *
   * The two tables are swapped in two transactions, job_state first, each locking only its own parent: taking both
   * parents in one transaction forms a cycle with any read (it locks job_state, then jobs) or write (jobs, then
   * job_state) that started while the first lock was awaited, so under steady load it would time out again and again.
   * Between the two, job_state holds only the unfinished jobs and jobs still all of them: every state row has its job
   * row, which is all that reads need. The new jobs table waits under the name jobs_<dataset>_compact; a second swap
   * that fails is finished by the next maintenance (resumeCompaction).
   *
   * The thresholds make a compacted dataset (all of whose rows are unfinished) ineligible until most of its jobs
   * finish and the gain is again at least a quarter of a dataset, so a dataset is not rewritten over and over.
   */

  /** A dataset is compacted when at most this percentage of its jobs is unfinished ... */
  static final int COMPACT_MAX_LIVE_PERCENT = 10;
  /** ... and at most this many (the work done while reads and writes wait is proportional to it). */
  static final int COMPACT_MAX_LIVE_JOBS = 50_000;
  /** Suffix of the tables a compaction builds; they take the dataset's names when they replace its tables. */
  private static final String COMPACT_SUFFIX = "_compact";

  /**
   * Compacts the oldest regular dataset below the one being written whose jobs are mostly finished (see the note
   * above), at most one per call; first finishes a compaction a previous call left half done. A compaction that
   * cannot get its lock in time gives up and is tried again by the next maintenance; no failure here makes a read or
   * a write fail, nor fails the caller.
   *
   * @return whether a dataset was compacted
   */
  Future<Boolean> compactOne() {
    return resumeCompaction()
        .compose(resumed -> resumed ? Future.succeededFuture(true)
            : writingDataset().compose(writing -> pool.query("SELECT name, lo, hi FROM " + s + ".datasets"
                    + " WHERE kind = 'regular' ORDER BY lo").execute()
                .compose(rows -> {
                  List<String> names = new ArrayList<>();
                  List<long[]> bounds = new ArrayList<>();
                  for (Row r : rows) {
                    if (r.getLong(1) / options.datasetSize() < writing) {
                      names.add(r.getString(0));
                      bounds.add(new long[] {r.getLong(1), r.getLong(2)});
                    }
                  }
                  return firstCompacted(names, bounds, 0);
                })))
        .recover(e -> {
          if (lockTimeout(e)) {
            LOG.debug("queue {}: compaction postponed, the tables are busy: {}", options.queue(), e.getMessage());
          } else {
            LOG.warn("queue {}: compaction failed: {}", options.queue(), e.toString());
          }
          return Future.succeededFuture(false);
        });
  }

  private static boolean lockTimeout(Throwable e) {
    return e instanceof io.vertx.sqlclient.DatabaseException de && "55P03".equals(de.getSqlState());
  }

  private Future<Boolean> firstCompacted(List<String> names, List<long[]> bounds, int i) {
    if (i == names.size()) {
      return Future.succeededFuture(false);
    }
    return compactIfMostlyFinished(names.get(i), bounds.get(i)[0], bounds.get(i)[1])
        .compose(done -> done ? Future.succeededFuture(true) : firstCompacted(names, bounds, i + 1));
  }

  private Future<Boolean> compactIfMostlyFinished(String name, long lo, long hi) {
    String state = s + ".job_state_" + name;
    // the unfinished jobs are counted on the pending index, at most one over the cap; all rows only when that passes
    // with a retention, a dataset whose finished jobs are not all past it is not compacted (that would drop them early)
    return pool.preparedQuery("SELECT (SELECT count(*) FROM (SELECT 1 FROM " + state + " WHERE state < 3 LIMIT "
            + (COMPACT_MAX_LIVE_JOBS + 1) + ") l), " + retained(state)).execute(Tuple.of(retentionCutoff()))
        .compose(liveRows -> {
          long live = liveRows.iterator().next().getLong(0);
          if (live == 0 || live > COMPACT_MAX_LIVE_JOBS || liveRows.iterator().next().getBoolean(1)) {
            return Future.succeededFuture(false); // finished ones are dropped whole; too many stay
          }
          return pool.query("SELECT count(*) FROM " + state).execute().compose(totalRows -> {
            long total = totalRows.iterator().next().getLong(0);
            if (live * 100 > total * COMPACT_MAX_LIVE_PERCENT || total - live < options.datasetSize() / 4) {
              return Future.succeededFuture(false);
            }
            return compact(name, lo, hi, total);
          });
        });
  }

  /**
   * Rewrites one dataset to hold only its unfinished jobs. The first transaction:
   * <ol>
   *   <li>creates the new tables like the parents, with all their indexes (partial ones included) and the old tables'
   *       storage options (job_state's fillfactor); copies the unfinished jobs' rows and state rows; ANALYZEs them.
   *       Only the old tables are read, so reads and writes go on;</li>
   *   <li>locks job_state (a lock timeout below deadlock_timeout: the compaction gives up first, never a read or a
   *       write);</li>
   *   <li>catches up with what changed during the copy: deletes the copied state rows whose job has finished or whose
   *       row differs in any column, inserts the unfinished ones not (or no longer) copied. Every state a reader or a
   *       writer set (executing, failed with its attempts and next retry, pending) is kept exactly;</li>
   *   <li>checks that the new table holds exactly the old one's unfinished jobs, or rolls back;</li>
   *   <li>moves the aborted jobs to dead_letter;</li>
   *   <li>detaches the old job_state table, attaches the new one for the same range, drops the old one and gives the
   *       new one its name.</li>
   * </ol>
   * Then {@link #swapJobs} does the same for jobs in a second transaction.
   */
  private Future<Boolean> compact(String name, long lo, long hi, long total) {
    String jobs = s + ".jobs_" + name;
    String state = s + ".job_state_" + name;
    String newJobs = jobs + COMPACT_SUFFIX;
    String newState = state + COMPACT_SUFFIX;
    return pool.withTransaction(conn -> conn.query("SET LOCAL lock_timeout = '500ms'").execute()
            .compose(v -> conn.query("SELECT " + columnsOf("jobs") + " AS jobs_columns, " + columnsOf("job_state")
                + " AS state_columns,"
                + " (SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = '" + jobs + "'::regclass) AS jobs_options,"
                + " (SELECT array_to_string(reloptions, ', ') FROM pg_class WHERE oid = '" + state + "'::regclass) AS state_options")
                .execute())
            .compose(meta -> {
              Row m = meta.iterator().next();
              String[] jc = m.getArrayOfStrings("jobs_columns");
              String[] sc = m.getArrayOfStrings("state_columns");
              String liveStates = "INSERT INTO " + newState + " (" + columns("", sc) + ") SELECT " + columns("o.", sc)
                  + " FROM " + state + " o WHERE o.state < 3";
              // 1. build and fill the new tables
              return conn.query("CREATE TABLE " + newJobs + " (LIKE " + s + ".jobs INCLUDING ALL)"
                      + storage(m.getString("jobs_options"))).execute()
                  .compose(v -> conn.query("CREATE TABLE " + newState + " (LIKE " + s + ".job_state INCLUDING ALL)"
                      + storage(m.getString("state_options"))).execute())
                  .compose(v -> conn.query("INSERT INTO " + newJobs + " (" + columns("", jc) + ") SELECT " + columns("j.", jc)
                      + " FROM " + state + " o JOIN " + jobs + " j ON j.job_id = o.job_id WHERE o.state < 3").execute())
                  .compose(v -> conn.query(liveStates).execute())
                  .compose(v -> conn.query("ANALYZE " + newJobs + ", " + newState).execute())
                  // 2. lock job_state
                  .compose(v -> conn.query("LOCK TABLE " + s + ".job_state IN ACCESS EXCLUSIVE MODE").execute())
                  // 3. catch up: finished or changed rows out, unfinished rows not copied in
                  .compose(v -> conn.query("DELETE FROM " + newState + " n WHERE NOT EXISTS (SELECT 1 FROM " + state
                      + " o WHERE o.job_id = n.job_id AND o.state < 3 AND ROW(" + columns("o.", sc) + ") IS NOT DISTINCT FROM"
                      + " ROW(" + columns("n.", sc) + "))").execute())
                  .compose(v -> conn.query(liveStates + " AND NOT EXISTS (SELECT 1 FROM " + newState + " n WHERE n.job_id = o.job_id)")
                      .execute())
                  // 4. check
                  .compose(v -> conn.query("SELECT (SELECT count(*) FROM " + state + " WHERE state < 3), (SELECT count(*) FROM "
                      + newState + ")").execute())
                  .compose(counts -> {
                    Row c = counts.iterator().next();
                    long live = c.getLong(0);
                    if (c.getLong(1) != live) {
                      return Future.failedFuture(new IllegalStateException("compacting dataset " + name + ": " + live
                          + " unfinished jobs but " + c.getLong(1) + " state rows copied; rolled back"));
                    }
                    // 5. aborted jobs to dead_letter
                    return conn.query(toDeadLetter(jobs, state)).execute()
                        // 6. swap job_state
                        .compose(dead -> swap(conn, "job_state", name, lo, hi).map(v -> new long[] {live, dead.rowCount()}));
                  });
            }))
        .compose(kept -> swapJobs(name, lo, hi, "kept its " + kept[0] + " unfinished jobs of " + total + " rows, "
            + kept[1] + " aborted jobs moved to the dead-letter table"));
  }

  /**
   * Finishes a compaction whose job_state swap committed and whose jobs swap did not (a lock timeout, a crash): the
   * new jobs table is still there under its temporary name. If the dataset was dropped meanwhile, it just goes.
   */
  private Future<Boolean> resumeCompaction() {
    return pool.query("SELECT substring(c.relname FROM '^jobs_(.*)" + COMPACT_SUFFIX + "$'), d.lo, d.hi FROM pg_class c"
            + " JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN " + s + ".datasets d"
            + " ON d.name = substring(c.relname FROM '^jobs_(.*)" + COMPACT_SUFFIX + "$')"
            + " WHERE n.nspname = '" + s + "' AND c.relkind = 'r' AND c.relname ~ '^jobs_.*" + COMPACT_SUFFIX + "$'"
            + " ORDER BY 1 LIMIT 1").execute()
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.succeededFuture(false);
          }
          Row r = rows.iterator().next();
          String name = r.getString(0);
          if (r.getValue(1) == null) {
            return pool.query("DROP TABLE " + s + ".jobs_" + name + COMPACT_SUFFIX).execute().map(false);
          }
          return swapJobs(name, r.getLong(1), r.getLong(2), "its jobs table swapped by a later maintenance");
        });
  }

  /**
   * The second transaction of a compaction: locks jobs, brings the new jobs table in line with the dataset's (new)
   * job_state table (every state row's job row, no other), checks that, and swaps the tables.
   */
  private Future<Boolean> swapJobs(String name, long lo, long hi, String detail) {
    String jobs = s + ".jobs_" + name;
    String state = s + ".job_state_" + name;
    String newJobs = jobs + COMPACT_SUFFIX;
    return pool.withTransaction(conn -> conn.query("SET LOCAL lock_timeout = '500ms'").execute()
            .compose(v -> conn.query("SELECT " + columnsOf("jobs") + " AS jobs_columns").execute())
            .compose(meta -> {
              String[] jc = meta.iterator().next().getArrayOfStrings("jobs_columns");
              return conn.query("LOCK TABLE " + s + ".jobs IN ACCESS EXCLUSIVE MODE").execute()
                  .compose(v -> conn.query("DELETE FROM " + newJobs + " n WHERE NOT EXISTS (SELECT 1 FROM " + state
                      + " o WHERE o.job_id = n.job_id)").execute())
                  .compose(v -> conn.query("INSERT INTO " + newJobs + " (" + columns("", jc) + ") SELECT " + columns("j.", jc)
                      + " FROM " + state + " o JOIN " + jobs + " j ON j.job_id = o.job_id"
                      + " WHERE NOT EXISTS (SELECT 1 FROM " + newJobs + " n WHERE n.job_id = o.job_id)").execute())
                  .compose(v -> conn.query("SELECT (SELECT count(*) FROM " + state + "), (SELECT count(*) FROM " + newJobs
                      + "), (SELECT count(*) FROM " + state + " o JOIN " + newJobs + " n ON n.job_id = o.job_id)").execute())
                  .compose(counts -> {
                    Row c = counts.iterator().next();
                    if (c.getLong(1) != c.getLong(0) || c.getLong(2) != c.getLong(0)) {
                      return Future.failedFuture(new IllegalStateException("compacting dataset " + name + ": "
                          + c.getLong(0) + " state rows, " + c.getLong(1) + " job rows copied (" + c.getLong(2)
                          + " matching); rolled back"));
                    }
                    return swap(conn, "jobs", name, lo, hi).map(c.getLong(1));
                  });
            }))
        .map(kept -> {
          compacted.increment();
          LOG.info("queue {}: compacted dataset {} ({} jobs in it now): {}", options.queue(), name, kept, detail);
          return true;
        });
  }

  /**
   * Replaces a dataset's table of {@code parent} by the compacted one: detach, attach, drop, then the new table and
   * its indexes take the old names (so a later compaction of the dataset starts from the same names).
   */
  private Future<Void> swap(SqlConnection conn, String parent, String name, long lo, long hi) {
    String table = parent + "_" + name;
    String old = s + "." + table;
    String fresh = old + COMPACT_SUFFIX;
    return conn.query("ALTER TABLE " + s + "." + parent + " DETACH PARTITION " + old).execute()
        .compose(v -> conn.query("ALTER TABLE " + s + "." + parent + " ATTACH PARTITION " + fresh
            + " FOR VALUES FROM (" + lo + ") TO (" + hi + ")").execute())
        .compose(v -> conn.query("DROP TABLE " + old).execute())
        .compose(v -> conn.query("ALTER TABLE " + fresh + " RENAME TO " + table).execute())
        .compose(v -> conn.query("SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            + " WHERE i.indrelid = '" + old + "'::regclass").execute())
        .compose(indexes -> {
          Future<Void> renamed = Future.succeededFuture();
          for (Row r : indexes) {
            String index = r.getString(0);
            if (index.startsWith(table + COMPACT_SUFFIX)) {
              String to = table + index.substring(table.length() + COMPACT_SUFFIX.length());
              renamed = renamed.compose(v -> conn.query("ALTER INDEX " + s + ".\"" + index + "\" RENAME TO \"" + to + "\"")
                  .execute().mapEmpty());
            }
          }
          return renamed;
        });
  }

  /** A scalar subquery: the quoted column names of one of the parents, in order. */
  private String columnsOf(String parent) {
    return "(SELECT array_agg(quote_ident(attname) ORDER BY attnum) FROM pg_attribute WHERE attrelid = '" + s + "."
        + parent + "'::regclass AND attnum > 0 AND NOT attisdropped)";
  }

  /** A column list, each name (already quoted) with the given prefix. */
  private static String columns(String prefix, String[] names) {
    StringBuilder b = new StringBuilder();
    for (String n : names) {
      if (b.length() > 0) {
        b.append(", ");
      }
      b.append(prefix).append(n);
    }
    return b.toString();
  }

  /** The WITH clause for a table's storage options ({@code fillfactor=70, ...}), or nothing. */
  private static String storage(String options) {
    return options == null || options.isEmpty() ? "" : " WITH (" + options + ")";
  }
}
