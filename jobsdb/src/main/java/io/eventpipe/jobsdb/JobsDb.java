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
 * skipping a key entirely from its first job that is failed-and-waiting. Imported jobs of a
 * migration take ids below every local id, so a partition's imported backlog precedes its new writes.
 *
 * <p>Partitions that this node's database records as moving ({@link NodePartitions}) are skipped by reads, and a store
 * for a fenced partition fails with {@link JobsDbException.Fenced}, checked inside the commit. Moving partitions'
 * jobs between nodes is {@link PartitionMover}'s job.
 */
public interface JobsDb extends AutoCloseable {

  /**
   * Opens a queue: migrates its schema with Flyway (on a worker thread) and starts group commit and maintenance.
   * Nothing needs recovering after a crash: jobs are never marked in flight, so what was in flight is still pending.
   * {@code pool} may be shared by queues.
   */
  static Future<JobsDb> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options, MeterRegistry registry) {
    return PgJobsDb.open(vertx, pg, pool, options, registry);
  }

  JobsDbOptions options();

  /**
   * Stores jobs through group commit: concurrent callers share one transaction. The future completes only
   * after the commit. Jobs whose messageId their source sent in their partition within the dedup window are not
   * stored again and come back as {@link StoreResult#DUPLICATE}. A caller with a job of a fenced partition gets
   * {@link JobsDbException.Fenced} and stores nothing; the others in the transaction are not affected, and when a
   * shared transaction fails its callers are retried one by one, so only the one at fault fails.
   */
  default Future<StoreResult> store(List<NewJob> jobs) {
    return store(jobs, Long.MAX_VALUE);
  }

  /**
   * {@link #store(List)} by a writer whose topology is at {@code writerEpoch}: a partition held for a migration whose
   * switch publishes a later epoch refuses it as fenced ({@link NodePartitions#writeFloors}): a writer that old
   * routes by a topology in which the partition is another node's. {@link Long#MAX_VALUE}: a writer that owns every
   * partition it writes (a standalone node).
   */
  Future<StoreResult> store(List<NewJob> jobs, long writerEpoch);

  /**
   * Stores jobs inside the caller's transaction, bypassing group commit and dedup (used for fan-out, where
   * storing is transactional with the state of the jobs being processed).
   */
  Future<long[]> storeIn(SqlClient tx, List<NewJob> jobs);

  /** Pending jobs for one consumer, in order per routing key; see {@link ReadRequest}. */
  Future<List<Job>> readPending(ReadRequest request);

  /**
   * Pending jobs of one destination by routing key: each key's first deliverable jobs (in job order, cut at its first
   * job that is failed-and-waiting), keys in byte order after {@code afterKey}; see
   * {@link KeyReadRequest}. It costs one index probe per key walked plus the jobs returned, however many jobs a
   * blocked or busy key holds, so a consumer that walks on from where the last read stopped reaches every key's first
   * deliverable job within one round of its keys.
   */
  Future<KeyReadRequest.Result> readKeys(KeyReadRequest request);

  /**
   * Writes new states in one transaction. Checked where it commits, under the fence lock: states of jobs in partitions
   * whose fence was confirmed, or that moved away, are not written (see {@link NodePartitions#confirm}).
   */
  Future<Void> updateStates(List<StateUpdate> updates);

  /** Writes new states in the caller's transaction, with the same check. */
  Future<Void> updateStates(SqlClient tx, List<StateUpdate> updates);

  /** Where {@link #pendingCounts()} stops counting one destination's pending jobs. */
  long PENDING_COUNT_CAP = 10_000;

  /**
   * Number of pending jobs per destination (jobs not per destination are counted under ""), each counted up to
   * {@link #PENDING_COUNT_CAP}: a count equal to the cap means "at least that many". Bounded work (an index walk of at
   * most the cap per destination), so it can be refreshed every few seconds whatever the backlog;
   * {@link #oldestPending()} tells how far behind a destination is.
   */
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

  /**
   * One remembered messageId of a source in a partition.
   *
   * @param sourceId the source that sent it, or null for an entry written before dedup was keyed by source: it stands
   *     for the messageId seen from any source (so a retry across that upgrade is still deduplicated) until it leaves
   *     the window
   */
  record DedupEntry(int partitionId, String sourceId, String messageId, java.time.Instant seenAt) {}
}
