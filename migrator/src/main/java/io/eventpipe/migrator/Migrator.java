package io.eventpipe.migrator;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.Migration;
import io.eventpipe.control.Migration.Step;
import io.eventpipe.control.NodeInfo;
import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Changes the node count of a running cluster: moves whole partitions, with everything they hold, between nodes,
 * losing nothing and keeping every user's order.
 *
 * <h2>The protocol</h2>
 * Each step is recorded in the control store once done ({@link Migration.Step}); every step is idempotent, so a
 * rerun after a crash of any process resumes after the last recorded one.
 * <ol>
 *   <li><b>Plan</b>: the new map is {@link Assignment#compute} for the new node count, which moves the minimum; the
 *       moves are recorded; a second migration is refused while one is active.</li>
 *   <li><b>Prepare</b>: each target records its incoming partitions as held in its own database (it will accept their
 *       writes but neither fan them out nor deliver them); each source marks where the dedup copy begins in its own
 *       database's commits, then the dedup window of the moving partitions is copied.</li>
 *   <li><b>Fence</b>: each source records its outgoing partitions as fenced in its own database, in a transaction that
 *       waits for every write that checked the fence before it; from then on every ingest and fan-out on the source
 *       refuses them. The fence comes before the switch: were the epoch switched first, a proxy still at the old epoch
 *       could land event k+1 on the source after event k went to the target, and the copy would put k+1 first. Dedup
 *       entries from each source's mark on are copied again (the set is final now, and nothing in it can be older than
 *       the mark yet have escaped the first copy).</li>
 *   <li><b>Switch</b>: the new epoch is published and the step recorded, in one control-store transaction; proxies send
 *       the moved partitions to their targets (a fenced source answers "misdirected" and the proxy waits for the new
 *       epoch, invisibly to the SDK).</li>
 *   <li><b>Confirm</b>: each running source drops what it holds in memory for the fenced partitions, lets its deliveries
 *       in flight finish and records the confirmation. A source whose database nobody serves for the lease time is
 *       down; the migrator confirms for it.</li>
 *   <li><b>Copy</b>: per (source, target) pair, per queue and destination, the aborted jobs and then the pending ones
 *       are streamed in job order, in bounded batches, per partition slice: each batch commits on the target together
 *       with its progress mark (scoped by the slice's partitions, so a rerun slicing otherwise resumes each from its
 *       own), and only while the target holds its partitions for this migration. States travel with the jobs
 *       (attempts, first attempt, next retry, last error), times as durations. Imported jobs take ids below every local
 *       id and every earlier import, so they precede the held writes.</li>
 *   <li><b>Release</b>: targets serve the partitions; copied jobs are delivered first (lower ids), then the held writes.
 *       Retry times of copied jobs move on by the time they were held.</li>
 *   <li><b>Finish</b>: sources retire what the copy took (up to the targets' marks) and record the partitions as
 *       gone; anything the copy did not take is reported and kept, never retired unseen; removed nodes are forgotten
 *       by the control store and must hold nothing (checked).</li>
 * </ol>
 * An abort before the switch undoes the holds and fences; after the switch it completes the migration and then
 * migrates back to the old map (the targets already took writes for the moved partitions). "After the switch" means the
 * migration's epoch is published, whatever step is recorded; a switch is refused once an abort was requested.
 *
 * <h2>The model</h2>
 * {@code io.eventpipe.migration.model.ProtocolModel} (module {@code migration-model}) is this protocol as a state machine,
 * walked exhaustively by {@code ProtocolModelTest}; its actions are named after the steps here:
 * <table>
 *   <caption>Migrator steps and model actions</caption>
 *   <tr><th>code</th><th>model action</th></tr>
 *   <tr><td>{@code plan} ({@code ControlStore.beginMigration})</td><td>{@code plan}</td></tr>
 *   <tr><td>{@code prepare} ({@code NodePartitions.hold} on each target)</td><td>{@code prepare.hold}</td></tr>
 *   <tr><td>{@code fence} ({@code NodePartitions.fence} on each source)</td><td>{@code fence.fence}</td></tr>
 *   <tr><td>{@code switchEpoch}</td><td>{@code switchEpoch} (one transaction: epoch published and step recorded)</td></tr>
 *   <tr><td>{@code confirm}: the node confirmed / {@code awaitConfirmed} for a node that is down</td>
 *       <td>{@code confirm.confirmed} / {@code confirm.forDownNode}</td></tr>
 *   <tr><td>the node's side of a down node's confirm: {@code PartitionFollower}'s self-fence, {@code Router.cutOff}
 *       (the migrator waits longer than it)</td><td>{@code lockLost}, {@code selfFence}, {@code relock}</td></tr>
 *   <tr><td>{@code copy}: {@code Copier.copyPair} batches, {@code ControlStore.markCopied}</td>
 *       <td>{@code copy.batch}, {@code copy.markCopied}</td></tr>
 *   <tr><td>{@code release} ({@code NodePartitions.release} on each target)</td><td>{@code release.release}</td></tr>
 *   <tr><td>{@code finish}: {@code markAllMigrated}, {@code NodePartitions.markGone}</td>
 *       <td>{@code finish.markAllMigrated}, {@code finish.markGone}</td></tr>
 *   <tr><td>{@code ControlStore.recordStep} after each step</td><td>{@code recordStep(STEP)}</td></tr>
 *   <tr><td>{@code abort} ({@code ControlStore.requestAbort}), {@code rollback}</td><td>{@code runAbort}, {@code rollback}</td></tr>
 *   <tr><td>{@code undoBeforeSwitch}: {@code unfence}, {@code unhold}, {@code recordStep(ABORTED)}</td>
 *       <td>{@code undo.unfence}, {@code undo.unhold}, {@code recordStep(ABORTED)}</td></tr>
 *   <tr><td>{@code completeThenMigrateBack}: the steps left, then {@code beginMigration} of the reverse</td>
 *       <td>{@code completeThenMigrateBack.planReverse}</td></tr>
 *   <tr><td>the process dies between any two transactions; {@code run} again</td><td>{@code migratorCrash}, {@code runMigrator}</td></tr>
 * </table>
 */
public final class Migrator {

  private static final Logger LOG = LoggerFactory.getLogger(Migrator.class);
  /** added to a down node's self-fence before its fence is confirmed for it: time to close its requests' connections */
  static final Duration SELF_FENCE_MARGIN = Duration.ofSeconds(1);

  private static final String NOT_INITIALIZED = "the cluster is not initialized (no topology in the control store):"
      + " start the nodes first (a node with --cluster-nodes N creates it), or pass --if-initialized to a hook that runs"
      + " before it exists";

  /** Which direction a run may go: hooks before an upgrade only shrink, hooks after it only grow. */
  public enum Only { ALL, GROW, SHRINK }

  /** What a run did. */
  public record Result(String migrationId, int fromNodes, int toNodes, long jobsMoved, String summary) {}

  private final Vertx vertx;
  private final ControlStore control;
  private final NodeDatabases nodes;
  private final MigratorOptions options;
  private final Consumer<Progress> progress;
  private final Copier copier;
  private final Throttle throttle;
  private final RunLock lock;
  /** the lock while this run holds it */
  private volatile RunLock.Held held;
  private volatile String activity = "starting";
  private volatile Migration current;
  private volatile long jobsTotal;
  private volatile int partitionsDone;
  /** migrations whose nodes' databases were opened (concurrently) by this run */
  private final java.util.Set<String> opened = new java.util.HashSet<>();

  /** A migrator that refuses at once when another one holds the control store's {@link AdvisoryRunLock}. */
  public Migrator(Vertx vertx, ControlStore control, NodeDatabases nodes, MigratorOptions options, Consumer<Progress> progress) {
    this(vertx, control, nodes, options, progress, new AdvisoryRunLock(vertx, control.config(), Duration.ZERO));
  }

  public Migrator(Vertx vertx, ControlStore control, NodeDatabases nodes, MigratorOptions options, Consumer<Progress> progress,
      RunLock lock) {
    this.lock = Objects.requireNonNull(lock, "lock");
    this.vertx = Objects.requireNonNull(vertx, "vertx");
    this.control = Objects.requireNonNull(control, "control");
    this.nodes = Objects.requireNonNull(nodes, "nodes");
    this.options = Objects.requireNonNull(options, "options");
    this.progress = Objects.requireNonNull(progress, "progress");
    this.throttle = new Throttle(vertx, options, () -> IngestLatency.scrapeNodes(vertx, control), java.time.Clock.systemUTC());
    this.copier = new Copier(control, nodes, options, throttle);
  }

  /**
   * Brings the cluster to {@code toNodes} nodes, the run's goal, going only the way {@code only} allows.
   * <ol>
   *   <li>Nothing to do is read, not done: with no migration open and {@code toNodes} nodes already, or with the way
   *       there excluded by {@code only} (an open migration the other way included: the other hook resumes it), the run
   *       ends after one read of the control store, without its lock and without touching anything.</li>
   *   <li>Otherwise it takes the {@link RunLock} (one migrator at a time) and reads again under it.</li>
   *   <li>A migration open toward the goal is resumed. One open toward another count (a rollback's hooks carry the
   *       count rolled back to) is reversed if its epoch is not published, completed if it is; one whose abort was
   *       requested is rolled back. Then the run heads to its goal from where that left the cluster.</li>
   * </ol>
   * So a shrink hook (run before the StatefulSet changes) never ends with the cluster needing more nodes than the
   * goal, the count the StatefulSet gets next: it completes or reverses what it finds, then shrinks, and leaves a
   * growth to the grow hook, which runs once the new nodes exist.
   */
  public Future<Result> run(int toNodes, Only only) {
    long timer = vertx.setPeriodic(1000, t -> report());
    return look(toNodes, only)
        .compose(first -> first.ends() ? Future.succeededFuture(first.result())
            : lock.acquire().compose(h -> {
              held = h;
              return towards(toNodes, only, new ArrayList<>(), 0).eventually(h::release);
            }))
        .eventually(() -> {
          vertx.cancelTimer(timer);
          throttle.stop();
          report();
          return Future.succeededFuture();
        });
  }

  /** What the control store says a run toward {@code toNodes} does next; {@code ends()} when that is nothing. */
  private record Next(Goal goal, Migration active, int nodeCount, Result result) {
    boolean ends() {
      return goal == Goal.REACHED || goal == Goal.NOT_THIS_RUNS_WAY;
    }
  }

  /** The cases of {@link #decide}. */
  enum Goal {
    /** no migration open and the node count is the goal */
    REACHED,
    /** the way to the goal (or the open migration's way) is excluded by {@code --only} */
    NOT_THIS_RUNS_WAY,
    /** an open migration goes to the goal: resume it */
    RESUME,
    /** an open migration goes elsewhere (or its abort was requested): complete or reverse it, then go on */
    SETTLE,
    /** nothing open: plan a migration to the goal */
    PLAN
  }

  /**
   * The goal selection, free of I/O: what a run toward {@code goal} does next given the open migration (or none) and
   * the current epoch's node count.
   */
  static Goal decide(Migration active, int nodeCount, int goal, Only only) {
    if (active != null) {
      if (active.abortRequested() || active.toNodes() != goal) {
        return Goal.SETTLE;
      }
      return excludes(only, active.fromNodes(), active.toNodes()) ? Goal.NOT_THIS_RUNS_WAY : Goal.RESUME;
    }
    if (nodeCount == goal) {
      return Goal.REACHED;
    }
    return excludes(only, nodeCount, goal) ? Goal.NOT_THIS_RUNS_WAY : Goal.PLAN;
  }

  private static boolean excludes(Only only, int from, int to) {
    return only == Only.GROW && to < from || only == Only.SHRINK && to > from;
  }

  private Future<Next> look(int toNodes, Only only) {
    return control.activeMigration().compose(active -> control.current().compose(topology -> control.nodeCount().map(count -> {
      if (topology.isEmpty()) {
        throw new MigrationException(NOT_INITIALIZED);
      }
      Migration m = active.orElse(null);
      Goal goal = decide(m, count, toNodes, only);
      String way = only.name().toLowerCase(Locale.ROOT);
      Result result = switch (goal) {
        case REACHED -> new Result(null, count, count, 0, "the cluster has " + count + " nodes already (epoch "
            + topology.map(t -> String.valueOf(t.epoch())).orElse("none") + "), no migration open: nothing to move");
        case NOT_THIS_RUNS_WAY -> m != null
            ? new Result(m.id(), m.fromNodes(), m.fromNodes(), 0, m + " is open: " + (m.toNodes() > m.fromNodes() ? "growing"
                : "shrinking") + " is not this run's job (--only " + way + "); the " + (only == Only.SHRINK ? "grow" : "shrink")
                + " run resumes it")
            : new Result(null, count, count, 0, "the cluster has " + count + " nodes; " + (toNodes < count ? "shrinking"
                : "growing") + " to " + toNodes + " is not this run's job (--only " + way + ")");
        default -> null;
      };
      return new Next(goal, m, count, result);
    })));
  }

  /**
   * Under the lock: one leg after the other (settle what is open, plan, resume) until {@link #look} says the run
   * ends. Each leg finishes or aborts a migration, so there are at most three (settle, then one to the goal); more
   * means something else moves the cluster meanwhile, and the run stops rather than chase it.
   */
  private Future<Result> towards(int toNodes, Only only, List<Result> legs, int round) {
    return look(toNodes, only).compose(next -> {
      if (next.ends()) {
        return Future.succeededFuture(legs.isEmpty() ? next.result() : combine(legs, next));
      }
      if (round >= 4) {
        return Future.failedFuture(new MigrationException("the cluster did not reach " + toNodes + " nodes after " + round
            + " migrations (" + legs.stream().map(Result::summary).toList() + "): is another tool changing the topology?"));
      }
      Future<Result> leg = switch (next.goal()) {
        case RESUME -> {
          LOG.info("resuming {}", next.active());
          yield drive(next.active());
        }
        case SETTLE -> settle(next.active(), toNodes);
        default -> plan(toNodes);
      };
      return leg.compose(r -> {
        legs.add(r);
        return towards(toNodes, only, legs, round + 1);
      });
    });
  }

  /** The legs' summaries, then where the run stopped (when that is not simply the goal reached). */
  private static Result combine(List<Result> legs, Next end) {
    Result first = legs.get(0);
    Result last = legs.get(legs.size() - 1);
    StringBuilder summary = new StringBuilder();
    long moved = 0;
    for (Result r : legs) {
      summary.append(summary.length() == 0 ? "" : "; then ").append(r.summary());
      moved += r.jobsMoved();
    }
    if (end.goal() == Goal.NOT_THIS_RUNS_WAY) {
      summary.append("; then ").append(end.result().summary());
    }
    return new Result(last.migrationId(), first.fromNodes(), end.nodeCount(), moved, summary.toString());
  }

  /**
   * A migration open toward another count than the goal, or whose abort was requested: reversed when its epoch is not
   * published (nothing moved), completed when it is (the targets took writes), the abort's way ({@link #rollback}).
   */
  private Future<Result> settle(Migration m, int goal) {
    if (m.abortRequested()) {
      LOG.info("{}: its abort was requested: rolling it back first", m);
      return rollback(m);
    }
    current = m;
    return control.switched(m.id()).compose(switched -> {
      if (switched) {
        return complete(m, goal);
      }
      // as an abort does: once requested no switch can commit, so the epoch read after it is final
      return control.requestAbort(m.id()).compose(v -> reload(m.id())).compose(r -> control.switched(r.id()).compose(now -> {
        if (now) {
          return complete(r, goal);
        }
        LOG.info("{} is before its switch: reversing it, then heading to {} nodes", r, goal);
        return undoBeforeSwitch(r, "reversed before the switch on the way to " + goal + " nodes");
      }));
    });
  }

  private Future<Result> complete(Migration m, int goal) {
    LOG.info("{} is past its switch: completing it to {} nodes, then heading to {}", m, m.toNodes(), goal);
    return drive(m).map(r -> new Result(r.migrationId(), r.fromNodes(), r.toNodes(), r.jobsMoved(), r.summary()
        + " (completed on the way to " + goal + " nodes)"));
  }

  /**
   * Rolls the migration in progress back to its old topology: before the switch by undoing holds and fences, after it
   * by completing the migration and migrating back. Holds the {@link RunLock} like {@link #run}.
   */
  public Future<Result> abort() {
    long timer = vertx.setPeriodic(1000, t -> report());
    return control.activeMigration()
        .compose(active -> {
          if (active.isEmpty()) {
            return Future.succeededFuture(new Result(null, 0, 0, 0, "no migration in progress: nothing to abort"));
          }
          return lock.acquire().compose(h -> {
            held = h;
            // read again after the request: a switch committed before it is then seen, and none can commit after it
            return control.requestAbort(active.get().id()).compose(v -> reload(active.get().id())).compose(this::rollback)
                .eventually(h::release);
          });
        })
        .eventually(() -> {
          vertx.cancelTimer(timer);
          throttle.stop();
          return Future.succeededFuture();
        });
  }

  // ------------------------------------------------------------------ plan

  /** A migration from the current epoch's count to {@code toNodes} (which {@link #decide} found to differ). */
  private Future<Result> plan(int toNodes) {
    return control.current().compose(opt -> {
      if (opt.isEmpty()) {
        return Future.failedFuture(new MigrationException(NOT_INITIALIZED));
      }
      Topology topology = opt.get();
      return control.nodeCount().compose(fromNodes -> {
        Future<Void> ready = toNodes > fromNodes ? awaitNodes(fromNodes, toNodes) : Future.succeededFuture();
        int[] newOwners = Assignment.compute(topology.partitionCount(), toNodes).owners();
        String id = "m" + (topology.epoch() + 1) + "-" + fromNodes + "to" + toNodes + "-" + UUID.randomUUID().toString().substring(0, 8);
        return ready.compose(v -> control.beginMigration(id, fromNodes, toNodes, topology, newOwners))
            .compose(m -> {
              LOG.info("planned {}", m);
              return drive(m);
            });
      });
    });
  }

  /** Waits until nodes {@code from .. to-1} registered and said they are ready. */
  private Future<Void> awaitNodes(int from, int to) {
    long deadline = System.nanoTime() + options.readyTimeout().toNanos();
    activity = "waiting for nodes " + from + ".." + (to - 1) + " to be ready";
    return poll(() -> control.nodes().map(snapshot -> {
      Instant now = snapshot.getKey();
      TreeSet<Integer> missing = new TreeSet<>();
      for (int k = from; k < to; k++) {
        missing.add(k);
      }
      for (NodeInfo n : snapshot.getValue()) {
        if (n.live(now, Duration.ofSeconds(15))) {
          missing.remove(n.nodeId());
        }
      }
      if (missing.isEmpty()) {
        return true;
      }
      if (System.nanoTime() > deadline) {
        throw new MigrationException("nodes " + missing + " did not become ready within " + options.readyTimeout().toSeconds()
            + " s (start them first; new nodes come up empty, then the migrator moves their share)");
      }
      return false;
    }), Duration.ofMillis(500));
  }

  // ------------------------------------------------------------------ the steps

  /** Runs the steps after the recorded one, in order, until the migration is finished. */
  private Future<Result> drive(Migration m) {
    current = m;
    if (m.step() != Step.FINISHED && opened.add(m.id())) {
      java.util.Set<Integer> involved = new TreeSet<>();
      for (Migration.Move mv : m.moves()) {
        involved.add(mv.source());
        involved.add(mv.target());
      }
      // the throttle's steady state is measured while the databases open, before anything is copied; a run resumed
      // after the switch does not wait for it (the moved partitions' writes are held until the release), so its
      // baseline includes the copy's first seconds
      Future<Void> baseline = Future.succeededFuture();
      if (m.step().ordinal() < Step.COPIED.ordinal()) {
        Future<Void> measured = throttle.start(involved);
        baseline = m.step().ordinal() < Step.SWITCHED.ordinal() ? measured : Future.succeededFuture();
      }
      return Future.all(nodes.open(involved), baseline).compose(v -> drive(m));
    }
    if (m.step() == Step.FINISHED) {
      return control.epochOf(m.id()).map(epoch -> new Result(m.id(), m.fromNodes(), m.toNodes(), m.jobsMoved(),
          "migration " + m.id() + " finished: " + m.moves().size() + " partitions moved, " + m.jobsMoved() + " jobs copied; "
              + m.toNodes() + (m.toNodes() == 1 ? " node serves" : " nodes serve") + " epoch "
              + epoch.map(String::valueOf).orElse("after " + m.fromEpoch()) + " (was " + m.fromEpoch() + ")"));
    }
    Step next = Step.values()[m.step().ordinal() + 1];
    Future<Void> still = stillHeld(m, "step " + next.name().toLowerCase(Locale.ROOT));
    if (still != null) {
      return still.mapEmpty();
    }
    activity = next.name().toLowerCase(Locale.ROOT);
    Future<Void> work;
    try {
      options.hook().before(next.name().toLowerCase(Locale.ROOT));
      work = switch (next) {
        case PREPARED -> prepare(m);
        case FENCED -> fence(m);
        case SWITCHED -> switchEpoch(m);
        case CONFIRMED -> confirm(m);
        case COPIED -> copy(m);
        case RELEASED -> release(m);
        case FINISHED -> finish(m);
        default -> Future.failedFuture(new IllegalStateException("no step after " + m.step()));
      };
    } catch (RuntimeException e) {
      work = Future.failedFuture(e);
    }
    long stepStarted = System.nanoTime();
    return work
        .compose(v -> control.recordStep(m.id(), next, null))
        .onSuccess(v -> LOG.info("{}: step {} done in {} ms", m.id(), next.name().toLowerCase(Locale.ROOT),
            (System.nanoTime() - stepStarted) / 1_000_000))
        .recover(e -> control.recordError(m.id(), next.name().toLowerCase(Locale.ROOT) + ": " + e.getMessage())
            .transform(x -> Future.failedFuture(e instanceof MigrationException ? e
                : new MigrationException(m.id() + " failed at step " + next.name().toLowerCase(Locale.ROOT) + ": " + e.getMessage()
                    + " (rerun the migrator to resume)", e))))
        .compose(v -> reload(m.id()))
        .compose(this::drive);
  }

  /** A failed future when this run lost its {@link RunLock} (another migrator may run now), else null. */
  private Future<Void> stillHeld(Migration m, String before) {
    RunLock.Held h = held;
    if (h != null && !h.held()) {
      return Future.failedFuture(new MigrationException(m.id() + ": lost the migrator lock (its connection to the control"
          + " store dropped) before " + before + "; another migrator may run now: rerun to resume"));
    }
    return null;
  }

  private Future<Migration> reload(String id) {
    return control.migration(id).map(found -> found
        .orElseThrow(() -> new MigrationException("migration " + id + " vanished from the control store")));
  }

  /**
   * Step 2: targets hold their incoming partitions; the dedup window moves. Before the copy, each source marks where
   * it begins in its own database's commits ({@link PartitionMover#markDedup}): after the fence only the entries from
   * the mark on are copied again.
   */
  private Future<Void> prepare(Migration m) {
    return forEachTarget(m, (target, parts) -> nodes.node(target).compose(n -> n.partitions().hold(m.id(), parts, m.fromEpoch() + 1)))
        .compose(v -> forEachSource(m, (source, parts) -> nodes.node(source).compose(n -> n.gw().markDedup(m.id())).<Void>mapEmpty()))
        .compose(v -> forEachPair(m, (s, t, parts) -> copier.copyDedup(s, t, parts, 0, true)));
  }

  /**
   * Step 3: sources refuse the outgoing partitions' writes; the dedup entries written since the first copy began move.
   * The fence waits for every write in flight, so nothing of these partitions is still to commit: the entries from the
   * source's mark on are everything the first copy may have missed.
   */
  private Future<Void> fence(Migration m) {
    return forEachSource(m, (source, parts) -> nodes.node(source).compose(n -> n.partitions().fence(m.id(), parts)))
        .compose(v -> forEachPair(m, (s, t, parts) -> nodes.node(s).compose(n -> n.gw().dedupMark(m.id()))
            .compose(mark -> copier.copyDedup(s, t, parts, mark, false))));
  }

  /** Step 4: the new epoch, published and recorded in one transaction (an abort decides by it). */
  private Future<Void> switchEpoch(Migration m) {
    return control.switchEpoch(m.id(), m.newOwners(), m.toNodes())
        .map(t -> {
          LOG.info("{}: epoch {} published: {} partitions over {} nodes", m.id(), t.epoch(), t.partitionCount(), m.toNodes());
          return null;
        });
  }

  /** Step 5: every source confirms its fence, or is down for the lease time and the migrator confirms for it. */
  private Future<Void> confirm(Migration m) {
    return forEachSource(m, (source, parts) -> nodes.node(source).compose(n -> awaitConfirmed(m, n, parts)));
  }

  private Future<Void> awaitConfirmed(Migration m, NodeDatabases.Node n, List<Integer> parts) {
    long deadline = System.nanoTime() + options.confirmTimeout().toNanos();
    long[] unservedSince = {-1};
    long[] confirmWait = {options.lease().toNanos()};
    activity = "confirm: waiting for node " + n.ordinal() + " to drop the fenced partitions";
    return poll(() -> n.partitions().entries().compose(entries -> {
      boolean all = parts.stream().allMatch(p -> {
        NodePartitions.Entry e = entries.get(p);
        return e != null && (e.state() == NodePartitions.State.GONE || e.state() == NodePartitions.State.FENCED && e.confirmed());
      });
      if (all) {
        return Future.succeededFuture(true);
      }
      return n.partitions().served().compose(served -> {
        long now = System.nanoTime();
        if (served) {
          unservedSince[0] = -1;
          if (now > deadline) {
            return Future.failedFuture(new MigrationException("node " + n.ordinal() + " runs but did not confirm its fence within "
                + options.confirmTimeout().toSeconds() + " s (is it stuck delivering? see its log); rerun to keep waiting"));
          }
          return Future.succeededFuture(false);
        }
        if (unservedSince[0] < 0) {
          unservedSince[0] = now;
          return n.partitions().selfFence().map(selfFence -> {
            // the node's requests in flight end at its self-fence at the latest, counted from its last renewal, which was
            // before the lock was free: waiting that long (and a margin to close their connections) after we saw it free
            // leaves none open when the targets start delivering
            Duration wait = selfFence.map(f -> f.plus(SELF_FENCE_MARGIN)).filter(w -> w.compareTo(options.lease()) > 0)
                .orElse(options.lease());
            confirmWait[0] = wait.toNanos();
            LOG.info("{}: node {} is down (nobody serves its database); confirming its fence after {} ms ({})", m.id(),
                n.ordinal(), wait.toMillis(), selfFence.map(f -> "its self-fence is " + f.toMillis() + " ms, the lease "
                    + options.lease().toMillis() + " ms").orElse("the lease; it recorded no self-fence"));
            return false;
          });
        }
        if (now - unservedSince[0] < confirmWait[0]) {
          return Future.succeededFuture(false);
        }
        return n.partitions().confirm(parts).map(true);
      });
    }), Duration.ofMillis(200));
  }

  /** Step 6: the copy, pair by pair; a pair done is recorded, so a rerun skips it. */
  private Future<Void> copy(Migration m) {
    Map<Pair, List<Integer>> pairs = pairs(m, false);
    partitionsDone = (int) m.moves().stream().filter(Migration.Move::copied).count(); // pairs a previous run finished
    return countJobs(pairs(m, true)).compose(total -> control.recordJobsTotal(m.id(), total)
        // for the console's time left only: a control store its owner has not migrated to V7 yet does not stop a copy
        .recover(e -> {
          LOG.debug("{}: the copy's job count is not recorded in the control store: {}", m.id(), e.toString());
          return Future.succeededFuture();
        }).map(total)).compose(total -> {
      jobsTotal = total; // the sources keep every copied job until the finish step: this is the whole copy
      copier.startCounting(m.jobsMoved());
      Future<Void> f = Future.succeededFuture();
      for (Map.Entry<Pair, List<Integer>> e : pairs.entrySet()) {
        Pair pair = e.getKey();
        f = f.compose(v -> {
              activity = "copy: node " + pair.source() + " -> node " + pair.target() + " (" + e.getValue().size() + " partitions)";
              return copier.copyPair(m.id(), pair.source(), pair.target(), e.getValue());
            })
            .compose(v -> control.markCopied(m.id(), pair.source(), pair.target()))
            .map(v -> {
              partitionsDone += e.getValue().size();
              return null;
            });
      }
      return f;
    });
  }

  private Future<Long> countJobs(Map<Pair, List<Integer>> pairs) {
    Future<Long> f = Future.succeededFuture(0L);
    for (Map.Entry<Pair, List<Integer>> e : pairs.entrySet()) {
      f = f.compose(sum -> nodes.node(e.getKey().source()).compose(n -> n.gw().count(e.getValue())
          .compose(gw -> n.rt().count(e.getValue()).map(rt -> sum + gw[0] + gw[1] + rt[0] + rt[1]))));
    }
    return f;
  }

  /**
   * Step 7: targets serve the moved partitions; time held is given back to the copied jobs' retry windows. First, every
   * delete regulation recorded so far is applied again to the moved partitions on the target (issue 20): the copy may
   * have brought a deleted user's jobs back (read from the source before its node deleted them, or written to the target
   * after its node did), and nothing of the moved partitions is delivered before the release. A request recorded after
   * this read reaches the target's node, which deletes in every partition it holds.
   */
  private Future<Void> release(Migration m) {
    return forEachTarget(m, (target, parts) -> nodes.node(target).compose(n -> deleteRegulated(n, parts).compose(x -> n.partitions().entries())
        .compose(entries -> n.gw().now().map(now -> {
          Instant since = null;
          for (int p : parts) {
            NodePartitions.Entry e = entries.get(p);
            if (e != null && e.state() == NodePartitions.State.INCOMING && (since == null || e.since().isBefore(since))) {
              since = e.since();
            }
          }
          return since == null ? Duration.ZERO : Duration.between(since, now);
        }))
        .compose(held -> n.gw().release(m.id(), parts, held).compose(v -> inside("release"))
            .compose(v -> n.rt().release(m.id(), parts, held)))
        .compose(v -> n.partitions().release(m.id(), parts))));
  }

  private Future<Void> deleteRegulated(NodeDatabases.Node n, List<Integer> parts) {
    int[] ps = parts.stream().mapToInt(Integer::intValue).toArray();
    // a control store whose schema predates the regulations (its owner has not migrated it to V5 yet) has none
    return io.eventpipe.control.Regulations.list(control).recover(e -> e instanceof io.vertx.pgclient.PgException pe
            && "42P01".equals(pe.getSqlState()) ? Future.<List<io.eventpipe.control.Regulations.Regulation>>succeededFuture(List.of()) : Future.failedFuture(e))
        .compose(list -> {
      Future<Long> f = Future.succeededFuture(0L);
      for (io.eventpipe.control.Regulations.Regulation r : list) {
        if (r.kind().deletes()) {
          // with the dedup entries of what the other nodes removed: prepare copied the dedup window before the fence
          f = f.compose(sum -> io.eventpipe.control.Regulations.removedKeys(control, r.id())
              .compose(keys -> io.eventpipe.jobsdb.UserData.delete(n.pool(), r.userId(), ps, keys.getKey(), keys.getValue()))
              .map(rm -> sum + rm.total()));
        }
      }
      return f;
    }).map(removed -> {
      if (removed > 0) {
        LOG.info("migration: node {} held {} rows of deleted users in its incoming partitions (copied before their delete);"
            + " removed before the release", n.ordinal(), removed);
      }
      return null;
    });
  }

  /** The step hook inside a step ({@code copy}, {@code release}): a crash there is a failed step, as before it. */
  private Future<Void> inside(String point) {
    try {
      options.hook().before(point);
      return Future.succeededFuture();
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
  }

  /**
   * Step 8: sources retire the jobs the copy took (up to the targets' progress marks, per queue, destination and
   * slice) and record the partitions as gone; anything of the moved partitions the copy did not take (written or
   * changed on the source after the copy passed it) is reported and kept, and the step fails: it is never retired
   * unseen. Removed nodes must hold nothing, and are forgotten.
   */
  private Future<Void> finish(Migration m) {
    List<String> notCopied = new ArrayList<>();
    Future<Void> retired = forEachPair(m, (s, t, parts) -> copier.retireCopied(m.id(), s, t, parts).map(l -> {
      notCopied.addAll(l);
      return null;
    }));
    Future<Void> gone = retired.compose(v -> {
      if (!notCopied.isEmpty()) {
        return Future.failedFuture(new MigrationException(m.id() + ": the sources hold jobs of the moved partitions that"
            + " the copy did not take (written or changed after it passed them; kept, not retired): " + String.join("; ", notCopied)
            + ". Their partitions are fenced; inspect them with the admin API of the node before rerunning"));
      }
      return forEachSource(m, (source, parts) -> nodes.node(source).compose(n -> n.partitions().markGone(m.id(), parts)));
    });
    if (m.toNodes() >= m.fromNodes()) {
      return gone;
    }
    return gone.compose(v -> {
      Future<Void> f = Future.succeededFuture();
      for (int k = m.toNodes(); k < m.fromNodes(); k++) {
        int node = k;
        f = f.compose(x -> nodes.node(node)).compose(n -> n.gw().count(allPartitions(m))
            .compose(gw -> n.rt().count(allPartitions(m)).map(rt -> {
              long left = gw[0] + gw[1] + rt[0] + rt[1];
              if (left > 0) {
                throw new MigrationException("node " + node + " still holds " + left + " jobs after the copy; rerun the migrator");
              }
              LOG.info("{}: node {} is drained (no pending job, no dead letter, nothing held): it can be deleted", m.id(), node);
              return null;
            })));
      }
      return f.compose(x -> control.forgetNodesFrom(m.toNodes()));
    });
  }

  // ------------------------------------------------------------------ abort

  /**
   * Decides by the epoch in force, not by the recorded step: whether the migration published its epoch is the truth
   * (a migration recorded by an older migrator, whose switch was two transactions, may have published unrecorded).
   */
  private Future<Result> rollback(Migration m) {
    current = m;
    if (m.step().ordinal() >= Step.SWITCHED.ordinal()) {
      return completeThenMigrateBack(m);
    }
    return control.switched(m.id()).compose(switched -> {
      if (switched) {
        LOG.warn("{}: recorded at step {} but its epoch is published: the switch happened, the abort completes it", m.id(),
            m.step().name().toLowerCase(Locale.ROOT));
        return completeThenMigrateBack(m);
      }
      return undoBeforeSwitch(m);
    });
  }

  /** Abort before the switch: sources serve their partitions again, targets drop their holds. */
  private Future<Result> undoBeforeSwitch(Migration m) {
    return undoBeforeSwitch(m, "aborted by the operator before the switch");
  }

  private Future<Result> undoBeforeSwitch(Migration m, String why) {
    Future<Void> still = stillHeld(m, "the undo");
    if (still != null) {
      return still.mapEmpty();
    }
    activity = "abort: undoing holds and fences";
    return forEachSource(m, (s, parts) -> nodes.node(s).compose(n -> n.partitions().unfence(m.id(), parts)))
        .compose(v -> forEachTarget(m, (t, parts) -> nodes.node(t).compose(n -> n.partitions().unhold(m.id(), parts))))
        .compose(v -> control.recordStep(m.id(), Step.ABORTED, why))
        .map(v -> new Result(m.id(), m.fromNodes(), m.fromNodes(), 0, "migration " + m.id() + " (" + m.fromNodes() + " -> "
            + m.toNodes() + ") " + (why.startsWith("aborted") ? "aborted before the switch" : why) + ": the cluster keeps its "
            + m.fromNodes() + " nodes, nothing moved"));
  }

  /** Abort after the switch: the targets took writes for the moved partitions, so finish, then move everything back. */
  private Future<Result> completeThenMigrateBack(Migration m) {
    LOG.info("{}: abort after the switch: completing it, then migrating back to {} nodes", m.id(), m.fromNodes());
    return drive(m).compose(done -> control.current().compose(opt -> {
      String id = "m" + (opt.get().epoch() + 1) + "-rollback-" + m.id();
      return control.beginMigration(id, m.toNodes(), m.fromNodes(), opt.get(), m.oldOwners()).compose(this::drive)
          .map(r -> new Result(r.migrationId(), m.toNodes(), m.fromNodes(), done.jobsMoved() + r.jobsMoved(),
              "migration " + m.id() + " rolled back: completed, then migrated back (" + r.migrationId() + ") to "
                  + m.fromNodes() + " nodes"));
    }));
  }

  // ------------------------------------------------------------------ helpers

  @FunctionalInterface
  private interface NodeWork {
    Future<Void> apply(int node, List<Integer> partitions);
  }

  @FunctionalInterface
  private interface PairWork {
    Future<Void> apply(int source, int target, List<Integer> partitions);
  }

  private static Future<Void> forEachSource(Migration m, NodeWork work) {
    Map<Integer, List<Integer>> by = new LinkedHashMap<>();
    for (Migration.Move mv : m.moves()) {
      by.computeIfAbsent(mv.source(), k -> new ArrayList<>()).add(mv.partition());
    }
    return sequence(by, work);
  }

  private static Future<Void> forEachTarget(Migration m, NodeWork work) {
    Map<Integer, List<Integer>> by = new LinkedHashMap<>();
    for (Migration.Move mv : m.moves()) {
      by.computeIfAbsent(mv.target(), k -> new ArrayList<>()).add(mv.partition());
    }
    return sequence(by, work);
  }

  private static Future<Void> sequence(Map<Integer, List<Integer>> by, NodeWork work) {
    Future<Void> f = Future.succeededFuture();
    for (Map.Entry<Integer, List<Integer>> e : by.entrySet()) {
      f = f.compose(v -> work.apply(e.getKey(), e.getValue()));
    }
    return f;
  }

  private static Future<Void> forEachPair(Migration m, PairWork work) {
    Future<Void> f = Future.succeededFuture();
    for (Map.Entry<Pair, List<Integer>> e : pairs(m, true).entrySet()) {
      f = f.compose(v -> work.apply(e.getKey().source(), e.getKey().target(), e.getValue()));
    }
    return f;
  }

  /** A source and a target of a migration's moves. */
  private record Pair(int source, int target) {}

  /** The moves by (source, target), in plan order; with {@code all} false, only pairs whose copy is not done. */
  private static Map<Pair, List<Integer>> pairs(Migration m, boolean all) {
    Map<Pair, List<Integer>> out = new LinkedHashMap<>();
    for (Migration.Move mv : m.moves()) {
      if (all || !mv.copied()) {
        out.computeIfAbsent(new Pair(mv.source(), mv.target()), k -> new ArrayList<>()).add(mv.partition());
      }
    }
    return out;
  }

  private static Collection<Integer> allPartitions(Migration m) {
    List<Integer> all = new ArrayList<>(m.oldOwners().length);
    for (int p = 0; p < m.oldOwners().length; p++) {
      all.add(p);
    }
    return all;
  }

  /** Calls {@code check} every {@code every} until it yields true or fails. */
  private Future<Void> poll(java.util.function.Supplier<Future<Boolean>> check, Duration every) {
    Future<Boolean> f;
    try {
      f = check.get();
    } catch (RuntimeException e) {
      f = Future.failedFuture(e);
    }
    return f.compose(done -> done ? Future.<Void>succeededFuture()
        : vertx.timer(every.toMillis()).compose(t -> poll(check, every)));
  }

  private long lastMoved;
  private long lastNanos = System.nanoTime();
  private double rate;

  private void report() {
    Migration m = current;
    long now = System.nanoTime();
    long moved = copier.jobsMoved();
    double seconds = (now - lastNanos) / 1e9;
    if (seconds > 0.5) {
      double instant = (moved - lastMoved) / seconds;
      rate = rate == 0 ? instant : 0.5 * rate + 0.5 * instant;
      lastMoved = moved;
      lastNanos = now;
    }
    progress.accept(new Progress(m == null ? null : m.id(), activity, partitionsDone, m == null ? 0 : m.moves().size(), moved,
        jobsTotal, rate, copier.throttled(), throttle.limit(), throttle.reason()));
  }
}
