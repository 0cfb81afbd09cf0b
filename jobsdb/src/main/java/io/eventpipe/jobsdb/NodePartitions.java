package io.eventpipe.jobsdb;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.flywaydb.core.Flyway;

/**
 * What a node's own database records about partitions that move: incoming (held), fenced (outgoing) and gone.
 * A partition with no record is served normally, if the topology gives it to the node.
 *
 * <p>This record, not the control store, is what a node obeys where its writes commit, the way a Kafka broker checks
 * the leader epoch inside the append: {@link #refused(SqlClient, Collection)} runs inside every ingest and fan-out
 * transaction. A node restarted on its retained volume, or cut off from the control store, or a second process on the
 * same database, all find the fence here.
 *
 * <h2>Why the check cannot be overtaken</h2>
 * Writers lock the single {@code fence_lock} row {@code FOR SHARE} inside their transaction and then read the
 * partitions' states; {@link #fence} first {@code UPDATE}s that row. The update waits for every writer that locked it
 * before (their jobs are committed, so the migration's copy sees them); a writer that comes later waits for the fence
 * to commit and, its next statement taking a new snapshot, sees the fence. A row lock rather than a table lock, since a
 * table lock is taken before a cached statement's snapshot in some protocol paths and after it in others.
 *
 * <p>The migrator calls the state changes on the node's database directly (the node may be down); the node follows
 * them by {@code LISTEN partitions} and polling.
 */
public final class NodePartitions {

  /** A {@link #writeFloors} entry: the partition accepts no writer at all (fenced or gone). */
  public static final long NO_WRITER = Long.MAX_VALUE;

  /** The channel on which state changes are announced in the node's database. */
  public static final String CHANNEL = "partitions";
  /** The advisory lock key that the process serving a node's database holds for its whole life. */
  public static final long INSTANCE_LOCK = 0x6576_656e_7470_6970L; // "eventpip"

  /** The state of a partition that moves. */
  public enum State {
    /** A migration target: writes are accepted, fan-out and delivery are held until release. */
    INCOMING(1),
    /** A migration source: writes are refused; nothing is fanned out or delivered. */
    FENCED(2),
    /** Moved away: served by another node. */
    GONE(3);

    private final short code;

    State(int code) {
      this.code = (short) code;
    }

    public short code() {
      return code;
    }

    static State of(short code) {
      for (State s : values()) {
        if (s.code == code) {
          return s;
        }
      }
      throw new IllegalArgumentException("unknown partition state " + code);
    }
  }

  /** One partition's record. */
  public record Entry(int partition, State state, String migrationId, boolean confirmed, Instant since) {}

  private final Pool pool;

  private NodePartitions(Pool pool) {
    this.pool = pool;
  }

  /** Migrates the {@code node} schema (Flyway, on a worker thread) and returns the record on {@code pool}. */
  public static Future<NodePartitions> open(Vertx vertx, PgConfig pg, Pool pool) {
    return vertx.executeBlocking(() -> {
      migrate(pg);
      return new NodePartitions(pool);
    }, false);
  }

  /** Migrates the {@code node} schema; blocking (Flyway). Idempotent, safe from concurrent processes. */
  public static void migrate(PgConfig pg) {
    Flyway.configure().dataSource(pg.jdbcUrl(), pg.user(), pg.password())
        .schemas("node").defaultSchema("node").locations("classpath:db/node").load().migrate();
  }

  /** Every partition with a record, by partition. */
  public Future<Map<Integer, Entry>> entries() {
    return pool.query("SELECT partition_id, state, migration_id, confirmed, since FROM node.partition_state ORDER BY partition_id")
        .execute().map(rows -> {
          Map<Integer, Entry> out = new TreeMap<>();
          for (Row r : rows) {
            out.put(r.getInteger(0), new Entry(r.getInteger(0), State.of(r.getShort(1)), r.getString(2), r.getBoolean(3),
                r.getOffsetDateTime(4).toInstant()));
          }
          return out;
        });
  }

  /**
   * Inside the caller's transaction: the partitions among {@code partitions} that refuse writes (fenced or gone). Takes
   * the fence lock {@code FOR SHARE} first, so a concurrent {@link #fence} either waits for this transaction or is seen.
   */
  public static Future<Set<Integer>> refused(SqlClient tx, Collection<Integer> partitions) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return tx.query("SELECT 1 FROM node.fence_lock FOR SHARE").execute()
        .compose(v -> tx.preparedQuery("SELECT partition_id FROM node.partition_state WHERE state >= 2 AND partition_id = ANY($1::int[])")
            .execute(Tuple.of((Object) parts)))
        .map(rows -> {
          Set<Integer> out = new HashSet<>();
          for (Row r : rows) {
            out.add(r.getInteger(0));
          }
          return out;
        });
  }

  /**
   * Target, step "prepare": the partitions accept writes and hold fan-out and delivery. Idempotent. A partition this
   * node records as gone keeps the tombstone's migration ({@code gone_migration}), so {@link #unhold} restores it.
   */
  public Future<Void> hold(String migrationId, Collection<Integer> partitions) {
    return hold(migrationId, partitions, null);
  }

  /**
   * {@link #hold(String, Collection)}, accepting writes only from writers at {@code epoch} or later (the epoch the
   * migration's switch publishes; see {@link #writeFloors}); null: from any writer.
   */
  public Future<Void> hold(String migrationId, Collection<Integer> partitions, Long epoch) {
    return change("INSERT INTO node.partition_state (partition_id, state, migration_id, hold_epoch)"
        + " SELECT p, 1, $2, $3 FROM unnest($1::int[]) AS p"
        + " ON CONFLICT (partition_id) DO UPDATE SET state = 1, migration_id = EXCLUDED.migration_id, confirmed = false, since = now(),"
        + " hold_epoch = EXCLUDED.hold_epoch,"
        + " gone_migration = CASE WHEN node.partition_state.state = 3 THEN node.partition_state.migration_id"
        + " ELSE node.partition_state.gone_migration END"
        + " WHERE node.partition_state.migration_id <> EXCLUDED.migration_id",
        Tuple.of(partitions.toArray(new Integer[0]), migrationId, epoch));
  }

  /**
   * Inside the caller's transaction, as {@link #refused}: for each partition among {@code partitions} that limits
   * writes, the lowest writer epoch it accepts: {@link #NO_WRITER} for a fenced or gone one, a held one's
   * {@code hold_epoch}. A partition missing from the map accepts every writer.
   */
  public static Future<Map<Integer, Long>> writeFloors(SqlClient tx, Collection<Integer> partitions) {
    Integer[] parts = partitions.toArray(new Integer[0]);
    return tx.query("SELECT 1 FROM node.fence_lock FOR SHARE").execute()
        .compose(v -> tx.preparedQuery("SELECT partition_id, CASE WHEN state >= 2 THEN " + NO_WRITER + " ELSE hold_epoch END"
                + " FROM node.partition_state WHERE (state >= 2 OR hold_epoch IS NOT NULL) AND partition_id = ANY($1::int[])")
            .execute(Tuple.of((Object) parts)))
        .map(rows -> {
          Map<Integer, Long> out = new java.util.HashMap<>();
          for (Row r : rows) {
            out.put(r.getInteger(0), r.getLong(1));
          }
          return out;
        });
  }

  /**
   * Source, step "fence": the partitions refuse writes from now on; returns once every write transaction that checked
   * before has committed or rolled back. Idempotent (a partition already fenced or gone for this migration stays so).
   */
  public Future<Void> fence(String migrationId, Collection<Integer> partitions) {
    return pool.withTransaction(conn -> conn.query("UPDATE node.fence_lock SET id = id").execute()
        .compose(v -> conn.preparedQuery("INSERT INTO node.partition_state (partition_id, state, migration_id)"
                + " SELECT p, 2, $2 FROM unnest($1::int[]) AS p"
                + " ON CONFLICT (partition_id) DO UPDATE SET state = 2, migration_id = EXCLUDED.migration_id, confirmed = false, since = now()"
                + " WHERE node.partition_state.migration_id <> EXCLUDED.migration_id OR node.partition_state.state = 1")
            .execute(Tuple.of(partitions.toArray(new Integer[0]), migrationId)))
        .compose(v -> notify(conn)));
  }

  /**
   * The node (or, for a node that is down, the migrator) confirms that nothing of these fenced partitions is held in
   * memory or in flight any more. From its commit on, delivery-state writes skip these partitions: a process that
   * lost its lock but kept delivering cannot write an outcome behind the migration's back (its late delivery may
   * still reach the destination, which then gets the event again from the new owner: at-least-once).
   */
  public Future<Void> confirm(Collection<Integer> partitions) {
    // the fence lock first: the confirmation waits for every delivery-state write that checked before it, and every
    // later one sees it and skips these partitions (JobsDb.updateStates)
    return pool.withTransaction(conn -> conn.query("UPDATE node.fence_lock SET id = id").execute()
        .compose(v -> conn.preparedQuery("UPDATE node.partition_state SET confirmed = true"
            + " WHERE state = 2 AND NOT confirmed AND partition_id = ANY($1::int[])")
        .execute(Tuple.of((Object) partitions.toArray(new Integer[0]))))
        .compose(v -> notify(conn)));
  }

  /** Source, after the copy: the partitions are gone. Idempotent. */
  public Future<Void> markGone(String migrationId, Collection<Integer> partitions) {
    return change("UPDATE node.partition_state SET state = 3, since = now()"
        + " WHERE partition_id = ANY($1::int[]) AND migration_id = $2 AND state = 2", migrationId, partitions);
  }

  /** Target, step "release": the partitions are served normally (the held writes after the copied jobs). Idempotent. */
  public Future<Void> release(String migrationId, Collection<Integer> partitions) {
    return change("DELETE FROM node.partition_state WHERE partition_id = ANY($1::int[]) AND migration_id = $2 AND state = 1",
        migrationId, partitions);
  }

  /** Abort before the switch: a source serves its fenced partitions again. Idempotent. */
  public Future<Void> unfence(String migrationId, Collection<Integer> partitions) {
    return change("DELETE FROM node.partition_state WHERE partition_id = ANY($1::int[]) AND migration_id = $2 AND state = 2",
        migrationId, partitions);
  }

  /**
   * Abort before the switch: a target drops its hold (it received no write: the topology never gave it these). A
   * partition that was gone from here before the hold is gone again (its tombstone restored), never served.
   */
  public Future<Void> unhold(String migrationId, Collection<Integer> partitions) {
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE node.partition_state SET state = 3,"
            + " migration_id = gone_migration, gone_migration = NULL, confirmed = false, since = now()"
            + " WHERE partition_id = ANY($1::int[]) AND migration_id = $2 AND state = 1 AND gone_migration IS NOT NULL")
        .execute(Tuple.of(partitions.toArray(new Integer[0]), migrationId))
        .compose(v -> conn.preparedQuery("DELETE FROM node.partition_state WHERE partition_id = ANY($1::int[])"
                + " AND migration_id = $2 AND state = 1")
            .execute(Tuple.of(partitions.toArray(new Integer[0]), migrationId)))
        .compose(v -> notify(conn)));
  }

  /** Whether a process holds this database's {@link #INSTANCE_LOCK}: whether a node serves it now. */
  public Future<Boolean> served() {
    return pool.query("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            + " WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()"
            + " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = " + INSTANCE_LOCK)
        .execute().map(rows -> rows.iterator().next().getLong(0) > 0);
  }

  /**
   * How long the process that last took this database's instance lock keeps delivering once it cannot reach the
   * database (see {@link #lockInstance(Vertx, PgConfig, java.time.Duration, String)}); empty if it never said (an older
   * version, or never served).
   */
  public Future<java.util.Optional<java.time.Duration>> selfFence() {
    return pool.query("SELECT self_fence_ms FROM node.self_fence WHERE id = 1").execute()
        .map(rows -> rows.size() == 0 ? java.util.Optional.empty()
            : java.util.Optional.of(java.time.Duration.ofMillis(rows.iterator().next().getInteger(0))));
  }

  /**
   * Takes this database's {@link #INSTANCE_LOCK} on a connection of its own and returns it: held as long as the
   * connection lives. Fails if another process holds it (two processes must never serve one node's database). Once it
   * holds the lock it records {@code selfFence}, the promise its caller keeps: no delivery of it stays open longer than
   * that after it last reached the database (the migrator waits that long before confirming for a node that is down).
   */
  public static Future<io.vertx.pgclient.PgConnection> lockInstance(Vertx vertx, PgConfig pg, java.time.Duration selfFence,
      String node) {
    return io.vertx.pgclient.PgConnection.connect(vertx, pg.connectOptions()).compose(conn -> conn
        .query("SELECT pg_try_advisory_lock(" + INSTANCE_LOCK + ")").execute()
        .compose(rows -> {
          if (rows.iterator().next().getBoolean(0)) {
            return conn.preparedQuery("INSERT INTO node.self_fence (id, self_fence_ms, node) VALUES (1, $1, $2)"
                    + " ON CONFLICT (id) DO UPDATE SET self_fence_ms = EXCLUDED.self_fence_ms, node = EXCLUDED.node, since = now()")
                .execute(Tuple.of((int) Math.max(1, selfFence.toMillis()), node))
                .<io.vertx.pgclient.PgConnection>map(conn)
                .recover(e -> conn.close().transform(x -> Future.failedFuture(e)));
          }
          return conn.close().transform(x -> Future.failedFuture(new JobsDbException("another process is serving the node"
              + " database " + pg.redacted() + " (it holds the node's instance lock): two processes must not serve one node")));
        }));
  }

  private Future<Void> change(String sql, String migrationId, Collection<Integer> partitions) {
    return change(sql, Tuple.of(partitions.toArray(new Integer[0]), migrationId));
  }

  private Future<Void> change(String sql, Tuple args) {
    return pool.withTransaction(conn -> conn.preparedQuery(sql)
        .execute(args)
        .compose(v -> notify(conn)));
  }

  private static Future<Void> notify(SqlConnection conn) {
    return conn.query("NOTIFY " + CHANNEL).execute().mapEmpty();
  }
}
