package io.eventpipe.node.processor;

import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.KeyReadRequest;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.jobsdb.ReadRequest;
import io.eventpipe.jobsdb.StateUpdate;
import io.eventpipe.workspace.InvalidDestinationConfigException;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Fans ingested events (the {@code gw} queue) out to the destinations connected to their source: one {@code rt} job
 * per (event, destination), for each enabled destination whose {@link EventFilter} lets the event through.
 *
 * <h2>One batch</h2>
 * <ol>
 *   <li>Read up to {@code readBatch} pending {@code gw} jobs (in job order, so each key's events stay in order).</li>
 *   <li>Take the workspace snapshot once; for each event, its source's enabled destinations, filtered (the payload's
 *       {@code type} and {@code event} are read with a streaming parse, only when a destination filters).</li>
 *   <li>In one transaction on the shared pool: store the {@code rt} jobs (in event order, so ids keep each key's
 *       order per destination) and mark the {@code gw} jobs succeeded. After a crash, either both happened or
 *       neither: no event is lost and none is fanned out twice. An event without destinations is just marked; one of an
 *       unknown source is kept pending (below).</li>
 *   <li>Tell the fan-out listeners which destinations got jobs (the router wakes those workers).</li>
 * </ol>
 * A full read is followed by the next at once, an empty one by {@code idlePoll}; {@link #wake()} cuts the wait short.
 * One loop per node: batches never overlap, so {@code rt} ids follow {@code gw} order.
 *
 * <h2>A source this node does not know</h2>
 * A proxy whose workspace reloaded before this node's may forward events of a source this node does not know yet.
 * Those events are never dropped: in the same transaction they are marked failed with a retry time (a second, then
 * doubling up to {@code unknownSourceRetry}), so pending reads skip their routing keys until then, and they fan out at
 * the first read after the workspace knows their source. The oldest-first read ({@link JobsDb#readPending}) looks at a
 * window of the oldest pending jobs, which waiting jobs can fill; so while jobs it parked wait, the processor reads by
 * key instead ({@link JobsDb#readKeys}, walking on from where the last read stopped), which passes over waiting keys:
 * other sources' events are never held up by them. Counted in {@code processor_unknown_source_events_total{source}} (each
 * event once, when read: a user's later events wait behind its first, unread) and logged at most once a minute per
 * source. A known source without enabled destinations is not this case: its events
 * are marked done, as RudderStack does.
 */
public final class Processor {

  private static final Logger LOG = LoggerFactory.getLogger(Processor.class);

  private enum State { NEW, RUNNING, STOPPING, STOPPED }

  private final Vertx vertx;
  private final Pool pool;
  private final JobsDb gw;
  private final JobsDb rt;
  private final WorkspaceConfigStore config;
  private final Clock clock;
  private final MeterRegistry registry;
  private final ProcessorOptions options;
  private final Context ctx;
  private final List<Consumer<Set<String>>> listeners = new CopyOnWriteArrayList<>();

  private final Counter events;
  private final Counter failedBatches;
  private final Timer batchTimer;
  private final Map<String, Counter> fannedOut = new HashMap<>();
  private final Map<String, Counter> filteredOut = new HashMap<>();
  private final Map<String, Counter> unknownSources = new HashMap<>();
  private final Map<String, Long> unknownSourceLogged = new HashMap<>();
  /** Until when jobs this processor parked wait: till then it reads by key, past them. */
  private volatile java.time.Instant parkedUntil = java.time.Instant.MIN;
  /** Where the key walk goes on ("" from the first key); touched by the loop only, one batch at a time. */
  private String keyCursor = "";
  private boolean moreKeys;

  // touched on ctx only
  private State state = State.NEW;
  private boolean busy;
  private long timer = -1;
  private WorkspaceConfig filtersOf;
  private Map<Destination, EventFilter> filters = new IdentityHashMap<>();
  private final Map<String, String> filterProblems = new HashMap<>();
  private final Promise<Void> stopped = Promise.promise();

  /** A processor with default options. */
  public Processor(Vertx vertx, Pool pool, JobsDb gw, JobsDb rt, WorkspaceConfigStore config, Clock clock,
      MeterRegistry registry) {
    this(vertx, pool, gw, rt, config, clock, registry, ProcessorOptions.defaults());
  }

  /**
   * @param pool the pool both queues live on; fan-out transactions run on it
   * @param gw the queue of ingested events (destinationId "")
   * @param rt the per-destination queue
   * @param clock the pipeline's time (due retries are irrelevant to {@code gw}; kept for reads)
   */
  public Processor(Vertx vertx, Pool pool, JobsDb gw, JobsDb rt, WorkspaceConfigStore config, Clock clock,
      MeterRegistry registry, ProcessorOptions options) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.pool = Objects.requireNonNull(pool, "pool");
    this.gw = Objects.requireNonNull(gw, "gw");
    this.rt = Objects.requireNonNull(rt, "rt");
    this.config = Objects.requireNonNull(config, "config");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.registry = Objects.requireNonNull(registry, "registry");
    this.options = Objects.requireNonNull(options, "options");
    this.ctx = vertx.getOrCreateContext();
    this.events = Counter.builder("processor.events").description("Ingested events fanned out").register(registry);
    this.failedBatches = Counter.builder("processor.batch.failures").description("Fan-out batches rolled back and retried")
        .register(registry);
    this.batchTimer = Timer.builder("processor.batch.latency").description("One fan-out batch: read, store, mark")
        .publishPercentileHistogram().register(registry);
  }

  /**
   * Calls {@code listener} after each committed batch with the ids of the destinations that got jobs, on the
   * processor's context; it must be quick. The node passes the router's wake-up: {@code ids -> ids.forEach(router::wake)}.
   */
  public void onFanOut(Consumer<Set<String>> listener) {
    listeners.add(Objects.requireNonNull(listener, "listener"));
  }

  public Future<Void> start() {
    return onContext(() -> {
      if (state == State.NEW) {
        state = State.RUNNING;
        LOG.info("Processor started: fanning out ingested events in batches of up to {}", options.readBatch());
        schedule(0);
      }
      return Future.succeededFuture();
    });
  }

  /** Stops after the batch in progress (if any) has committed or rolled back. */
  public Future<Void> stop() {
    return onContext(() -> {
      if (state == State.NEW || state == State.STOPPED) {
        state = State.STOPPED;
        return Future.succeededFuture();
      }
      if (state == State.RUNNING) {
        state = State.STOPPING;
        cancelTimer();
        if (!busy) {
          finish();
        }
      }
      return stopped.future();
    });
  }

  /** New events were ingested: read now if idle. Thread-safe; the ingest path may call it after each commit. */
  public void wake() {
    ctx.runOnContext(v -> {
      if (state == State.RUNNING && !busy) {
        cancelTimer();
        schedule(0);
      }
    });
  }

  // ------------------------------------------------------------------ the loop

  private void schedule(long delayMs) {
    if (delayMs <= 0) {
      ctx.runOnContext(v -> batch());
    } else {
      timer = vertx.setTimer(delayMs, t -> {
        timer = -1;
        batch();
      });
    }
  }

  private void batch() {
    if (state != State.RUNNING || busy) {
      return;
    }
    busy = true;
    long started = System.nanoTime();
    int max = options.readBatch();
    java.time.Instant now = clock.instant();
    moreKeys = false;
    Future<List<Job>> read = now.isBefore(parkedUntil)
        ? gw.readKeys(new KeyReadRequest("", keyCursor, max, max, max, options.readBytes(), Set.of(), now)).map(r -> {
          keyCursor = r.reachedEnd() ? "" : r.lastKey();
          moreKeys = !r.reachedEnd();
          return r.jobs();
        })
        : gw.readPending(new ReadRequest("", max, options.readBytes(), max, now));
    Future<Integer> done = read.compose(jobs -> jobs.isEmpty() ? Future.succeededFuture(0) : fanOut(jobs));
    done.onComplete(ar -> ctx.runOnContext(v -> {
      busy = false;
      if (state == State.STOPPING) {
        finish();
        return;
      }
      if (state != State.RUNNING) {
        return;
      }
      if (ar.failed()) {
        failedBatches.increment();
        LOG.warn("Fan-out batch failed and was rolled back; retrying in {} ms: {}", options.dbRetry().toMillis(),
            ar.cause().toString());
        schedule(options.dbRetry().toMillis());
      } else if (ar.result() > 0 || moreKeys) {
        batchTimer.record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
        schedule(0);
      } else {
        schedule(options.idlePoll().toMillis());
      }
    }));
  }

  /**
   * Steps 2-4 for one batch; returns how many events it handled. The transaction first checks this node's partition
   * record ({@link NodePartitions#refused}): jobs of a partition fenced since the read stay pending for the migration.
   */
  private Future<Integer> fanOut(List<Job> jobs) {
    WorkspaceConfig snapshot = config.current();
    Set<Integer> partitions = new java.util.HashSet<>();
    for (Job job : jobs) {
      partitions.add(job.partitionId());
    }
    Map<String, Integer> perDestination = new HashMap<>();
    Map<String, Integer> filtered = new HashMap<>();
    Map<String, Integer> unknown = new HashMap<>();
    java.time.Instant now = clock.instant();
    int[] parked = new int[1];
    java.time.Instant[] waitUntil = {java.time.Instant.MIN};
    return pool.withTransaction(tx -> NodePartitions.refused(tx, partitions).compose(refused -> {
      perDestination.clear();
      filtered.clear();
      unknown.clear();
      parked[0] = 0;
      List<NewJob> out = new ArrayList<>(jobs.size());
      List<StateUpdate> done = new ArrayList<>(jobs.size());
      for (Job job : jobs) {
        if (refused.contains(job.partitionId())) {
          continue;
        }
        if (snapshot.sourceById(job.sourceId()).isEmpty()) {
          StateUpdate wait = keepPending(job, now);
          done.add(wait);
          parked[0]++;
          if (wait.nextRetryAt().isAfter(waitUntil[0])) {
            waitUntil[0] = wait.nextRetryAt();
          }
          if (job.attempts() == 0) {
            unknown.merge(job.sourceId(), 1, Integer::sum);
          }
          continue;
        }
        for (Destination d : snapshot.destinationsFor(job.sourceId())) {
          if (!passes(snapshot, d, job, filtered)) {
            continue;
          }
          out.add(new NewJob(job.partitionId(), job.routingKey(), job.sourceId(), d.id(), job.messageId(), job.receivedAt(),
              job.payload()));
          perDestination.merge(d.id(), 1, Integer::sum);
        }
        done.add(new StateUpdate(job.jobId(), JobState.SUCCEEDED, job.attempts(), null, null, null));
      }
      return rt.storeIn(tx, out).compose(ids -> gw.updateStates(tx, done)).map(done.size());
    })).map(handled -> {
      if (waitUntil[0].isAfter(parkedUntil)) {
        parkedUntil = waitUntil[0];
      }
      ctx.runOnContext(x -> {
        afterCommit(handled - parked[0], perDestination, filtered);
        unknownSources(unknown);
      });
      return handled;
    });
  }

  /** The event of an unknown source, failed with a retry time: reads skip its key until then; it is never aborted. */
  private StateUpdate keepPending(Job job, java.time.Instant now) {
    long max = options.unknownSourceRetry().toMillis();
    long wait = Math.min(max, 1000L << Math.min(job.attempts(), 20));
    return new StateUpdate(job.jobId(), JobState.FAILED, job.attempts() + 1,
        job.firstAttemptAt() == null ? now : job.firstAttemptAt(), now.plusMillis(wait),
        "source '" + job.sourceId() + "' is not in this node's workspace: kept pending until it is");
  }

  private void unknownSources(Map<String, Integer> firstSeen) {
    long nowNanos = System.nanoTime();
    firstSeen.forEach((source, n) -> {
      unknownSources.computeIfAbsent(source, id -> Counter.builder("processor.unknown.source.events")
          .description("Events of a source this node's workspace does not know, kept pending (counted once, when first read)")
          .tag("source", id).register(registry)).increment(n);
      Long last = unknownSourceLogged.get(source);
      if (last == null || nowNanos - last >= TimeUnit.MINUTES.toNanos(1)) {
        if (unknownSourceLogged.size() > 10_000) {
          unknownSourceLogged.clear();
        }
        unknownSourceLogged.put(source, nowNanos);
        LOG.warn("{} new events of source '{}', which this node's workspace does not know, are kept pending and retried"
            + " until it does (is this node's workspace file older than the proxies'?); counted in"
            + " processor_unknown_source_events_total", n, io.eventpipe.gateway.Text.forLog(source));
      }
    });
  }

  private boolean passes(WorkspaceConfig snapshot, Destination d, Job job, Map<String, Integer> filtered) {
    EventFilter filter = filterFor(snapshot, d);
    if (filter.passesAll()) {
      return true;
    }
    EventFields.Fields fields = EventFields.read(job.payload());
    if (filter.test(fields.type(), fields.event())) {
      return true;
    }
    filtered.merge(d.id(), 1, Integer::sum);
    return false;
  }

  private void afterCommit(int handled, Map<String, Integer> perDestination, Map<String, Integer> filtered) {
    events.increment(handled);
    perDestination.forEach((id, n) -> counter(fannedOut, "processor.fanout.jobs", "Jobs created for a destination", id)
        .increment(n));
    filtered.forEach((id, n) -> counter(filteredOut, "processor.filtered.events", "Events a destination's filter dropped", id)
        .increment(n));
    if (!perDestination.isEmpty()) {
      Set<String> ids = new LinkedHashSet<>(perDestination.keySet());
      for (Consumer<Set<String>> l : listeners) {
        try {
          l.accept(ids);
        } catch (RuntimeException e) {
          LOG.warn("Fan-out listener failed", e);
        }
      }
    }
  }

  private Counter counter(Map<String, Counter> cache, String name, String description, String destination) {
    return cache.computeIfAbsent(destination, id -> Counter.builder(name).description(description)
        .tag("destination", id).register(registry));
  }

  /**
   * The filter of a destination in this snapshot. A malformed filter is logged and ignored (the event is fanned out):
   * the router does not deliver to a destination whose config it cannot use, so nothing is sent before the file is
   * fixed, and nothing is lost meanwhile.
   */
  private EventFilter filterFor(WorkspaceConfig snapshot, Destination d) {
    if (snapshot != filtersOf) {
      filtersOf = snapshot;
      filters = new IdentityHashMap<>();
    }
    EventFilter f = filters.get(d);
    if (f == null) {
      try {
        f = EventFilter.of(d);
        filterProblems.remove(d.id());
      } catch (InvalidDestinationConfigException e) {
        if (!e.getMessage().equals(filterProblems.put(d.id(), e.getMessage()))) {
          LOG.error("{}; fanning out its events unfiltered until the file is fixed", e.getMessage());
        }
        f = EventFilter.ALL;
      }
      filters.put(d, f);
    }
    return f;
  }

  private void finish() {
    state = State.STOPPED;
    cancelTimer();
    LOG.info("Processor stopped");
    stopped.tryComplete();
  }

  private void cancelTimer() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
  }

  private <T> Future<T> onContext(java.util.function.Supplier<Future<T>> action) {
    if (Vertx.currentContext() == ctx) {
      return action.get();
    }
    Promise<T> p = Promise.promise();
    ctx.runOnContext(v -> action.get().onComplete(p));
    return p.future();
  }
}
