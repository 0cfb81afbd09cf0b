package io.eventpipe.migrator;

import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.PartitionMover;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

/**
 * The data movement of a migration: a (source, target) pair's jobs, stream by stream in bounded, pipelined batches,
 * and the dedup window. {@link Migrator} decides when; this class knows how, and counts what it moved. Every batch and
 * first-copy dedup page passes the one pacing point, {@link Throttle}.
 */
final class Copier {

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
   * Copies one (source, target) pair: per queue and destination, the aborted jobs, then the pending ones (so a replay
   * of an imported aborted job goes before its key's pending ones, as the admin API promises). Order only matters per
   * routing key, and a key lives in one partition, so the partitions are split into slices copied concurrently (each
   * its own stream, id range and progress mark), which keeps both databases busy. A slice is named by its partitions
   * ({@link PartitionMover.Slice}): a rerun adopts the slices a previous run recorded on the target and splits only the
   * partitions no slice holds yet, whatever its stream count.
   */
  Future<Void> copyPair(String migrationId, int s, int t, List<Integer> parts) {
    try {
      options.hook().before("copy");
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return nodes.node(s).compose(src -> nodes.node(t).compose(dst -> {
      Future<Void> f = Future.succeededFuture();
      for (int q = 0; q < 2; q++) {
        PartitionMover from = src.queues().get(q);
        PartitionMover to = dst.queues().get(q);
        f = f.compose(v -> to.importedSlices(migrationId)).compose(recorded -> {
          List<PartitionMover.Slice> slices = slices(migrationId, parts, recorded, options.copyStreams());
          return from.destinations(parts).compose(dests -> {
            Future<Void> g = Future.succeededFuture();
            for (String d : dests) {
              g = g.compose(v -> {
                List<Future<Void>> concurrent = new ArrayList<>();
                String stream = stream(from, s, d);
                for (PartitionMover.Slice slice : slices) {
                  List<Integer> sp = slice.partitions();
                  concurrent.add(copyStream(migrationId, slice, stream + "/aborted", to,
                          after -> from.exportAborted(d, sp, after, options.batchJobs(), options.batchBytes()))
                      .compose(v2 -> copyStream(migrationId, slice, stream + "/pending", to,
                          after -> from.exportPending(d, sp, after, options.batchJobs(), options.batchBytes()))));
                }
                return Future.all(concurrent).mapEmpty();
              });
            }
            return g;
          });
        });
      }
      return f;
    }));
  }

  /**
   * The finish of one pair: on the source, retires what the copy took (per queue, destination and slice, up to the
   * target's progress marks) and reports what it did not take: jobs of the moved partitions written or changed after
   * the copy passed them. Those are kept, never retired unseen. Returns one line per (queue, destination) left over.
   */
  Future<List<String>> retireCopied(String migrationId, int s, int t, List<Integer> parts) {
    return nodes.node(s).compose(src -> nodes.node(t).compose(dst -> {
      List<String> left = new ArrayList<>();
      Future<Void> f = Future.succeededFuture();
      for (int q = 0; q < 2; q++) {
        PartitionMover from = src.queues().get(q);
        PartitionMover to = dst.queues().get(q);
        f = f.compose(v -> to.importedSlices(migrationId)).compose(recorded -> {
          List<List<Integer>> scopes = new ArrayList<>();
          java.util.TreeSet<Integer> uncovered = new java.util.TreeSet<>(parts);
          for (List<Integer> r : recorded) {
            if (uncovered.containsAll(r)) {
              scopes.add(r);
              uncovered.removeAll(r);
            }
          }
          return from.destinations(parts).compose(dests -> {
            Future<Void> g = Future.succeededFuture();
            for (String d : dests) {
              String stream = stream(from, s, d);
              long[] remaining = {0};
              for (List<Integer> scope : scopes) {
                PartitionMover.Slice slice = new PartitionMover.Slice(migrationId, scope);
                g = g.compose(v -> to.progress(slice, stream + "/pending")
                    .compose(pm -> to.progress(slice, stream + "/aborted")
                        .compose(am -> from.retireCopied(d, scope, pm, am)))
                    .map(n -> {
                      remaining[0] += n;
                      return null;
                    }));
              }
              if (!uncovered.isEmpty()) { // partitions of which nothing was imported: nothing of theirs may be retired
                List<Integer> none = List.copyOf(uncovered);
                g = g.compose(v -> from.retireCopied(d, none, Long.MIN_VALUE, Long.MIN_VALUE).map(n -> {
                  remaining[0] += n;
                  return null;
                }));
              }
              g = g.map(v -> {
                if (remaining[0] > 0) {
                  left.add(remaining[0] + " jobs of " + from.queue() + (d.isEmpty() ? "" : " destination " + d) + " on node " + s);
                }
                return null;
              });
            }
            return g;
          });
        });
      }
      return f.map(v -> left);
    }));
  }

  /** The copy streams' name stem of a (queue, source, destination): {@code <queue>/<source>/<destination>}. */
  private static String stream(PartitionMover from, int source, String destination) {
    return from.queue() + "/" + source + "/" + destination;
  }

  /**
   * The slices of a pair's partitions: those recorded on the target that lie within them (adopted as they are, with
   * their marks), then the rest split by position in sorted order into at most {@code streams} slices.
   */
  static List<PartitionMover.Slice> slices(String migrationId, List<Integer> parts, List<List<Integer>> recorded, int streams) {
    java.util.TreeSet<Integer> rest = new java.util.TreeSet<>(parts);
    List<PartitionMover.Slice> out = new ArrayList<>();
    for (List<Integer> r : recorded) {
      if (!r.isEmpty() && rest.containsAll(r)) {
        out.add(new PartitionMover.Slice(migrationId, r));
        rest.removeAll(r);
      }
    }
    List<Integer> sorted = new ArrayList<>(rest);
    for (int i = 0; i < streams; i++) {
      List<Integer> slice = new ArrayList<>();
      for (int k = i; k < sorted.size(); k += streams) {
        slice.add(sorted.get(k));
      }
      if (!slice.isEmpty()) {
        out.add(new PartitionMover.Slice(migrationId, slice));
      }
    }
    return out;
  }

  /**
   * One stream, batch by batch: export from the source, import on the target together with the stream's progress mark.
   * The next batch is read from the source while the current one is imported (at most two batches in memory). The
   * source's copies are not touched here: the partitions are fenced there, and the migration's finish step retires
   * them once it has checked that every one was copied. A rerun resumes each stream after its progress mark on the
   * target.
   */
  private Future<Void> copyStream(String migrationId, PartitionMover.Slice slice, String stream, PartitionMover to,
      LongFunction<Future<PartitionMover.Batch>> export) {
    return to.progress(slice, stream)
        .compose(after -> pipeline(migrationId, slice, stream, to, export.apply(after), export));
  }

  private Future<Void> pipeline(String migrationId, PartitionMover.Slice slice, String stream, PartitionMover to,
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
      return to.importBatch(slice, stream, batch)
          .compose(n -> {
            jobsMoved.addAndGet(batch.jobs().size());
            return control.addJobsMoved(migrationId, batch.jobs().size());
          })
          .compose(v -> throttle.pace(batch.jobs().size()))
          .compose(v -> pipeline(migrationId, slice, stream, to, next, export));
    });
  }

  /**
   * Copies the dedup window of {@code parts}, the entries at or above the source's {@code fromMark} (0 for all), page by
   * page (the import is idempotent).
   *
   * @param paced whether the pages pass {@link Throttle#paceDedup}: the first copy (prepare) is; the delta after the fence
   *     is not, because the moving partitions' writes wait from the fence to the switch, so slowing it would only make
   *     ingest wait longer
   */
  Future<Void> copyDedup(int s, int t, List<Integer> parts, long fromMark, boolean paced) {
    return nodes.node(s).compose(src -> nodes.node(t).compose(dst -> dedupPage(src.gw(), dst.gw(), parts, fromMark, null,
        paced)));
  }

  private Future<Void> dedupPage(PartitionMover from, PartitionMover to, List<Integer> parts, long fromMark, JobsDb.DedupEntry after,
      boolean paced) {
    return from.exportDedup(parts, fromMark, after, DEDUP_PAGE).compose(page -> {
      if (page.isEmpty()) {
        return Future.succeededFuture();
      }
      return to.importDedup(page)
          .compose(v -> paced ? throttle.paceDedup(page.size()) : Future.<Void>succeededFuture())
          .compose(v -> page.size() < DEDUP_PAGE ? Future.succeededFuture()
              : dedupPage(from, to, parts, fromMark, page.get(page.size() - 1), paced));
    });
  }

}
