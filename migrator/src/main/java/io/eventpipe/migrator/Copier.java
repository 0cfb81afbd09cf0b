package io.eventpipe.migrator;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.PartitionMover;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

/**
 * The data movement of a migration: a (source, target) pair's jobs, stream by stream in bounded, pipelined batches,
 * and the dedup window. {@link Migrator} decides when; this class knows how, and counts what it moved. Every batch and
 * dedup page passes {@link Throttle#pace}, the one pacing point.
 */
final class Copier {

  /** Concurrent copy streams per (pair, queue, destination), over disjoint partition slices. */
  static final int STREAMS_PER_DESTINATION = 2;
  private static final int DEDUP_PAGE = 5000;

  private final ControlStore control;
  private final NodeDatabases nodes;
  private final MigratorOptions options;
  private final AtomicLong jobsMoved = new AtomicLong();
  private final Throttle throttle;

  Copier(ControlStore control, NodeDatabases nodes, MigratorOptions options, Throttle throttle) {
    this.control = control;
    this.nodes = nodes;
    this.options = options;
    this.throttle = throttle;
  }

  /** Jobs copied so far (including those a previous run recorded, see {@link #startCounting}). */
  long jobsMoved() {
    return jobsMoved.get();
  }

  /** Whether a stream is waiting for the copy's rate limit now. */
  boolean throttled() {
    return throttle.waiting();
  }

  /** Counts on from what the control store recorded for this migration. */
  void startCounting(long alreadyMoved) {
    jobsMoved.set(alreadyMoved);
  }

  /**
   * Copies one (source, target) pair: per queue and destination, the pending jobs, then the aborted ones. Order only
   * matters per routing key, and a key lives in one partition, so the partitions are split into
   * {@link #STREAMS_PER_DESTINATION} disjoint slices copied concurrently (each its own stream and progress mark), which
   * keeps both databases busy. The split is by position in the sorted list, the same on every rerun.
   */
  Future<Void> copyPair(String migrationId, int s, int t, List<Integer> parts) {
    try {
      options.hook().before("copy");
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    List<Integer> sorted = new ArrayList<>(parts);
    Collections.sort(sorted);
    List<List<Integer>> slices = new ArrayList<>();
    for (int i = 0; i < STREAMS_PER_DESTINATION; i++) {
      List<Integer> slice = new ArrayList<>();
      for (int k = i; k < sorted.size(); k += STREAMS_PER_DESTINATION) {
        slice.add(sorted.get(k));
      }
      if (!slice.isEmpty()) {
        slices.add(slice);
      }
    }
    return nodes.node(s).compose(src -> nodes.node(t).compose(dst -> {
      Future<Void> f = Future.succeededFuture();
      for (int q = 0; q < 2; q++) {
        PartitionMover from = src.queues().get(q);
        PartitionMover to = dst.queues().get(q);
        f = f.compose(v -> from.destinations(parts)).compose(dests -> {
          Future<Void> g = Future.succeededFuture();
          for (String d : dests) {
            g = g.compose(v -> {
              List<Future<Void>> concurrent = new ArrayList<>();
              for (int i = 0; i < slices.size(); i++) {
                List<Integer> slice = slices.get(i);
                // each slice imports into its own reserved id range, so concurrent slices never wait for each other
                String range = migrationId + "#" + i;
                String stream = from.queue() + "/" + s + "/" + d;
                concurrent.add(copyStream(migrationId, range, stream + "/pending", to,
                        after -> from.exportPending(d, slice, after, options.batchJobs(), options.batchBytes()))
                    .compose(v2 -> copyStream(migrationId, range, stream + "/aborted", to,
                        after -> from.exportAborted(d, slice, after, options.batchJobs(), options.batchBytes()))));
              }
              return Future.all(concurrent).mapEmpty();
            });
          }
          return g;
        });
      }
      return f;
    }));
  }

  /**
   * One stream, batch by batch: export from the source, import on the target together with the stream's progress mark.
   * The next batch is read from the source while the current one is imported (at most two batches in memory). The
   * source's copies are not touched here: the partitions are fenced there, and the migration's finish step marks them
   * migrated in one statement per destination. A rerun resumes each stream after its progress mark on the target.
   */
  private Future<Void> copyStream(String migrationId, String range, String stream, PartitionMover to,
      LongFunction<Future<PartitionMover.Batch>> export) {
    return to.progress(range, stream)
        .compose(after -> pipeline(migrationId, range, stream, to, export.apply(after), export));
  }

  private Future<Void> pipeline(String migrationId, String range, String stream, PartitionMover to,
      Future<PartitionMover.Batch> current,
      LongFunction<Future<PartitionMover.Batch>> export) {
    try {
      options.hook().before("copy");
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return current.compose(batch -> {
      if (batch.isEmpty()) {
        return Future.succeededFuture();
      }
      Future<PartitionMover.Batch> next = export.apply(batch.lastJobId());
      return to.importBatch(range, stream, batch)
          .compose(n -> {
            jobsMoved.addAndGet(batch.jobs().size());
            return control.addJobsMoved(migrationId, batch.jobs().size());
          })
          .compose(v -> throttle.pace(batch.jobs().size()))
          .compose(v -> pipeline(migrationId, range, stream, to, next, export));
    });
  }

  /**
   * Copies the dedup window of {@code parts}, the entries at or above the source's {@code fromMark} (0 for all), page by
   * page (the import is idempotent).
   */
  Future<Void> copyDedup(int s, int t, List<Integer> parts, long fromMark) {
    return nodes.node(s).compose(src -> nodes.node(t).compose(dst -> dedupPage(src.gw(), dst.gw(), parts, fromMark, null)));
  }

  private Future<Void> dedupPage(PartitionMover from, PartitionMover to, List<Integer> parts, long fromMark, JobsDb.DedupEntry after) {
    return from.exportDedup(parts, fromMark, after, DEDUP_PAGE).compose(page -> {
      if (page.isEmpty()) {
        return Future.succeededFuture();
      }
      return to.importDedup(page).compose(v -> throttle.pace(page.size())).compose(v -> page.size() < DEDUP_PAGE ? Future.succeededFuture()
          : dedupPage(from, to, parts, fromMark, page.get(page.size() - 1)));
    });
  }

}
