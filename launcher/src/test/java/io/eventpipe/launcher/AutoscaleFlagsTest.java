package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.autoscaler.ScalingPolicy;
import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The autoscaler's flags: bounds and policy values are validated at start, naming the bad value. */
class AutoscaleFlagsTest {

  private static Flags flags(Map<String, String> env, String... args) {
    return new Flags(args, Main.flagsOf("autoscaler"), env);
  }

  @Test
  void boundsAreMinDotDotMax() {
    assertEquals(2, Autoscale.bounds(flags(Map.of(), "--nodes", "2..5"), "nodes")[0]);
    assertEquals(5, Autoscale.bounds(flags(Map.of(), "--nodes", "2..5"), "nodes")[1]);
    for (String bad : new String[] {"3..2", "0..2", "2", "a..b", "1..99999"}) {
      Flags.BadFlag e = assertThrows(Flags.BadFlag.class, () -> Autoscale.bounds(flags(Map.of(), "--nodes", bad), "nodes"));
      assertTrue(e.getMessage().contains("--nodes=" + bad), e.getMessage());
    }
    Flags.BadFlag missing = assertThrows(Flags.BadFlag.class, () -> Autoscale.bounds(flags(Map.of()), "nodes"));
    assertTrue(missing.getMessage().contains("--nodes MIN..MAX"), missing.getMessage());
  }

  @Test
  void policyFlagsAndTheirEnvironmentVariables() {
    ScalingPolicy.Config c = Autoscale.policy(flags(Map.of("PIPELINE_UP_WINDOW_SECONDS", "7.5"), "--up-age-seconds", "12",
        "--cooldown-seconds", "0", "--failing-ratio", "0.8"), 1, 3);
    assertEquals(Duration.ofSeconds(12), c.upAge());
    assertEquals(Duration.ofMillis(7500), c.upWindow());
    assertEquals(Duration.ZERO, c.cooldown());
    assertEquals(0.8, c.failingRatio());
    assertEquals(Duration.ofMinutes(10), c.downWindow(), "the default");
    Flags.BadFlag e = assertThrows(Flags.BadFlag.class, () -> Autoscale.policy(flags(Map.of(), "--failing-ratio", "0"), 1, 3));
    assertTrue(e.getMessage().contains("failing-ratio"), e.getMessage());
    e = assertThrows(Flags.BadFlag.class, () -> Autoscale.interval(flags(Map.of(), "--interval-seconds", "0")));
    assertTrue(e.getMessage().contains("interval-seconds"), e.getMessage());
  }

  @Test
  void localTakesAutoscaleAndThePolicyFlags() {
    java.util.Set<String> local = Main.flagsOf("local");
    assertTrue(local.contains("autoscale"));
    assertTrue(local.containsAll(Autoscale.POLICY_FLAGS), local.toString());
  }
}
