package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.jobsdb.PartitionMover;
import io.eventpipe.jobsdb.PgConfig;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.time.Duration;
import java.time.Instant;
import java.util.Collection;
import java.util.List;
import org.flywaydb.core.Flyway;

/** {@link PartitionMover} on a queue's schema: the migration primitives of {@link PartitionMoves} and {@link DedupBuckets}. */
public final class PgPartitionMover implements PartitionMover {

  private final JobsDbOptions options;
  private final PartitionMoves moves;
  private final DedupBuckets dedup;

  private PgPartitionMover(Pool pool, JobsDbOptions options) {
    this.options = options;
    Statements statements = new Statements(options.schema());
    // the mover never allocates regular ids; its datasets object only creates import datasets (no gauge wanted)
    Datasets datasets = new Datasets(pool, options, new SimpleMeterRegistry());
    this.moves = new PartitionMoves(pool, options, statements, datasets);
    this.dedup = new DedupBuckets(pool, options);
  }

  public static Future<PartitionMover> open(Vertx vertx, PgConfig pg, Pool pool, JobsDbOptions options) {
    return vertx.executeBlocking(() -> {
      NodePartitions.migrate(pg);
      Flyway.configure().dataSource(pg.jdbcUrl(), pg.user(), pg.password())
          .schemas(options.schema()).defaultSchema(options.schema()).locations("classpath:db/jobsdb").load().migrate();
      return new PgPartitionMover(pool, options);
    }, false).compose(m -> m.dedup.load().map(v -> (PartitionMover) m));
  }

  @Override
  public String queue() {
    return options.queue();
  }

  @Override
  public Future<List<String>> destinations(Collection<Integer> partitions) {
    return moves.destinations(partitions);
  }

  @Override
  public Future<Batch> exportPending(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs, long maxBytes) {
    return moves.exportPending(destinationId, partitions, afterJobId, maxJobs, maxBytes);
  }

  @Override
  public Future<Batch> exportAborted(String destinationId, Collection<Integer> partitions, long afterJobId, int maxJobs, long maxBytes) {
    return moves.exportAborted(destinationId, partitions, afterJobId, maxJobs, maxBytes);
  }

  @Override
  public Future<Integer> importBatch(Slice slice, String stream, Batch batch) {
    return moves.importBatch(slice, stream, batch);
  }

  @Override
  public Future<List<List<Integer>>> importedSlices(String migrationId) {
    return moves.importedSlices(migrationId);
  }

  @Override
  public Future<Void> markMigrated(Collection<Long> jobIds) {
    return moves.markMigrated(jobIds);
  }

  @Override
  public Future<Long> retireCopied(String destinationId, Collection<Integer> partitions, long pendingMark, long abortedMark) {
    return moves.retireCopied(destinationId, partitions, pendingMark, abortedMark);
  }

  @Override
  public Future<Long> progress(Slice slice, String stream) {
    return moves.progress(slice.range(), stream);
  }

  @Override
  public Future<Long> markDedup(String migrationId) {
    return dedup.markForMigration(migrationId);
  }

  @Override
  public Future<Long> dedupMark(String migrationId) {
    return dedup.markOf(migrationId);
  }

  @Override
  public Future<List<JobsDb.DedupEntry>> exportDedup(Collection<Integer> partitions, long fromMark, JobsDb.DedupEntry after, int limit) {
    return dedup.export(partitions, fromMark, after, limit);
  }

  @Override
  public Future<Void> importDedup(List<JobsDb.DedupEntry> entries) {
    return dedup.importEntries(entries);
  }

  @Override
  public Future<Void> release(String migrationId, Collection<Integer> partitions, Duration held) {
    return moves.release(migrationId, partitions, held);
  }

  @Override
  public Future<long[]> count(Collection<Integer> partitions) {
    return moves.count(partitions);
  }

  @Override
  public Future<Instant> now() {
    return moves.dbNow();
  }
}
