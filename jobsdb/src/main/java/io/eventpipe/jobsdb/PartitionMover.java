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
   * Imports an exported batch with its states, ids from the migration's reserved range (below every local id; a
   * migration whose slices import concurrently reserves one range per slice, named {@code <migrationId>#<slice>}). The
   * jobs and the stream's progress mark commit together: a batch already imported is a no-op. Returns how many
   * jobs were new.
   */
  Future<Integer> importBatch(String migrationId, String stream, Batch batch);

  /** Source: exported jobs (pending or aborted, live or dead-lettered) are migrated away; they leave every list here. */
  Future<Void> markMigrated(Collection<Long> jobIds);

  /**
   * Source, after the copy: every job of {@code partitions} of a destination (pending, aborted, dead-lettered) is
   * migrated away, in one statement per kind; returns how many.
   */
  Future<Long> markAllMigrated(String destinationId, Collection<Integer> partitions);

  /** Target: the last source job id a stream imported (its progress mark), or {@link Long#MIN_VALUE}. */
  Future<Long> progress(String migrationId, String stream);

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
