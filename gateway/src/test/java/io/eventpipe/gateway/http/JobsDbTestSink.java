package io.eventpipe.gateway.http;

import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.workspace.Source;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.routing.Partitioner;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A test {@link EventSink} that stores like the node's sink (each event a job of the ingest queue in its routing
 * key's partition, through jobsdb's group commit and dedup), without depending on processor-node, plus knobs
 * for the failure modes the server must handle: requests held until the test completes them by hand, failures
 * before or after the commit, and an unhealthy answer to {@code /health}.
 */
final class JobsDbTestSink implements EventSink {

  /** What {@link #accept} does with the next requests. */
  enum Mode {
    /** Store and complete after the commit. */
    STORE,
    /** Keep the request in {@link #awaitHeld} until the test releases or fails it. */
    HOLD,
    /** Fail without storing ("database unavailable"). */
    FAIL_BEFORE_STORE,
    /** Store and commit, then fail anyway (the acknowledgement is lost on the way back). */
    FAIL_AFTER_STORE
  }

  /** A request held by {@link Mode#HOLD}; completed by hand, on the server's event loop. */
  final class Held {
    final Source source;
    final List<Event> events;
    private final Promise<Void> promise;
    private final Context context;

    private Held(Source source, List<Event> events, Promise<Void> promise, Context context) {
      this.source = source;
      this.events = events;
      this.promise = promise;
      this.context = context;
    }

    /** Stores the events, then completes the request (the server answers 200). */
    void release() {
      context.runOnContext(v -> store(source, events).onComplete(promise));
    }

    /** Fails the request without storing (the server answers 503). */
    void fail(String why) {
      context.runOnContext(v -> promise.fail(new IllegalStateException(why)));
    }
  }

  private final Vertx vertx;
  private final JobsDb queue;
  private final Partitioner partitioner;
  private final BlockingQueue<Held> held = new LinkedBlockingQueue<>();
  private final AtomicInteger calls = new AtomicInteger();
  private volatile Mode mode = Mode.STORE;
  private volatile boolean healthy = true;

  JobsDbTestSink(Vertx vertx, JobsDb queue, Partitioner partitioner) {
    this.vertx = vertx;
    this.queue = queue;
    this.partitioner = partitioner;
  }

  JobsDbTestSink mode(Mode mode) {
    this.mode = mode;
    return this;
  }

  JobsDbTestSink healthy(boolean healthy) {
    this.healthy = healthy;
    return this;
  }

  /** How many times {@link #accept} was called. */
  int calls() {
    return calls.get();
  }

  /** The next held request, waiting up to 10 s for it. */
  Held awaitHeld() throws InterruptedException {
    Held h = held.poll(10, TimeUnit.SECONDS);
    if (h == null) {
      throw new AssertionError("no request reached the sink within 10 s");
    }
    return h;
  }

  @Override
  public Future<Void> accept(Source source, List<Event> events) {
    calls.incrementAndGet();
    switch (mode) {
      case HOLD: {
        Context context = vertx.getOrCreateContext();
        Promise<Void> promise = Promise.promise();
        held.add(new Held(source, events, promise, context));
        return promise.future();
      }
      case FAIL_BEFORE_STORE:
        return Future.failedFuture(new IllegalStateException("test sink: database unavailable"));
      case FAIL_AFTER_STORE:
        return store(source, events).compose(v -> Future.failedFuture(new IllegalStateException(
            "test sink: committed, but the acknowledgement was lost")));
      default:
        return store(source, events);
    }
  }

  private Future<Void> store(Source source, List<Event> events) {
    List<NewJob> jobs = new ArrayList<>(events.size());
    Instant now = Instant.now();
    for (Event e : events) {
      jobs.add(new NewJob(partitioner.partition(e.routingKey()), e.routingKey(), source.id(), "", e.messageId(), now,
          e.payload()));
    }
    // as the node's sink: data PostgreSQL refuses is the request's own, permanent fault
    return queue.store(jobs).<Void>mapEmpty().recover(err -> Future.failedFuture(
        err instanceof io.eventpipe.jobsdb.JobsDbException.InvalidData ? new io.eventpipe.gateway.GatewayException(400,
            "an event of the request holds data that cannot be stored", null, err) : err));
  }

  @Override
  public Future<Boolean> healthy() {
    return Future.succeededFuture(healthy);
  }
}
