package io.eventpipe.control;

import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;
import org.flywaydb.core.Flyway;

/**
 * The control store: the cluster's topology history (epoch, partition count, partition → node map) and the
 * nodes' internal addresses, in PostgreSQL. Every change is a new epoch and a {@code NOTIFY topology}, which
 * {@link TopologyWatcher}s follow.
 */
public final class ControlStore implements AutoCloseable {

  /** The LISTEN/NOTIFY channel of topology changes. */
  public static final String CHANNEL = "topology";
  /** The address of a node that has not registered yet; requests to it fail like requests to a down node. */
  public static final String UNREGISTERED = "unregistered:0";

  private final PgConfig pg;
  private final Pool pool;

  private ControlStore(PgConfig pg, Pool pool) {
    this.pg = pg;
    this.pool = pool;
  }

  /**
   * Connects, and migrates the schema (Flyway, on a worker thread) when the role may: the schema's owner (or a
   * superuser, or a role that may create it when it is missing) migrates it and reapplies the grants of
   * {@link ControlRoles}; a restricted role (proxy, node, migrator, status) uses the schema as it is, and a
   * {@link TopologyWatcher} on it waits until the owner has created it.
   */
  public static Future<ControlStore> open(Vertx vertx, PgConfig pg) {
    return vertx.executeBlocking(() -> {
      if (mayMigrate(pg)) {
        Flyway.configure().dataSource(pg.jdbcUrl(), pg.user(), pg.password())
            .schemas("control").defaultSchema("control").locations("classpath:db/control").load().migrate();
        try (java.sql.Connection c = java.sql.DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password());
             java.sql.Statement s = c.createStatement()) {
          s.execute("SELECT control.apply_grants()");
        }
      }
      return new ControlStore(pg, pg.createPool(vertx, 4));
    }, false);
  }

  /**
   * Whether the control store at {@code pg} holds a cluster (a topology), read without creating or migrating anything:
   * a database that does not exist, a schema or table not created yet, and an empty topology all mean no cluster (what
   * a hook finds on a first install or sync). A server that cannot be reached, or a role refused, is a failure, never
   * "no cluster": a cluster that exists must not be taken for none.
   */
  public static Future<Boolean> holdsACluster(Vertx vertx, PgConfig pg) {
    return io.vertx.pgclient.PgConnection.connect(vertx, pg.connectOptions())
        .compose(conn -> conn.query("SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                + " WHERE n.nspname = 'control' AND c.relname = 'topology')").execute()
            .compose(rows -> !rows.iterator().next().getBoolean(0) ? Future.succeededFuture(false)
                : conn.query("SELECT EXISTS (SELECT 1 FROM control.topology)").execute().map(r -> r.iterator().next().getBoolean(0)))
            .eventually(conn::close))
        .recover(e -> e instanceof io.vertx.pgclient.PgException pe && "3D000".equals(pe.getSqlState()) // no such database
            ? Future.succeededFuture(false) : Future.failedFuture(e));
  }

  private static boolean mayMigrate(PgConfig pg) throws java.sql.SQLException {
    try (java.sql.Connection c = java.sql.DriverManager.getConnection(pg.jdbcUrl(), pg.user(), pg.password());
         java.sql.Statement s = c.createStatement();
         java.sql.ResultSet rs = s.executeQuery("SELECT CASE WHEN n.oid IS NULL THEN has_database_privilege(current_database(), 'CREATE')"
             + " ELSE pg_has_role(current_user, n.nspowner, 'USAGE') END"
             + " FROM (SELECT 1) one LEFT JOIN pg_namespace n ON n.nspname = 'control'")) {
      rs.next();
      return rs.getBoolean(1);
    }
  }

  public PgConfig config() {
    return pg;
  }

  /** The store's connections, for the other record kinds of the control schema ({@link Regulations}). */
  Pool pool() {
    return pool;
  }

  /** The current topology, or empty when the cluster was never initialized. */
  public Future<Optional<Topology>> current() {
    return pool.withConnection(conn -> currentIn(conn));
  }

  private static Future<Optional<Topology>> currentIn(SqlConnection conn) {
    return conn.query("SELECT epoch, owners FROM control.topology ORDER BY epoch DESC LIMIT 1").execute()
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.succeededFuture(Optional.empty());
          }
          Row r = rows.iterator().next();
          long epoch = r.getLong(0);
          int[] owners = ints(r.getArrayOfIntegers(1));
          return conn.query("SELECT node_id, address FROM control.nodes").execute().map(nodes -> {
            Map<Integer, String> addresses = new HashMap<>();
            for (Row n : nodes) {
              addresses.put(n.getInteger(0), n.getString(1));
            }
            for (int owner : owners) {
              addresses.putIfAbsent(owner, UNREGISTERED);
            }
            return Optional.of(Topology.of(epoch, owners, addresses));
          });
        });
  }

  /**
   * Creates epoch 1 with the balanced assignment of {@code partitions} over {@code nodeCount} nodes, unless a
   * topology exists already; then returns it, after checking that its partition count is the same (the
   * partition count is fixed at creation).
   */
  public Future<Topology> initialize(int partitions, int nodeCount) {
    Assignment assignment = Assignment.compute(partitions, nodeCount);
    return pool.withTransaction(conn -> conn.query("LOCK TABLE control.topology IN EXCLUSIVE MODE").execute()
        .compose(v -> currentIn(conn))
        .compose(existing -> {
          if (existing.isPresent()) {
            if (existing.get().partitionCount() != partitions) {
              throw new IllegalStateException("the cluster was created with " + existing.get().partitionCount()
                  + " partitions; the partition count cannot change (asked for " + partitions + ")");
            }
            return Future.succeededFuture(existing.get());
          }
          return insertEpoch(conn, 1, assignment.owners(), nodeCount, null).compose(v -> currentIn(conn)).map(Optional::get);
        }));
  }

  /** Publishes a new epoch with the given map (used by migrations). */
  public Future<Topology> publish(int[] owners, int nodeCount, String migration) {
    return pool.withTransaction(conn -> conn.query("LOCK TABLE control.topology IN EXCLUSIVE MODE").execute()
        .compose(v -> conn.query("SELECT coalesce(max(epoch), 0) FROM control.topology").execute())
        .compose(rows -> insertEpoch(conn, rows.iterator().next().getLong(0) + 1, owners, nodeCount, migration))
        .compose(v -> currentIn(conn)).map(Optional::get));
  }

  private static Future<Void> insertEpoch(SqlConnection conn, long epoch, int[] owners, int nodeCount, String migration) {
    return conn.preparedQuery("INSERT INTO control.topology (epoch, partition_count, owners, node_count, migration)"
            + " VALUES ($1, $2, $3, $4, $5)")
        .execute(Tuple.of(epoch, owners.length, boxed(owners), nodeCount, migration))
        .compose(v -> conn.query("NOTIFY " + CHANNEL + ", '" + epoch + "'").execute())
        .mapEmpty();
  }

  /**
   * A migration's switch, in one transaction: publishes its epoch (once: if the current epoch already belongs to
   * {@code migration}, it stays) and records the step {@link Migration.Step#SWITCHED}. Published and recorded cannot
   * part: were they two transactions, a crash between them would leave the new epoch in force under a migration
   * recorded as not switched, which an abort would undo as if nothing had moved (issue 15, hole 1).
   *
   * <p>Refused with {@link AbortRequested} when an abort was requested before the epoch was published: the migration's
   * row is locked first, so {@link #requestAbort} either waits for this transaction (and the abort then finds the epoch
   * published) or comes before it (and nothing is published).
   */
  public Future<Topology> switchEpoch(String migration, int[] owners, int nodeCount) {
    return pool.withTransaction(conn -> conn.preparedQuery("SELECT abort_requested FROM control.migrations WHERE id = $1 FOR UPDATE")
        .execute(Tuple.of(migration))
        .compose(m -> {
          if (m.rowCount() == 0) {
            throw new IllegalStateException("migration " + migration + " is not recorded in the control store");
          }
          boolean abort = m.iterator().next().getBoolean(0);
          return conn.query("LOCK TABLE control.topology IN EXCLUSIVE MODE").execute()
              .compose(v -> conn.query("SELECT coalesce(max(epoch), 0),"
                  + " (SELECT migration FROM control.topology ORDER BY epoch DESC LIMIT 1) FROM control.topology").execute())
              .compose(rows -> {
                Row r = rows.iterator().next();
                if (migration.equals(r.getString(1))) {
                  return Future.<Void>succeededFuture();
                }
                if (abort) {
                  throw new AbortRequested(migration);
                }
                return insertEpoch(conn, r.getLong(0) + 1, owners, nodeCount, migration);
              });
        })
        .compose(v -> conn.preparedQuery("UPDATE control.migrations SET state = 'switched', updated_at = now()"
            + " WHERE id = $1 AND state = 'fenced'").execute(Tuple.of(migration)))
        .compose(v -> notifyMigration(conn))
        .compose(v -> currentIn(conn)).map(Optional::get));
  }

  /**
   * Whether {@code migration} published an epoch: whether its switch happened. This, not the recorded step, is what an
   * abort decides by (a migration recorded before the switch step was one transaction may have published unrecorded).
   */
  public Future<Boolean> switched(String migration) {
    return pool.preparedQuery("SELECT 1 FROM control.topology WHERE migration = $1 LIMIT 1").execute(Tuple.of(migration))
        .map(rows -> rows.rowCount() > 0);
  }

  /** The epoch {@code migration} published, if it did (a rollback's migration publishes one too). */
  public Future<Optional<Long>> epochOf(String migration) {
    return pool.preparedQuery("SELECT max(epoch) FROM control.topology WHERE migration = $1").execute(Tuple.of(migration))
        .map(rows -> Optional.ofNullable(rows.iterator().next().getLong(0)));
  }

  /** The node count of the current epoch (nodes beyond it may be registered: new ones, or removed ones still running). */
  public Future<Integer> nodeCount() {
    return pool.query("SELECT node_count FROM control.topology ORDER BY epoch DESC LIMIT 1").execute()
        .map(rows -> rows.rowCount() == 0 ? 0 : rows.iterator().next().getInteger(0));
  }

  /** Forgets nodes at or above {@code fromOrdinal} that own nothing (after a scale-down finished). */
  public Future<Void> forgetNodesFrom(int fromOrdinal) {
    return pool.withTransaction(conn -> conn.preparedQuery("DELETE FROM control.nodes WHERE node_id >= $1").execute(Tuple.of(fromOrdinal))
        .compose(v -> conn.query("NOTIFY " + CHANNEL + ", 'nodes'").execute()).mapEmpty());
  }

  /** Records where a node listens for internal traffic, and tells the watchers. */
  public Future<Void> registerNode(int nodeId, String address) {
    return pool.withTransaction(conn -> conn.preparedQuery("INSERT INTO control.nodes (node_id, address) VALUES ($1, $2)"
            + " ON CONFLICT (node_id) DO UPDATE SET address = EXCLUDED.address, updated_at = now()")
        .execute(Tuple.of(nodeId, address))
        .compose(v -> conn.query("NOTIFY " + CHANNEL + ", 'nodes'").execute())
        .mapEmpty());
  }

  /**
   * Renews a node's heartbeat (and says whether it serves); the migrator waits for new nodes by it. False when the node
   * is not registered: a shrink forgot it (its pod may run on, e.g. when a rollback keeps the StatefulSet's size), and it
   * must {@link #registerNode} again before a migration can wait for it.
   */
  public Future<Boolean> heartbeat(int nodeId, boolean ready) {
    return pool.preparedQuery("UPDATE control.nodes SET heartbeat_at = now(), ready = $2 WHERE node_id = $1")
        .execute(Tuple.of(nodeId, ready)).map(rows -> rows.rowCount() > 0);
  }

  /** Every registered node, with the control store's clock reading (heartbeats are compared to it). */
  public Future<Map.Entry<java.time.Instant, java.util.List<NodeInfo>>> nodes() {
    return pool.query("SELECT node_id, address, heartbeat_at, ready, now() FROM control.nodes ORDER BY node_id").execute()
        .map(rows -> {
          java.util.List<NodeInfo> out = new java.util.ArrayList<>();
          java.time.Instant now = null;
          for (Row r : rows) {
            out.add(new NodeInfo(r.getInteger(0), r.getString(1), instant(r.getOffsetDateTime(2)), r.getBoolean(3)));
            now = instant(r.getOffsetDateTime(4));
          }
          return Map.entry(now == null ? java.time.Instant.now() : now, out);
        });
  }

  // ------------------------------------------------------------------ migrations

  /** The migration in progress, if any. */
  public Future<Optional<Migration>> activeMigration() {
    return pool.withConnection(conn -> migrationWhere(conn, "state NOT IN ('finished', 'aborted')", Tuple.tuple()));
  }

  /** One migration by id, whatever its step. */
  public Future<Optional<Migration>> migration(String id) {
    return pool.withConnection(conn -> migrationWhere(conn, "id = $1", Tuple.of(id)));
  }

  /** The newest migrations, newest first (at most {@code limit}). */
  public Future<java.util.List<Migration>> recentMigrations(int limit) {
    return pool.withConnection(conn -> conn.preparedQuery("SELECT id FROM control.migrations ORDER BY started_at DESC LIMIT $1")
        .execute(Tuple.of(limit))
        .compose(rows -> {
          Future<java.util.List<Migration>> f = Future.succeededFuture(new java.util.ArrayList<>());
          for (Row r : rows) {
            String id = r.getString(0);
            f = f.compose(list -> migrationWhere(conn, "id = $1", Tuple.of(id)).map(m -> {
              m.ifPresent(list::add);
              return list;
            }));
          }
          return f;
        }));
  }

  private static Future<Optional<Migration>> migrationWhere(SqlConnection conn, String where, Tuple args) {
    return conn.preparedQuery("SELECT id, from_nodes, to_nodes, from_epoch, old_owners, new_owners, state, abort_requested,"
            + " error, jobs_moved, started_at, updated_at, finished_at, dedup_cutoff FROM control.migrations WHERE " + where
            + " ORDER BY started_at DESC LIMIT 1")
        .execute(args)
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return Future.succeededFuture(Optional.<Migration>empty());
          }
          Row r = rows.iterator().next();
          String id = r.getString(0);
          return conn.preparedQuery("SELECT partition_id, source, target, copied FROM control.migration_moves"
                  + " WHERE migration_id = $1 ORDER BY partition_id")
              .execute(Tuple.of(id))
              .map(moves -> {
                java.util.List<Migration.Move> list = new java.util.ArrayList<>();
                for (Row m : moves) {
                  list.add(new Migration.Move(m.getInteger(0), m.getInteger(1), m.getInteger(2), m.getBoolean(3)));
                }
                return Optional.of(new Migration(id, r.getInteger(1), r.getInteger(2), r.getLong(3), ints(r.getArrayOfIntegers(4)),
                    ints(r.getArrayOfIntegers(5)), Migration.Step.parse(r.getString(6)), r.getBoolean(7), r.getString(8),
                    r.getLong(9), instant(r.getOffsetDateTime(10)), instant(r.getOffsetDateTime(11)),
                    instant(r.getOffsetDateTime(12)), instant(r.getOffsetDateTime(13)), java.util.List.copyOf(list)));
              });
        });
  }

  /**
   * Records a new migration and its moves, unless one is in progress: then it fails with
   * {@link MigrationInProgress} naming it.
   */
  public Future<Migration> beginMigration(String id, int fromNodes, int toNodes, Topology from, int[] newOwners) {
    int[] old = from.owners();
    return pool.withTransaction(conn -> conn.query("LOCK TABLE control.migrations IN EXCLUSIVE MODE").execute()
        .compose(v -> migrationWhere(conn, "state NOT IN ('finished', 'aborted')", Tuple.tuple()))
        .compose(active -> {
          if (active.isPresent()) {
            throw new MigrationInProgress(active.get());
          }
          java.util.List<Tuple> moves = new java.util.ArrayList<>();
          for (int p = 0; p < old.length; p++) {
            if (old[p] != newOwners[p]) {
              moves.add(Tuple.of(id, p, old[p], newOwners[p]));
            }
          }
          return conn.preparedQuery("INSERT INTO control.migrations (id, from_nodes, to_nodes, from_epoch, old_owners, new_owners, state)"
                  + " VALUES ($1, $2, $3, $4, $5, $6, 'planned')")
              .execute(Tuple.of(id, fromNodes, toNodes, from.epoch(), boxed(old), boxed(newOwners)))
              .compose(x -> moves.isEmpty() ? Future.succeededFuture()
                  : conn.preparedQuery("INSERT INTO control.migration_moves (migration_id, partition_id, source, target)"
                      + " VALUES ($1, $2, $3, $4)").executeBatch(moves))
              .compose(x -> notifyMigration(conn))
              .compose(x -> migrationWhere(conn, "id = $1", Tuple.of(id)))
              .map(Optional::get);
        }));
  }

  /** Records that a migration completed {@code step}. */
  public Future<Void> recordStep(String id, Migration.Step step, String error) {
    return pool.withTransaction(conn -> conn.preparedQuery("UPDATE control.migrations SET state = $2, error = $3, updated_at = now(),"
            + " finished_at = CASE WHEN $2 IN ('finished', 'aborted') THEN now() ELSE finished_at END WHERE id = $1")
        .execute(Tuple.of(id, step.sql(), error))
        .compose(v -> notifyMigration(conn)));
  }

  /** Records the dedup cutoff of a migration, once (a rerun keeps the first, the earliest). */
  public Future<Void> recordDedupCutoff(String id, java.time.Instant cutoff) {
    return pool.preparedQuery("UPDATE control.migrations SET dedup_cutoff = $2 WHERE id = $1 AND dedup_cutoff IS NULL")
        .execute(Tuple.of(id, java.time.OffsetDateTime.ofInstant(cutoff, java.time.ZoneOffset.UTC))).mapEmpty();
  }

  /** Records an error of the migration in progress (it stays at its step; a rerun resumes). */
  public Future<Void> recordError(String id, String error) {
    return pool.preparedQuery("UPDATE control.migrations SET error = $2, updated_at = now() WHERE id = $1")
        .execute(Tuple.of(id, error)).mapEmpty();
  }

  /** Asks the migration in progress to roll back (the migrator acts on it). */
  public Future<Void> requestAbort(String id) {
    return pool.preparedQuery("UPDATE control.migrations SET abort_requested = true, updated_at = now() WHERE id = $1")
        .execute(Tuple.of(id)).mapEmpty();
  }

  /** Adds to a migration's count of moved jobs. */
  public Future<Void> addJobsMoved(String id, long jobs) {
    return pool.preparedQuery("UPDATE control.migrations SET jobs_moved = jobs_moved + $2, updated_at = now() WHERE id = $1")
        .execute(Tuple.of(id, jobs)).mapEmpty();
  }

  /** Records how many jobs the migration's copy moves in all (the migrator counts them when the copy begins). */
  public Future<Void> recordJobsTotal(String id, long jobs) {
    return pool.preparedQuery("UPDATE control.migrations SET jobs_total = $2 WHERE id = $1").execute(Tuple.of(id, jobs)).mapEmpty();
  }

  /** The jobs the migration's copy moves in all, once its copy began (empty before, and for older records). */
  public Future<Optional<Long>> jobsTotal(String id) {
    return pool.preparedQuery("SELECT jobs_total FROM control.migrations WHERE id = $1").execute(Tuple.of(id))
        .map(rows -> rows.rowCount() == 0 ? Optional.<Long>empty() : Optional.ofNullable(rows.iterator().next().getLong(0)));
  }

  /** Records that the copy from {@code source} to {@code target} is complete. */
  public Future<Void> markCopied(String id, int source, int target) {
    return pool.preparedQuery("UPDATE control.migration_moves SET copied = true WHERE migration_id = $1 AND source = $2 AND target = $3")
        .execute(Tuple.of(id, source, target)).mapEmpty();
  }

  private static Future<Void> notifyMigration(SqlConnection conn) {
    return conn.query("NOTIFY " + CHANNEL + ", 'migration'").execute().mapEmpty();
  }

  /** An abort of the migration was requested before its switch: the switch is not made. */
  public static final class AbortRequested extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public AbortRequested(String migration) {
      super("an abort of migration " + migration + " was requested: not switching (`pipeline migrator --abort` rolls it back)");
    }
  }

  /** Another migration is in progress: one at a time. */
  public static final class MigrationInProgress extends IllegalStateException {
    private static final long serialVersionUID = 1L;
    private final transient Migration active;

    public MigrationInProgress(Migration active) {
      super(active + " is in progress (started " + active.startedAt() + "); rerun `pipeline migrator --to " + active.toNodes()
          + "` to finish it, or `pipeline migrator --abort` to roll it back");
      this.active = active;
    }

    public Migration active() {
      return active;
    }
  }

  private static int[] ints(Integer[] boxed) {
    int[] out = new int[boxed.length];
    for (int i = 0; i < boxed.length; i++) {
      out[i] = boxed[i];
    }
    return out;
  }

  private static Integer[] boxed(int[] values) {
    Integer[] out = new Integer[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = values[i];
    }
    return out;
  }

  private static java.time.Instant instant(java.time.OffsetDateTime t) {
    return t == null ? null : t.toInstant();
  }

  @Override
  public void close() {
    pool.close();
  }

  public Future<Void> closeAsync() {
    return pool.close();
  }
}
