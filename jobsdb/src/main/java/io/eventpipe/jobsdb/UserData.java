package io.eventpipe.jobsdb;

import io.vertx.core.Future;
import io.vertx.core.json.Json;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.nio.charset.StandardCharsets;

/**
 * Deletes what a node's database stores of one user (a privacy regulation's delete, issue 20): in both queues, the
 * jobs (pending, finished or aborted, with their delivery state), the dead letters, and the dedup entries of their
 * messageIds. A job is the user's when its routing key is the id, or its payload's {@code userId} or
 * {@code anonymousId} is.
 *
 * <p>This is the one place where job rows are deleted one by one instead of dropped with their dataset: a regulation
 * is rare and must not wait for a dataset to finish. It runs under the node's {@code fence_lock} FOR SHARE, as every
 * ingest, fan-out and delivery-state write does, so it neither races a migration's fence nor a write in flight. The
 * migrator calls it too, on a migration's targets before their release (a delete applied on the source before its copy
 * read the jobs, or applied on the target before the copy wrote them, would otherwise be undone by the copy).
 */
public final class UserData {

  private UserData() {}

  /** What one delete removed; {@code partitions}/{@code messageIds}: the pairs of the jobs and dead letters removed. */
  public record Removed(long jobs, long deadLetters, long dedupEntries, Integer[] partitions, String[] messageIds) {
    public long total() {
      return jobs + deadLetters + dedupEntries;
    }
  }

  /**
   * Deletes user {@code userId}'s rows from the queues {@code gw} and {@code rt} of the database behind {@code pool}
   * (schemas {@code jobs_gw} and {@code jobs_rt}); {@code partitions} limits it to those partitions (null: all).
   * {@code dedupPartitions}/{@code dedupMessageIds} name more dedup entries to remove (the pairs other nodes removed:
   * the dedup window a migration copied before the delete).
   */
  public static Future<Removed> delete(Pool pool, String userId, int[] partitions, Integer[] dedupPartitions, String[] dedupMessageIds) {
    byte[] quoted = Json.encode(userId).getBytes(StandardCharsets.UTF_8);
    Integer[] parts = partitions == null ? null : java.util.Arrays.stream(partitions).boxed().toArray(Integer[]::new);
    return pool.withTransaction(conn -> conn.query("SELECT 1 FROM node.fence_lock FOR SHARE").execute()
        .compose(v -> deleteIn(conn, "jobs_rt", userId, quoted, parts, new Integer[0], new String[0]))
        .compose(rt -> deleteIn(conn, "jobs_gw", userId, quoted, parts, concat(rt.partitions, dedupPartitions),
                concat(rt.messageIds, dedupMessageIds))
            .map(gw -> new Removed(rt.jobs + gw.jobs, rt.deadLetters + gw.deadLetters, rt.dedup + gw.dedup,
                concat(rt.partitions, gw.partitions), concat(rt.messageIds, gw.messageIds)))));
  }

  /** Convenience: no dedup pairs from elsewhere. */
  public static Future<Removed> delete(Pool pool, String userId, int[] partitions) {
    return delete(pool, userId, partitions, null, null);
  }

  private static <T> T[] concat(T[] a, T[] b) {
    if (b == null || b.length == 0) {
      return a;
    }
    T[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private record Gone(long jobs, long deadLetters, long dedup, Integer[] partitions, String[] messageIds) {}

  private static Future<Gone> deleteIn(io.vertx.sqlclient.SqlConnection conn, String s, String userId, byte[] quoted,
      Integer[] parts, Integer[] moreParts, String[] moreIds) {
    String match = "(routing_key = $1 OR (position($2::bytea IN payload) > 0"
        + " AND (convert_from(payload, 'UTF8')::jsonb ->> 'userId' = $1 OR convert_from(payload, 'UTF8')::jsonb ->> 'anonymousId' = $1)))"
        + " AND ($3::int[] IS NULL OR partition_id = ANY($3))";
    String sql = "WITH gone AS (SELECT job_id, partition_id, message_id FROM " + s + ".jobs WHERE " + match + "),"
        + " st AS (DELETE FROM " + s + ".job_state WHERE job_id IN (SELECT job_id FROM gone) RETURNING 1),"
        + " j AS (DELETE FROM " + s + ".jobs WHERE job_id IN (SELECT job_id FROM gone) RETURNING partition_id, message_id),"
        + " dl AS (DELETE FROM " + s + ".dead_letter WHERE " + match + " RETURNING partition_id, message_id),"
        + " ids AS (SELECT partition_id, message_id FROM j UNION SELECT partition_id, message_id FROM dl"
        + "   UNION SELECT * FROM unnest($4::int[], $5::text[]) AS k(partition_id, message_id)"
        + "     WHERE $3::int[] IS NULL OR k.partition_id = ANY($3)),"
        + " dd AS (DELETE FROM " + s + ".dedup d USING ids WHERE d.partition_id = ids.partition_id AND d.message_id = ids.message_id"
        + "   RETURNING 1)"
        + " SELECT (SELECT count(*) FROM j), (SELECT count(*) FROM dl), (SELECT count(*) FROM dd), (SELECT count(*) FROM st),"
        + " (SELECT array_agg(partition_id) FROM (SELECT partition_id, message_id FROM j UNION SELECT partition_id, message_id FROM dl) a),"
        + " (SELECT array_agg(message_id) FROM (SELECT partition_id, message_id FROM j UNION SELECT partition_id, message_id FROM dl) a)";
    return conn.preparedQuery(sql).execute(Tuple.of(userId, io.vertx.core.buffer.Buffer.buffer(quoted), parts, moreParts, moreIds))
        .map(rows -> {
          Row r = rows.iterator().next();
          Integer[] ps = r.getArrayOfIntegers(4);
          String[] ms = r.getArrayOfStrings(5);
          return new Gone(r.getLong(0), r.getLong(1), r.getLong(2), ps == null ? new Integer[0] : ps, ms == null ? new String[0] : ms);
        });
  }

}
