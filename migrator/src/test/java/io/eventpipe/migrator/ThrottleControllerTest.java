package io.eventpipe.migrator;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.ManualClock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ThrottleControllerTest {

  private static final Duration TICK = Duration.ofSeconds(1);
  private final ManualClock clock = new ManualClock();

  private ThrottleController controller(double ceiling, double floor) {
    return new ThrottleController(new ThrottleController.Settings(1.5, ceiling, floor, Duration.ofSeconds(5),
        Duration.ofSeconds(2), 5), clock);
  }

  /** Five seconds of steady state at {@code ms} on nodes 1 and 2, then the tick that takes the baseline. */
  private void baseline(ThrottleController c, double ms) {
    for (int i = 0; i < 5; i++) {
      assertTrue(c.measuringBaseline());
      assertEquals("measuring steady-state ingest latency", c.tick(Map.of(1, ms, 2, ms), 0).reason());
      clock.advance(TICK);
    }
    assertTrue(!c.measuringBaseline());
    ThrottleController.Decision d = c.tick(Map.of(1, ms, 2, ms), 0);
    assertTrue(d.reason().startsWith("steady state: ingest p99 "), d.reason());
    clock.advance(TICK);
  }

  private ThrottleController.Decision tick(ThrottleController c, double node1, double node2, double observed) {
    ThrottleController.Decision d = c.tick(Map.of(1, node1, 2, node2), observed);
    clock.advance(TICK);
    return d;
  }

  @Test
  void slowsFastUnderRisingLatencyAndExplainsWhyNamingTheWorstNode() {
    ThrottleController c = controller(0, 200);
    baseline(c, 12);
    assertEquals(Double.POSITIVE_INFINITY, tick(c, 12, 12, 10_000).limit()); // the copy starts, latency as before
    assertEquals(Double.POSITIVE_INFINITY, tick(c, 12, 17, 10_000).limit()); // 1.4x: within the target
    ThrottleController.Decision d = tick(c, 12, 38, 10_000);
    assertEquals(5000, d.limit(), 1e-9, "halved from the rate the copy actually did");
    assertTrue(d.changed());
    assertEquals("slowing to 5,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 2", d.reason());
    // the latency window still holds samples from before the cut: no second cut within the cooldown
    assertEquals(5000, tick(c, 12, 38, 5000).limit());
    assertEquals(2500, tick(c, 12, 38, 5000).limit(), 1e-9);
    assertTrue(c.reason().startsWith("slowing to 2,500 jobs/s"), c.reason());
  }

  @Test
  void recoversSlowlyOnceLatencyIsBackAndThenLiftsTheLimit() {
    ThrottleController c = controller(0, 200);
    baseline(c, 10);
    tick(c, 10, 10, 8000);
    assertEquals(4000, tick(c, 40, 10, 8000).limit(), 1e-9);
    assertEquals(4000, tick(c, 10, 10, 4000).limit(), "no increase within the cooldown");
    List<Double> limits = new ArrayList<>();
    for (int i = 0; i < 40 && Double.isFinite(c.limit()); i++) {
      limits.add(tick(c, 10, 10, c.limit()).limit());
    }
    // a twentieth of the 8,000 cut from per tick: ten ticks from 4,000 back to 8,000, then no limit
    assertEquals(List.of(4400.0, 4800.0, 5200.0, 5600.0, 6000.0, 6400.0, 6800.0, 7200.0, 7600.0, Double.POSITIVE_INFINITY),
        limits);
    assertTrue(c.reason().startsWith("no limit again: ingest p99 10 ms vs 10 ms steady"), c.reason());
  }

  @Test
  void theBaselineReasonNamesEachNodesSteadyState() {
    ThrottleController c = controller(0, 200);
    for (int i = 0; i < 6; i++) {
      c.tick(Map.of(1, 12.0, 2, 7.0), 0);
      clock.advance(TICK);
    }
    assertEquals("steady state: ingest p99 12 ms on node 1, 7.0 ms on node 2; copying at no limit", c.reason());
  }

  @Test
  void holdsBetweenRecoveryAndTarget() {
    ThrottleController c = controller(0, 200);
    baseline(c, 10);
    tick(c, 10, 10, 8000);
    tick(c, 20, 10, 8000);
    double cut = c.limit();
    for (int i = 0; i < 10; i++) {
      assertEquals(cut, tick(c, 13, 10, cut).limit(), "1.3x: above the recovery threshold (1.2x), below the target");
    }
  }

  @Test
  void neverBelowTheFloorNorAboveTheCeiling() {
    ThrottleController c = controller(3000, 200);
    assertEquals(3000, c.limit(), "starts at the operator's ceiling");
    baseline(c, 10);
    for (int i = 0; i < 30; i++) {
      double limit = tick(c, 100, 100, c.limit()).limit();
      assertTrue(limit >= 200, "below the floor: " + limit);
    }
    assertEquals(200, c.limit(), "sustained overload ends at the floor, never at zero");
    assertTrue(c.reason().startsWith("holding at the floor 200 jobs/s: ingest p99 100 ms vs 10 ms steady on node"), c.reason());
    List<Double> limitsAfterFloor = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      double limit = tick(c, 10, 10, c.limit()).limit();
      assertTrue(limit <= 3000, "above the ceiling: " + limit);
      if (limitsAfterFloor.isEmpty() || limitsAfterFloor.get(limitsAfterFloor.size() - 1) < 3000) {
        limitsAfterFloor.add(limit);
      }
    }
    assertEquals(3000, c.limit());
    assertTrue(c.reason().startsWith("back at the ceiling 3,000 jobs/s"), c.reason());
    // sized by the 3,000 the episode began at, not by the last cut near the floor: twenty ticks, not hundreds
    long ticksBack = limitsAfterFloor.size();
    assertTrue(ticksBack <= 25, "recovery from the floor took " + ticksBack + " ticks");
  }

  @Test
  void aFloorAboveTheCeilingIsTheCeiling() {
    ThrottleController c = controller(100, 200);
    baseline(c, 10);
    for (int i = 0; i < 5; i++) {
      tick(c, 100, 100, 100);
    }
    assertEquals(100, c.limit());
  }

  @Test
  void noSignalKeepsTheRateAndSaysSo() {
    ThrottleController c = controller(0, 200);
    baseline(c, 10);
    tick(c, 10, 10, 8000);
    tick(c, 30, 10, 8000);
    assertEquals(4000, c.limit(), 1e-9);
    for (int i = 0; i < 10; i++) {
      ThrottleController.Decision d = c.tick(Map.of(), 4000);
      clock.advance(TICK);
      assertEquals(4000, d.limit(), 1e-9);
    }
    assertEquals("no ingest latency signal from nodes [1, 2]: keeping 4,000 jobs/s", c.reason());
    // a node the baseline never saw (it had no ingest then) cannot be compared: also no signal
    assertEquals(4000, c.tick(Map.of(7, 500.0), 4000).limit(), 1e-9);
  }

  @Test
  void withoutABaselineTheCopyRunsAtTheCeiling() {
    ThrottleController c = controller(2500, 200);
    for (int i = 0; i < 6; i++) {
      c.tick(Map.of(), 0);
      clock.advance(TICK);
    }
    ThrottleController.Decision d = tick(c, 500, 500, 2500);
    assertEquals(2500, d.limit());
    assertTrue(d.reason().startsWith("no steady-state ingest latency was measured"), d.reason());
  }

  @Test
  void aSubMillisecondBaselineIsRaisedSoNoiseDoesNotThrottle() {
    ThrottleController c = controller(0, 200);
    baseline(c, 0.4);
    for (int i = 0; i < 5; i++) {
      assertEquals(Double.POSITIVE_INFINITY, tick(c, 4, 4, 8000).limit(), "10x of 0.4 ms, but under the 5 ms minimum");
    }
    assertEquals(4000, tick(c, 8, 4, 8000).limit(), 1e-9, "1.6x of the 5 ms minimum baseline");
  }

  @Test
  void theBaselineIsTheMedianOfItsReadingsSoOneSpikeDoesNotSetIt() {
    ThrottleController c = controller(0, 200);
    double[] series = {10, 11, 300, 10, 12, 11};
    for (double ms : series) {
      c.tick(Map.of(1, ms), 0);
      clock.advance(TICK);
    }
    ThrottleController.Decision d = c.tick(Map.of(1, 17.0), 6000);
    assertEquals(3000, d.limit(), 1e-9);
    assertEquals("slowing to 3,000 jobs/s: ingest p99 17 ms vs 11 ms steady on node 1", d.reason());
  }

  @Test
  void rejectsSettingsThatCannotWork() {
    for (double ratio : new double[] {1.0, 0.5, Double.NaN, 101}) {
      IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
          () -> new ThrottleController.Settings(ratio, 0, 200, Duration.ZERO, Duration.ZERO, 5));
      assertTrue(e.getMessage().contains(String.valueOf(ratio)), e.getMessage());
    }
    org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
        () -> new ThrottleController.Settings(1.5, 0, 0, Duration.ZERO, Duration.ZERO, 5));
  }
}
