package io.eventpipe.autoscaler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.autoscaler.Decision.Action;
import io.eventpipe.autoscaler.Decision.Signal;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/** The policy on recorded sequences of readings, one every 10 s, with a 60 s up window and a 120 s down window. */
class ScalingPolicyTest {

  private static final Instant T0 = Instant.parse("2026-12-01T12:00:00Z");

  private static ScalingPolicy.Config config(int min, int max) {
    return new ScalingPolicy.Config(min, max, Duration.ofSeconds(30), Duration.ofSeconds(60), Duration.ofSeconds(5), 100,
        Duration.ofSeconds(120), Duration.ofSeconds(90), 0.5);
  }

  /** A recorded cluster: each tick advances 10 s; counters accumulate from the rates set. */
  private static final class Recording {
    int nodes;
    String migration;
    Map<Integer, String> unreachable = Map.of();
    int tick;
    final long[] ingested = new long[16];
    final long[] fanned = new long[16];
    final Map<String, long[]> delivered = new TreeMap<>();
    final Map<String, long[]> failed = new TreeMap<>();
    double ingestRatePerNode;
    double ingestAge;
    boolean fanningOut = true;
    final Map<String, double[]> dest = new TreeMap<>(); // age, delivered/s per node, failed/s per node, pending

    Recording(int nodes) {
      this.nodes = nodes;
    }

    Recording dest(String id, double age, double deliveredPerSecond, double failedPerSecond) {
      dest.put(id, new double[] {age, deliveredPerSecond, failedPerSecond, age > 0 ? 1000 : 0});
      return this;
    }

    Signals next() {
      tick++;
      List<Signals.NodeSignals> per = new ArrayList<>();
      for (int k = 0; k < nodes; k++) {
        ingested[k] += (long) (ingestRatePerNode * 10);
        if (fanningOut) {
          fanned[k] += (long) (ingestRatePerNode * 10) + 1;
        }
        Map<String, Signals.Destination> ds = new TreeMap<>();
        for (Map.Entry<String, double[]> e : dest.entrySet()) {
          long[] dl = delivered.computeIfAbsent(e.getKey(), x -> new long[16]);
          long[] fl = failed.computeIfAbsent(e.getKey(), x -> new long[16]);
          dl[k] += (long) (e.getValue()[1] * 10);
          fl[k] += (long) (e.getValue()[2] * 10);
          ds.put(e.getKey(), new Signals.Destination((long) e.getValue()[3], e.getValue()[0], dl[k], fl[k]));
        }
        per.add(new Signals.NodeSignals(k, new Signals.Queue(ingestAge > 0 ? 500 : 0, ingestAge), ingested[k], fanned[k], ds));
      }
      return new Signals(T0.plusSeconds(10L * tick), nodes, migration, per, unreachable);
    }
  }

  private static List<Decision> run(ScalingPolicy p, Recording r, int ticks) {
    List<Decision> out = new ArrayList<>();
    for (int i = 0; i < ticks; i++) {
      Decision d = p.decide(r.next());
      out.add(d);
      if (d.changes()) {
        r.nodes = d.to();
        p.resized(d.at());
      }
    }
    return out;
  }

  private static Decision firstChange(List<Decision> ds) {
    return ds.stream().filter(Decision::changes).findFirst().orElse(null);
  }

  @Test
  void backlogThatLastsTheWindowGrowsByOneNode() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(1).dest("hook", 45, 500, 0);
    r.ingestRatePerNode = 800;
    List<Decision> ds = run(p, r, 7);
    // readings at 10..70 s: the streak starts at 10 s, so 70 s is the first reading past the 60 s window
    for (int i = 0; i < 6; i++) {
      assertEquals(Action.HOLD, ds.get(i).action(), ds.get(i).line());
      assertEquals(Signal.WINDOW, ds.get(i).signal(), ds.get(i).line());
    }
    Decision grow = ds.get(6);
    assertEquals(Action.GROW, grow.action(), grow.line());
    assertEquals(1, grow.from());
    assertEquals(2, grow.to());
    assertEquals(Signal.BACKLOG_AGE, grow.signal());
    assertTrue(grow.reason().contains("destination hook"), grow.reason());
  }

  @Test
  void aReadingBelowTheThresholdStartsTheWindowAgain() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(1).dest("hook", 45, 500, 0);
    r.ingestRatePerNode = 800;
    List<Decision> ds = new ArrayList<>(run(p, r, 5));
    r.dest("hook", 10, 500, 0); // dips below 30 s once
    ds.addAll(run(p, r, 1));
    r.dest("hook", 45, 500, 0);
    ds.addAll(run(p, r, 6));
    assertEquals(null, firstChange(ds), "the dip restarted the window: " + ds.get(ds.size() - 1).line());
    ds.addAll(run(p, r, 1));
    assertEquals(Action.GROW, ds.get(ds.size() - 1).action(), ds.get(ds.size() - 1).line());
  }

  @Test
  void aFailingDestinationNeverGrowsTheClusterAndTheLogSaysWhy() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    // every attempt fails (retries and backoff): its backlog ages forever
    Recording r = new Recording(1).dest("down", 45, 0, 3);
    r.ingestRatePerNode = 50;
    List<Decision> ds = new ArrayList<>();
    for (int i = 0; i < 60; i++) {
      r.dest("down", 45 + 10 * i, 0, i % 3 == 0 ? 0.3 : 0); // backoff: attempts become rare
      ds.addAll(run(p, r, 1));
    }
    assertEquals(null, firstChange(ds), "grew because of a failing destination");
    Decision last = ds.get(ds.size() - 1);
    assertEquals(Signal.FAILING_DESTINATION, last.signal(), last.line());
    assertTrue(last.reason().contains("destination down") && last.reason().contains("more nodes cannot drain"), last.reason());
    assertTrue(last.reason().contains("no delivery over the window"), last.reason());
  }

  @Test
  void aMostlyFailingDestinationThatStillDeliversSomeIsNoReasonToGrow() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(2).dest("flaky", 60, 10, 40);
    List<Decision> ds = run(p, r, 30);
    assertEquals(null, firstChange(ds));
    assertTrue(ds.get(29).reason().contains("80% of its attempts failed"), ds.get(29).reason());
  }

  @Test
  void aHealthyDestinationsBacklogGrowsEvenBesideAFailingOne() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(1).dest("down", 300, 0, 1).dest("hook", 40, 400, 20);
    Decision grow = firstChange(run(p, r, 10));
    assertEquals(Action.GROW, grow.action());
    assertTrue(grow.reason().contains("destination hook") && !grow.reason().contains("destination down"), grow.reason());
  }

  @Test
  void anIngestQueueThatFansOutGrowsOneThatIsStuckDoesNot() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(1);
    r.ingestAge = 50;
    r.ingestRatePerNode = 900;
    assertEquals(Action.GROW, firstChange(run(p, r, 10)).action());

    ScalingPolicy q = new ScalingPolicy(config(1, 4));
    Recording stuck = new Recording(1);
    stuck.ingestAge = 50;
    stuck.fanningOut = false; // e.g. events of a source the node's workspace does not know yet
    List<Decision> ds = run(q, stuck, 20);
    assertEquals(null, firstChange(ds));
    assertEquals(Signal.FAILING_DESTINATION, ds.get(19).signal(), ds.get(19).line());
    assertTrue(ds.get(19).reason().contains("nothing fanned out"), ds.get(19).reason());
  }

  @Test
  void noDecisionWhileAMigrationRunsAndTheWindowStartsAfterIt() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(2).dest("hook", 45, 500, 0);
    List<Decision> ds = new ArrayList<>(run(p, r, 5));
    r.migration = "m-7";
    List<Decision> during = run(p, r, 20);
    assertTrue(during.stream().allMatch(d -> d.signal() == Signal.MIGRATION_RUNNING), during.get(0).line());
    assertTrue(during.get(0).reason().contains("m-7"));
    r.migration = null;
    List<Decision> after = run(p, r, 6);
    assertEquals(null, firstChange(after), "the window must start again after the migration");
    assertEquals(Action.GROW, firstChange(run(p, r, 2)).action());
  }

  @Test
  void anUnreachableNodeHoldsEverything() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(2).dest("hook", 45, 500, 0);
    r.unreachable = Map.of(1, "node 1 at 127.0.0.1:9: connection refused");
    List<Decision> ds = run(p, r, 20);
    assertEquals(null, firstChange(ds));
    assertEquals(Signal.NODE_UNREACHABLE, ds.get(19).signal());
    assertTrue(ds.get(19).reason().contains("connection refused"));
  }

  @Test
  void cooldownAfterAResizeThenGrowsAgainUpToTheMaximum() {
    ScalingPolicy p = new ScalingPolicy(config(1, 3));
    Recording r = new Recording(1).dest("hook", 45, 500, 0);
    r.ingestRatePerNode = 800;
    List<Decision> ds = run(p, r, 40);
    List<Decision> changes = ds.stream().filter(Decision::changes).toList();
    assertEquals(2, changes.size(), changes.toString());
    assertEquals(2, changes.get(0).to());
    assertEquals(3, changes.get(1).to());
    // the second grow waited for the 90 s cooldown, longer than the 60 s window
    assertEquals(Duration.ofSeconds(90), Duration.between(changes.get(0).at(), changes.get(1).at()));
    assertTrue(ds.stream().anyMatch(d -> d.signal() == Signal.COOLDOWN), "no cooldown hold was seen");
    Decision last = ds.get(ds.size() - 1);
    assertEquals(Signal.AT_BOUND, last.signal(), last.line());
    assertTrue(last.reason().contains("maximum 3"));
  }

  @Test
  void anUnderusedClusterShrinksAfterItsWindowButNotBelowTheMinimum() {
    ScalingPolicy p = new ScalingPolicy(config(2, 4));
    Recording r = new Recording(4).dest("hook", 0.5, 10, 0);
    r.ingestRatePerNode = 10; // 40 events/s in all: one node fewer would carry 13 each, below 100
    List<Decision> ds = run(p, r, 60);
    List<Decision> changes = ds.stream().filter(Decision::changes).toList();
    assertEquals(2, changes.size(), changes.toString());
    assertEquals(Action.SHRINK, changes.get(0).action());
    assertEquals(Signal.UNDERUSED, changes.get(0).signal());
    assertEquals(3, changes.get(0).to());
    assertEquals(2, changes.get(1).to());
    // the streak starts at the second reading (20 s, the first with a rate), the shrink comes 120 s later
    assertEquals(Duration.ofSeconds(140), Duration.between(T0, changes.get(0).at()));
    assertEquals(Signal.AT_BOUND, ds.get(59).signal());
    // at the minimum no window builds up: the hold says so from the first reading after the shrink
    int last = ds.indexOf(changes.get(1));
    assertEquals(Signal.AT_BOUND, ds.get(last + 2).signal(), ds.get(last + 2).line());
  }

  @Test
  void aBusyClusterWithoutBacklogIsNotUnderused() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(3).dest("hook", 1, 600, 0);
    r.ingestRatePerNode = 120; // 360 events/s: two nodes would carry 180 each, above 100
    List<Decision> ds = run(p, r, 40);
    assertEquals(null, firstChange(ds));
    assertEquals(Signal.STEADY, ds.get(39).signal());
  }

  @Test
  void aFailingDestinationsOldBacklogDoesNotKeepNodesEitherButIsReported() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(2).dest("down", 500, 0, 1);
    r.ingestRatePerNode = 1;
    List<Decision> ds = run(p, r, 30);
    assertEquals(null, firstChange(ds), "holds while a backlog exists, whatever its kind: " + ds.get(29).line());
    assertEquals(Signal.FAILING_DESTINATION, ds.get(29).signal());
  }

  @Test
  void outsideTheBoundsMovesTowardsThemAtOnce() {
    ScalingPolicy p = new ScalingPolicy(config(2, 3));
    Recording r = new Recording(1);
    Decision d = p.decide(r.next());
    assertEquals(Action.GROW, d.action());
    assertEquals(Signal.BOUNDS, d.signal());
    Recording big = new Recording(5);
    Decision s = new ScalingPolicy(config(2, 3)).decide(big.next());
    assertEquals(Action.SHRINK, s.action());
    assertEquals(4, s.to());
  }

  @Test
  void aNodeRestartResettingItsCountersIsNotANegativeRate() {
    ScalingPolicy p = new ScalingPolicy(config(1, 4));
    Recording r = new Recording(2).dest("hook", 40, 500, 0);
    r.ingestRatePerNode = 500;
    run(p, r, 3);
    r.ingested[1] = 0;
    r.delivered.get("hook")[1] = 0;
    Decision d = run(p, r, 1).get(0);
    assertEquals(Signal.WINDOW, d.signal(), d.line());
    assertTrue(!d.reason().contains("-"), d.reason());
  }

  @Test
  void boundsAreValidated() {
    IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> ScalingPolicy.Config.defaults(3, 2));
    assertTrue(e.getMessage().contains("3..2"));
  }
}
