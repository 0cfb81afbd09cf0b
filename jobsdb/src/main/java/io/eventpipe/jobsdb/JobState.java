package io.eventpipe.jobsdb;

/**
 * The state of a job. Pending states ({@link #isPending()}) are what consumers read.
 *
 * <p>Code 1 is unused: jobs are never marked as in flight (a consumer holds them in memory and writes outcomes in
 * batches; after a crash, what was in flight is simply still pending). It is kept out of use so stored codes keep
 * their meaning.
 */
public enum JobState {
  UNPROCESSED(0),
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
    for (JobState state : values()) {
      if (state.code == code) {
        return state;
      }
    }
    throw new IllegalArgumentException("unknown job state code " + code);
  }
}
