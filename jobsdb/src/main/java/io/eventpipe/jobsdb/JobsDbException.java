package io.eventpipe.jobsdb;

/** Base of every jobsdb failure. */
public class JobsDbException extends RuntimeException {

  public JobsDbException(String message) {
    super(message);
  }

  public JobsDbException(String message, Throwable cause) {
    super(message, cause);
  }

  /** The store refused new work because it is closing or its queue is full; the caller should retry later. */
  public static final class Unavailable extends JobsDbException {
    public Unavailable(String message) {
      super(message);
    }
  }

  /** An import batch did not match the migration's reserved range or progress. */
  public static final class ImportConflict extends JobsDbException {
    private final String migrationId;

    public ImportConflict(String migrationId, String message) {
      super("migration " + migrationId + ": " + message);
      this.migrationId = migrationId;
    }

    public String migrationId() {
      return migrationId;
    }
  }
}
