package io.eventpipe.jobsdb;

import io.eventpipe.jobsdb.impl.PgPartitionMover;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;

/**
 * One queue of a node's database as a migration sees it: what a moving partition holds there, exported in bounded
 * batches on the source and imported idempotently on the target. It runs no group commit or maintenance of its own,
 * so the migrator can use it on the database of a node that runs, or of one that is down.
 *
 * <p>Times travel as durations: an exported batch carries the source database's clock reading, and the import
 * shifts every timestamp by the difference to the target's clock, so a backoff moves as time remaining and a retry
 * window as time used, never as one host's absolute time.
 */
public interface PartitionMover {

  /** Migrates the queue's schema (and the node schema) if needed, on a worker thread. */
  static Future<PartitionMover> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options) {
    return PgPartitionMover.open(vertx, pg, pool, options);
  }

  /** The queue's name ({@code gw}, {@code rt}). */
  String queue();

  /** A batch of exported jobs and the source database's clock when it was read. */
  record Batch(List<Job> jobs, Instant sourceNow) {
    public boolean isEmpty() {
      return jobs.isEmpty();
    }

    public long lastJobId() {
      return jobs.get(jobs.size() - 1).jobId();
    }
  }

  /**
   * One copy slice of a migration on a target: a set of partitions whose jobs import into one reserved id range. Its
   * name comes from what it holds (the migration and the partitions), never from its position among the slices, so
   * a rerun that slices differently (another stream count) cannot apply one slice's progress mark to other
   * partitions: it adopts the slices already recorded ({@link #importedSlices}) and slices only the rest.
   */
  record Slice(String migrationId, List<Integer> partitions) {
    public Slice {
      java.util.Objects.requireNonNull(migrationId, "migrationId");
      List<Integer> sorted = new java.util.ArrayList<>(new java.util.TreeSet<>(partitions));
      if (sorted.isEmpty()) {
        throw new IllegalArgumentException("a slice has partitions");
      }
      partitions = List.copyOf(sorted);
    }

    /** The name of the slice's id range and the scope of its progress marks: {@code <migrationId>#<digest>}. */
    public String range() {
      StringBuilder sb = new StringBuilder();
      for (int p : partitions) {
        sb.append(p).append(',');
      }
      try {
        byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(sb.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8));
        return migrationId + "#" + partitions.size() + "p-" + java.util.HexFormat.of().formatHex(d, 0, 8);
      } catch (java.security.NoSuchAlgorithmException e) {
        throw new IllegalStateException("SHA-256 is always there", e);
      }
    }
  }

  /** The destinations ({@code ""} for jobs not per destination) with pending or aborted jobs in {@code partitions}. */
  Future<List<String>> destinations(Collection<Integer> partitions);

  /**
   * The next batch of a destination's pending jobs of {@code partitions} after {@code afterJobId}, in job order, with
   * their delivery state. At most {@code maxJobs}, and within {@code maxBytes} of payload (the first job always fits).
   */
  Future<Batch> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs, long maxBytes);

  /** As {@link #exportPending}, for aborted jobs: those in live datasets and those in the dead-letter table. */
  Future<Batch> exportAborted(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs, long maxBytes);

  /**
   * Imports an exported batch with its states into the slice's reserved id range (below every local id and every
   * earlier range). The jobs and the stream's progress mark commit together: a batch already imported is a no-op.
   * Returns how many jobs were new.
   *
   * <p>The transaction first locks this node's records of the batch's partitions: each must be held (incoming) for
   * this slice's migration, else the import fails with {@link JobsDbException.ImportConflict} and writes nothing (the
   * partitions were released, the migration aborted, or another migration holds them). A release or an unhold waits
   * for an import that checked before it.
   */
  Future<Integer> importBatch(Slice slice, String stream, Batch batch);

  /** Target: the partition sets of the slices this migration imported into here (ranges recorded), in range order. */
  Future<List<List<Integer>>> importedSlices(String migrationId);

  /** Source: exported jobs (pending or aborted, live or dead-lettered) are migrated away; they leave every list here. */
  Future<Void> markMigrated(Collection<Long> jobIds);

  /**
   * Source, at the finish: the jobs of a destination in {@code partitions} that the copy took leave this queue (become
   * migrated; dead letters are deleted): pending ones with ids up to {@code pendingMark}, aborted and dead-lettered
   * ones up to {@code abortedMark} (the target's progress marks of the two streams). Anything else stays, to be
   * reported: a job written or changed after the copy passed it is never retired unseen. Returns how many left.
   */
  Future<Long> retireCopied(String destinationId, Collection<Integer> partitions, long pendingMark, long abortedMark);

  /** Target: the last source job id a stream of a slice imported (its progress mark), or {@link Long#MIN_VALUE}. */
  Future<Long> progress(Slice slice, String stream);

  /**
   * Source, before the first copy of the dedup window: marks where the copy begins, by the commits of this node's
   * database, not by a clock. Waits for the ingest transactions in flight (as a fence does, for milliseconds); every
   * entry written by a later one is at or above the mark, every entry below it is committed. Returns the mark (a rerun
   * returns the first one recorded).
   */
  Future<Long> markDedup(String migrationId);

  /** Source: the mark {@link #markDedup} recorded for the migration, or 0 (the whole window) if none was. */
  Future<Long> dedupMark(String migrationId);

  /**
   * A page of the dedup window of {@code partitions}, of entries at or above {@code fromMark} (0 for all), after a
   * cursor. After the fence (no write of these partitions is in flight any more) the pages from the migration's mark
   * on hold everything that the copy before the fence may have missed.
   */
  Future<List<JobsDb.DedupEntry>> exportDedup(Collection<Integer> partitions, long fromMark, JobsDb.DedupEntry after, int limit);

  /** Adds remembered messageIds (idempotent). */
  Future<Void> importDedup(List<JobsDb.DedupEntry> entries);

  /**
   * Target, at release: the migration's imported jobs (in every slice's range) of {@code partitions} that wait for a retry have their retry
   * time and retry window moved on by {@code held} (time spent held is not spent retrying), and the import is marked
   * complete so its dataset is dropped once its jobs finish.
   */
  Future<Void> release(String migrationId, Collection<Integer> partitions, Duration held);

  /** Pending jobs (and, separately, aborted ones) of {@code partitions}: {pending, aborted}. */
  Future<long[]> count(Collection<Integer> partitions);

  /** The database's clock. */
  Future<Instant> now();
}
