package io.eventpipe.jobsdb;

/** The state of a job. Pending states ({@link #isPending()}) are what consumers read. */
public enum JobState {
  UNPROCESSED(0),
  EXECUTING(1),
  FAILED(2),
  SUCCEEDED(3),
  ABORTED(4),
  MIGRATED(5);

  private final short code;

  JobState(int code) {
    this.code = (short) code;
  }

  public short code() {
    return code;
  }

  public boolean isPending() {
    return code < 3;
  }

  public static JobState of(int code) {
    if (code < 0 || code >= values().length) {
      throw new IllegalArgumentException("unknown job state code " + code);
    }
    return values()[code];
  }
}
