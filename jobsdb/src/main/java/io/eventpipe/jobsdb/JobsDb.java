package io.eventpipe.jobsdb;

import io.eventpipe.jobsdb.impl.PgJobsDb;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.SqlClient;
import java.util.Collection;
import java.util.List;

/**
 * One job queue of a node, stored in that node's PostgreSQL.
 *
 * <p>Jobs are immutable once stored; their state lives beside them. Jobs live in datasets (range partitions
 * on the job id); a dataset whose jobs have all finished is dropped whole, never deleted row by row. Reads
 * of pending work walk a partial index and cost O(batch) however many finished jobs exist.
 *
 * <p>Order: job ids increase in store order, and a read returns each routing key's jobs in id order,
 * skipping a key entirely from its first job that is executing or failed-and-waiting. Imported jobs of a
 * migration take ids below every local id, so a partition's imported backlog precedes its new writes.
 */
public interface JobsDb extends AutoCloseable {

  /**
   * Opens a queue: migrates its schema with Flyway (on a worker thread), turns jobs left executing by a crash
   * back into pending work, and starts group commit and maintenance. {@code pool} may be shared by queues.
   */
  static Future<JobsDb> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    return PgJobsDb.open(vertx, pg, pool, options, registry);
  }

  JobsDbOptions options();

  /**
   * Stores jobs through group commit: concurrent callers share one transaction. The future completes only
   * after the commit. Jobs whose messageId was seen in their partition within the dedup window are not
   * stored again and come back as {@link StoreResult#DUPLICATE}.
   */
  Future<StoreResult> store(List<NewJob> jobs);

  /**
   * Stores jobs inside the caller's transaction, bypassing group commit and dedup (used for fan-out, where
   * storing is transactional with the state of the jobs being processed).
   */
  Future<long[]> storeIn(SqlClient tx, List<NewJob> jobs);

  /** Pending jobs for one consumer, in order per routing key; see {@link ReadRequest}. */
  Future<List<Job>> readPending(ReadRequest request);

  /** Writes new states in one statement. */
  Future<Void> updateStates(List<StateUpdate> updates);

  /** Writes new states in the caller's transaction. */
  Future<Void> updateStates(SqlClient tx, List<StateUpdate> updates);

  /** Number of pending jobs per destination (jobs not per destination are counted under ""). */
  Future<java.util.Map<String, Long>> pendingCounts();

  /**
   * For each destination with pending jobs ("" for jobs that are not per destination), the {@code receivedAt} of
   * its first pending job in queue order: the head of its backlog, whose age is the delivery lag. One index probe
   * per destination (a loose index scan over the pending index), however many jobs are pending.
   */
  Future<java.util.Map<String, java.time.Instant>> oldestPending();

  /** Aborted jobs of a destination, oldest first, from live datasets and the dead-letter table. */
  Future<List<Job>> listAborted(String destinationId, long afterJobId, int limit);

  /**
   * Makes matching aborted jobs of a destination pending again, with a fresh attempt count, and returns how
   * many. Jobs still in a live dataset keep their ids; jobs already moved to the dead-letter table are stored
   * again with ids from a reserved range below every local id. Either way the replayed jobs keep their order
   * per key among themselves, and are delivered before the key's other pending jobs.
   */
  Future<Integer> replayAborted(String destinationId, ReplayFilter filter);

  // ---- migration primitives ----

  /** Sets or clears the read-exclusion and delivery-hold flags of partitions. */
  Future<Void> setPartitionFlags(Collection<Integer> partitions, boolean excluded, boolean held);

  /**
   * The next bounded batch of one destination's pending jobs of {@code partitions} after {@code afterJobId}, in
   * job order, with their state; jobs left executing are exported as pending again. Call repeatedly with the
   * last id seen; {@link #pendingCounts()} names the destinations that have pending jobs. Order only matters
   * per destination and key, so each destination is its own stream.
   */
  Future<List<Job>> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs, long maxBytes);

  /**
   * Imports a batch of exported jobs idempotently: the jobs and the stream's progress mark commit together,
   * so a batch whose last source job id is not beyond the mark is a no-op. Returns the number imported.
   */
  Future<Integer> importBatch(String migrationId, String stream, List<Job> batch);

  /** Marks exported jobs migrated on the source (a terminal state). */
  Future<Void> markMigrated(Collection<Long> jobIds);

  /** The messageIds seen in {@code partitions} within the dedup window, for moving them with the partitions. */
  Future<List<DedupEntry>> exportDedup(Collection<Integer> partitions);

  /** Adds seen messageIds (idempotent). */
  Future<Void> importDedup(List<DedupEntry> entries);

  /** Marks a migration's import finished: its dataset can be dropped once its jobs finish. */
  Future<Void> completeImport(String migrationId);

  /** Drops finished datasets and expired dedup buckets now (it also runs periodically). */
  Future<Integer> runMaintenance();

  /** The names of the live datasets, oldest first. */
  Future<List<String>> datasets();

  /** Stops accepting stores, commits what is queued, stops maintenance. Does not close the shared pool. */
  Future<Void> shutdown();

  @Override
  default void close() {
    shutdown();
  }

  /** One remembered messageId. */
  record DedupEntry(int partitionId, String messageId, java.time.Instant seenAt) {}
}
