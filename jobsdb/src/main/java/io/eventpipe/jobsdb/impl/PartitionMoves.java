package io.eventpipe.jobsdb.impl;

import static io.eventpipe.jobsdb.impl.Rows.insertTuple;
import static io.eventpipe.jobsdb.impl.Rows.ts;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;

/**
 * The migration primitives of a partition move: flag the moving partitions, export their pending jobs on the
 * source, import them on the target into a reserved id range (below every local id), mark them migrated.
 */
final class PartitionMoves {

  /** Imported jobs take ids in [IMPORT_BASE + r * IMPORT_RANGE, +IMPORT_RANGE) for reservation r: below every local id. */
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

  Future<Void> setPartitionFlags(Collection<Integer> partitions, boolean excluded, boolean held) {
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

  Future<List<Job>> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs,
      long maxBytes) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return pool.preparedQuery(statements.export).execute(Tuple.of(parts, afterJobId, maxJobs, maxBytes, destinationId))
        .map(Rows::toJobs);
  }

  Future<Integer> importBatch(String migrationId, String stream, List<Job> batch) {
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

  /** The migration's reserved id range {lo, next, hi}, reserving it (and its dataset) on first use. */
  Future<long[]> importRange(SqlConnection conn, String migrationId) {
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
            return datasets.createDatasetIn(conn, "i" + r, lo, hi, "import")
                .compose(v -> conn.preparedQuery("INSERT INTO " + s + ".import_ranges (migration_id, lo, next_id, hi) VALUES ($1, $2, $2, $3)")
                    .execute(Tuple.of(migrationId, lo, hi)))
                .map(v -> new long[] {lo, lo, hi});
          });
        });
  }

  Future<Void> markMigrated(Collection<Long> jobIds) {
    if (jobIds.isEmpty()) {
      return Future.succeededFuture();
    }
    return pool.preparedQuery("UPDATE " + s + ".job_state SET state = 5, updated_at = $2 WHERE job_id = ANY($1::bigint[]) AND state < 3")
        .execute(Tuple.of(jobIds.toArray(new Long[0]), ts(options.clock().instant()))).mapEmpty();
  }

  Future<Void> completeImport(String migrationId) {
    return pool.preparedQuery("UPDATE " + s + ".import_ranges SET completed = true WHERE migration_id = $1")
        .execute(Tuple.of(migrationId)).mapEmpty();
  }
}
