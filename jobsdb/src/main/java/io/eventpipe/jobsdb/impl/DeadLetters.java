package io.eventpipe.jobsdb.impl;

import static io.eventpipe.jobsdb.impl.Rows.insertTuple;
import static io.eventpipe.jobsdb.impl.Rows.instant;
import static io.eventpipe.jobsdb.impl.Rows.ts;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.jobsdb.ReplayFilter;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.List;

/**
 * Aborted jobs: those still in a live dataset (state 4) and those moved to dead_letter when their dataset was
 * dropped. Lists them, and replays them as pending jobs.
 */
final class DeadLetters {

  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final Statements statements;
  private final PartitionMoves moves;

  DeadLetters(Pool pool, JobsDbOptions options, Statements statements, PartitionMoves moves) {
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
    this.statements = statements;
    this.moves = moves;
  }

  /** Dead letters deleted at most per maintenance: a backlog of expired ones goes over several runs. */
  static final int EXPIRE_BATCH = 10_000;

  /**
   * Deletes dead letters aborted longer than {@link JobsDbOptions#deadLetterRetention} ago (at most
   * {@value #EXPIRE_BATCH} per call, oldest first); none when the retention is zero. Returns how many went.
   */
  Future<Integer> dropExpired() {
    if (options.deadLetterRetention().isZero()) {
      return Future.succeededFuture(0);
    }
    Instant cutoff = options.clock().instant().minus(options.deadLetterRetention());
    // coalesce: the expression of the dead_letter_expiry index (V9); a row without its abort time counts from receipt
    return pool.preparedQuery("DELETE FROM " + s + ".dead_letter WHERE job_id IN (SELECT job_id FROM " + s + ".dead_letter"
            + " WHERE coalesce(aborted_at, received_at) < $1 ORDER BY coalesce(aborted_at, received_at) LIMIT $2)")
        .execute(Tuple.of(ts(cutoff), EXPIRE_BATCH)).map(rows -> rows.rowCount());
  }

  Future<List<Job>> listAborted(String destinationId, long afterJobId, int limit) {
    String sql = "SELECT * FROM ("
        + " SELECT s.job_id, s.partition_id, j.routing_key, j.source_id, s.destination_id, j.message_id, j.received_at,"
        + " j.payload, s.state, s.attempts, s.first_attempt_at, s.next_retry_at, s.last_error"
        + " FROM " + s + ".job_state s JOIN " + s + ".jobs j ON j.job_id = s.job_id AND j.job_id > $2" // see Statements#export
        + " WHERE s.state = 4 AND s.destination_id = $1 AND s.job_id > $2"
        + " UNION ALL"
        + " SELECT job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload,"
        + " 4::int2, attempts, first_attempt_at, NULL::timestamptz, last_error"
        + " FROM " + s + ".dead_letter WHERE destination_id = $1 AND job_id > $2) a ORDER BY job_id LIMIT $3";
    return pool.preparedQuery(sql).execute(Tuple.of(destinationId, afterJobId, limit)).map(Rows::toJobs);
  }

  Future<Integer> replayAborted(String destinationId, ReplayFilter filter) {
    Long[] jobIds = filter.jobIds() == null ? null : filter.jobIds().toArray(new Long[0]);
    OffsetDateTime from = ts(filter.from());
    OffsetDateTime to = ts(filter.to());
    Instant now = options.clock().instant();
    String live = "UPDATE " + s + ".job_state s SET state = 0, attempts = 0, first_attempt_at = NULL, next_retry_at = NULL,"
        + " last_error = NULL, updated_at = $5 WHERE s.state = 4 AND s.destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR s.job_id = ANY($2::bigint[]))"
        + " AND ($3::timestamptz IS NULL OR EXISTS (SELECT 1 FROM " + s + ".jobs j WHERE j.job_id = s.job_id AND j.received_at >= $3))"
        + " AND ($4::timestamptz IS NULL OR EXISTS (SELECT 1 FROM " + s + ".jobs j WHERE j.job_id = s.job_id AND j.received_at < $4))";
    String dead = "DELETE FROM " + s + ".dead_letter WHERE destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR job_id = ANY($2::bigint[]))"
        + " AND ($3::timestamptz IS NULL OR received_at >= $3) AND ($4::timestamptz IS NULL OR received_at < $4)"
        + " RETURNING job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload";
    // jobs of partitions that are moving (fenced) or moved away are not replayed here: the whole replay is refused,
    // checked under the fence lock like every write, so a migration cannot copy them away half replayed. The lock is
    // taken before the touched partitions are read (the read is then a new snapshot), so a job aborted after that read
    // cannot slip into the replay unchecked
    String moving = "SELECT DISTINCT partition_id FROM ("
        + " SELECT s.partition_id FROM " + s + ".job_state s WHERE s.state = 4 AND s.destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR s.job_id = ANY($2::bigint[]))"
        + " UNION ALL SELECT d.partition_id FROM " + s + ".dead_letter d WHERE d.destination_id = $1"
        + " AND ($2::bigint[] IS NULL OR d.job_id = ANY($2::bigint[]))) a";
    return pool.withTransaction(conn -> conn.query("SELECT 1 FROM node.fence_lock FOR SHARE").execute()
        .compose(locked -> conn.preparedQuery(moving).execute(Tuple.of(destinationId, (Object) jobIds)))
        .compose(rows -> {
          List<Integer> parts = new ArrayList<>();
          for (Row r : rows) {
            parts.add(r.getInteger(0));
          }
          return NodePartitions.refused(conn, parts);
        })
        .compose(refused -> refused.isEmpty() ? Future.succeededFuture()
            : Future.failedFuture(new JobsDbException.Fenced(refused)))
        .compose(x -> conn.preparedQuery(live).execute(Tuple.of(destinationId, jobIds, from, to, ts(now))))
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
          // stored again in their original order, with ids below every local id (see PartitionMoves.importRange)
          order.sort((a, b) -> Long.compare(a[0], b[0]));
          List<NewJob> sorted = new ArrayList<>(jobs.size());
          for (long[] o : order) {
            sorted.add(jobs.get((int) o[1]));
          }
          String replayId = "replay-" + java.util.UUID.randomUUID();
          return moves.importRange(conn, replayId).compose(range -> {
            List<Long> ids = new ArrayList<>(sorted.size());
            for (int i = 0; i < sorted.size(); i++) {
              ids.add(range[1] + i);
            }
            return conn.preparedQuery(statements.insert).execute(insertTuple(sorted, ids, null))
                .compose(v -> conn.preparedQuery("UPDATE " + s + ".import_ranges SET next_id = $2, completed = true WHERE migration_id = $1")
                    .execute(Tuple.of(replayId, range[1] + sorted.size())))
                .map(v -> liveRows.rowCount() + sorted.size());
          });
        })));
  }
}
