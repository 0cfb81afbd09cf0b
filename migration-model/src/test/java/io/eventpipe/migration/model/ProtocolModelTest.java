package io.eventpipe.migration.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.migration.model.ProtocolModel.Config;
import io.eventpipe.migration.model.ProtocolModel.Flaw;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Walks the migration protocol's model exhaustively: every state reachable with the given faults is visited (the walk
 * ends because the fault and operator budgets are finite, not because of a depth cut), once per fault mix. The
 * protocol before issue 15's fixes breaks an invariant, and the walk prints the counterexample; each hole alone is
 * found; the fixed protocol keeps every invariant in every state.
 */
class ProtocolModelTest {

  /** Far beyond the longest path of any config below (about 55 actions): the walks end by exhaustion. */
  private static final int DEPTH = 200;

  /** One migration and its abort (which migrates back after the switch), two events, two proxies, and a fault mix. */
  private static final List<Config> FAULT_MIXES = List.of(
      new Config(2, 2, 1, 1, 1, 0, 0, Set.of()), // a migrator crash anywhere, then a rerun or an abort
      new Config(2, 2, 1, 1, 1, 1, 0, Set.of()), // and a node crash (source or target) anywhere
      new Config(2, 2, 1, 1, 1, 0, 1, Set.of()), // and a node losing its instance-lock connection anywhere
      new Config(3, 2, 1, 1, 1, 0, 0, Set.of())); // three events

  @Test
  void todaysProtocolBreaksAnInvariant() {
    Explorer.Result r = walk(new Config(2, 2, 1, 1, 1, 0, 0, ProtocolModel.TODAY));
    assertTrue(r.found(), "the protocol before issue 15 keeps every invariant?");
  }

  /**
   * Hole 1: the epoch is published in one transaction and SWITCHED recorded in another; a crash between them, then an
   * abort that decides by the recorded step, undoes the fence while the new epoch is in force.
   */
  @Test
  void holeOneAnAbortAfterAnUnrecordedSwitchSplitsOwnership() {
    Explorer.Result r = walk(new Config(2, 2, 1, 1, 1, 0, 0,
        EnumSet.of(Flaw.SWITCH_IN_TWO_TRANSACTIONS, Flaw.ROLLBACK_BY_RECORDED_STEP)));
    assertTrue(r.found(), "hole 1 not found");
    assertInOrder(r, "switchEpoch.publish", "migratorCrash", "runAbort", "undo.unfence");
    assertFalse(r.trace().contains("recordStep(SWITCHED)"), r.printTrace());
  }

  /**
   * Where hole 1 leads past the split: with the acceptance invariant left out, a delivery out of the key's order, and
   * with only "nothing stranded", the source's backlog left where the epoch no longer routes.
   */
  @Test
  void holeOneReordersTheKeyAndStrandsTheBacklog() {
    Set<Flaw> hole1 = EnumSet.of(Flaw.SWITCH_IN_TWO_TRANSACTIONS, Flaw.ROLLBACK_BY_RECORDED_STEP);
    Config c = new Config(2, 2, 1, 1, 1, 0, 0, hole1);
    Explorer.Result order = walk(c, EnumSet.of(ProtocolModel.Invariant.KEY_ORDER, ProtocolModel.Invariant.NOTHING_LOST));
    assertTrue(order.found() && order.violation().contains("the key's order"), order::printTrace);
    assertInOrder(order, "switchEpoch.publish", "migratorCrash", "runAbort", "deliverEnd(node 1, event 2)",
        "deliverEnd(node 0, event 1)");
    Explorer.Result stranded = walk(c, EnumSet.of(ProtocolModel.Invariant.NOTHING_STRANDED));
    assertTrue(stranded.found() && stranded.violation().contains("never reaches the owner"), stranded::printTrace);
    assertInOrder(stranded, "switchEpoch.publish", "migratorCrash", "runAbort", "recordStep(ABORTED)");
  }

  /** Either half of the fix closes hole 1: the switch as one transaction, or a rollback that reads the epoch. */
  @Test
  void eitherHalfOfTheFixClosesHoleOne() {
    for (Flaw halfLeft : List.of(Flaw.SWITCH_IN_TWO_TRANSACTIONS, Flaw.ROLLBACK_BY_RECORDED_STEP)) {
      assertKeepsEveryInvariant(new Config(2, 2, 1, 1, 1, 0, 0, EnumSet.of(halfLeft)));
    }
  }

  /**
   * Hole 2: a node that lost only its lock connection keeps a delivery in flight; the migrator confirms for it by the
   * lease, copies the job, and the target delivers it while the source still does.
   */
  @Test
  void holeTwoALeaseIsNotAFence() {
    Explorer.Result r = walk(new Config(2, 2, 1, 1, 1, 0, 1, EnumSet.of(Flaw.LEASE_CONFIRMS_IN_FLIGHT)));
    assertTrue(r.found(), "hole 2 not found");
    assertInOrder(r, "deliverStart(node 0", "lockLost(node 0", "confirm.forDownNode(node 0", "copy.batch", "node 1");
  }

  /**
   * Hole 2's fix, as the code has it: the migrator confirms for a node that holds no lock only after its self-fence, so
   * a delivery that was in flight when the lock went is abandoned first. The walk with a lost lock and no crash still
   * confirms for the down node (not vacuous), and only after that node cut itself off.
   */
  @Test
  void holeTwoIsClosedByTheSelfFence() {
    Config c = new Config(2, 2, 1, 1, 1, 0, 1, Set.of());
    assertKeepsEveryInvariant(c);
    ProtocolModel model = new ProtocolModel(c);
    java.util.ArrayDeque<ProtocolModel.State> todo = new java.util.ArrayDeque<>(List.of(model.initial()));
    Set<ProtocolModel.State> seen = new java.util.HashSet<>(todo);
    int confirms = 0;
    while (!todo.isEmpty()) {
      ProtocolModel.State s = todo.poll();
      for (ProtocolModel.Transition t : model.next(s)) {
        if (t.action().startsWith("confirm.forDownNode")) {
          confirms++;
          assertTrue(s.nodes().stream().anyMatch(ProtocolModel.Node::cut), () -> "confirmed for a node that is up and not cut"
              + " off: " + t.action());
        }
        if (seen.add(t.next())) {
          todo.add(t.next());
        }
      }
    }
    assertTrue(confirms > 0, "no walk confirmed for a down node");
  }

  /** Hole 3: the router confirms its fence with a delivery in flight; the target delivers the copy at the same time. */
  @Test
  void holeThreeAConfirmThatDoesNotWaitForTheDeliveriesInFlight() {
    Explorer.Result r = walk(new Config(2, 2, 1, 1, 1, 0, 0, EnumSet.of(Flaw.CONFIRM_WITH_DELIVERY_IN_FLIGHT)));
    assertTrue(r.found(), "hole 3 not found");
    assertInOrder(r, "deliverStart(node 0", "fence.fence(node 0)", "followerConfirm(node 0)", "copy.batch", "deliverStart(node 1");
  }

  /**
   * Hole 7: the migration back holds the partition on its old owner, overwriting the gone record; the old owner, cut off
   * at the old epoch, accepts its writes again while the current owner does too.
   */
  @Test
  void holeSevenTheGoneRecordIsOverwritten() {
    Explorer.Result r = walk(new Config(2, 2, 1, 1, 1, 0, 0, EnumSet.of(Flaw.GONE_OVERWRITTEN)));
    assertTrue(r.found(), "hole 7 not found");
    assertInOrder(r, "finish.markGone(node 0)", "prepare.hold(node 0)");
    assertTrue(r.violation().contains("two nodes accept"), r.printTrace());
  }

  @Test
  void theFixedProtocolKeepsEveryInvariantUnderEveryFaultMix() {
    for (Config c : FAULT_MIXES) {
      assertKeepsEveryInvariant(c);
    }
  }

  private static void assertKeepsEveryInvariant(Config c) {
    Explorer.Result r = walk(c);
    assertFalse(r.found(), () -> "flaws " + c.flaws() + ": " + r.printTrace());
    assertTrue(r.exhausted(), () -> "the walk stopped at depth " + r.depth() + " before visiting every state");
    // not vacuous: the walk went through every step, both ways of an abort, and the migration back
    Set<String> expected = new java.util.TreeSet<>(List.of("runMigrator", "prepare.hold", "fence.fence", "switchEpoch",
        "confirm.confirmed", "copy.batch", "copy.markCopied", "release.release", "finish.markAllMigrated", "finish.markGone",
        "recordStep", "runAbort", "undo.unfence", "undo.unhold", "completeThenMigrateBack.planReverse", "migratorCrash",
        "ingest", "deliverStart", "deliverEnd", "followerConfirm", "topologyRefresh", "proxyRefresh"));
    if (c.nodeCrashes() > 0) {
      expected.addAll(List.of("nodeCrash", "nodeRestart", "confirm.forDownNode"));
    }
    if (c.lockLosses() > 0) {
      expected.addAll(List.of("lockLost", "selfFence", "relock", "confirm.forDownNode"));
    }
    expected.removeIf(a -> r.taken().stream().anyMatch(t -> t.startsWith(a)));
    assertTrue(expected.isEmpty(), () -> "never taken: " + expected);
  }

  private static Explorer.Result walk(Config c) {
    return walk(c, EnumSet.allOf(ProtocolModel.Invariant.class));
  }

  private static Explorer.Result walk(Config c, Set<ProtocolModel.Invariant> checked) {
    java.lang.management.ThreadMXBean cpu = java.lang.management.ManagementFactory.getThreadMXBean();
    long started = System.nanoTime();
    long cpuStarted = cpu.getCurrentThreadCpuTime();
    Explorer.Result r = Explorer.explore(new ProtocolModel(c, checked), DEPTH);
    String invariants = checked.size() == ProtocolModel.Invariant.values().length ? "all" : checked.toString();
    System.out.printf("flaws %s, checking %s, %d events, faults (migrator %d, node %d, lock %d): %d states to depth %d%s"
            + " in %d ms (%d ms CPU)%n", c.flaws(), invariants, c.events(), c.migratorCrashes(), c.nodeCrashes(), c.lockLosses(),
        r.states(), r.depth(), r.exhausted() ? " (all)" : "", (System.nanoTime() - started) / 1_000_000,
        (cpu.getCurrentThreadCpuTime() - cpuStarted) / 1_000_000);
    if (r.found()) {
      System.out.println("counterexample:");
      System.out.print(r.printTrace());
    }
    return r;
  }

  /** The trace has actions starting with these prefixes (or containing them), in this order. */
  private static void assertInOrder(Explorer.Result r, String... actions) {
    int at = 0;
    for (String a : actions) {
      while (at < r.trace().size() && !r.trace().get(at).contains(a)) {
        at++;
      }
      assertTrue(at < r.trace().size(), "no \"" + a + "\" in order in:\n" + r.printTrace());
      at++;
    }
  }
}
