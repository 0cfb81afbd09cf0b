package io.eventpipe.launcher;

import static io.eventpipe.launcher.MigrationCluster.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.Migration;
import io.eventpipe.migrator.Migrator;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.routing.Topology;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Resizing a live cluster: real nodes, each with its own database, a real proxy and a sink checking every user's
 * order, while SDK-shaped requests keep coming. No acknowledged event may be lost, no user's events reordered, and no
 * SDK request may fail because of a migration.
 */
class MigrationTest {

  @Test
  void scalesTwoThreeOneFourUnderLoadKeepingEveryUsersOrder(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 64, 4, 2)) {
      c.sinkFailureRate = 0.05; // deliveries are retried throughout, so failed jobs move with their state
      MigrationCluster.Load load = c.new Load(200, 8, 10);
      Thread.sleep(1500);
      for (int n : new int[] {3, 1, 4}) {
        Migrator.Result r = c.scale(n, MigrationCluster.fastOptions());
        assertEquals(n, r.toNodes(), r.summary());
        Thread.sleep(1000);
      }
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed during the migrations: " + load.errorSamples);
      assertTrue(load.total() > 1000, "the load kept going: " + load.total() + " events acknowledged");
      c.assertAllDelivered(load.acked, 120);
      Topology t = topology(c);
      for (int k = 0; k < 4; k++) {
        assertEquals(16, t.ownedBy(k).length, "node " + k + " owns its share: " + t);
      }
    }
  }

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
        MigratorOptions crashing = MigrationCluster.fastOptions().withHook(s -> {
          if (s.equals(step)) {
            throw new IllegalStateException("injected crash before " + step);
          }
        });
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
      c.assertAllDelivered(load.acked, 120);
    }
  }

  @Test
  void aNodeThatIsDownIsDrainedFromItsDatabase(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 3)) {
      MigrationCluster.Load load = c.new Load(40, 4, 10);
      Thread.sleep(1000);
      load.close();
      c.stopNode(2); // tooling removed it without migrating: its pending jobs sit in its database
      c.migrate(2, MigrationCluster.fastOptions());
      c.assertAllDelivered(load.acked, 120);
      assertEquals(2, (int) await(nodeCount(c)));
    }
  }

  @Test
  void aSecondMigrationIsRefusedNamingTheOneInProgress(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      c.startNode(2);
      MigratorOptions stopAtSwitch = MigrationCluster.fastOptions().withHook(s -> {
        if (s.equals("switched")) {
          throw new IllegalStateException("injected crash before switched");
        }
      });
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopAtSwitch));
      ExecutionException other = assertThrows(ExecutionException.class, () -> c.migrate(1, MigrationCluster.fastOptions()));
      assertTrue(other.getCause() instanceof ControlStore.MigrationInProgress, other.getCause().toString());
      assertTrue(other.getCause().getMessage().contains("2 -> 3"), other.getCause().getMessage());
    }
  }

  @Test
  void anAbortBeforeTheSwitchKeepsTheOldTopology(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      MigrationCluster.Load load = c.new Load(20, 2, 10);
      c.startNode(2);
      long epoch = topology(c).epoch();
      MigratorOptions stopAtSwitch = MigrationCluster.fastOptions().withHook(s -> {
        if (s.equals("switched")) {
          throw new IllegalStateException("injected crash before switched");
        }
      });
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopAtSwitch));
      Thread.sleep(500);
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try (var dbs = new io.eventpipe.migrator.NodeDatabases(c.vertx, k -> MigrationCluster.config(c.nodeDbs.get(k)))) {
        Migrator.Result r = await(new Migrator(c.vertx, store, dbs, MigrationCluster.fastOptions(), p -> {}).abort());
        assertTrue(r.summary().contains("aborted before the switch"), r.summary());
        assertEquals(epoch, await(store.current()).get().epoch());
        assertEquals(Migration.Step.ABORTED, await(store.recentMigrations(1)).get(0).step());
      } finally {
        await(store.closeAsync());
      }
      Thread.sleep(1000);
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(load.acked, 60);
    }
  }

  private static Topology topology(MigrationCluster c) throws Exception {
    ControlStore store = await(ControlStore.open(c.vertx, c.control));
    try {
      return await(store.current()).orElseThrow();
    } finally {
      await(store.closeAsync());
    }
  }

  private static io.vertx.core.Future<Integer> nodeCount(MigrationCluster c) {
    return ControlStore.open(c.vertx, c.control).compose(s -> s.nodeCount().eventually(s::closeAsync));
  }
}
