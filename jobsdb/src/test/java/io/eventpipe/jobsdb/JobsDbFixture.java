package io.eventpipe.jobsdb;

import io.eventpipe.testing.ManualClock;
import io.eventpipe.testing.Waiting;
import io.eventpipe.testing.PgDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/** Vert.x, a pool and queues on a test database, a manual clock, and helpers to make jobs. */
final class JobsDbFixture implements AutoCloseable {

  final Vertx vertx = Vertx.vertx();
  final PgConfig pg;
  final Pool pool;
  final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  final ManualClock clock = new ManualClock();
  private final List<JobsDb> opened = new ArrayList<>();

  JobsDbFixture(PgDatabase db) {
    this.pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    this.pool = pg.createPool(vertx, 8);
  }

  JobsDbOptions options(String queue) {
    return JobsDbOptions.defaults(queue).withClock(clock);
  }

  JobsDb open(JobsDbOptions options) {
    JobsDb db = await(JobsDb.open(vertx, pg, pool, options, registry));
    opened.add(db);
    return db;
  }

  /** {@link Waiting#await}; kept for the tests that import it from here. */
  static <T> T await(Future<T> f) {
    return Waiting.await(f);
  }


  NewJob job(int partition, String key, String dest, String messageId, String body) {
    return sourced(partition, "src", key, dest, messageId, body);
  }

  NewJob sourced(int partition, String source, String key, String dest, String messageId, String body) {
    return new NewJob(partition, key, source, dest, messageId, clock.instant(), body.getBytes(StandardCharsets.UTF_8));
  }

  /** Runs a query that returns one number. */
  long count(String sql) {
    return await(pool.query(sql).execute()).iterator().next().getLong(0);
  }

  /** Reads everything pending for a destination, acking as it goes, in read order. */
  List<Job> drain(JobsDb db, String dest) {
    List<Job> all = new ArrayList<>();
    while (true) {
      List<Job> batch = await(db.readPending(new ReadRequest(dest, 500, 1 << 20, 5000, clock.instant())));
      if (batch.isEmpty()) {
        return all;
      }
      all.addAll(batch);
      List<StateUpdate> done = new ArrayList<>();
      for (Job j : batch) {
        done.add(StateUpdate.of(j, JobState.SUCCEEDED));
      }
      await(db.updateStates(done));
    }
  }

  @Override
  public void close() {
    for (JobsDb db : opened) {
      await(db.shutdown());
    }
    await(pool.close());
    await(vertx.close());
  }
}
