package io.eventpipe.node;

import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.workspace.Source;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.routing.Partitioner;
import io.vertx.core.Future;
import io.vertx.sqlclient.Pool;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;

/**
 * The node's own sink: every event becomes a job of the ingest queue in its partition, through group commit.
 * The future completes after the commit; duplicates by messageId are acknowledged without a second copy.
 */
public final class JobsDbSink implements EventSink {

  private final JobsDb ingest;
  private final Pool pool;
  private final Partitioner partitioner;
  private final Runnable stored;
  private final Clock clock;

  /** {@code stored} runs after each commit (the node wakes its processor with it); {@code clock} stamps receipt. */
  public JobsDbSink(JobsDb ingest, Pool pool, Partitioner partitioner, Runnable stored, Clock clock) {
    this.clock = clock;
    this.ingest = ingest;
    this.pool = pool;
    this.partitioner = partitioner;
    this.stored = stored;
  }

  @Override
  public Future<Void> accept(Source source, List<Event> events) {
    List<NewJob> jobs = new ArrayList<>(events.size());
    Instant now = clock.instant();
    for (Event e : events) {
      jobs.add(toJob(partitioner, source.id(), e, now));
    }
    return ingest.store(jobs).<Void>map(r -> {
      stored.run();
      return null;
    }).recover(err -> Future.failedFuture(err instanceof JobsDbException.InvalidData invalid
        // permanent (the edge should have refused it): a 400 for this request only, never a retryable 503
        ? new GatewayException(400, "an event of the request holds data that cannot be stored (SQLSTATE "
            + invalid.sqlState() + "); check its strings", null, err)
        : err));
  }

  static NewJob toJob(Partitioner partitioner, String sourceId, Event e, Instant receivedAt) {
    return new NewJob(partitioner.partition(e.routingKey()), e.routingKey(), sourceId, "", e.messageId(), receivedAt, e.payload());
  }

  @Override
  public Future<Boolean> healthy() {
    return pool.query("SELECT 1").execute().map(r -> true).otherwise(false);
  }
}
