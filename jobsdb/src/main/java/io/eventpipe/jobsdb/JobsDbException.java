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
