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

  /**
   * PostgreSQL refused the data itself (SQLSTATE class 22, data exception: a NUL in a {@code text} column is 22021, an
   * untranslatable character 22P05, an invalid text representation 22P02; or class 54, a program limit such as an
   * index row too large): retrying cannot help, so the caller's request is refused permanently (a 400), never answered
   * with a retryable 503. The message names the SQLSTATE; PostgreSQL's own text stays in the cause, for the log.
   */
  public static final class InvalidData extends JobsDbException {
    private final String sqlState;

    public InvalidData(String sqlState, Throwable cause) {
      super("PostgreSQL refused the data (SQLSTATE " + sqlState + ")", cause);
      this.sqlState = sqlState;
    }

    public String sqlState() {
      return sqlState;
    }

    /** {@code error} as an {@link InvalidData} if PostgreSQL refused the data itself, else {@code error} unchanged. */
    public static Throwable classify(Throwable error) {
      if (error instanceof io.vertx.sqlclient.DatabaseException de && de.getSqlState() != null
          && (de.getSqlState().startsWith("22") || de.getSqlState().startsWith("54"))) {
        return new InvalidData(de.getSqlState(), error);
      }
      return error;
    }
  }

  /**
   * The database does not commit durably (a setting such as {@code fsync} is off), so a crash of PostgreSQL or its
   * host could lose events the pipeline has acknowledged; the process refuses to use it.
   */
  public static final class NotDurable extends JobsDbException {
    private final String setting;
    private final String value;

    public NotDurable(String setting, String value, String message) {
      super(message);
      this.setting = setting;
      this.value = value;
    }

    /** The first setting found non-durable, e.g. {@code fsync}. */
    public String setting() {
      return setting;
    }

    /** Its value as the server reported it, e.g. {@code off}. */
    public String value() {
      return value;
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

  /**
   * Jobs for partitions this node's database records as fenced or moved away: the write must go to the partition's
   * new owner (the caller refreshes its topology and re-routes).
   */
  public static final class Fenced extends JobsDbException {
    private final java.util.Set<Integer> partitions;

    public Fenced(java.util.Set<Integer> partitions) {
      super("partitions " + new java.util.TreeSet<>(partitions) + " are fenced on this node (moving or moved to another node)");
      this.partitions = java.util.Set.copyOf(partitions);
    }

    public java.util.Set<Integer> partitions() {
      return partitions;
    }
  }
}
