package io.eventpipe.node.router;

import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.DestinationTypes;

import io.eventpipe.workspace.InvalidDestinationConfigException;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.ReadRequest;
import io.eventpipe.jobsdb.StateUpdate;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Delivers the {@code rt} queue: one {@link DestinationWorker} per enabled destination of the workspace, each on its
 * own event-loop context with its own connections, so destinations never slow each other down.
 *
 * <h2>Configuration changes</h2>
 * Applied live, one change at a time, in these steps:
 * <ol>
 *   <li>Stop the workers of destinations that were disabled, removed or whose type or config changed (they finish or
 *       abandon their requests in flight and write the outcomes).</li>
 *   <li>Abort the pending jobs of destinations no longer in the workspace, with the reason
 *       {@value #REMOVED_REASON}; they can be listed and replayed through the admin API. A disabled destination's
 *       jobs stay pending until it is enabled again.</li>
 *   <li>Start workers for new, re-enabled or changed destinations. A destination whose config is invalid gets no
 *       worker (its jobs wait) and its problems are logged and shown in {@link #status()}.</li>
 * </ol>
 * The periodic gauge refresh also aborts stray pending jobs of destinations that this router saw removed (jobs
 * fanned out by a batch that raced with the removal). Jobs of a destination it never knew (copied in by a migration
 * from a node whose workspace reloaded first) wait for the workspace to define it: they are never aborted for that.
 */
public final class Router {

  private static final Logger LOG = LoggerFactory.getLogger(Router.class);

  public static final String REMOVED_REASON = "destination removed from the workspace configuration";

  /** Where a destination stands, for operators (the admin API). */
  public record DestinationStatus(String id, String type, String state, String error) {
    public static final String DELIVERING = "delivering";
    public static final String DISABLED = "disabled";
    public static final String INVALID = "invalid";
    public static final String STOPPED = "stopped";
  }

  private record Desired(Destination destination, DestinationType type, DeliverySettings settings) {}

  private static final class Handle {
    final DestinationWorker worker;
    final String deploymentId;

    Handle(DestinationWorker worker, String deploymentId) {
      this.worker = worker;
      this.deploymentId = deploymentId;
    }
  }

  private final Vertx vertx;
  private final JobsDb rt;
  private final WorkspaceConfigStore config;
  private final Clock clock;
  private final MeterRegistry registry;
  private final DestinationTypes types;
  private final RouterOptions options;
  private final Context ctx;

  // touched on ctx only
  private final Map<String, Handle> workers = new HashMap<>();
  private final Map<String, DestinationMetrics> metrics = new ConcurrentHashMap<>();
  private Future<Void> applying = Future.succeededFuture();
  private boolean started;
  private boolean stopping;
  private long refreshTimer = -1;
  private AutoCloseable listener;
  private WorkspaceConfig applied = WorkspaceConfig.empty();
  // read from any thread
  private final Map<String, DestinationStatus> statuses = new ConcurrentHashMap<>();
  private final Map<String, DestinationWorker> byId = new ConcurrentHashMap<>();
  /**
   * Workers being stopped: no longer in {@link #byId} (nothing new goes to them), but their requests may still be in
   * flight, so {@link #fence} waits for them too.
   */
  private final Set<DestinationWorker> stoppingWorkers = ConcurrentHashMap.newKeySet();
  /** destinations this router applied and then saw removed: their stray jobs are aborted (touched on ctx only) */
  private final Set<String> removed = new HashSet<>();
  /** destinations never known here whose waiting jobs were logged (touched on ctx only) */
  private final Set<String> unknownLogged = new HashSet<>();
  /** partitions this node must not deliver (fenced or moved away); workers skip them in what they read */
  private final Set<Integer> fenced = ConcurrentHashMap.newKeySet();

  /** A router with the destination types on the classpath ({@link DestinationTypes#installed()}) and default options. */
  public Router(Vertx vertx, JobsDb rt, WorkspaceConfigStore config, Clock clock, MeterRegistry registry) {
    this(vertx, rt, config, clock, registry, DestinationTypes.installed(), RouterOptions.defaults());
  }

  /**
   * @param rt the per-destination queue
   * @param config the workspace; its changes are applied live
   * @param clock the pipeline's time: retry schedules, abort windows, delivery latency
   */
  public Router(Vertx vertx, JobsDb rt, WorkspaceConfigStore config, Clock clock, MeterRegistry registry,
      DestinationTypes types, RouterOptions options) {
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.rt = Objects.requireNonNull(rt, "rt");
    this.config = Objects.requireNonNull(config, "config");
    this.clock = Objects.requireNonNull(clock, "clock");
    this.registry = Objects.requireNonNull(registry, "registry");
    this.types = Objects.requireNonNull(types, "types");
    this.options = Objects.requireNonNull(options, "options");
    this.ctx = vertx.getOrCreateContext();
  }

  /** Starts workers for the current workspace and follows its changes. Completes once the workers run. */
  public Future<Void> start() {
    return onContext(() -> {
      if (started) {
        return Future.<Void>succeededFuture();
      }
      started = true;
      listener = config.addListener(next -> ctx.runOnContext(v -> apply()));
      refreshTimer = vertx.setPeriodic(options.gaugeRefresh().toMillis(), t -> refresh());
      return apply().compose(v -> refresh());
    });
  }

  /**
   * Stops reading, lets every worker finish or abandon its requests in flight within the stop timeout, writes their
   * outcomes and closes their connections. What was not acknowledged stays pending.
   */
  public Future<Void> stop() {
    return onContext(() -> {
      if (!started || stopping) {
        return applying;
      }
      stopping = true;
      if (listener != null) {
        try {
          listener.close();
        } catch (Exception ignored) {
          // removing a listener does not fail
        }
      }
      if (refreshTimer >= 0) {
        vertx.cancelTimer(refreshTimer);
      }
      applying = back(applying).transform(ar -> {
        List<Future<Void>> stops = new ArrayList<>();
        for (String id : new ArrayList<>(workers.keySet())) {
          stops.add(stopWorker(id));
        }
        return back(Future.join(stops)).<Void>mapEmpty().onComplete(x -> {
          for (DestinationMetrics m : metrics.values()) {
            m.remove();
          }
          metrics.clear();
        });
      });
      return applying;
    });
  }

  /** Tells a destination's worker that new jobs are pending (so it need not wait for its next poll). Thread-safe. */
  public void wake(String destinationId) {
    DestinationWorker w = byId.get(destinationId);
    if (w != null) {
      w.wake();
    }
  }

  /**
   * Aborted jobs of {@code destinationId} were replayed: its worker drops what it queued and reads again, so a replayed
   * job goes before its key's later jobs (only those already in flight go first). Thread-safe.
   */
  public void replayed(String destinationId) {
    DestinationWorker w = byId.get(destinationId);
    if (w != null) {
      w.reread();
    }
  }

  /**
   * Stops delivering {@code partitions} (a migration moves them away): every worker drops their queued jobs, and the
   * future completes once no delivery of theirs is in flight and their outcomes are written. Workers that are
   * stopping count too: their requests may outlive their place in the router. Thread-safe.
   */
  public Future<Void> fence(Set<Integer> partitions) {
    Set<Integer> parts = Set.copyOf(partitions);
    fenced.addAll(parts);
    List<Future<Void>> all = new ArrayList<>();
    Set<DestinationWorker> workersNow = new HashSet<>(byId.values());
    workersNow.addAll(stoppingWorkers);
    for (DestinationWorker w : workersNow) {
      all.add(w.fence(parts));
    }
    return Future.all(all).mapEmpty();
  }

  /**
   * The node can no longer show that it owns any partition (it lost its database's instance lock, or could not renew
   * it in time): every partition is fenced, and every worker is stopped at once, abandoning its requests in flight
   * (their connections are closed, so none of them can still reach the destination after the migrator confirmed the
   * fence for a node that looks down), then started again to wait for {@link #unfence}. What was in flight stays
   * pending and is delivered again by whoever owns it (at-least-once). Thread-safe.
   */
  public Future<Void> cutOff(Set<Integer> partitions) {
    fenced.addAll(partitions);
    for (DestinationWorker w : stoppingWorkers) {
      w.abandonOnStop(); // a worker already stopping waits no longer than a running one
    }
    return onContext(() -> {
      if (!started || stopping) {
        return applying;
      }
      applying = back(applying).transform(ar -> {
        List<Future<Void>> stops = new ArrayList<>();
        for (String id : new ArrayList<>(workers.keySet())) {
          workers.get(id).worker.abandonOnStop();
          stops.add(stopWorker(id));
        }
        return back(Future.join(stops)).transform(x -> applyNow(config.current()));
      });
      return applying;
    });
  }

  /** Delivers {@code partitions} again (they came back, or a migration was aborted). Thread-safe. */
  public void unfence(Set<Integer> partitions) {
    if (fenced.removeAll(partitions)) {
      byId.values().forEach(DestinationWorker::wake);
    }
  }

  /**
   * Every worker drops what it queued and reads again (a regulation deleted jobs: none of them may be sent from
   * memory). Thread-safe.
   */
  public void rereadAll() {
    byId.values().forEach(DestinationWorker::reread);
  }

  /** Reads now in every worker (held partitions were released). Thread-safe. */
  public void wakeAll() {
    byId.values().forEach(DestinationWorker::wake);
  }

  /** Every destination of the workspace and where it stands. */
  public Map<String, DestinationStatus> status() {
    return Map.copyOf(statuses);
  }

  /** Applies the store's current workspace now; completes when workers have been stopped and started. */
  public Future<Void> reconcile() {
    return onContext(this::apply);
  }

  // ------------------------------------------------------------------ applying configuration

  private Future<Void> apply() {
    if (stopping) {
      return applying;
    }
    applying = back(applying).transform(ar -> applyNow(config.current()));
    return applying;
  }

  private Future<Void> applyNow(WorkspaceConfig next) {
    if (stopping) {
      return Future.succeededFuture();
    }
    WorkspaceConfig previous = applied;
    applied = next;
    Map<String, Desired> desired = new LinkedHashMap<>();
    Set<String> present = new HashSet<>();
    for (Destination d : next.destinations()) {
      present.add(d.id());
      removed.remove(d.id());
      DestinationType type = types.get(d.type()).orElse(null);
      if (type == null) {
        invalid(d, "unknown destination type '" + d.type() + "' (known: " + String.join(", ", types.names()) + ")");
        continue;
      }
      DeliverySettings settings;
      try {
        settings = DeliverySettings.of(d, type, next.egress());
      } catch (InvalidDestinationConfigException e) {
        invalid(d, String.join("; ", e.problems()));
        continue;
      }
      if (!d.enabled()) {
        statuses.put(d.id(), new DestinationStatus(d.id(), d.type(), DestinationStatus.DISABLED, null));
        continue;
      }
      desired.put(d.id(), new Desired(d, type, settings));
    }
    statuses.keySet().retainAll(present);

    // 1. stop workers that must go or change
    List<Future<Void>> stops = new ArrayList<>();
    for (Map.Entry<String, Handle> e : new ArrayList<>(workers.entrySet())) {
      Desired want = desired.get(e.getKey());
      Destination running = e.getValue().worker.destination();
      if (want == null || !sameDelivery(running, want.destination()) || !previous.egress().equals(next.egress())) {
        stops.add(stopWorker(e.getKey()));
      }
    }
    return back(Future.join(stops)).transform(x -> {
      // 2. abort the pending jobs of removed destinations
      List<Future<Integer>> aborts = new ArrayList<>();
      for (Destination d : previous.destinations()) {
        if (!present.contains(d.id())) {
          removed.add(d.id());
          aborts.add(abortPending(d.id(), REMOVED_REASON));
          DestinationMetrics m = metrics.remove(d.id());
          if (m != null) {
            m.remove();
          }
        }
      }
      return back(Future.join(aborts));
    }).transform(x -> {
      // 3. start workers for new, re-enabled and changed destinations
      List<Future<Void>> starts = new ArrayList<>();
      for (Desired want : desired.values()) {
        if (!workers.containsKey(want.destination().id())) {
          starts.add(startWorker(want));
        }
      }
      for (Destination d : next.destinations()) {
        metricsFor(d.id());
      }
      return Future.join(starts).mapEmpty();
    });
  }

  private void invalid(Destination d, String problem) {
    DestinationStatus previous = statuses.get(d.id());
    if (previous == null || !problem.equals(previous.error())) {
      LOG.error("Destination {} is not delivered until its configuration is fixed (its jobs wait): {}", d.id(), problem);
    }
    statuses.put(d.id(), new DestinationStatus(d.id(), d.type(), DestinationStatus.INVALID, problem));
  }

  /** A worker must restart when what it delivers with changes; a change of connected sources does not matter here. */
  private static boolean sameDelivery(Destination a, Destination b) {
    return a.type().equals(b.type()) && a.enabled() == b.enabled() && a.config().equals(b.config());
  }

  private Future<Void> startWorker(Desired want) {
    String id = want.destination().id();
    DestinationWorker worker = new DestinationWorker(want.destination(), want.type(), want.settings(), rt, clock, options,
        metricsFor(id), System::nanoTime, fenced);
    return back(vertx.deployVerticle(worker)).transform(ar -> {
      if (ar.succeeded()) {
        workers.put(id, new Handle(worker, ar.result()));
        byId.put(id, worker);
        statuses.put(id, new DestinationStatus(id, want.destination().type(), DestinationStatus.DELIVERING, null));
      } else {
        LOG.error("Destination {}: cannot start delivering", id, ar.cause());
        statuses.put(id, new DestinationStatus(id, want.destination().type(), DestinationStatus.STOPPED,
            "cannot start: " + ar.cause()));
      }
      return Future.<Void>succeededFuture();
    });
  }

  private Future<Void> stopWorker(String id) {
    Handle h = workers.remove(id);
    if (h == null) {
      return Future.succeededFuture();
    }
    stoppingWorkers.add(h.worker);
    byId.remove(id);
    DestinationStatus st = statuses.get(id);
    if (st != null && DestinationStatus.DELIVERING.equals(st.state())) {
      statuses.put(id, new DestinationStatus(id, st.type(), DestinationStatus.STOPPED, null));
    }
    return vertx.undeploy(h.deploymentId).recover(e -> {
      LOG.warn("Destination {}: stopping its worker failed: {}", id, e.toString());
      return Future.succeededFuture();
    }).onComplete(x -> stoppingWorkers.remove(h.worker));
  }

  private DestinationMetrics metricsFor(String id) {
    return metrics.computeIfAbsent(id, k -> new DestinationMetrics(registry, k, clock));
  }

  /**
   * Aborts every pending job of a destination that has no worker, in read batches (reads with a "now" far ahead,
   * so that jobs waiting for a retry are included). Returns how many.
   */
  Future<Integer> abortPending(String destinationId, String reason) {
    Promise<Integer> done = Promise.promise();
    abortLoop(destinationId, reason, 0, done);
    return done.future().onSuccess(n -> {
      if (n > 0) {
        LOG.warn("Destination {}: aborted {} pending jobs: {} (list them with GET /admin/v1/destinations/{}/aborted)",
            destinationId, n, reason, destinationId);
      }
    }).onFailure(e -> LOG.error("Destination {}: aborting its pending jobs failed: {}", destinationId, e.toString()));
  }

  private void abortLoop(String destinationId, String reason, int total, Promise<Integer> done) {
    Instant farAhead = clock.instant().plus(Duration.ofDays(365 * 100));
    rt.readPending(new ReadRequest(destinationId, 1000, 16L << 20, 1000, farAhead)).compose(jobs -> {
      if (jobs.isEmpty()) {
        return Future.succeededFuture(-1);
      }
      List<StateUpdate> updates = new ArrayList<>(jobs.size());
      for (Job j : jobs) {
        updates.add(new StateUpdate(j.jobId(), JobState.ABORTED, j.attempts(), j.firstAttemptAt(), null, reason));
      }
      return rt.updateStates(updates).map(jobs.size());
    }).onComplete(ar -> {
      if (ar.failed()) {
        done.fail(ar.cause());
      } else if (ar.result() < 0) {
        done.complete(total);
      } else {
        DestinationMetrics m = metrics.get(destinationId);
        if (m != null) {
          m.aborted.increment(ar.result());
        }
        abortLoop(destinationId, reason, total + ar.result(), done);
      }
    });
  }

  // ------------------------------------------------------------------ gauges

  private Future<Void> refresh() {
    if (stopping) {
      return Future.succeededFuture();
    }
    return Future.all(rt.pendingCounts(), rt.oldestPending()).transform(ar -> {
      if (ar.failed()) {
        LOG.debug("Refreshing pending gauges failed: {}", ar.cause().toString());
        return Future.<Void>succeededFuture();
      }
      return onContext(() -> {
        Map<String, Long> counts = ar.result().resultAt(0);
        Map<String, Instant> oldest = ar.result().resultAt(1);
        for (Map.Entry<String, DestinationMetrics> e : metrics.entrySet()) {
          e.getValue().pending.set(counts.getOrDefault(e.getKey(), 0L));
          e.getValue().oldestPending = oldest.get(e.getKey());
        }
        // stray pending jobs of destinations not in the workspace: abort them, in the same order as config changes.
        // Checked against both the applied and the store's current snapshot: the processor may already fan out to a
        // destination that was just added and is not applied yet.
        for (String id : counts.keySet()) {
          if (!id.isEmpty() && !inWorkspace(id) && !workers.containsKey(id) && !removed.contains(id)) {
            if (unknownLogged.add(id)) {
              LOG.warn("Destination {} is not in this node's workspace: its {} pending jobs wait until the workspace defines"
                  + " it (jobs copied in by a migration, or a workspace that reloaded later here than elsewhere)", id,
                  counts.get(id));
            }
            continue;
          }
          if (!id.isEmpty() && !inWorkspace(id) && !workers.containsKey(id)) {
            applying = back(applying).transform(x -> stopping || inWorkspace(id) || workers.containsKey(id)
                ? Future.<Void>succeededFuture()
                : abortPending(id, REMOVED_REASON).<Void>mapEmpty().recover(e -> Future.succeededFuture()));
          }
        }
        return Future.<Void>succeededFuture();
      });
    });
  }

  /** {@code f}, with its callbacks on the router's context. */
  private <T> Future<T> back(Future<T> f) {
    Promise<T> p = Promise.promise();
    f.onComplete(ar -> {
      if (Vertx.currentContext() == ctx) {
        p.handle(ar);
      } else {
        ctx.runOnContext(v -> p.handle(ar));
      }
    });
    return p.future();
  }

  private boolean inWorkspace(String destinationId) {
    return applied.destinations().stream().anyMatch(d -> d.id().equals(destinationId))
        || config.current().destinations().stream().anyMatch(d -> d.id().equals(destinationId));
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
