package io.eventpipe.launcher;

import static io.eventpipe.launcher.MigrationCluster.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link MigrationTest}'s kill -9 and crash cases, in a class of their own so that the launcher's two test forks share
 * the slowest tests: a migrator crash before every step, a source node and a target node killed with -9 during the copy
 * (with the migrator, and a proxy restarted), and the randomized resizes with crashes and destination failures. Each is
 * followed by a rerun that completes with nothing lost or reordered.
 */
class MigrationFaultTest {

  @Test
  void aCrashOfTheMigratorAtEveryStepIsFinishedByARerun(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      MigrationCluster.Load load = c.new Load(60, 4, 10);
      int n = 2;
      for (String step : List.of("prepared", "fenced", "switched", "confirmed", "copy", "copied", "released", "finished")) {
        n = n == 2 ? 3 : 2;
        int to = n;
        for (int k = 0; k < to; k++) {
          c.startNode(k);
        }
        Thread.sleep(300);
        MigratorOptions crashing = MigrationCluster.crashingBefore(step);
        ExecutionException crash = assertThrows(ExecutionException.class, () -> c.migrate(to, crashing), "crash at " + step);
        assertTrue(crash.getCause().getMessage().contains("injected crash"), crash.getCause().toString());
        Migrator.Result r = c.migrate(to, MigrationCluster.fastOptions());
        assertTrue(r.summary().contains("finished"), step + ": " + r.summary());
        for (int k = to; k < 3; k++) {
          c.stopNode(k);
        }
      }
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(120);
    }
  }

  @Test
  void killNineOfASourceNodeAndOfTheMigratorDuringTheCopyThenARerun(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      c.startNodeProcess(2, dir); // a third node, as a real process
      c.migrate(3, MigrationCluster.fastOptions());
      c.sinkFailureRate = 0.3; // a backlog with delivery state on every node
      MigrationCluster.Load load = c.new Load(60, 4, 5);
      Thread.sleep(1500);
      // shrink to 2: node 2 (the process) is a source; kill -9 it, and the migrator, when the copy starts
      MigratorOptions killing = c.killingNodeAndCrashingBefore("copy", 2);
      assertThrows(ExecutionException.class, () -> c.migrate(2, killing));
      Migrator.Result r = c.migrate(2, MigrationCluster.fastOptions()); // node 2 is down: drained from its database
      assertTrue(r.summary().contains("finished"), r.summary());
      c.sinkFailureRate = 0;
      Thread.sleep(1000);
      load.close();
      // node 2 owned its partitions until the rerun's switch: while it was down its users got 503 with Retry-After
      // (a node that is down) and retried; nothing else may fail, and nothing is lost or reordered
      assertEquals(0, load.permanentErrors.get(), "SDK requests failed other than retryably (503 with Retry-After, network errors): " + load.errorSamples);
      c.assertAllDelivered(120);
    }
  }

  @Test
  void killNineOfATargetNodeAndOfTheMigratorDuringTheCopyAndAProxyRestartThenARerun(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      c.sinkFailureRate = 0.2;
      MigrationCluster.Load load = c.new Load(60, 4, 5);
      Thread.sleep(1000);
      c.startNodeProcess(2, dir); // the new node, a real process: the target of the growth
      MigratorOptions killing = c.killingNodeAndCrashingBefore("copy", 2);
      assertThrows(ExecutionException.class, () -> c.migrate(3, killing));
      c.restartProxy(); // and the proxy, while the cluster is half moved
      c.startNodeProcess(2, dir); // the target restarts on its database: its incoming partitions are still held
      Migrator.Result r = c.migrate(3, MigrationCluster.fastOptions());
      assertTrue(r.summary().contains("finished"), r.summary());
      c.sinkFailureRate = 0;
      Thread.sleep(1000);
      load.close();
      // while the target was down its users got 503 and retried (a node that is down); nothing is lost or reordered
      assertEquals(0, load.permanentErrors.get(), "SDK requests failed other than retryably (503 with Retry-After, network errors): " + load.errorSamples);
      c.assertAllDelivered(120);
    }
  }

  /**
   * Resizes, migrator crashes, node and control store PostgreSQL restarts and the migrator cut from a node (the
   * in-process faults of {@link FaultMatrixTest}) at random steps, nodes that go down, and a failing destination, mixed
   * at random over several runs. The seed is printed; rerun one with {@code -Dmigration.seed=N}.
   */
  @Test
  void randomizedResizesCrashesAndDestinationFailures(@TempDir Path dir) throws Exception {
    long first = Long.getLong("migration.seed", System.nanoTime());
    int runs = Integer.getInteger("migration.runs", 2);
    System.out.println("randomizedResizesCrashesAndDestinationFailures: -Dmigration.seed=" + first + " -Dmigration.runs=" + runs);
    for (int run = 0; run < runs; run++) {
      long seed = first + run;
      try {
        randomRun(dir.resolve("run" + run), seed);
      } catch (AssertionError | Exception e) {
        throw new AssertionError("randomized migration run failed; rerun with -Dmigration.seed=" + seed + ": " + e, e);
      }
    }
  }

  private static void randomRun(Path dir, long seed) throws Exception {
    java.util.Random rnd = new java.util.Random(seed);
    java.nio.file.Files.createDirectories(dir);
    List<String> steps = FaultMatrixTest.STEPS;
    int n = 1 + rnd.nextInt(3);
    try (MigrationCluster c = new MigrationCluster(dir, 32, 4, n, true)) {
      MigrationCluster.Load load = c.new Load(40, 3, 5);
      boolean nodeWentDown = false;
      boolean databaseRestarted = false;
      for (int resize = 0; resize < 3; resize++) {
        c.sinkFailureRate = rnd.nextDouble() * 0.3;
        int to;
        do {
          to = 1 + rnd.nextInt(4);
        } while (to == n);
        for (int k = 0; k < to; k++) {
          c.startNode(k);
        }
        if (to < n && rnd.nextBoolean()) {
          c.stopNode(n - 1); // a source that is down: drained from its database
          nodeWentDown = true;
        }
        if (rnd.nextBoolean()) {
          FaultMatrixTest.Fault fault = FaultMatrixTest.Fault.IN_PROCESS.get(rnd.nextInt(FaultMatrixTest.Fault.IN_PROCESS.size()));
          FaultMatrixTest.runWithFault(c, fault, steps.get(rnd.nextInt(steps.size())), to); // the rerun below finishes it
          // a database that restarts refuses the SDK requests it would store (503, retried); the migrator's faults do not
          databaseRestarted |= fault == FaultMatrixTest.Fault.NODE_PG_RESTARTED || fault == FaultMatrixTest.Fault.CONTROL_PG_RESTARTED;
        }
        c.migrate(to, MigrationCluster.fastOptions());
        for (int k = to; k < 4; k++) {
          c.stopNode(k);
        }
        n = to;
        Thread.sleep(300 + rnd.nextInt(700));
      }
      c.sinkFailureRate = 0;
      load.close();
      if (!nodeWentDown && !databaseRestarted) {
        assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      }
      c.assertAllDelivered(120);
      assertEquals(n, (int) await(MigrationTest.nodeCount(c)));
    }
  }

}
