package io.eventpipe.migrator;

import io.eventpipe.jobsdb.PgConfig;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnection;
import io.vertx.sqlclient.Tuple;
import java.time.Duration;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@link RunLock} as a session-level advisory lock in the control store's database, on a connection of its own held
 * for the run: PostgreSQL lets go of it when the session ends, so a migrator that dies (kill -9, a Job's pod deleted
 * by the next hook run) frees it without anyone's help, and no role needs a privilege for it.
 *
 * <p>A lock is not a fence: were its connection to drop while the process goes on, another migrator could take it.
 * The run checks {@link Held#held()} before each step and stops when it was lost; what keeps a step correct when two
 * runs overlap anyway is that each step is idempotent and recorded in the control store.
 */
public final class AdvisoryRunLock implements RunLock {

  /** The lock's key (the ASCII of "migrator"); the same key as wherever else the control store names the migrator lock. */
  public static final long KEY = 0x6d69_6772_6174_6f72L;

  private static final Logger LOG = LoggerFactory.getLogger(AdvisoryRunLock.class);
  private static final Duration RETRY = Duration.ofMillis(500);

  private final Vertx vertx;
  private final PgConfig control;
  private final Duration wait;

  /**
   * @param wait how long to wait for another migrator to end before refusing ({@link Duration#ZERO}: refuse at once)
   */
  public AdvisoryRunLock(Vertx vertx, PgConfig control, Duration wait) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.control = Objects.requireNonNull(control, "control");
    this.wait = Objects.requireNonNull(wait, "wait");
  }

  @Override
  public Future<Held> acquire() {
    return PgConnection.connect(vertx, control.connectOptions().addProperty("application_name", "eventpipe-migrator"))
        .compose(conn -> attempt(conn, System.nanoTime() + wait.toNanos(), false)
            .recover(e -> conn.close().transform(x -> Future.failedFuture(e))));
  }

  private Future<Held> attempt(PgConnection conn, long deadline, boolean waited) {
    return conn.preparedQuery("SELECT pg_try_advisory_lock($1)").execute(Tuple.of(KEY)).compose(rows -> {
      if (rows.iterator().next().getBoolean(0)) {
        if (waited) {
          LOG.info("the other migrator ended: this one goes on");
        }
        return Future.succeededFuture(new HeldLock(conn));
      }
      return holder(conn).compose(who -> {
        if (System.nanoTime() >= deadline) {
          return Future.failedFuture(new Busy("another migrator is running against this control store (it holds the"
              + " migrator lock: " + who + "); waited " + wait.toSeconds() + " s (--lock-wait-seconds). Wait for it to end"
              + " (a hook's Job: kubectl logs -f job/...) or stop it, then rerun: the migration resumes where it is"));
        }
        if (!waited) {
          LOG.info("another migrator holds the migrator lock ({}): waiting up to {} s for it to end", who, wait.toSeconds());
        }
        return vertx.timer(RETRY.toMillis()).compose(t -> attempt(conn, deadline, true));
      });
    });
  }

  /** Who holds the lock, as far as this role may see (pg_locks is readable by every role). */
  private static Future<String> holder(PgConnection conn) {
    return conn.preparedQuery("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
            + " AND classid::bigint = $1 AND objid::bigint = $2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")
        .execute(Tuple.of(KEY >>> 32, KEY & 0xffff_ffffL))
        .map(rows -> rows.rowCount() == 0 ? "it ended just now" : "PostgreSQL backend pid " + rows.iterator().next().getInteger(0))
        .otherwise("unknown holder");
  }

  private static final class HeldLock implements Held {
    private final PgConnection conn;
    private volatile boolean lost;

    HeldLock(PgConnection conn) {
      this.conn = conn;
      conn.closeHandler(v -> lost = true);
    }

    @Override
    public boolean held() {
      return !lost;
    }

    @Override
    public Future<Void> release() {
      lost = true;
      return conn.close(); // ends the session, and with it the lock
    }
  }
}
