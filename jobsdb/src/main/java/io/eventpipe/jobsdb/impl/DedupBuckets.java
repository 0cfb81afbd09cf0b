package io.eventpipe.jobsdb.impl;

import static io.eventpipe.jobsdb.impl.Rows.instant;
import static io.eventpipe.jobsdb.impl.Rows.ts;

import io.eventpipe.jobsdb.JobsDb.DedupEntry;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Dedup: each messageId is remembered per (partition, source) for one window, in one table per window-long bucket
 * ({@code dedup_b<n>}, partitions of {@code dedup}), dropped whole once it is out of the window. Keyed by source so
 * that one source's messageIds (client-chosen, so predictable) never suppress another source's events. An entry
 * without a source (written before V4) matches every source, for the rest of its window.
 */
final class DedupBuckets {

  private static final String PREFIX = "dedup_b";

  private final Pool pool;
  private final JobsDbOptions options;
  private final String s;
  private final Map<Long, Boolean> knownDedupBuckets = new ConcurrentHashMap<>();

  DedupBuckets(Pool pool, JobsDbOptions options) {
    this.pool = pool;
    this.options = options;
    this.s = options.schema();
  }

  /** False when the queue's dedup window is zero: nothing is remembered. */
  boolean enabled() {
    return !options.dedupWindow().isZero();
  }

  private long bucketOf(Instant t) {
    return Math.floorDiv(t.toEpochMilli(), options.dedupWindow().toMillis());
  }

  private static String dedupBucketName(long bucket) {
    return PREFIX + bucket;
  }

  private static long bucketOfName(String name) {
    return Long.parseLong(name.substring(PREFIX.length()));
  }

  Future<Void> load() {
    return dedupBucketNames().map(names -> {
      for (String name : names) {
        knownDedupBuckets.put(bucketOfName(name), Boolean.TRUE);
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

  /**
   * Creates the bucket of {@code t} unless known, then analyzes the previous one if it exists (probed by {@link #fresh}:
   * its plan should see its real size). Which buckets exist is read again from the database here, since the migrator
   * creates buckets too.
   */
  Future<Void> ensure(Instant t) {
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
            .compose(v -> conn.query("CREATE UNIQUE INDEX IF NOT EXISTS " + dedupBucketName(bucket) + "_skey ON " + name
                + " (partition_id, message_id, source_id)").execute())
            // source-less entries (from a node of the version before V4 on this database) stay unique among themselves
            .compose(v -> conn.query("CREATE UNIQUE INDEX IF NOT EXISTS " + dedupBucketName(bucket) + "_lkey ON " + name
                + " (partition_id, message_id) WHERE source_id IS NULL").execute())
            // a bucket that such a node created after V4 ran has its source-blind index: it would refuse a second source
            .compose(v -> conn.query("DROP INDEX IF EXISTS " + s + "." + dedupBucketName(bucket) + "_key").execute()))
        .compose(v -> load())
        .compose(v -> knownDedupBuckets.containsKey(bucket - 1)
            ? pool.query("ANALYZE " + s + "." + dedupBucketName(bucket - 1)).execute().<Void>mapEmpty()
            : Future.<Void>succeededFuture())
        .map(v -> {
          knownDedupBuckets.put(bucket, Boolean.TRUE);
          return null;
        });
  }

  /**
   * Inserts the batch's (partition, source, messageId) keys into the current dedup bucket unless seen within the
   * window; returns which jobs are new. A key repeated inside the batch counts once (its first occurrence). The
   * caller's transaction holds {@code node.fence_lock} FOR SHARE ({@code NodePartitions.refused} ran first), so the
   * generation the entries are stamped with cannot change before they commit (see {@link #markForMigration}).
   */
  Future<boolean[]> fresh(SqlConnection conn, List<NewJob> jobs, Instant now) {
    Integer[] parts = new Integer[jobs.size()];
    String[] sources = new String[jobs.size()];
    String[] msgs = new String[jobs.size()];
    for (int i = 0; i < jobs.size(); i++) {
      parts[i] = jobs.get(i).partitionId();
      sources[i] = jobs.get(i).sourceId();
      msgs[i] = jobs.get(i).messageId();
    }
    // Every bucket the database holds within the window is probed (through the parent table: partition pruning on
    // seen_at keeps the probe to the current and previous buckets, plus any bucket the migrator imported, whichever
    // process created them), one index probe per messageId on (partition_id, message_id), which also finds the
    // source-less entries from before V4; the current bucket's unique index then decides between concurrent
    // transactions.
    long bucket = bucketOf(now);
    String sql = "INSERT INTO " + s + "." + dedupBucketName(bucket) + " (partition_id, source_id, message_id, seen_at, mark)"
        + " SELECT DISTINCT u.p, u.s, u.m, $4::timestamptz, (SELECT generation FROM node.fence_lock)"
        + " FROM unnest($1::int[], $2::text[], $3::text[]) AS u(p, s, m)"
        + " WHERE NOT EXISTS (SELECT 1 FROM " + s + ".dedup d WHERE d.partition_id = u.p AND d.message_id = u.m"
        + " AND (d.source_id = u.s OR d.source_id IS NULL) AND d.seen_at >= $5)"
        + " ON CONFLICT DO NOTHING RETURNING partition_id, source_id, message_id";
    return conn.preparedQuery(sql)
        .execute(Tuple.of(parts, sources, msgs, ts(now), ts(now.minus(options.dedupWindow()))))
        .map(rows -> {
          Set<Key> fresh = new HashSet<>(rows.rowCount() * 2);
          for (Row r : rows) {
            fresh.add(new Key(r.getInteger(0), r.getString(1), r.getString(2)));
          }
          boolean[] isFresh = new boolean[jobs.size()];
          for (int i = 0; i < jobs.size(); i++) {
            // remove(): the first occurrence takes the fresh mark, later repeats in the batch are duplicates
            isFresh[i] = fresh.remove(new Key(parts[i], sources[i], msgs[i]));
          }
          return isFresh;
        });
  }

  /** The dedup key. */
  private record Key(int partition, String source, String messageId) {}

  Future<Void> dropExpired() {
    if (!enabled()) {
      return Future.succeededFuture();
    }
    long oldestNeeded = bucketOf(options.clock().instant().minus(options.dedupWindow()));
    return dedupBucketNames().compose(names -> {
      Future<Void> f = Future.succeededFuture();
      for (String name : names) {
        long bucket = bucketOfName(name);
        if (bucket < oldestNeeded) {
          f = f.compose(v -> pool.query("DROP TABLE IF EXISTS " + s + "." + name).execute().<Void>mapEmpty())
              .onSuccess(v -> knownDedupBuckets.remove(bucket));
        }
      }
      return f;
    });
  }

  // ---------------------------------------------------------------- migration

  /**
   * Source, before the first copy of a migration's dedup window: bumps the node's fence-lock generation, which waits
   * for every ingest transaction in flight (they hold the row FOR SHARE) and stamps every later one's entries with the
   * new generation or a higher one, and records it as the migration's mark unless one is recorded (a rerun keeps the
   * first). So every entry below the mark was committed before the first copy began, and the copy after the fence,
   * from the mark on, takes every other: no clock and no stalled commit can make an entry miss both.
   */
  Future<Long> markForMigration(String migrationId) {
    return pool.withTransaction(conn -> conn.query("UPDATE node.fence_lock SET generation = generation + 1 RETURNING generation")
        .execute()
        .compose(rows -> conn.preparedQuery("INSERT INTO " + s + ".dedup_marks (migration_id, mark) VALUES ($1, $2)"
            + " ON CONFLICT (migration_id) DO NOTHING").execute(Tuple.of(migrationId, rows.iterator().next().getLong(0))))
        .compose(v -> markOf(conn, migrationId)));
  }

  /** The mark {@link #markForMigration} recorded for a migration, or 0 (everything) if none was. */
  Future<Long> markOf(String migrationId) {
    return markOf(pool, migrationId);
  }

  private Future<Long> markOf(io.vertx.sqlclient.SqlClient client, String migrationId) {
    return client.preparedQuery("SELECT mark FROM " + s + ".dedup_marks WHERE migration_id = $1").execute(Tuple.of(migrationId))
        .map(rows -> rows.size() == 0 ? 0L : rows.iterator().next().getLong(0));
  }

  /**
   * A page of the entries of {@code partitions} within the window whose mark is at least {@code fromMark}, in
   * (partition, messageId, source) order after {@code after} (null for the first page; source-less entries sort last,
   * as in the buckets' unique index, which serves the walk).
   */
  Future<List<DedupEntry>> export(Collection<Integer> partitions, long fromMark, DedupEntry after, int limit) {
    if (!enabled()) {
      return Future.succeededFuture(List.of());
    }
    Instant windowStart = options.clock().instant().minus(options.dedupWindow());
    // after (p, m, s): the rest of (p, m) is the sources after s and the source-less entry; after (p, m, null), none
    return pool.preparedQuery("SELECT partition_id, source_id, message_id, seen_at FROM " + s + ".dedup"
            + " WHERE partition_id = ANY($1::int[]) AND seen_at >= $2 AND mark >= $7 AND (partition_id, message_id) >= ($3, $4)"
            + " AND ((partition_id, message_id) > ($3, $4) OR ($5::text IS NOT NULL AND (source_id > $5 OR source_id IS NULL)))"
            + " ORDER BY partition_id, message_id, source_id LIMIT $6")
        .execute(Tuple.of(partitions.toArray(new Integer[0]), ts(windowStart), after == null ? Integer.MIN_VALUE : after.partitionId(),
            after == null ? "" : after.messageId(), after == null ? "" : after.sourceId(), limit).addLong(fromMark))
        .map(rows -> {
          List<DedupEntry> out = new ArrayList<>(rows.rowCount());
          for (Row r : rows) {
            out.add(new DedupEntry(r.getInteger(0), r.getString(1), r.getString(2), instant(r.getOffsetDateTime(3))));
          }
          return out;
        });
  }

  Future<Void> importEntries(List<DedupEntry> entries) {
    if (entries.isEmpty() || !enabled()) {
      return Future.succeededFuture();
    }
    Map<Long, List<DedupEntry>> byBucket = new LinkedHashMap<>();
    for (DedupEntry e : entries) {
      byBucket.computeIfAbsent(bucketOf(e.seenAt()), b -> new ArrayList<>()).add(e);
    }
    Future<Void> f = Future.succeededFuture();
    for (Map.Entry<Long, List<DedupEntry>> b : byBucket.entrySet()) {
      List<DedupEntry> list = b.getValue();
      f = f.compose(v -> ensure(list.get(0).seenAt())).compose(v -> {
        Integer[] parts = new Integer[list.size()];
        String[] sources = new String[list.size()];
        String[] msgs = new String[list.size()];
        OffsetDateTime[] seen = new OffsetDateTime[list.size()];
        for (int i = 0; i < list.size(); i++) {
          parts[i] = list.get(i).partitionId();
          sources[i] = list.get(i).sourceId();
          msgs[i] = list.get(i).messageId();
          seen[i] = ts(list.get(i).seenAt());
        }
        // a source-less entry moves as one: it still stands for every source on the target
        return pool.preparedQuery("INSERT INTO " + s + "." + dedupBucketName(b.getKey()) + " (partition_id, source_id, message_id, seen_at)"
                + " SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::timestamptz[]) ON CONFLICT DO NOTHING")
            .execute(Tuple.of(parts, sources, msgs, seen)).mapEmpty();
      });
    }
    return f;
  }
}
