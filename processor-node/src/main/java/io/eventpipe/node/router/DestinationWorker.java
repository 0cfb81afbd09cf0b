package io.eventpipe.node.router;

import io.eventpipe.destinations.DeliveryMode;
import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Event;

import io.eventpipe.gateway.Text;
import io.eventpipe.workspace.Destination;
import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.KeyReadRequest;
import io.eventpipe.jobsdb.StateUpdate;
import io.vertx.core.AsyncResult;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.VerticleBase;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers one destination's jobs, in order per routing key, on its own event-loop context (a verticle) with its
 * own connections: a slow or failing destination only ever occupies its own worker.
 *
 * <h2>Lanes</h2>
 * Jobs read from jobsdb are queued in memory per routing key (a lane, kept by the {@link LaneScheduler}, which decides
 * what goes in each request and has no Vert.x in it). A lane has at most one request in flight;
 * lanes take turns (round robin) for up to {@code maxInFlight} requests at once, subject to the rate limit. When a
 * request fails and will be retried, the lane's queued jobs are dropped from memory: jobsdb then skips the key
 * until its failed job is due, so event k+1 is never sent before event k succeeded or was aborted.
 *
 * <h2>Reads</h2>
 * A read walks the destination's routing keys ({@link JobsDb#readKeys}) on from where the last one stopped, taking
 * each key's first jobs (at most {@link #perKey} of them) and passing over the keys this worker holds (its lanes) or
 * has failed: one index probe per key, so a key with a huge backlog, in flight or in backoff never hides the next
 * one. A walk that reaches the last key starts again from the first. A lane that got a full share of its key's jobs
 * asks for a read as soon as it drains, so a busy key keeps flowing.
 *
 * <h2>Batches</h2>
 * When a request with several users' events fails (rejected, or retryable and not throttled; for a
 * {@link DeliveryMode#STAGED} destination only rejected), nobody gets that outcome yet: each user's jobs are queued
 * again at the front of its lane and sent in a request of their own, and a
 * rejected request of one user's several events is retried one event per request. Only the user (or the event) at
 * fault is then backed off or aborted.
 *
 * <h2>Replays</h2>
 * {@link #reread()} (after a replay made older jobs pending again) drops every queued job that is not in flight and
 * reads again from the first key, discarding a read that was running, so a replayed job is never sent after a later
 * job of its key that this worker had already queued.
 *
 * <h2>State writes</h2>
 * Jobs are not marked executing; outcomes are written in batches (one {@code updateStates} per batch, like a group
 * commit: whatever finished while the previous write ran). A crash therefore re-delivers only what was in flight or
 * delivered but not yet written (at-least-once). Because a job stays pending in jobsdb until its outcome is written,
 * a read also returns jobs this worker already holds; these rules keep that safe:
 * <ol>
 *   <li>One database operation at a time per worker (a read or a state write), so a read never sees a state that is
 *       older than what this worker wrote before it started.</li>
 *   <li>A job id stays in {@code known} from the read that queued it until its outcome is written; reads skip known
 *       ids.</li>
 *   <li>A key whose job failed is in {@code failedKeys} until that failure is written; reads skip the key (jobsdb
 *       skips it afterwards, until the job is due).</li>
 *   <li>Reads return each key's pending jobs as a prefix in job order, so the unknown jobs a read returns for a key
 *       continue that key's lane in order.</li>
 *   <li>A worker reads only while it holds at most half a read batch, so every full read brings new jobs.</li>
 * </ol>
 *
 * <h2>States</h2>
 * STARTING -&gt; RUNNING -&gt; STOPPING -&gt; STOPPED. Stopping stops reading and dispatching, waits up to
 * {@code stopTimeout} for requests in flight (then abandons them: their jobs stay pending), writes the outcomes it
 * has, and closes the connections.
 */
final class DestinationWorker extends VerticleBase {

  private static final Logger LOG = LoggerFactory.getLogger(DestinationWorker.class);

  enum State { STARTING, RUNNING, STOPPING, STOPPED }

  /**
   * The database loop: one operation at a time, a read or a state write (rule 1 above); when both are wanted they
   * alternate, so neither starves the other.
   */
  enum Db {
    /** Nothing running; the last operation was a state write (or there was none): a wanted read goes next. */
    IDLE_AFTER_WRITE,
    /** Nothing running; the last operation was a read: waiting outcomes are written before the next read. */
    IDLE_AFTER_READ,
    READING,
    WRITING;

    boolean busy() {
      return this == READING || this == WRITING;
    }
  }

  /** One request in flight: a batch of the lane scheduler, when it started. Identity equality. */
  private static final class Delivery {
    private final LaneScheduler.Batch batch;
    private final Instant startedAt;
    private final long startedNanos;

    Delivery(LaneScheduler.Batch batch, Instant startedAt, long startedNanos) {
      this.batch = batch;
      this.startedAt = startedAt;
      this.startedNanos = startedNanos;
    }

    List<Job> jobs() {
      return batch.jobs();
    }

    int users() {
      return batch.lanes().size();
    }

    Instant startedAt() {
      return startedAt;
    }

    long startedNanos() {
      return startedNanos;
    }
  }

  private final Destination destination;
  private final DestinationType type;
  private final DeliverySettings settings;
  private final JobsDb rt;
  private final Clock clock;
  private final RouterOptions options;
  private final DestinationMetrics metrics;
  private final LongSupplier ticker;
  private final Set<Integer> fenced;

  private Context ctx;
  private DestinationClient client;
  private AdaptiveRateLimiter limiter;
  private volatile State state = State.STARTING;

  private final LaneScheduler lanes = new LaneScheduler();
  private final Set<Long> known = new HashSet<>();
  private final Set<Delivery> running = new HashSet<>();
  private List<StateUpdate> outcomes = new ArrayList<>();
  private Set<String> failedKeys = new HashSet<>();

  /** where the next key walk starts: after this key ("" for the first) */
  private String afterKey = "";
  /** counts {@link #reread()} calls: a read that started before one is discarded */
  private long generation;

  private Db db = Db.IDLE_AFTER_WRITE;
  private boolean readFull;
  private boolean readWanted = true;
  private long nextReadAt;
  private long dbRetryAt;
  private long timerId = -1;
  private long timerAt;
  private long stopTimer = -1;
  private boolean pumping;
  private boolean pumpAgain;
  private long lastReadWarning;
  private final Promise<Void> stopped = Promise.promise();
  /** stopped and the client closed: no request of this worker is open any more (abandoned ones included) */
  private boolean closed;
  /** stop() gave up waiting for requests in flight: they are open, of unknown partitions, until the client closes */
  private boolean abandoned;
  /** set by {@link #abandonOnStop()}: stop() does not wait for requests in flight */
  private volatile boolean abandonOnStop;
  /** fence() calls waiting for deliveries of their partitions in flight to end and their outcomes to be written */
  private final List<Map.Entry<Set<Integer>, Promise<Void>>> fenceWaiters = new ArrayList<>();
  /** job id &rarr; partition of every outcome not yet written (queued or being written) */
  private final Map<Long, Integer> unwritten = new HashMap<>();

  DestinationWorker(Destination destination, DestinationType type, DeliverySettings settings, JobsDb rt, Clock clock,
      RouterOptions options, DestinationMetrics metrics, LongSupplier ticker, Set<Integer> fenced) {
    this.fenced = fenced;
    this.destination = destination;
    this.type = type;
    this.settings = settings;
    this.rt = rt;
    this.clock = clock;
    this.options = options;
    this.metrics = metrics;
    this.ticker = ticker;
  }

  Destination destination() {
    return destination;
  }

  State state() {
    return state;
  }

  @Override
  public Future<?> start() {
    ctx = context;
    // the mapping without code runs before the integration sees an event
    client = settings.mapping().wrap(type.open(new DestinationContext(vertx, destination, settings.maxInFlight(),
        settings.egress(), clock, options.services())));
    limiter = new AdaptiveRateLimiter(settings.eventsPerSecond(), ticker);
    metrics.rate = limiter.rate() == Double.POSITIVE_INFINITY ? Double.NaN : limiter.rate();
    state = State.RUNNING;
    LOG.info("Delivering to destination {} ({}): up to {} requests in flight{}", destination.id(), destination.type(),
        settings.maxInFlight(), settings.eventsPerSecond() == null ? "" : ", " + settings.eventsPerSecond() + " events/s");
    pump();
    return Future.succeededFuture();
  }

  /** New jobs may be pending: read soon, even if the last read found everything. Thread-safe. */
  void wake() {
    Context c = ctx;
    if (c != null) {
      c.runOnContext(v -> {
        readWanted = true;
        pump();
      });
    }
  }

  /**
   * Older jobs may have become pending (a replay): drops every queued job that is not in flight and reads again from
   * the first key; a read already running is discarded. Thread-safe.
   */
  void reread() {
    Context c = ctx;
    if (c != null) {
      c.runOnContext(v -> {
        generation++;
        dropQueued();
        afterKey = "";
        readWanted = true;
        pump();
      });
    }
  }

  /** Forgets the queued jobs of every lane (they stay pending in jobsdb); lanes with a request in flight stay. */
  private void dropQueued() {
    forget(lanes.dropQueued());
  }

  private void forget(List<Job> jobs) {
    for (Job j : jobs) {
      known.remove(j.jobId());
    }
  }

  /**
   * The node no longer delivers {@code partitions} (they move to another node): drops their queued jobs and completes
   * once no delivery of theirs is in flight and every outcome of theirs is written. Reads skip them already (the
   * shared fenced set, then the database). Thread-safe.
   */
  Future<Void> fence(Set<Integer> partitions) {
    Context c = ctx;
    if (c == null) {
      return Future.succeededFuture();
    }
    Promise<Void> done = Promise.promise();
    c.runOnContext(v -> {
      forget(lanes.dropPartitions(partitions));
      fenceWaiters.add(Map.entry(partitions, done));
      checkFenceWaiters();
      pump();
    });
    return done.future();
  }

  /** Completes the fence() calls whose partitions have nothing in flight and no outcome left to write. */
  private void checkFenceWaiters() {
    if (fenceWaiters.isEmpty()) {
      return;
    }
    for (java.util.Iterator<Map.Entry<Set<Integer>, Promise<Void>>> it = fenceWaiters.iterator(); it.hasNext();) {
      Map.Entry<Set<Integer>, Promise<Void>> w = it.next();
      Set<Integer> parts = w.getKey();
      boolean busy = running.stream().anyMatch(d -> d.jobs().stream().anyMatch(j -> parts.contains(j.partitionId())))
          || unwritten.values().stream().anyMatch(parts::contains)
          || abandoned;
      if (!busy || closed) {
        it.remove();
        w.getValue().tryComplete();
      }
    }
  }

  @Override
  public Future<?> stop() {
    if (state == State.STOPPED || state == State.STOPPING) {
      return stopped.future();
    }
    state = State.STOPPING;
    // queued jobs stay pending in jobsdb; only requests in flight are waited for
    dropQueued();
    cancelTimer();
    long waitMs = abandonOnStop ? 0 : options.stopTimeout().toMillis();
    if (waitMs == 0) {
      abandonAtOnce();
    } else {
      stopTimer = vertx.setTimer(waitMs, t -> {
        stopTimer = -1;
        abandonRunning("after " + waitMs + " ms");
        pump();
      });
    }
    pump();
    return stopped.future();
  }

  /**
   * The next {@link #stop()} abandons the requests in flight at once instead of waiting for them (its client closes
   * their connections): the node can no longer show that it owns their partitions. Thread-safe; call before undeploying.
   */
  void abandonOnStop() {
    abandonOnStop = true;
    Context c = ctx;
    if (c != null) {
      c.runOnContext(v -> {
        if (state == State.STOPPING && stopTimer >= 0) { // already waiting for its requests: waits no longer
          vertx.cancelTimer(stopTimer);
          stopTimer = -1;
          abandonAtOnce();
          pump();
        }
      });
    }
  }

  /**
   * Abandons the requests in flight and closes their connections now: the stop itself may wait longer, for outcome
   * writes to a database the node cannot reach, but no request of this worker stays open meanwhile.
   */
  private void abandonAtOnce() {
    abandonRunning("at once: the node is cut off from its database");
    client.close();
  }

  private void abandonRunning(String when) {
    if (!running.isEmpty()) {
      LOG.warn("Destination {}: abandoning {} requests still in flight {}; their {} jobs stay pending and will be delivered "
          + "again", destination.id(), running.size(), when, running.stream().mapToInt(d -> d.jobs().size()).sum());
      running.clear();
      abandoned = true;
    }
  }

  // ------------------------------------------------------------------ the loop

  private void pump() {
    if (pumping) {
      pumpAgain = true;
      return;
    }
    pumping = true;
    try {
      do {
        pumpAgain = false;
        step();
      } while (pumpAgain);
    } finally {
      pumping = false;
    }
  }

  private void step() {
    checkFenceWaiters();
    if (state == State.STOPPED) {
      return;
    }
    long now = ticker.getAsLong();
    if (!db.busy() && now >= dbRetryAt) {
      boolean read = state == State.RUNNING && wantsRead(now);
      if (read && (db == Db.IDLE_AFTER_WRITE || outcomes.isEmpty())) {
        read();
      } else if (!outcomes.isEmpty()) {
        flush();
      } else if (state == State.STOPPING && running.isEmpty()) {
        finishStop();
        return;
      }
    }
    if (state == State.RUNNING) {
      dispatch();
    }
    if (!db.busy()) {
      // something must wake us: a request completing, a database operation, or this timer
      if (now < dbRetryAt) {
        armTimer(dbRetryAt);
      } else if (state == State.RUNNING && now < nextReadAt && known.size() <= options.readBatch() / 2) {
        armTimer(nextReadAt); // the next idle poll
      }
    }
  }

  private boolean wantsRead(long now) {
    if (known.size() > options.readBatch() / 2) {
      return false;
    }
    return readWanted || readFull || now >= nextReadAt;
  }

  // ------------------------------------------------------------------ reading

  /** The most jobs of one key a read returns: enough for a couple of requests, a small share of a read. */
  private int perKey() {
    return Math.min(options.readBatch(), Math.max(100, 2 * client.maxEventsPerRequest()));
  }

  private void read() {
    db = Db.READING;
    readWanted = false;
    int batch = options.readBatch();
    int perKey = perKey();
    String from = afterKey;
    long readGeneration = generation;
    Set<String> busyKeys = new HashSet<>(lanes.keys());
    busyKeys.addAll(failedKeys);
    KeyReadRequest request = new KeyReadRequest(destination.id(), from, batch * options.scanFactor(), perKey, batch,
        options.readBytes(), busyKeys, clock.instant());
    onContext(rt.readKeys(request), ar -> {
      db = Db.IDLE_AFTER_READ;
      long now = ticker.getAsLong();
      if (ar.failed()) {
        readFull = false;
        dbRetryAt = now + options.dbRetry().toNanos();
        if (now - lastReadWarning > TimeUnit.SECONDS.toNanos(30)) {
          lastReadWarning = now;
          LOG.warn("Destination {}: reading pending jobs failed, retrying: {}", destination.id(), ar.cause().toString());
        }
      } else if (readGeneration != generation) {
        readWanted = true; // reread() ran meanwhile: this read may miss replayed jobs
      } else {
        List<Job> jobs = ar.result().jobs();
        long bytes = 0;
        Map<String, Integer> perKeyRead = new HashMap<>();
        for (Job job : jobs) {
          bytes += job.payload().length;
          int n = perKeyRead.merge(job.routingKey(), 1, Integer::sum);
          if (state != State.RUNNING || known.contains(job.jobId()) || failedKeys.contains(job.routingKey())
              || fenced.contains(job.partitionId())) {
            continue;
          }
          known.add(job.jobId());
          lanes.add(job, n >= perKey);
        }
        boolean cut = jobs.size() >= batch || bytes >= options.readBytes();
        if (cut) {
          afterKey = jobs.get(jobs.size() - 1).routingKey(); // the keys after it were not returned
          readFull = true;
        } else if (ar.result().reachedEnd()) {
          afterKey = "";
          readFull = !from.isEmpty(); // start again from the first key at once, unless this walk began there
        } else {
          afterKey = ar.result().lastKey();
          readFull = !jobs.isEmpty(); // a walk over blocked keys only goes on at the idle pace
        }
        if (!readFull) {
          nextReadAt = now + options.idlePoll().toNanos();
        }
      }
      pump();
    });
  }

  // ------------------------------------------------------------------ delivering

  private void dispatch() {
    int maxEvents = client.maxEventsPerRequest();
    while (running.size() < settings.maxInFlight() && lanes.hasReady()) {
      long wait = limiter.tryAcquire(lanes.nextCount(maxEvents));
      if (wait > 0) {
        armTimer(ticker.getAsLong() + wait);
        return;
      }
      send(new Delivery(lanes.take(maxEvents), clock.instant(), System.nanoTime()));
    }
  }

  private void send(Delivery d) {
    running.add(d);
    metrics.attempts.increment(d.jobs().size());
    Future<DeliveryResult> f;
    try {
      f = client.deliver(events(d.jobs()), options.nodeName());
    } catch (RuntimeException e) {
      f = Future.failedFuture(e);
    }
    onContext(f, ar -> complete(d, ar.succeeded() ? ar.result()
        : new DeliveryResult.Retryable(networkError(ar.cause()), null, false)));
  }

  private void complete(Delivery d, DeliveryResult result) {
    if (!running.remove(d)) {
      return; // abandoned by stop(): its jobs stay pending
    }
    metrics.requests.record(System.nanoTime() - d.startedNanos(), TimeUnit.NANOSECONDS);
    // a staged destination's retryable failure is the destination's (its store is down or slow), not a user's: its
    // batch is retried whole after the backoff instead of as one request per user (which would only multiply the
    // requests to a destination that is already failing); a rejection is still split to find the event at fault
    boolean shared = result instanceof DeliveryResult.Rejected
        || result instanceof DeliveryResult.Retryable r && !r.throttled() && type.mode() == DeliveryMode.STREAM;
    if (shared && (d.users() > 1 || d.jobs().size() > 1 && result instanceof DeliveryResult.Rejected)) {
      // one failure, one victim: retry the members apart before anyone gets this outcome; but a partition fenced
      // while the request ran is not sent again: its jobs stay pending for the migration (a fence() may already
      // have completed, and the node confirmed it)
      requeueApart(d);
      forget(lanes.dropPartitions(fenced));
      pump();
      return;
    }
    Instant now = clock.instant();
    Set<String> retrying = Set.of();
    if (result instanceof DeliveryResult.Delivered) {
      limiter.onSuccess();
      for (Job job : d.jobs()) {
        outcomes.add(new StateUpdate(job.jobId(), JobState.SUCCEEDED, job.attempts() + 1, first(job, d), null, job.lastError()));
        metrics.recordLatency(job.receivedAt(), now);
      }
      metrics.delivered.increment(d.jobs().size());
    } else if (result instanceof DeliveryResult.Partial partial) {
      // some events rejected, the rest accepted: each gets its own outcome; a rejected event is aborted, which ends
      // its turn in its lane as a success would, so order holds
      limiter.onSuccess();
      int aborted = 0;
      for (Job job : d.jobs()) {
        String error = partial.rejected().get(job.jobId());
        if (error != null) {
          outcomes.add(new StateUpdate(job.jobId(), JobState.ABORTED, job.attempts() + 1, first(job, d), null, error));
          aborted++;
        } else {
          outcomes.add(new StateUpdate(job.jobId(), JobState.SUCCEEDED, job.attempts() + 1, first(job, d), null, job.lastError()));
          metrics.recordLatency(job.receivedAt(), now);
        }
      }
      metrics.aborted.increment(aborted);
      metrics.delivered.increment(d.jobs().size() - aborted);
    } else if (result instanceof DeliveryResult.Rejected rejected) {
      for (Job job : d.jobs()) {
        outcomes.add(new StateUpdate(job.jobId(), JobState.ABORTED, job.attempts() + 1, first(job, d), null, rejected.error()));
      }
      metrics.aborted.increment(d.jobs().size());
      LOG.debug("Destination {}: {} events rejected: {}", destination.id(), d.jobs().size(), rejected.error());
    } else {
      DeliveryResult.Retryable retry = (DeliveryResult.Retryable) result;
      if (retry.throttled()) {
        limiter.onThrottled();
      }
      RetryPolicy policy = settings.retry();
      retrying = new HashSet<>();
      for (Job job : d.jobs()) {
        int attempts = job.attempts() + 1;
        Instant first = first(job, d);
        if (policy.exhausted(attempts, first, now)) {
          outcomes.add(new StateUpdate(job.jobId(), JobState.ABORTED, attempts, first, null, retry.error()));
          metrics.aborted.increment();
        } else {
          Instant next = policy.nextAttempt(now, attempts, ThreadLocalRandom.current().nextDouble(), retry.retryAfter());
          outcomes.add(new StateUpdate(job.jobId(), JobState.FAILED, attempts, first, next, retry.error()));
          metrics.failed.increment();
          retrying.add(job.routingKey());
        }
      }
    }
    for (Job job : d.jobs()) {
      unwritten.put(job.jobId(), job.partitionId());
    }
    metrics.rate = Double.isInfinite(limiter.rate()) ? Double.NaN : limiter.rate();
    LaneScheduler.Finished finished = lanes.finish(d.batch, retrying, state == State.RUNNING);
    // a retrying key waits for its retry: what was queued behind the failed job stays pending in jobsdb
    forget(finished.dropped());
    for (String key : retrying) {
      failedKeys.add(key);
    }
    readWanted |= finished.readAgain(); // an emptied lane's key may have more pending: read it again now
    pump();
  }

  /**
   * Queues a failed request's jobs again at the front of their lanes: each user's in a request of its own if the
   * request had several users, else (a rejected batch of one user's events) one event per request.
   */
  private void requeueApart(Delivery d) {
    LOG.debug("Destination {}: a request of {} events of {} users failed; retrying them apart", destination.id(),
        d.jobs().size(), d.users());
    lanes.requeueApart(d.batch, state == State.RUNNING);
  }

  /** The jobs as the destination client sees them. */
  private static List<Event> events(List<Job> jobs) {
    List<Event> out = new ArrayList<>(jobs.size());
    for (Job j : jobs) {
      out.add(new Event(j.jobId(), j.partitionId(), j.routingKey(), j.sourceId(), j.destinationId(), j.messageId(),
          j.receivedAt(), j.payload(), j.attempts()));
    }
    return out;
  }

  /** A delivery whose future failed: retryable, whatever the client threw. */
  static String networkError(Throwable e) {
    String message = e.getMessage();
    return "network error: " + e.getClass().getSimpleName() + (message == null ? "" : ": " + message);
  }

  private static Instant first(Job job, Delivery d) {
    return job.firstAttemptAt() != null ? job.firstAttemptAt() : d.startedAt();
  }

  // ------------------------------------------------------------------ writing states

  private void flush() {
    db = Db.WRITING;
    List<StateUpdate> batch = outcomes;
    Set<String> keys = failedKeys;
    outcomes = new ArrayList<>();
    failedKeys = new HashSet<>();
    onContext(write(batch), ar -> {
      if (ar.succeeded()) {
        written(batch);
      } else if (state == State.STOPPING) {
        LOG.warn("Destination {}: writing {} delivery outcomes failed while stopping; those jobs stay pending and will be "
            + "delivered again: {}", destination.id(), batch.size(), ar.cause().toString());
        written(batch);
      } else if (JobsDbException.InvalidData.classify(ar.cause()) instanceof JobsDbException.InvalidData invalid) {
        // one failure, one victim: PostgreSQL refused a row of the batch (its data, not the database being away), so
        // the outcomes are written apart and only the one at fault is handled, never retried for ever as a batch
        LOG.warn("Destination {}: writing {} delivery outcomes failed on their data (SQLSTATE {}); writing them apart",
            destination.id(), batch.size(), invalid.sqlState());
        writeApart(batch, keys);
        return;
      } else {
        LOG.warn("Destination {}: writing {} delivery outcomes failed, retrying: {}", destination.id(), batch.size(),
            ar.cause().toString());
        retryLater(batch, keys);
      }
      db = Db.IDLE_AFTER_WRITE;
      pump();
    });
  }

  /** The one call that writes outcomes (every write of this worker goes through it). */
  private Future<Void> write(List<StateUpdate> batch) {
    return rt.updateStates(batch);
  }

  private void written(List<StateUpdate> batch) {
    for (StateUpdate u : batch) {
      known.remove(u.jobId());
      unwritten.remove(u.jobId());
    }
  }

  /** Puts outcomes back at the front of the next write, after the database retry delay. */
  private void retryLater(List<StateUpdate> batch, Set<String> keys) {
    batch.addAll(outcomes);
    outcomes = batch;
    keys.addAll(failedKeys);
    failedKeys = keys;
    dbRetryAt = ticker.getAsLong() + options.dbRetry().toNanos();
  }

  /**
   * Writes each outcome alone, in order. An outcome PostgreSQL refuses for its data (the last error holds what
   * {@link io.eventpipe.gateway.Text#storable} should have removed) is written again without its last error; if even
   * that is refused, it is left unwritten (the job stays pending and is delivered again: at-least-once) rather than
   * block the others. Outcomes that fail for another reason (the database is away) wait for the next write.
   */
  private void writeApart(List<StateUpdate> batch, Set<String> keys) {
    List<StateUpdate> later = new ArrayList<>();
    Future<Void> chain = Future.succeededFuture();
    for (StateUpdate u : batch) {
      chain = chain.transform(x -> here(write(List.of(u))).transform(one -> {
        if (one.succeeded()) {
          written(List.of(u));
          return Future.<Void>succeededFuture();
        }
        if (!(JobsDbException.InvalidData.classify(one.cause()) instanceof JobsDbException.InvalidData)) {
          later.add(u);
          return Future.<Void>succeededFuture();
        }
        StateUpdate bare = new StateUpdate(u.jobId(), u.state(), u.attempts(), u.firstAttemptAt(), u.nextRetryAt(),
            UNSTORABLE_ERROR);
        LOG.warn("Destination {}: the outcome of job {} could not be stored ({}); writing it with a placeholder error",
            destination.id(), u.jobId(), Text.forLog(u.lastError()));
        return here(write(List.of(bare))).transform(again -> {
          if (again.succeeded()) {
            written(List.of(u));
          } else if (JobsDbException.InvalidData.classify(again.cause()) instanceof JobsDbException.InvalidData) {
            LOG.error("Destination {}: the outcome of job {} cannot be stored at all; the job stays pending: {}",
                destination.id(), u.jobId(), again.cause().toString());
            written(List.of(u));
          } else {
            later.add(u);
          }
          return Future.<Void>succeededFuture();
        });
      }));
    }
    onContext(chain, x -> {
      if (!later.isEmpty()) {
        retryLater(later, keys);
      }
      db = Db.IDLE_AFTER_WRITE;
      pump();
    });
  }

  /** {@code f}, completed on this worker's context (so what follows it may touch the worker's state). */
  private <T> Future<T> here(Future<T> f) {
    Promise<T> p = Promise.promise();
    onContext(f, p::handle);
    return p.future();
  }

  /** The last error written for an outcome whose own could not be stored. */
  static final String UNSTORABLE_ERROR = "(the destination's answer could not be stored)";

  private void finishStop() {
    state = State.STOPPED;
    cancelTimer();
    if (stopTimer >= 0) {
      vertx.cancelTimer(stopTimer);
      stopTimer = -1;
    }
    lanes.clear();
    known.clear();
    unwritten.clear();
    client.close().onComplete(ar -> {
      // a fence waits for this: an abandoned request is open until its connection closes
      closed = true;
      checkFenceWaiters();
      LOG.info("Stopped delivering to destination {}", destination.id());
      stopped.complete();
    });
  }

  // ------------------------------------------------------------------ plumbing

  private void armTimer(long atNanos) {
    if (timerId >= 0) {
      if (timerAt <= atNanos) {
        return;
      }
      vertx.cancelTimer(timerId);
    }
    long delayMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(atNanos - ticker.getAsLong()) + 1);
    timerAt = atNanos;
    timerId = vertx.setTimer(delayMs, t -> {
      timerId = -1;
      pump();
    });
  }

  private void cancelTimer() {
    if (timerId >= 0) {
      vertx.cancelTimer(timerId);
      timerId = -1;
    }
  }

  /** Runs {@code handler} on this worker's context, whichever thread completes {@code f}. */
  private <T> void onContext(Future<T> f, Handler<AsyncResult<T>> handler) {
    f.onComplete(ar -> {
      if (Vertx.currentContext() == ctx) {
        handler.handle(ar);
      } else {
        ctx.runOnContext(v -> handler.handle(ar));
      }
    });
  }
}
