package io.eventpipe.jobsdb.impl;

import static io.eventpipe.jobsdb.impl.Rows.insertTuple;
import static io.eventpipe.jobsdb.impl.Rows.ts;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PartitionMover;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The migration primitives of a partition move: export the moving partitions' jobs on the source, import them on the
 * target into a reserved id range (below every local id), mark them migrated. {@link PgPartitionMover} exposes them.
 */
final class PartitionMoves {

  /**
   * Imported jobs take ids in [IMPORT_BASE - r * IMPORT_RANGE, +IMPORT_RANGE) for reservation r: below every local id
   * and below every earlier reservation, so what is imported (or replayed from the dead letters) later sorts before
   * what an earlier import left pending. (Reservations made before this rule sit above IMPORT_BASE, as
   * [IMPORT_BASE + r * IMPORT_RANGE, ...): still below the new ones' local ids and above every new reservation.)
   */
  static final long IMPORT_BASE = -(1L << 62);
  static final long IMPORT_RANGE = 1L << 32;

  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final Statements statements;
  private final Datasets datasets;

  PartitionMoves(Pool pool, JobsDbOptions options, Statements statements, Datasets datasets) {
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    this.statements = statements;
    this.datasets = datasets;
  }

  Future<PartitionMover.Batch> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs,
      long maxBytes) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return dbNow().compose(now -> pool.preparedQuery(statements.export)
        .execute(Tuple.of(parts, afterJobId, maxJobs, maxBytes, destinationId))
        .map(rows -> new PartitionMover.Batch(Rows.toJobs(rows), now)));
  }

  /** Aborted jobs of live datasets and of the dead-letter table, merged in job order (the two never share an id). */
  Future<PartitionMover.Batch> exportAborted(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs,
      long maxBytes) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    String sql = "WITH u AS (SELECT * FROM ("
        + " (SELECT st.job_id, j.partition_id, j.routing_key, j.source_id, j.destination_id, j.message_id, j.received_at, j.payload,"
        + " st.state, st.attempts, st.first_attempt_at, st.next_retry_at, st.last_error"
        + " FROM (SELECT * FROM " + s + ".job_state WHERE state = 4 AND destination_id = $5 AND job_id > $2"
        + " AND partition_id = ANY($1::int[]) ORDER BY job_id LIMIT $3) st JOIN " + s + ".jobs j ON j.job_id = st.job_id"
        + " AND j.job_id > $2)" // as in Statements#export: the job rows from the batch on, not from the first dataset
        + " UNION ALL"
        + " (SELECT d.job_id, d.partition_id, d.routing_key, d.source_id, d.destination_id, d.message_id, d.received_at, d.payload,"
        + " 4::int2, d.attempts, d.first_attempt_at, NULL::timestamptz, d.last_error FROM " + s + ".dead_letter d"
        + " WHERE d.destination_id = $5 AND d.job_id > $2 AND d.partition_id = ANY($1::int[]) ORDER BY d.job_id LIMIT $3)"
        + ") a ORDER BY job_id LIMIT $3),"
        + " x AS (SELECT u.*, sum(octet_length(u.payload)) OVER (ORDER BY u.job_id) - octet_length(u.payload) AS before FROM u)"
        + " SELECT job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload, state, attempts,"
        + " first_attempt_at, next_retry_at, last_error FROM x WHERE x.before < $4 ORDER BY job_id";
    return dbNow().compose(now -> pool.preparedQuery(sql).execute(Tuple.of(parts, afterJobId, maxJobs, maxBytes, destinationId))
        .map(rows -> new PartitionMover.Batch(Rows.toJobs(rows), now)));
  }

  /** The destinations with pending or aborted jobs (in live datasets or dead-lettered) in {@code partitions}. */
  Future<List<String>> destinations(Collection<Integer> partitions) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return pool.preparedQuery("SELECT destination_id FROM " + s + ".job_state WHERE (state < 3 OR state = 4) AND partition_id = ANY($1::int[])"
            + " UNION SELECT destination_id FROM " + s + ".dead_letter WHERE partition_id = ANY($1::int[]) ORDER BY 1")
        .execute(Tuple.of((Object) parts))
        .map(rows -> {
          List<String> out = new ArrayList<>();
          for (Row r : rows) {
            out.add(r.getString(0));
          }
          return out;
        });
  }

  /** {pending, aborted} jobs of {@code partitions}. */
  Future<long[]> count(Collection<Integer> partitions) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return pool.preparedQuery("SELECT (SELECT count(*) FROM " + s + ".job_state WHERE state < 3 AND partition_id = ANY($1::int[])),"
            + " (SELECT count(*) FROM " + s + ".job_state WHERE state = 4 AND partition_id = ANY($1::int[]))"
            + " + (SELECT count(*) FROM " + s + ".dead_letter WHERE partition_id = ANY($1::int[]))")
        .execute(Tuple.of((Object) parts))
        .map(rows -> new long[] {rows.iterator().next().getLong(0), rows.iterator().next().getLong(1)});
  }

  Future<java.time.Instant> dbNow() {
    return pool.query("SELECT now()").execute().map(rows -> rows.iterator().next().getOffsetDateTime(0).toInstant());
  }

  /**
   * Imports a batch with its states; its times move by the difference between this database's clock and the
   * source's ({@code batch.sourceNow()}, null for none), so a backoff keeps its remaining time. Refused unless this
   * node holds every partition of the batch for the slice's migration (checked under row locks, in the transaction).
   */
  Future<Integer> importBatch(PartitionMover.Slice slice, String stream, PartitionMover.Batch exported) {
    List<Job> batch = exported.jobs();
    if (batch.isEmpty()) {
      return Future.succeededFuture(0);
    }
    String migrationId = slice.range();
    java.util.Set<Integer> parts = new java.util.TreeSet<>();
    for (Job j : batch) {
      parts.add(j.partitionId());
    }
    if (!slice.partitions().containsAll(parts)) {
      parts.removeAll(slice.partitions());
      return Future.failedFuture(new JobsDbException.ImportConflict(slice.migrationId(), "stream " + stream
          + ": the batch has jobs of partitions " + parts + " outside its slice"));
    }
    return pool.withTransaction(conn -> held(conn, slice.migrationId(), parts).compose(v -> importRange(conn, migrationId,
            slice.partitions().toArray(new Integer[0]))).compose(range -> conn.preparedQuery(
            "SELECT last_source_job_id FROM " + s + ".import_progress WHERE migration_id = $1 AND stream = $2 FOR UPDATE")
        .execute(Tuple.of(migrationId, stream))
        .compose(rows -> conn.query("SELECT now()").execute().map(now -> {
          long mark = rows.rowCount() == 0 ? Long.MIN_VALUE : rows.iterator().next().getLong(0);
          return new Object[] {mark, now.iterator().next().getOffsetDateTime(0).toInstant()};
        }))
        .compose(markAndNow -> {
          long mark = (Long) markAndNow[0];
          java.time.Duration shift = exported.sourceNow() == null ? java.time.Duration.ZERO
              : java.time.Duration.between(exported.sourceNow(), (java.time.Instant) markAndNow[1]);
          List<Job> fresh = new ArrayList<>(batch.size());
          long last = mark;
          for (Job j : batch) {
            if (j.jobId() <= last) {
              if (j.jobId() > mark) {
                throw new JobsDbException.ImportConflict(migrationId, "stream " + stream + " batch is not in job order at " + j.jobId());
              }
              continue; // already imported by an earlier attempt of this batch
            }
            fresh.add(shift.isZero() ? j : new Job(j.jobId(), j.partitionId(), j.routingKey(), j.sourceId(), j.destinationId(),
                j.messageId(), j.receivedAt(), j.payload(), j.state(), j.attempts(), plus(j.firstAttemptAt(), shift),
                plus(j.nextRetryAt(), shift), j.lastError()));
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
          return conn.preparedQuery(statements.insert).execute(insertTuple(jobs, newIds, fresh))
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

  /**
   * Inside the import's transaction: every partition of {@code parts} is recorded here as incoming for
   * {@code migrationId}; the rows stay share-locked until the commit, so a release or unhold cannot overtake.
   */
  private static Future<Void> held(SqlConnection conn, String migrationId, java.util.Set<Integer> parts) {
    return conn.preparedQuery("SELECT partition_id FROM node.partition_state WHERE partition_id = ANY($1::int[])"
            + " AND state = 1 AND migration_id = $2 FOR SHARE")
        .execute(Tuple.of(parts.toArray(new Integer[0]), migrationId))
        .compose(rows -> {
          java.util.Set<Integer> missing = new java.util.TreeSet<>(parts);
          for (Row r : rows) {
            missing.remove(r.getInteger(0));
          }
          return missing.isEmpty() ? Future.<Void>succeededFuture() : Future.failedFuture(new JobsDbException.ImportConflict(
              migrationId, "partitions " + missing + " are not held for this migration on this node (released, aborted,"
                  + " or held by another migration): nothing imported"));
        });
  }

  /** The partition sets of the slices {@code migrationId} imported into here, in range order (see {@link #importRange}). */
  Future<List<List<Integer>>> importedSlices(String migrationId) {
    return pool.preparedQuery("SELECT partitions FROM " + s + ".import_ranges WHERE starts_with(migration_id, $1 || '#')"
            + " AND partitions IS NOT NULL ORDER BY lo DESC")
        .execute(Tuple.of(migrationId))
        .map(rows -> {
          List<List<Integer>> out = new ArrayList<>();
          for (Row r : rows) {
            out.add(List.of(r.getArrayOfIntegers(0)));
          }
          return out;
        });
  }

  private static java.time.Instant plus(java.time.Instant t, java.time.Duration d) {
    return t == null ? null : t.plus(d);
  }

  /** The reserved id range {lo, next, hi} named {@code name}, reserving it (and its dataset) on first use. */
  Future<long[]> importRange(SqlConnection conn, String name) {
    return importRange(conn, name, null);
  }

  /**
   * As {@link #importRange(SqlConnection, String)}, recording the partitions it is for ({@code null}: none). Each new
   * reservation lies below every earlier one.
   */
  Future<long[]> importRange(SqlConnection conn, String name, Integer[] partitions) {
    return conn.preparedQuery("SELECT lo, next_id, hi FROM " + s + ".import_ranges WHERE migration_id = $1 FOR UPDATE")
        .execute(Tuple.of(name))
        .compose(rows -> {
          if (rows.rowCount() > 0) {
            Row r = rows.iterator().next();
            return Future.succeededFuture(new long[] {r.getLong(0), r.getLong(1), r.getLong(2)});
          }
          return conn.query("SELECT nextval('" + s + ".import_range_seq')").execute().compose(seq -> {
            long r = seq.iterator().next().getLong(0);
            long lo = IMPORT_BASE - r * IMPORT_RANGE;
            long hi = lo + IMPORT_RANGE;
            return datasets.createDatasetIn(conn, "i" + r, lo, hi, "import")
                .compose(v -> conn.preparedQuery("INSERT INTO " + s + ".import_ranges (migration_id, lo, next_id, hi, partitions)"
                        + " VALUES ($1, $2, $2, $3, $4)")
                    .execute(Tuple.of(name, lo, hi, partitions)))
                .map(v -> new long[] {lo, lo, hi});
          });
        });
  }

  /** Exported jobs leave this queue: pending and aborted ones become migrated, dead-lettered ones are deleted. */
  Future<Void> markMigrated(Collection<Long> jobIds) {
    if (jobIds.isEmpty()) {
      return Future.succeededFuture();
    }
    Long[] ids = jobIds.toArray(new Long[0]);
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE " + s + ".job_state SET state = 5, updated_at = $2"
            + " WHERE job_id = ANY($1::bigint[]) AND (state < 3 OR state = 4)")
        .execute(Tuple.of(ids, ts(options.clock().instant())))
        .compose(v -> conn.preparedQuery("DELETE FROM " + s + ".dead_letter WHERE job_id = ANY($1::bigint[])").execute(Tuple.of((Object) ids)))
        .mapEmpty());
  }

  /**
   * The copied jobs of a destination in {@code partitions} become migrated (pending ones up to {@code pendingMark},
   * aborted ones up to {@code abortedMark}); copied dead letters are deleted. Jobs beyond the marks stay.
   */
  Future<Long> retireCopied(String destinationId, Collection<Integer> partitions, long pendingMark, long abortedMark) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    java.time.Instant now = options.clock().instant();
    // each UPDATE walks one partial index (pending, then aborted) of the destination, not the whole state table
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE " + s + ".job_state SET state = 5, updated_at = $3"
            + " WHERE state < 3 AND destination_id = $1 AND partition_id = ANY($2::int[]) AND job_id <= $4")
        .execute(Tuple.of(destinationId, parts, ts(now), pendingMark))
        .compose(pending -> conn.preparedQuery("UPDATE " + s + ".job_state SET state = 5, updated_at = $3"
            + " WHERE state = 4 AND destination_id = $1 AND partition_id = ANY($2::int[]) AND job_id <= $4")
            .execute(Tuple.of(destinationId, parts, ts(now), abortedMark)))
        .compose(aborted -> conn.preparedQuery("DELETE FROM " + s + ".dead_letter WHERE destination_id = $1"
                + " AND partition_id = ANY($2::int[]) AND job_id <= $3").execute(Tuple.of(destinationId, parts, abortedMark)))
        .compose(dead -> conn.preparedQuery("SELECT (SELECT count(*) FROM " + s + ".job_state WHERE (state < 3 OR state = 4)"
                + " AND destination_id = $1 AND partition_id = ANY($2::int[]))"
                + " + (SELECT count(*) FROM " + s + ".dead_letter WHERE destination_id = $1 AND partition_id = ANY($2::int[]))")
            .execute(Tuple.of(destinationId, (Object) parts)))
        .map(rows -> rows.iterator().next().getLong(0)));
  }

  Future<Long> progress(String migrationId, String stream) {
    return pool.preparedQuery("SELECT last_source_job_id FROM " + s + ".import_progress WHERE migration_id = $1 AND stream = $2")
        .execute(Tuple.of(migrationId, stream))
        .map(rows -> rows.rowCount() == 0 ? Long.MIN_VALUE : rows.iterator().next().getLong(0));
  }

  /**
   * Target, at release: once per migration (the range's completion flag guards it), the imported jobs of
   * {@code partitions} that wait for a retry get {@code held} added to their retry time and first attempt, and the
   * import is complete (its dataset is dropped once its jobs finish).
   */
  Future<Void> release(String migrationId, Collection<Integer> partitions, java.time.Duration held) {
    // the migration's ranges: its own id, or its id and a slice ("<id>#<n>") when slices import concurrently
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE " + s + ".import_ranges SET completed = true"
            + " WHERE (migration_id = $1 OR starts_with(migration_id, $1 || '#')) AND NOT completed RETURNING lo, hi")
        .execute(Tuple.of(migrationId))
        .compose(rows -> {
          if (held.isZero() || held.isNegative()) {
            return Future.<Void>succeededFuture();
          }
          Future<Void> f = Future.succeededFuture();
          for (Row r : rows) {
            f = f.compose(v -> conn.preparedQuery("UPDATE " + s + ".job_state SET next_retry_at = next_retry_at + make_interval(secs => $4),"
                    + " first_attempt_at = first_attempt_at + make_interval(secs => $4)"
                    + " WHERE job_id >= $1 AND job_id < $2 AND state = 2 AND partition_id = ANY($3::int[])")
                .execute(Tuple.of(r.getLong(0), r.getLong(1), partitions.toArray(new Integer[0]), held.toNanos() / 1e9))
                .<Void>mapEmpty());
          }
          return f;
        }));
  }
}
