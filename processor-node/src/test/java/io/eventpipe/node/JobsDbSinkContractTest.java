package io.eventpipe.node;

import static io.eventpipe.testing.Waiting.await;

import io.eventpipe.gateway.EventSinkContract;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Partitioner;
import io.eventpipe.testing.ManualClock;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** A standalone node's sink: the node's own ingest queue, through group commit and dedup. */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JobsDbSinkContractTest extends EventSinkContract {

  private final Vertx vertx = Vertx.vertx();

  @BeforeAll
  void start(PgDatabase db) {
    databases.add(db);
    PgConfig pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    Pool pool = pg.createPool(vertx, 4);
    JobsDb ingest = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("gw"), new SimpleMeterRegistry()));
    sink = new JobsDbSink(ingest, pool, Partitioner.of(64), () -> { }, new ManualClock());
  }

  @AfterAll
  void stop() {
    await(vertx.close());
  }
}
