package io.eventpipe.jobsdb;

/**
 * The outcome of a store: the id given to each job, in the order they were passed, or
 * {@link #DUPLICATE} where the job's messageId was already seen in its partition within the dedup window.
 */
public record StoreResult(long[] jobIds) {

  public static final long DUPLICATE = 0L;

  public int stored() {
    int n = 0;
    for (long id : jobIds) {
      if (id != DUPLICATE) {
        n++;
      }
    }
    return n;
  }

  public int duplicates() {
    return jobIds.length - stored();
  }
}
