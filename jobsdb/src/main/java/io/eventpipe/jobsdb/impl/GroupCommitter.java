package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.StoreResult;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;

/**
 * Group commit: callers queue their jobs; a transaction takes everything queued (up to the batch bounds) and
 * commits it, then completes each caller's future. At most {@code maxConcurrentCommits} transactions run at
 * once (two by default, so one inserts while the other waits for its WAL flush); while they run, new callers
 * queue behind them, so batches grow with the load and an idle store commits a single caller at once (no timer).
 *
 * <p>A caller's jobs stay together in one transaction and in order. Two callers in different concurrent
 * transactions were concurrent requests, which have no order between them; a request sent after another was
 * acknowledged is always committed after it.
 *
 * <p>One failure, one victim: when a transaction of several callers fails, nothing of it is stored and each caller
 * is committed again on its own, so only a caller whose own jobs fail the transaction gets the error. A caller whose
 * jobs the commit marks {@link #FENCED} (a partition this node's database fences) fails with
 * {@link JobsDbException.Fenced} alone; a caller whose own commit PostgreSQL refuses for its data (a NUL in a text
 * column, say) fails alone with {@link JobsDbException.InvalidData}, a permanent error, so its request is refused
 * (400) rather than retried for ever.
 */
final class GroupCommitter {

  private record Pending(List<NewJob> jobs, long writerEpoch, long bytes, Promise<StoreResult> promise) {}

  /** A commit's result for the jobs of a caller left out because a partition of theirs is fenced. */
  static final long FENCED = Long.MIN_VALUE;

  /**
   * Commits jobs (the callers' jobs concatenated, {@code callerSizes} in order, each caller writing at its
   * {@code callerEpochs} entry) and returns their ids.
   */
  interface Commit {
    Future<long[]> apply(List<NewJob> jobs, int[] callerSizes, long[] callerEpochs);
  }

  private final Context context;
  private final JobsDbOptions options;
  private final Commit commit;
  private final ArrayDeque<Pending> queue = new ArrayDeque<>();
  private int queuedJobs;
  private int running;
  private boolean closed;
  private Promise<Void> drained;

  GroupCommitter(Context context, JobsDbOptions options, Commit commit, MeterRegistry registry) {
    this.context = context;
    this.options = options;
    this.commit = commit;
    Gauge.builder("jobsdb.store.queued.jobs", this, c -> c.queuedJobs()).description("Jobs waiting for a group commit")
        .tag("queue", options.queue()).register(registry);
  }

  synchronized int queuedJobs() {
    return queuedJobs;
  }

  Future<StoreResult> submit(List<NewJob> jobs, long writerEpoch) {
    long bytes = 0;
    for (NewJob j : jobs) {
      bytes += j.payload().length;
    }
    Promise<StoreResult> promise = Promise.promise();
    boolean start;
    synchronized (this) {
      if (closed) {
        return Future.failedFuture(new JobsDbException.Unavailable("queue " + options.queue() + " is shutting down"));
      }
      if (queuedJobs > 0 && queuedJobs + jobs.size() > options.maxQueuedJobs()) {
        return Future.failedFuture(new JobsDbException.Unavailable("queue " + options.queue() + " has "
            + queuedJobs + " jobs waiting to commit (limit " + options.maxQueuedJobs() + ")"));
      }
      queue.add(new Pending(jobs, writerEpoch, bytes, promise));
      queuedJobs += jobs.size();
      start = running < options.maxConcurrentCommits();
      if (start) {
        running++;
      }
    }
    if (start) {
      context.runOnContext(v -> flush());
    }
    return promise.future();
  }

  private void flush() {
    List<Pending> batch = new ArrayList<>();
    List<NewJob> jobs = new ArrayList<>();
    synchronized (this) {
      long bytes = 0;
      while (!queue.isEmpty()) {
        Pending next = queue.peek();
        boolean fits = jobs.size() + next.jobs().size() <= options.maxBatchJobs()
            && bytes + next.bytes() <= options.maxBatchBytes();
        if (!batch.isEmpty() && !fits) {
          break; // a caller larger than the bounds is committed alone
        }
        queue.poll();
        batch.add(next);
        jobs.addAll(next.jobs());
        bytes += next.bytes();
      }
      queuedJobs -= jobs.size();
      if (batch.isEmpty()) {
        running--;
        if (running == 0 && drained != null) {
          drained.tryComplete();
        }
        return;
      }
    }
    run(batch, jobs).onComplete(ar -> {
      if (ar.succeeded() || batch.size() == 1) {
        complete(batch, ar);
        flush();
        return;
      }
      // one failure, one victim: commit each caller alone, in order, then go on
      Future<Void> apart = Future.succeededFuture();
      for (Pending p : batch) {
        apart = apart.transform(x -> run(List.of(p), p.jobs()).transform(one -> {
          complete(List.of(p), one);
          return Future.<Void>succeededFuture();
        }));
      }
      apart.onComplete(x -> flush());
    });
  }

  private Future<long[]> run(List<Pending> batch, List<NewJob> jobs) {
    int[] sizes = new int[batch.size()];
    long[] epochs = new long[batch.size()];
    for (int i = 0; i < sizes.length; i++) {
      sizes[i] = batch.get(i).jobs().size();
      epochs[i] = batch.get(i).writerEpoch();
    }
    try {
      return commit.apply(jobs, sizes, epochs);
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  private static void complete(List<Pending> batch, io.vertx.core.AsyncResult<long[]> ar) {
    if (ar.failed()) {
      // a caller alone (or the only one) whose data PostgreSQL refuses: permanent, and its own fault
      Throwable cause = JobsDbException.InvalidData.classify(ar.cause());
      for (Pending p : batch) {
        p.promise().fail(cause);
      }
      return;
    }
    long[] ids = ar.result();
    int offset = 0;
    for (Pending p : batch) {
      long[] mine = new long[p.jobs().size()];
      System.arraycopy(ids, offset, mine, 0, mine.length);
      offset += mine.length;
      if (mine.length > 0 && mine[0] == FENCED) {
        java.util.Set<Integer> partitions = new java.util.TreeSet<>();
        for (NewJob j : p.jobs()) {
          partitions.add(j.partitionId());
        }
        p.promise().fail(new JobsDbException.Fenced(partitions));
      } else {
        p.promise().complete(new StoreResult(mine));
      }
    }
  }

  /** Refuses new callers and completes once everything queued has been committed or failed. */
  Future<Void> close() {
    synchronized (this) {
      closed = true;
      if (running == 0) {
        return Future.succeededFuture();
      }
      if (drained == null) {
        drained = Promise.promise();
      }
      return drained.future();
    }
  }
}
