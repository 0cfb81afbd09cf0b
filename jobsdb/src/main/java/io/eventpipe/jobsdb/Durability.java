package io.eventpipe.jobsdb;

import io.vertx.core.Future;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.SqlClient;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The settings of a PostgreSQL server that decide whether a commit survives a crash, as one session of the role
 * and database in use sees them ({@code synchronous_commit} can differ per role and database, so the check must run
 * on the connection the pipeline writes through, not on an admin one).
 *
 * <p>The pipeline acknowledges an event once its insert has committed; that promise holds only when the commit is
 * on disk: {@code fsync} on (else the WAL sits in the OS cache), {@code synchronous_commit} not {@code off} (else the
 * commit returns before its WAL is flushed) and {@code full_page_writes} on (else a torn page after a power loss
 * can corrupt committed data).
 *
 * @param version            {@code server_version}
 * @param fsync              {@code fsync}
 * @param synchronousCommit  {@code synchronous_commit}
 * @param fullPageWrites     {@code full_page_writes}
 * @param walSyncMethod      {@code wal_sync_method} (reported, not judged: every method PostgreSQL offers is durable
 *                           where the platform supports it)
 */
public record Durability(String version, String fsync, String synchronousCommit, String fullPageWrites, String walSyncMethod) {

  private static final Logger LOG = LoggerFactory.getLogger(Durability.class);

  private static final String QUERY = "SELECT current_setting('server_version'), current_setting('fsync'),"
      + " current_setting('synchronous_commit'), current_setting('full_page_writes'), current_setting('wal_sync_method')";

  /** Every value of {@code synchronous_commit} that waits for at least the local WAL flush. */
  private static final Set<String> DURABLE_SYNCHRONOUS_COMMIT = Set.of("on", "remote_write", "remote_apply", "local");

  /** One setting that makes commits non-durable, with the fix an operator applies. */
  public record Problem(String setting, String value, String fix) {
    @Override
    public String toString() {
      return setting + " is " + value + " (" + fix + ")";
    }
  }

  /** Reads the settings through {@code client} (one query; the pool's role and database). */
  public static Future<Durability> read(SqlClient client) {
    return client.query(QUERY).execute().map(rows -> {
      Row r = rows.iterator().next();
      return new Durability(r.getString(0), r.getString(1), r.getString(2), r.getString(3), r.getString(4));
    });
  }

  /** Reads the settings through a JDBC connection (blocking: never on an event loop). */
  public static Durability read(Connection connection) throws SQLException {
    try (Statement s = connection.createStatement(); ResultSet rs = s.executeQuery(QUERY)) {
      rs.next();
      return new Durability(rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4), rs.getString(5));
    }
  }

  /** What makes commits non-durable here; empty when every acknowledged commit survives a crash. */
  public List<Problem> problems() {
    List<Problem> problems = new ArrayList<>();
    if (!"on".equals(fsync)) {
      problems.add(new Problem("fsync", fsync, "set fsync = on in postgresql.conf, or ALTER SYSTEM SET fsync = on, and"
          + " reload; started by a test library, PostgreSQL may have been given -F"));
    }
    if (!DURABLE_SYNCHRONOUS_COMMIT.contains(synchronousCommit)) {
      problems.add(new Problem("synchronous_commit", synchronousCommit, "set synchronous_commit = on in postgresql.conf,"
          + " or ALTER SYSTEM SET synchronous_commit = on, and reload; also RESET it where ALTER ROLE or ALTER DATABASE"
          + " set it"));
    }
    if (!"on".equals(fullPageWrites)) {
      problems.add(new Problem("full_page_writes", fullPageWrites, "set full_page_writes = on in postgresql.conf, or"
          + " ALTER SYSTEM SET full_page_writes = on, and reload"));
    }
    return problems;
  }

  public boolean durable() {
    return problems().isEmpty();
  }

  /**
   * Throws unless durable.
   *
   * @param database   names the database in the message (no password: {@link PgConfig#redacted()})
   * @param escapeHatch how the caller may accept a non-durable database anyway (for tests), appended to the message
   * @throws JobsDbException.NotDurable naming the first bad setting and its value, with every problem and its fix
   */
  public Durability requireDurable(String database, String escapeHatch) {
    List<Problem> problems = problems();
    if (problems.isEmpty()) {
      return this;
    }
    Problem first = problems.get(0);
    throw new JobsDbException.NotDurable(first.setting(), first.value(), "PostgreSQL at " + database
        + " does not commit durably, so a crash of it or its host could lose acknowledged events: "
        + String.join("; ", problems.stream().map(Problem::toString).toList())
        + (escapeHatch == null || escapeHatch.isEmpty() ? "" : ". " + escapeHatch));
  }

  /**
   * {@link #requireDurable} unless {@code allowed} (a process started with the tests-only
   * {@code --allow-non-durable-database}), in which case a non-durable database is logged loudly and accepted.
   *
   * @param database names the database (no password: {@link PgConfig#redacted()})
   */
  public Durability requireDurableUnless(boolean allowed, String database, String escapeHatch) {
    if (!allowed || durable()) {
      return requireDurable(database, escapeHatch);
    }
    LOG.warn("NON-DURABLE DATABASE, FOR TESTS ONLY (--allow-non-durable-database): {} does not commit durably ({}): a"
        + " crash of PostgreSQL or its host can lose what was committed there", database, problems());
    return this;
  }

  /**
   * Reads the settings of {@code pg} on a connection of its own (closed before the future completes) and applies
   * {@link #requireDurableUnless}: for a process that checks a database before it opens its store there (the control
   * store, whose pools belong to {@code ControlStore}).
   */
  public static Future<Durability> check(io.vertx.core.Vertx vertx, PgConfig pg, boolean allowed, String escapeHatch) {
    io.vertx.sqlclient.Pool pool = pg.createPool(vertx, 1);
    return read(pool).eventually(() -> pool.close())
        .map(d -> d.requireDurableUnless(allowed, pg.redacted(), escapeHatch));
  }

  /** One line for logs and benchmark output, e.g. {@code PostgreSQL 17.7: fsync=on synchronous_commit=on ...}. */
  public String summary() {
    return "PostgreSQL " + version + ": fsync=" + fsync + " synchronous_commit=" + synchronousCommit
        + " full_page_writes=" + fullPageWrites + " wal_sync_method=" + walSyncMethod;
  }
}
