package io.eventpipe.migrator;

import io.vertx.core.Future;

/**
 * One migrator at a time: what a run takes before its first step and holds to its end, so a second migrator process
 * (a rerun while a hook's Job still runs, an abort beside a hook) waits or is refused instead of interleaving its
 * steps with the first one's. Each step is idempotent; two runs interleaved are not.
 */
public interface RunLock {

  /** Takes the lock; fails with {@link Busy} when another migrator still holds it once the wait is over. */
  Future<Held> acquire();

  /** The lock as held by this run. */
  interface Held {

    /** Whether it is still held (its connection may have dropped: then another migrator may run, and this one stops). */
    boolean held();

    Future<Void> release();
  }

  /** Another migrator holds the lock. */
  final class Busy extends MigrationException {
    private static final long serialVersionUID = 1L;

    public Busy(String message) {
      super(message);
    }
  }
}
