package io.eventpipe.migration.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The migration protocol (the migrator's steps, the nodes' partition records, the control store's epochs) as an abstract
 * state machine, small enough to walk exhaustively: one partition, two nodes (node 0 owns it at epoch 1), proxies with
 * their own view of the topology, an SDK that sends one key's events one at a time (the next after the previous was
 * acknowledged), and a sink that records who delivered what.
 *
 * <p>Every action is one transaction of the code, named after it (the table in {@code Migrator}'s Javadoc maps them),
 * so a crash between any two transactions is a crash between two actions:
 * <ul>
 *   <li><b>migrator</b>: {@code runMigrator} (plan, resume, or rollback when an abort was requested), {@code runAbort}
 *       ({@code requestAbort}, then rollback), the steps' transactions ({@code prepare.hold}, {@code fence.fence},
 *       {@code switchEpoch}, {@code confirm.*}, {@code copy.batch}, {@code release.release}, {@code finish.*},
 *       {@code recordStep(STEP)}), {@code undo.*}, {@code completeThenMigrateBack.planReverse}, and {@code migratorCrash}
 *       at any point (the rerun resumes after the recorded step; every step's transactions are idempotent);</li>
 *   <li><b>nodes</b>: {@code ingest} (the owner at the node's epoch, refused where fenced or gone, checked where the write
 *       commits), {@code deliverStart}/{@code deliverEnd} (a delivery in flight; its outcome is written unchecked),
 *       {@code followerConfirm} (the router let go: nothing in flight), {@code lockLost}/{@code relock} (the instance
 *       lock's connection), {@code selfFence} (no lock for the self-fence time: what is in flight is abandoned),
 *       {@code nodeCrash}/{@code nodeRestart}, {@code topologyRefresh} (a node cut off from the
 *       control store simply never takes it);</li>
 *   <li><b>proxies</b>: {@code proxyRefresh}; a proxy that has not refreshed routes by its old epoch.</li>
 * </ul>
 *
 * <p>Invariants ({@link Invariant}), checked in every state reached: at most one node accepts the partition's writes,
 * and at most one has a delivery of it in flight; every acknowledged event is delivered or pending on some node
 * (nothing acknowledged is lost); deliveries are in the key's order, and no event is delivered by two nodes; at rest,
 * no backlog is stranded on a node that will not deliver it.
 *
 * <p>The protocol's known flaws are options ({@link Flaw}); {@link #TODAY} is the protocol before issue 15's fixes.
 */
public final class ProtocolModel {

  /** A flaw of the protocol that the model can switch on, each named after the hole of issue 15 it is. */
  public enum Flaw {
    /** Hole 1, half: the switch publishes the epoch in one transaction and records {@code SWITCHED} in another. */
    SWITCH_IN_TWO_TRANSACTIONS,
    /** Hole 1, other half: rollback decides "before the switch" from the recorded step, not from the epoch in force. */
    ROLLBACK_BY_RECORDED_STEP,
    /**
     * Hole 2: the migrator confirms for a source whose instance lock nobody holds, although that node still runs and
     * its deliveries are in flight (the fixed protocol waits longer than the node's self-fence, by which time a node that
     * is still up has cut itself off: {@code selfFence}).
     */
    LEASE_CONFIRMS_IN_FLIGHT,
    /**
     * Hole 3: the node confirms its fence while a delivery of the partition is still in flight (a stopping worker is
     * dropped before its requests end, so {@code Router.fence} does not wait for them).
     */
    CONFIRM_WITH_DELIVERY_IN_FLIGHT,
    /**
     * Hole 7: a later hold overwrites the gone record and an unhold deletes it, so a node at an old epoch accepts the
     * partition again (the fixed protocol keeps an epoch floor below which a node that gave the partition away refuses).
     */
    GONE_OVERWRITTEN
  }

  /** The protocol as the code had it before issue 15: every flaw. */
  public static final Set<Flaw> TODAY = Collections.unmodifiableSet(EnumSet.allOf(Flaw.class));
  /** The fixed protocol. */
  public static final Set<Flaw> FIXED = Collections.unmodifiableSet(EnumSet.noneOf(Flaw.class));

  /**
   * The model's size and fault budget.
   *
   * @param events events the SDK sends (one key, one partition)
   * @param proxies proxies, each with its own topology view
   * @param plans migrations an operator may start ({@code runMigrator} with no migration active)
   * @param aborts {@code runAbort}s
   * @param migratorCrashes crashes of the migrator process
   * @param nodeCrashes crashes of a node process (either node)
   * @param lockLosses lost instance-lock connections (either node)
   * @param flaws the protocol's flaws switched on
   */
  public record Config(int events, int proxies, int plans, int aborts, int migratorCrashes, int nodeCrashes, int lockLosses,
      Set<Flaw> flaws) {

    public Config {
      flaws = flaws.isEmpty() ? EnumSet.noneOf(Flaw.class) : EnumSet.copyOf(flaws);
    }

  }

  enum Kind { NONE, INCOMING, FENCED, GONE }

  enum Step { PLANNED, PREPARED, FENCED, SWITCHED, CONFIRMED, COPIED, RELEASED, FINISHED, ABORTED }

  enum JobState { PENDING, DELIVERED, MIGRATED }

  enum Mode { IDLE, DRIVE, UNDO, COMPLETE_THEN_BACK }

  /** A stored job of the key: its event's number, state, and whether a migration imported it. */
  record Job(int seq, JobState state, boolean imported) {}

  /** The node database's record of the partition ({@code NodePartitions}). */
  record Rec(Kind kind, int mig, boolean confirmed) {
    static final Rec NONE = new Rec(Kind.NONE, -1, false);
  }

  /**
   * A node: its process ({@code up}, instance lock, topology view, delivery in flight: an event number or 0, and
   * {@code cut}: it cut itself off after holding no lock for its self-fence time) and its database (partition record,
   * epoch floor, jobs in id order: imported ones first, then local writes).
   */
  record Node(boolean up, boolean lock, int view, Rec rec, int floor, List<Job> jobs, int inflight, boolean cut) {}

  /** A migration as the control store records it; {@code mark} is the copy's progress mark (in the target's database). */
  record Mig(int source, int target, Step step, boolean abort, int mark, boolean copied) {}

  /** The migrator process: what it is doing, on which migration, at which transaction of the step. */
  record Proc(Mode mode, int mig, int pc) {
    static final Proc IDLE = new Proc(Mode.IDLE, -1, 0);
  }

  /** Budget indexes. */
  private static final int PLANS = 0;
  private static final int ABORTS = 1;
  private static final int MIGRATOR_CRASHES = 2;
  private static final int NODE_CRASHES = 3;
  private static final int LOCK_LOSSES = 4;

  /**
   * One state of the whole system; equal states are the same state (the explorer's visited set). Besides the nodes,
   * the migrations and the migrator process: the partition's owner at each published epoch ({@code epochOwner}, epoch e
   * at index e-1) and the migration that published it ({@code epochMig}, -1 for the first); each proxy's epoch; the next
   * event the SDK sends (those below it are acknowledged); the highest event the sink received and, per event, the bit
   * set of nodes that delivered it; the faults and operator actions left ({@code budgets}).
   */
  public static final class State {
    private final List<Node> nodes;
    private final List<Integer> epochOwner;
    private final List<Integer> epochMig;
    private final List<Mig> migs;
    private final Proc proc;
    private final List<Integer> proxyView;
    private final int nextSeq;
    private final int maxDelivered;
    private final List<Integer> deliveredBy;
    private final List<Integer> budgets;
    /** Computed once, when first asked: the visited set hashes every state it meets, and states are deep. */
    private int hash;

    State(List<Node> nodes, List<Integer> epochOwner, List<Integer> epochMig, List<Mig> migs, Proc proc, List<Integer> proxyView,
        int nextSeq, int maxDelivered, List<Integer> deliveredBy, List<Integer> budgets) {
      this.nodes = nodes;
      this.epochOwner = epochOwner;
      this.epochMig = epochMig;
      this.migs = migs;
      this.proc = proc;
      this.proxyView = proxyView;
      this.nextSeq = nextSeq;
      this.maxDelivered = maxDelivered;
      this.deliveredBy = deliveredBy;
      this.budgets = budgets;
    }

    List<Node> nodes() {
      return nodes;
    }

    List<Integer> epochOwner() {
      return epochOwner;
    }

    List<Integer> epochMig() {
      return epochMig;
    }

    List<Mig> migs() {
      return migs;
    }

    Proc proc() {
      return proc;
    }

    List<Integer> proxyView() {
      return proxyView;
    }

    int nextSeq() {
      return nextSeq;
    }

    int maxDelivered() {
      return maxDelivered;
    }

    List<Integer> deliveredBy() {
      return deliveredBy;
    }

    List<Integer> budgets() {
      return budgets;
    }

    @Override
    public boolean equals(Object other) {
      return other instanceof State o && hashCode() == o.hashCode() && nodes.equals(o.nodes)
          && epochOwner.equals(o.epochOwner) && epochMig.equals(o.epochMig) && migs.equals(o.migs) && proc.equals(o.proc)
          && proxyView.equals(o.proxyView) && nextSeq == o.nextSeq && maxDelivered == o.maxDelivered
          && deliveredBy.equals(o.deliveredBy) && budgets.equals(o.budgets);
    }

    @Override
    public int hashCode() {
      int h = hash;
      if (h == 0) {
        h = java.util.Objects.hash(nodes, epochOwner, epochMig, migs, proc, proxyView, nextSeq, maxDelivered, deliveredBy,
            budgets);
        hash = h;
      }
      return h;
    }

    Node node(int n) {
      return nodes.get(n);
    }

    int epoch() {
      return epochOwner.size();
    }

    int owner(int epoch) {
      return epochOwner.get(epoch - 1);
    }

    State with(int n, Node node) {
      return new State(set(nodes, n, node), epochOwner, epochMig, migs, proc, proxyView, nextSeq, maxDelivered, deliveredBy, budgets);
    }

    State with(Proc p) {
      return new State(nodes, epochOwner, epochMig, migs, p, proxyView, nextSeq, maxDelivered, deliveredBy, budgets);
    }

    State with(int i, Mig m) {
      List<Mig> ms = i == migs.size() ? append(migs, m) : set(migs, i, m);
      return new State(nodes, epochOwner, epochMig, ms, proc, proxyView, nextSeq, maxDelivered, deliveredBy, budgets);
    }

    State publish(int owner, int mig) {
      return new State(nodes, append(epochOwner, owner), append(epochMig, mig), migs, proc, proxyView, nextSeq, maxDelivered,
          deliveredBy, budgets);
    }

    /** Proxies are interchangeable: their views are kept sorted, so states that differ only by which is which are one. */
    State withProxy(int x, int view) {
      List<Integer> views = new ArrayList<>(proxyView);
      views.set(x, view);
      Collections.sort(views);
      return new State(nodes, epochOwner, epochMig, migs, proc, List.copyOf(views), nextSeq, maxDelivered, deliveredBy, budgets);
    }

    State acked() {
      return new State(nodes, epochOwner, epochMig, migs, proc, proxyView, nextSeq + 1, maxDelivered, deliveredBy, budgets);
    }

    State delivered(int seq, int by) {
      return new State(nodes, epochOwner, epochMig, migs, proc, proxyView, nextSeq, Math.max(maxDelivered, seq),
          set(deliveredBy, seq - 1, deliveredBy.get(seq - 1) | 1 << by), budgets);
    }

    State spend(int budget) {
      return new State(nodes, epochOwner, epochMig, migs, proc, proxyView, nextSeq, maxDelivered, deliveredBy,
          set(budgets, budget, budgets.get(budget) - 1));
    }

    /** The epoch that migration {@code mig} published, or 0. */
    int epochOf(int mig) {
      int i = epochMig.indexOf(mig);
      return i < 0 ? 0 : i + 1;
    }

    /** The active migration's index, or -1. */
    int active() {
      int last = migs.size() - 1;
      return last >= 0 && migs.get(last).step() != Step.FINISHED && migs.get(last).step() != Step.ABORTED ? last : -1;
    }
  }

  /** An action and the state it leads to; {@code violation} is set when the action itself breaks an invariant. */
  public record Transition(String action, State next, String violation) {}

  /** The invariants; a walk may check only some, to see where a flaw leads past the first one it breaks. */
  public enum Invariant {
    /** At most one node accepts the partition's writes. */
    ONE_ACCEPTS,
    /** At most one node has a delivery of the partition in flight. */
    ONE_DELIVERS,
    /** Every acknowledged event is delivered or pending on some node. */
    NOTHING_LOST,
    /** Deliveries follow the key's order, and no event is delivered by two nodes. */
    KEY_ORDER,
    /**
     * When everything is at rest (no migration active, the migrator not running, every node up with its lock and the
     * current epoch), every pending job is on the partition's owner and that node delivers it: no backlog is stranded.
     */
    NOTHING_STRANDED
  }

  private final Config config;
  private final Set<Invariant> checked;

  /** A model that checks every invariant. */
  public ProtocolModel(Config config) {
    this(config, EnumSet.allOf(Invariant.class));
  }

  public ProtocolModel(Config config, Set<Invariant> checked) {
    this.config = config;
    this.checked = EnumSet.copyOf(checked);
  }

  private boolean flawed(Flaw f) {
    return config.flaws().contains(f);
  }

  /** Node 0 owns the partition at epoch 1; nothing stored, nothing running but the nodes. */
  public State initial() {
    Node n = new Node(true, true, 1, Rec.NONE, 0, List.of(), 0, false);
    return new State(List.of(n, n), List.of(0), List.of(-1), List.of(), Proc.IDLE, Collections.nCopies(config.proxies(), 1), 1,
        0, Collections.nCopies(config.events(), 0),
        List.of(config.plans(), config.aborts(), config.migratorCrashes(), config.nodeCrashes(), config.lockLosses()));
  }

  /** Every action enabled in {@code s}. */
  public List<Transition> next(State s) {
    List<Transition> out = new ArrayList<>();
    migrator(s, out);
    operator(s, out);
    for (int n = 0; n < 2; n++) {
      node(s, n, out);
    }
    for (int x = 0; x < config.proxies(); x++) {
      if (x == 0 || !s.proxyView().get(x).equals(s.proxyView().get(x - 1))) { // the same view: the same actions
        proxy(s, x, out);
      }
    }
    return out;
  }

  /** The first invariant {@code s} breaks, or null. */
  public String violation(State s) {
    if (checked.contains(Invariant.ONE_ACCEPTS) && accepts(s, 0) && accepts(s, 1)) {
      return "two nodes accept the partition's writes: node 0 at epoch " + s.node(0).view() + " and node 1 at epoch "
          + s.node(1).view();
    }
    if (checked.contains(Invariant.ONE_DELIVERS) && s.node(0).inflight() > 0 && s.node(1).inflight() > 0) {
      return "two nodes deliver the partition at once: event " + s.node(0).inflight() + " by node 0, event "
          + s.node(1).inflight() + " by node 1";
    }
    for (int seq = 1; checked.contains(Invariant.NOTHING_LOST) && seq < s.nextSeq(); seq++) {
      if (s.deliveredBy().get(seq - 1) == 0 && !pendingSomewhere(s, seq)) {
        return "event " + seq + " was acknowledged and is lost: never delivered, pending nowhere";
      }
    }
    if (checked.contains(Invariant.NOTHING_STRANDED) && atRest(s)) {
      int owner = s.owner(s.epoch());
      for (int n = 0; n < 2; n++) {
        boolean pending = nextPending(s.node(n), 0) >= 0;
        if (pending && (n != owner || s.node(n).rec().kind() != Kind.NONE)) {
          return "at rest, node " + n + " (record " + s.node(n).rec().kind() + ") holds pending jobs of the partition, whose"
              + " owner at epoch " + s.epoch() + " is node " + owner + ": the backlog never reaches the owner";
        }
      }
    }
    return null;
  }

  private static boolean atRest(State s) {
    if (s.proc().mode() != Mode.IDLE || s.active() >= 0) {
      return false;
    }
    for (Node n : s.nodes()) {
      if (!n.up() || !n.lock() || n.view() != s.epoch()) {
        return false;
      }
    }
    return true;
  }

  private static boolean pendingSomewhere(State s, int seq) {
    for (Node n : s.nodes()) {
      for (Job j : n.jobs()) {
        if (j.seq() == seq && j.state() == JobState.PENDING) {
          return true;
        }
      }
    }
    return false;
  }

  /** Whether node {@code n} would store a write for the partition now (by its own view, checked where it commits). */
  private boolean accepts(State s, int n) {
    Node node = s.node(n);
    return node.up() && s.owner(node.view()) == n && !refuses(node, node.view());
  }

  private boolean refuses(Node node, int view) {
    return node.rec().kind() == Kind.FENCED || node.rec().kind() == Kind.GONE
        || !flawed(Flaw.GONE_OVERWRITTEN) && view < node.floor();
  }

  // ------------------------------------------------------------------ the migrator

  private void migrator(State s, List<Transition> out) {
    Proc p = s.proc();
    if (p.mode() == Mode.IDLE) {
      return;
    }
    if (s.budgets().get(MIGRATOR_CRASHES) > 0) {
      add(out, "migratorCrash", s.with(Proc.IDLE).spend(MIGRATOR_CRASHES));
    }
    int mi = p.mig();
    Mig m = s.migs().get(mi);
    if (p.mode() == Mode.UNDO) {
      undo(s, mi, m, p.pc(), out);
      return;
    }
    if (m.step() == Step.FINISHED) {
      if (p.mode() == Mode.COMPLETE_THEN_BACK) {
        int back = s.migs().size();
        add(out, "completeThenMigrateBack.planReverse(node " + m.target() + " -> node " + m.source() + ")",
            s.with(back, new Mig(m.target(), m.source(), Step.PLANNED, false, 0, false)).with(new Proc(Mode.DRIVE, back, 0)));
      } else {
        add(out, "migrator exits: finished", s.with(Proc.IDLE));
      }
      return;
    }
    Step next = Step.values()[m.step().ordinal() + 1];
    int pc = p.pc();
    Node src = s.node(m.source());
    Node tgt = s.node(m.target());
    switch (next) {
      case PREPARED -> {
        if (pc == 0) {
          Rec r = tgt.rec().mig() == mi ? tgt.rec() : new Rec(Kind.INCOMING, mi, false);
          add(out, "prepare.hold(node " + m.target() + ")", advance(s.with(m.target(), rec(tgt, r))));
        } else {
          add(out, "recordStep(PREPARED)", record(s, mi, next));
        }
      }
      case FENCED -> {
        if (pc == 0) {
          boolean change = src.rec().mig() != mi || src.rec().kind() == Kind.INCOMING;
          Rec r = change ? new Rec(Kind.FENCED, mi, false) : src.rec();
          add(out, "fence.fence(node " + m.source() + ")", advance(s.with(m.source(), rec(src, r))));
        } else {
          add(out, "recordStep(FENCED)", record(s, mi, next));
        }
      }
      case SWITCHED -> {
        State published = s.epochMig().get(s.epoch() - 1) == mi ? s : s.publish(m.target(), mi);
        if (!flawed(Flaw.SWITCH_IN_TWO_TRANSACTIONS)) {
          add(out, "switchEpoch(epoch " + published.epoch() + " published and SWITCHED recorded, one transaction)",
              record(published, mi, next));
        } else if (pc == 0) {
          add(out, "switchEpoch.publish(epoch " + published.epoch() + ")", advance(published));
        } else {
          add(out, "recordStep(SWITCHED)", record(s, mi, next));
        }
      }
      case CONFIRMED -> {
        if (pc == 0) {
          Rec r = src.rec();
          if (r.kind() == Kind.GONE || r.kind() == Kind.FENCED && r.confirmed()) {
            add(out, "confirm.confirmed(node " + m.source() + ")", advance(s));
          } else if (r.kind() == Kind.FENCED && !src.lock()
              && (flawed(Flaw.LEASE_CONFIRMS_IN_FLIGHT) || !src.up() || src.cut())) {
            // fixed: the migrator waits longer than the node's self-fence (Migrator.awaitConfirmed), so a node that is
            // still up has cut itself off by then; the model takes that timing as the guard
            add(out, "confirm.forDownNode(node " + m.source() + ", nobody holds its lock for the lease)",
                advance(s.with(m.source(), rec(src, new Rec(Kind.FENCED, r.mig(), true)))));
          }
        } else {
          add(out, "recordStep(CONFIRMED)", record(s, mi, next));
        }
      }
      case COPIED -> {
        if (pc == 0) {
          int i = m.copied() ? -1 : nextPending(src, m.mark());
          if (i < 0) {
            add(out, "copy.markCopied", advance(s.with(mi, new Mig(m.source(), m.target(), m.step(), m.abort(), m.mark(), true))));
          } else {
            Job j = src.jobs().get(i);
            State t = s.with(m.target(), importJob(tgt, j.seq()))
                .with(mi, new Mig(m.source(), m.target(), m.step(), m.abort(), i + 1, false));
            add(out, "copy.batch(event " + j.seq() + ", node " + m.source() + " -> node " + m.target() + ")", t);
          }
        } else {
          add(out, "recordStep(COPIED)", record(s, mi, next));
        }
      }
      case RELEASED -> {
        if (pc == 0) {
          Rec r = tgt.rec().kind() == Kind.INCOMING && tgt.rec().mig() == mi ? Rec.NONE : tgt.rec();
          add(out, "release.release(node " + m.target() + ")", advance(s.with(m.target(), rec(tgt, r))));
        } else {
          add(out, "recordStep(RELEASED)", record(s, mi, next));
        }
      }
      case FINISHED -> {
        if (pc == 0) {
          List<Job> jobs = new ArrayList<>(src.jobs());
          jobs.replaceAll(j -> j.state() == JobState.PENDING ? new Job(j.seq(), JobState.MIGRATED, j.imported()) : j);
          add(out, "finish.markAllMigrated(node " + m.source() + ")", advance(s.with(m.source(), jobs(src, List.copyOf(jobs)))));
        } else if (pc == 1) {
          Node n = src;
          if (src.rec().kind() == Kind.FENCED && src.rec().mig() == mi) {
            n = new Node(src.up(), src.lock(), src.view(), new Rec(Kind.GONE, mi, src.rec().confirmed()),
                Math.max(src.floor(), s.epochOf(mi)), src.jobs(), src.inflight(), src.cut());
          }
          add(out, "finish.markGone(node " + m.source() + ")", advance(s.with(m.source(), n)));
        } else {
          add(out, "recordStep(FINISHED)", record(s, mi, next));
        }
      }
      default -> throw new IllegalStateException("no step after " + m.step());
    }
  }

  private void undo(State s, int mi, Mig m, int pc, List<Transition> out) {
    if (pc == 0) {
      Node src = s.node(m.source());
      Rec r = src.rec().kind() == Kind.FENCED && src.rec().mig() == mi ? Rec.NONE : src.rec();
      add(out, "undo.unfence(node " + m.source() + ")", advance(s.with(m.source(), rec(src, r))));
    } else if (pc == 1) {
      Node tgt = s.node(m.target());
      Rec r = tgt.rec().kind() == Kind.INCOMING && tgt.rec().mig() == mi ? Rec.NONE : tgt.rec();
      add(out, "undo.unhold(node " + m.target() + ")", advance(s.with(m.target(), rec(tgt, r))));
    } else {
      add(out, "recordStep(ABORTED)", record(s, mi, Step.ABORTED).with(Proc.IDLE));
    }
  }

  /** Where a rollback goes: undo before the switch, complete-then-migrate-back after it. */
  private Mode rollback(State s, int mi) {
    boolean switched = flawed(Flaw.ROLLBACK_BY_RECORDED_STEP)
        ? s.migs().get(mi).step().ordinal() >= Step.SWITCHED.ordinal()
        : s.epochOf(mi) > 0;
    return switched ? Mode.COMPLETE_THEN_BACK : Mode.UNDO;
  }

  private static String describe(Mode mode) {
    return mode == Mode.UNDO ? "undoBeforeSwitch" : "completeThenMigrateBack";
  }

  // ------------------------------------------------------------------ the operator

  private void operator(State s, List<Transition> out) {
    if (s.proc().mode() != Mode.IDLE) {
      return;
    }
    int active = s.active();
    if (active >= 0) {
      Mig m = s.migs().get(active);
      if (m.abort()) {
        Mode mode = rollback(s, active);
        add(out, "runMigrator: abort requested, rollback -> " + describe(mode), s.with(new Proc(mode, active, 0)));
      } else {
        add(out, "runMigrator: resume after " + m.step(), s.with(new Proc(Mode.DRIVE, active, 0)));
        if (s.budgets().get(ABORTS) > 0) {
          State t = s.with(active, new Mig(m.source(), m.target(), m.step(), true, m.mark(), m.copied())).spend(ABORTS);
          Mode mode = rollback(t, active);
          add(out, "runAbort: requestAbort, rollback -> " + describe(mode), t.with(new Proc(mode, active, 0)));
        }
      }
    } else if (s.budgets().get(PLANS) > 0) {
      int from = s.owner(s.epoch());
      int mi = s.migs().size();
      add(out, "runMigrator: plan(node " + from + " -> node " + (1 - from) + ")",
          s.with(mi, new Mig(from, 1 - from, Step.PLANNED, false, 0, false)).with(new Proc(Mode.DRIVE, mi, 0)).spend(PLANS));
    }
  }

  // ------------------------------------------------------------------ nodes and proxies

  private void node(State s, int n, List<Transition> out) {
    Node node = s.node(n);
    if (!node.up()) {
      add(out, "nodeRestart(node " + n + ")",
          s.with(n, new Node(true, true, node.view(), node.rec(), node.floor(), node.jobs(), 0, false)));
      return;
    }
    if (s.budgets().get(NODE_CRASHES) > 0) {
      add(out, "nodeCrash(node " + n + ")",
          s.with(n, new Node(false, false, node.view(), node.rec(), node.floor(), node.jobs(), 0, false)).spend(NODE_CRASHES));
    }
    if (node.lock() && s.budgets().get(LOCK_LOSSES) > 0) {
      add(out, "lockLost(node " + n + ": the router fences everything, its delivery in flight goes on)",
          s.with(n, lock(node, false)).spend(LOCK_LOSSES));
    }
    if (!node.lock() && !node.cut()) {
      // PartitionFollower's self-fence: no renewal and no new lock for --self-fence-ms, so Router.cutOff abandons what is
      // in flight (its outcome is never written; the job stays pending) and the workers wait for the lock
      add(out, "selfFence(node " + n + (node.inflight() > 0 ? ": abandons event " + node.inflight() : "") + ")",
          s.with(n, cut(inflight(node, 0))));
    }
    if (!node.lock()) {
      add(out, "relock(node " + n + ")", s.with(n, lock(node, true)));
    }
    if (node.view() < s.epoch()) {
      add(out, "topologyRefresh(node " + n + " -> epoch " + s.epoch() + ")", s.with(n, view(node, s.epoch())));
    }
    if (node.inflight() == 0 && node.lock() && node.rec().kind() == Kind.NONE) {
      int i = nextPending(node, 0);
      if (i >= 0) {
        int seq = node.jobs().get(i).seq();
        add(out, "deliverStart(node " + n + ", event " + seq + ")", s.with(n, inflight(node, seq)));
      }
    }
    if (node.inflight() > 0) {
      int seq = node.inflight();
      List<Job> jobs = new ArrayList<>(node.jobs());
      jobs.replaceAll(j -> j.seq() == seq && j.state() == JobState.PENDING ? new Job(seq, JobState.DELIVERED, j.imported()) : j);
      State t = s.with(n, inflight(jobs(node, List.copyOf(jobs)), 0)).delivered(seq, n);
      String violation = null;
      int others = s.deliveredBy().get(seq - 1) & ~(1 << n);
      if (!checked.contains(Invariant.KEY_ORDER)) {
        violation = null;
      } else if (others != 0) {
        violation = "event " + seq + " delivered by node " + Integer.numberOfTrailingZeros(others) + " and by node " + n;
      } else if (seq < s.maxDelivered()) {
        violation = "event " + seq + " delivered after event " + s.maxDelivered() + " (the key's order)";
      }
      out.add(new Transition("deliverEnd(node " + n + ", event " + seq + ")", t, violation));
    }
    if (node.lock() && (node.inflight() == 0 || flawed(Flaw.CONFIRM_WITH_DELIVERY_IN_FLIGHT))
        && node.rec().kind() == Kind.FENCED && !node.rec().confirmed()) {
      add(out, "followerConfirm(node " + n + ")", s.with(n, rec(node, new Rec(Kind.FENCED, node.rec().mig(), true))));
    }
  }

  private void proxy(State s, int x, List<Transition> out) {
    int pv = s.proxyView().get(x);
    if (pv < s.epoch()) {
      add(out, "proxyRefresh(proxy " + x + " -> epoch " + s.epoch() + ")", s.withProxy(x, s.epoch()));
    }
    if (s.nextSeq() > config.events()) {
      return;
    }
    int o = s.owner(pv);
    Node node = s.node(o);
    if (!node.up()) {
      return; // 503 to the SDK, which retries later
    }
    int view = Math.max(node.view(), pv); // a sender with a newer epoch makes the node catch up first
    String event = "ingest(event " + s.nextSeq() + " via proxy " + x + " at epoch " + pv + " to node " + o;
    if (s.owner(view) == o && !refuses(node, view)) {
      List<Job> jobs = new ArrayList<>(node.jobs());
      jobs.add(new Job(s.nextSeq(), JobState.PENDING, false));
      add(out, event + ": stored)", s.with(o, jobs(view(node, view), List.copyOf(jobs))).acked());
    } else if (view != node.view()) {
      add(out, event + ": refused, the node catches up to epoch " + view + ")", s.with(o, view(node, view)));
    }
  }

  // ------------------------------------------------------------------ helpers

  private static int nextPending(Node n, int from) {
    for (int i = from; i < n.jobs().size(); i++) {
      if (n.jobs().get(i).state() == JobState.PENDING) {
        return i;
      }
    }
    return -1;
  }

  /** Imported jobs take ids below every local id, after the jobs imported before them. */
  private static Node importJob(Node n, int seq) {
    int at = 0;
    while (at < n.jobs().size() && n.jobs().get(at).imported()) {
      at++;
    }
    List<Job> jobs = new ArrayList<>(n.jobs());
    jobs.add(at, new Job(seq, JobState.PENDING, true));
    return jobs(n, List.copyOf(jobs));
  }

  private static State advance(State s) {
    Proc p = s.proc();
    return s.with(new Proc(p.mode(), p.mig(), p.pc() + 1));
  }

  private static State record(State s, int mi, Step step) {
    Mig m = s.migs().get(mi);
    Proc p = s.proc();
    return s.with(mi, new Mig(m.source(), m.target(), step, m.abort(), m.mark(), m.copied())).with(new Proc(p.mode(), p.mig(), 0));
  }

  private static Node rec(Node n, Rec r) {
    return new Node(n.up(), n.lock(), n.view(), r, n.floor(), n.jobs(), n.inflight(), n.cut());
  }

  private static Node jobs(Node n, List<Job> jobs) {
    return new Node(n.up(), n.lock(), n.view(), n.rec(), n.floor(), jobs, n.inflight(), n.cut());
  }

  /** Taking the lock again ends a cut-off: the workers deliver again by the database's records. */
  private static Node lock(Node n, boolean lock) {
    return new Node(n.up(), lock, n.view(), n.rec(), n.floor(), n.jobs(), n.inflight(), n.cut() && !lock);
  }

  private static Node cut(Node n) {
    return new Node(n.up(), n.lock(), n.view(), n.rec(), n.floor(), n.jobs(), n.inflight(), true);
  }

  private static Node view(Node n, int view) {
    return new Node(n.up(), n.lock(), view, n.rec(), n.floor(), n.jobs(), n.inflight(), n.cut());
  }

  private static Node inflight(Node n, int seq) {
    return new Node(n.up(), n.lock(), n.view(), n.rec(), n.floor(), n.jobs(), seq, n.cut());
  }

  private static void add(List<Transition> out, String action, State next) {
    out.add(new Transition(action, next, null));
  }

  private static <T> List<T> set(List<T> list, int i, T value) {
    List<T> copy = new ArrayList<>(list);
    copy.set(i, value);
    return List.copyOf(copy);
  }

  private static <T> List<T> append(List<T> list, T value) {
    List<T> copy = new ArrayList<>(list);
    copy.add(value);
    return List.copyOf(copy);
  }
}
