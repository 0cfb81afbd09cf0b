package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.autoscaler.Autoscaler;
import io.eventpipe.autoscaler.ControlStoreReader;
import io.eventpipe.autoscaler.Decision;
import io.eventpipe.autoscaler.DecisionStore;
import io.eventpipe.autoscaler.LocalResizer;
import io.eventpipe.autoscaler.ScalingPolicy;
import io.eventpipe.autoscaler.SignalReader;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The autoscaler on a real cluster in one JVM ({@link MigrationCluster}: nodes, proxy, sink, SDK-shaped load, history
 * checker), with short windows: a load that outgrows one node (the destination's per-node rate limit is below the
 * load's rate) grows the cluster to two, the end of the load shrinks it back to one, and every user's events arrive
 * in order with nothing lost; a destination that fails most attempts never grows it. About a minute, in the default
 * suite (the launcher's two test forks absorb it).
 */
class AutoscalerClusterTest {

  private static ScalingPolicy.Config shortWindows() {
    // grow on a delivery lag above 1.5 s kept 2 s; shrink after 3 s under 20 events/s per remaining node
    return new ScalingPolicy.Config(1, 2, Duration.ofMillis(1500), Duration.ofSeconds(2), Duration.ofSeconds(1), 20,
        Duration.ofSeconds(3), Duration.ofSeconds(2), 0.5);
  }

  private static Autoscaler autoscaler(MigrationCluster c, ScalingPolicy.Config config) {
    ControlStoreReader control = new ControlStoreReader(c.control.jdbcUrl(), c.control.user(), c.control.password());
    LocalResizer resizer = new LocalResizer(new LocalResizer.Nodes() {
      @Override
      public void start(int count) throws Exception {
        for (int k = 0; k < count; k++) {
          c.startNode(k);
        }
      }

      @Override
      public void stopFrom(int count) throws Exception {
        for (int k = count; k < c.nodes.length; k++) {
          c.stopNode(k);
        }
      }
    }, to -> c.migrate(to, MigrationCluster.fastOptions()), control);
    return new Autoscaler(new SignalReader(control, MigrationCluster.TOKEN, Clock.systemUTC())::read, new ScalingPolicy(config),
        resizer, new DecisionStore(control), new SimpleMeterRegistry(), Clock.systemUTC(), Duration.ofMillis(500));
  }

  private static int nodeCount(MigrationCluster c) throws Exception {
    return new ControlStoreReader(c.control.jdbcUrl(), c.control.user(), c.control.password()).topology().nodes();
  }

  private static List<DecisionStore.Stored> decisions(MigrationCluster c) throws Exception {
    return new DecisionStore(new ControlStoreReader(c.control.jdbcUrl(), c.control.user(), c.control.password())).last(100);
  }

  private static void limitSinkRate(MigrationCluster c, int eventsPerSecond) throws Exception {
    String yaml = Files.readString(c.workspace, StandardCharsets.UTF_8);
    Files.writeString(c.workspace, yaml.replace("    config:\n", "    config:\n      rateLimit: {eventsPerSecond: "
        + eventsPerSecond + "}\n"), StandardCharsets.UTF_8);
    Thread.sleep(2500); // hot reload: within a second on each process
  }

  @Test
  void aLoadThatOutgrowsOneNodeGrowsTheClusterAndItsEndShrinksIt(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 64, 2, 1)) {
      limitSinkRate(c, 8); // one node delivers 8 events/s, two deliver 16; the load sends more than that
      Autoscaler a = autoscaler(c, shortWindows());
      Thread loop = new Thread(a, "autoscaler");
      loop.start();
      try {
        try (MigrationCluster.Load load = c.new Load(30, 3, 200)) {
          MigrationCluster.waitFor(() -> count(c) == 2, 90, () -> "the cluster never grew: " + lines(c));
          Thread.sleep(1000); // the load goes on over two nodes
          assertEquals(2, count(c), lines(c));
        }
        // the topology says 1 node at the migration's switch; the shrink is done once node 1 is stopped too
        MigrationCluster.waitFor(() -> count(c) == 1 && lines(c).lines().anyMatch(l -> l.contains("shrink 2 -> 1") && l.endsWith("[done]")),
            150, () -> "the cluster never shrank after the load: " + lines(c));
        assertEquals(null, c.nodes[1], "node 1 still runs");
      } finally {
        a.stop();
        loop.interrupt();
        loop.join(60_000);
      }
      c.assertAllDelivered(60);
      List<DecisionStore.Stored> ds = decisions(c);
      System.out.println("decisions:\n" + lines(c));
      DecisionStore.Stored grow = ds.stream().filter(d -> d.decision().action() == Decision.Action.GROW).findFirst().orElseThrow();
      assertEquals(Decision.Signal.BACKLOG_AGE, grow.decision().signal());
      assertEquals("done", grow.outcome());
      DecisionStore.Stored shrink = ds.stream().filter(d -> d.decision().action() == Decision.Action.SHRINK).findFirst()
          .orElseThrow();
      assertEquals(Decision.Signal.UNDERUSED, shrink.decision().signal());
      assertEquals("done", shrink.outcome());
      assertTrue(Status.decisions(c.control).contains("grow 1 -> 2 nodes (signal backlog_age)"), Status.decisions(c.control));
    }
  }

  @Test
  void aFailingDestinationDoesNotGrowTheCluster(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 64, 2, 1)) {
      c.sinkFailureRate = 0.9; // nine attempts in ten fail: the backlog ages, more nodes would not drain it
      Autoscaler a = autoscaler(c, shortWindows());
      Thread loop = new Thread(a, "autoscaler");
      loop.start();
      try (MigrationCluster.Load load = c.new Load(40, 2, 250)) {
        MigrationCluster.waitFor(() -> lines(c).contains("failing_destination): backlog that more nodes cannot drain:"
            + " destination sink"), 60,
            () -> "no failing_destination hold: " + lines(c));
        Thread.sleep(6000); // longer than the up window and the cooldown
        assertEquals(1, count(c), lines(c));
      } finally {
        a.stop();
        loop.interrupt();
        loop.join(60_000);
      }
      assertTrue(decisions(c).stream().noneMatch(d -> d.decision().action() == Decision.Action.GROW), lines(c));
      assertTrue(decisions(c).stream().filter(d -> d.decision().signal() == Decision.Signal.FAILING_DESTINATION)
          .map(d -> d.decision().reason()).anyMatch(r -> r.contains("destination sink") && r.contains("more nodes cannot drain")),
          lines(c));
      c.sinkFailureRate = 0;
      c.assertAllDelivered(90);
    }
  }

  private static int count(MigrationCluster c) {
    try {
      return nodeCount(c);
    } catch (Exception e) {
      return -1;
    }
  }

  private static String lines(MigrationCluster c) {
    try {
      StringBuilder out = new StringBuilder();
      for (DecisionStore.Stored d : decisions(c)) {
        out.append(d.line()).append('\n');
      }
      return out.toString();
    } catch (Exception e) {
      return e.toString();
    }
  }
}
