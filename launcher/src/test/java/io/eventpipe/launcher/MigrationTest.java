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
      c.assertAllDelivered(120);
      Topology t = topology(c);
      for (int k = 0; k < 4; k++) {
        assertEquals(16, t.ownedBy(k).length, "node " + k + " owns its share: " + t);
      }
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
      c.assertAllDelivered(120);
      assertEquals(2, (int) await(nodeCount(c)));
    }
  }

  /**
   * Issue 16, item 1: a run toward another count than the open migration's (what a rollback's hooks do) used to be
   * refused, leaving the release stuck; it is a new goal: the open migration, before its switch, is reversed, then the
   * run goes to its own count. One migration is still recorded at a time.
   */
  @Test
  void aRunToAnotherCountReversesTheOpenMigrationBeforeItsSwitchThenGoesThere(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      MigrationCluster.Load load = c.new Load(20, 2, 10);
      c.startNode(2);
      MigratorOptions stopAtSwitch = MigrationCluster.crashingBefore("switched");
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopAtSwitch));
      Migrator.Result r = c.migrate(1, MigrationCluster.fastOptions());
      assertEquals(1, r.toNodes(), r.summary());
      assertTrue(r.summary().contains("2 -> 3) reversed before the switch"), r.summary());
      assertEquals(1, (int) await(nodeCount(c)));
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try {
        List<Migration> recent = await(store.recentMigrations(2));
        assertEquals(Migration.Step.FINISHED, recent.get(0).step(), recent.get(0).toString());
        assertEquals(Migration.Step.ABORTED, recent.get(1).step(), recent.get(1).toString());
      } finally {
        await(store.closeAsync());
      }
      Thread.sleep(500);
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(60);
    }
  }

  /** Hole 10 of issue 15: two migrator processes never drive a migration at once (the control store's run lock). */
  @Test
  void aSecondMigratorProcessCannotRunWhileAnotherHoldsTheLease(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 2, 1)) {
      c.startNode(1);
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try {
        io.eventpipe.migrator.RunLock lock = new io.eventpipe.migrator.AdvisoryRunLock(c.vertx, c.control, java.time.Duration.ZERO);
        io.eventpipe.migrator.RunLock.Held other = await(lock.acquire()); // a migrator process running
        ExecutionException busy = assertThrows(ExecutionException.class, () -> c.migrate(2, MigrationCluster.fastOptions()));
        assertTrue(busy.getCause() instanceof io.eventpipe.migrator.RunLock.Busy, busy.getCause().toString());
        assertTrue(busy.getCause().getMessage().contains("another migrator is running"), busy.getCause().getMessage());
        assertTrue(await(store.activeMigration()).isEmpty(), "the refused run planned nothing");
        await(other.release());
        Migrator.Result r = c.migrate(2, MigrationCluster.fastOptions()); // once it ended, the next one runs
        assertTrue(r.summary().contains("finished"), r.summary());
        io.eventpipe.migrator.RunLock.Held again = await(lock.acquire());
        assertTrue(again.held(), "a finished run let go of the lock");
        await(again.release());
      } finally {
        await(store.closeAsync());
      }
    }
  }

  @Test
  void anAbortBeforeTheSwitchKeepsTheOldTopology(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      MigrationCluster.Load load = c.new Load(20, 2, 10);
      c.startNode(2);
      long epoch = topology(c).epoch();
      MigratorOptions stopAtSwitch = MigrationCluster.crashingBefore("switched");
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopAtSwitch));
      Thread.sleep(500);
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try (var dbs = new io.eventpipe.migrator.NodeDatabases(c.vertx, k -> MigrationCluster.config(c.nodeDbs.get(k)), true)) {
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
      c.assertAllDelivered(60);
    }
  }

  /**
   * Hole 2 of issue 15: a source confirmed "down" by a lease, not a fence. Node 1 is partitioned from its database (its
   * link frozen: nothing passes, nothing is reset) while the sink holds one of its requests unanswered, and the database
   * drops node 1's sessions (what its TCP keepalive does to a partitioned client), so the instance lock is free while
   * node 1 still believes it serves its partitions. The migrator then moves them to node 0. The old owner's request must
   * be closed before the new owner delivers anything of that user: node 1 cannot renew its hold, so it cuts itself off
   * after its self-fence and closes its connections, and the migrator waits longer than that self-fence (recorded in
   * node 1's database) before it confirms. Without either, the held request stays open for its whole timeout (60 s)
   * while node 0 delivers the user's later events.
   */
  @Test
  void aSourcePartitionedFromItsDatabaseClosesItsDeliveriesBeforeTheNewOwnerDelivers(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 2, 2, true)) {
      c.holdFrom = "node-1";
      MigrationCluster.Load load = c.new Load(30, 3, 10);
      MigrationCluster.waitFor(() -> c.held.get() != null, 60, () -> "a request of node 1 held at the sink");
      MigrationCluster.Held held = c.held.get();
      c.history.event("node 1 partitioned from its database; its sessions terminated there");
      c.nodeKilled = true; // as good as killed: what node 1 delivered and could not record is delivered again
      c.nodeLink.get(1).freeze(true);
      int terminated = terminateSessions(c, 1);
      assertTrue(terminated > 0, "node 1 had sessions on its database");
      Migrator.Result r = c.migrate(1, MigrationCluster.fastOptions()); // lease 2 s, below node 1's self-fence (5 s)
      assertTrue(r.summary().contains("finished"), r.summary());
      MigrationCluster.waitFor(() -> held.otherDeliveryAtNanos().get() != 0, 120,
          () -> "node 0 delivered " + held.user() + " after the move");
      long closed = held.closedAtNanos().get();
      assertTrue(closed != 0 && closed < held.otherDeliveryAtNanos().get(), "node 1's held request of " + held.user()
          + " #" + held.seq() + " was still open when node 0 delivered that user (closed: " + (closed != 0) + ")");
      c.nodeLink.get(1).freeze(false);
      c.stopNode(1);
      load.close();
      assertEquals(0, load.permanentErrors.get(), "SDK requests failed other than retryably (503 with Retry-After, network errors): " + load.errorSamples);
      c.assertAllDelivered(120);
    }
  }

  /** Terminates every session on node {@code k}'s database but this one's; returns how many. */
  private static int terminateSessions(MigrationCluster c, int k) throws java.sql.SQLException {
    try (java.sql.Connection conn = c.nodeDbs.get(k).connect();
        java.sql.ResultSet rs = conn.createStatement().executeQuery("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))"
            + " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")) {
      rs.next();
      return rs.getInt(1);
    }
  }

  /**
   * Hole 6 of issue 15: a rerun by a migrator with another stream count (an upgraded migrator) must resume every
   * partition from its own progress mark. Were marks keyed by slice position, slice i's mark would skip other
   * partitions' jobs (lost) or none of a re-sliced partition's (copied twice).
   */
  @Test
  void aRerunWithAnotherCopyStreamCountResumesEveryPartitionFromItsOwnMark(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 2, 1)) {
      c.sinkFailureRate = 1; // nothing is delivered: a backlog of every user on node 0, all of it to copy
      MigrationCluster.Load load = c.new Load(60, 4, 2);
      MigrationCluster.waitFor(() -> load.total() > 3000, 120, () -> "a backlog: " + load.total() + " events acknowledged");
      c.startNode(1);
      int[] copyCalls = {0};
      MigratorOptions crashInCopy = MigrationCluster.fastOptions().withBatch(50).withCopyStreams(2).withHook(step -> {
        if (step.equals("copy") && ++copyCalls[0] == 8) {
          throw new IllegalStateException("injected crash inside the copy");
        }
      });
      ExecutionException crash = assertThrows(ExecutionException.class, () -> c.migrate(2, crashInCopy));
      assertTrue(crash.getCause().getMessage().contains("injected crash"), crash.getCause().toString());
      Migrator.Result r = c.migrate(2, MigrationCluster.fastOptions().withBatch(50).withCopyStreams(3));
      assertTrue(r.summary().contains("finished"), r.summary());
      c.sinkFailureRate = 0;
      Thread.sleep(500);
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(180); // and no duplicate: nothing was delivered before the move, so nothing twice after it
    }
  }

  /**
   * Hole 5 of issue 15: a job of a moved partition that the copy did not take (written on the source after the copy
   * passed, as a replay racing the fence could) is reported by the finish and kept, never retired unseen.
   */
  @Test
  void aJobTheCopyDidNotTakeIsReportedByTheFinishNotRetired(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 2, 1)) {
      MigrationCluster.Load load = c.new Load(30, 2, 10);
      Thread.sleep(1000);
      c.startNode(1);
      // the migrator stops before its finish; meanwhile a job of a moved partition appears on the source, behind the
      // fence's back (written from this thread: never block the nodes' event loops)
      assertThrows(ExecutionException.class, () -> c.migrate(2, MigrationCluster.crashingBefore("finished")));
      long[] late = {writeLateJob(c, 0)};
      ExecutionException e = assertThrows(ExecutionException.class, () -> c.migrate(2, MigrationCluster.fastOptions()));
      assertTrue(e.getCause().getMessage().contains("did not take") && e.getCause().getMessage().contains("1 jobs of rt"
          + " destination sink on node 0"), e.getCause().getMessage());
      try (java.sql.Connection conn = c.nodeDbs.get(0).connect();
           java.sql.ResultSet rs = conn.createStatement().executeQuery("SELECT state FROM jobs_rt.job_state WHERE job_id = " + late[0])) {
        assertTrue(rs.next());
        assertEquals(0, rs.getInt(1), "the late job is kept pending, not marked migrated");
      }
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(120); // the released partitions serve on their new node meanwhile
    }
  }

  /** A pending rt job of a fenced partition of node {@code k}, written behind the fence's back; returns its id. */
  private static long writeLateJob(MigrationCluster c, int k) {
    try (java.sql.Connection conn = c.nodeDbs.get(k).connect(); java.sql.Statement st = conn.createStatement()) {
      java.sql.ResultSet rs = st.executeQuery("SELECT partition_id FROM node.partition_state WHERE state = 2 ORDER BY 1 LIMIT 1");
      assertTrue(rs.next(), "node " + k + " has fenced partitions");
      int p = rs.getInt(1);
      // a block of ids of the queue's own sequence, which no writer of the node can take too (a block at the start
      // of a dataset not created yet has no table: take the next one)
      long id = 0;
      for (int attempt = 0; attempt < 3 && id == 0; attempt++) {
        rs = st.executeQuery("SELECT nextval('jobs_rt.job_id_seq')");
        rs.next();
        long candidate = rs.getLong(1);
        rs = st.executeQuery("SELECT count(*) FROM jobs_rt.datasets WHERE lo <= " + candidate + " AND " + candidate + " < hi");
        rs.next();
        id = rs.getLong(1) > 0 ? candidate : 0;
      }
      assertTrue(id > 0, "an id in a dataset of node " + k);
      st.execute("INSERT INTO jobs_rt.jobs (job_id, partition_id, routing_key, source_id, destination_id, message_id,"
          + " received_at, payload) VALUES (" + id + ", " + p + ", 'late-user', 'app', 'sink', 'late-1', now(),"
          + " convert_to('{\"userId\":\"late-user\"}', 'UTF8'))");
      st.execute("INSERT INTO jobs_rt.job_state (job_id, partition_id, routing_key, destination_id, state, attempts)"
          + " VALUES (" + id + ", " + p + ", 'late-user', 'sink', 0, 0)");
      return id;
    } catch (java.sql.SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void anAbortAfterTheSwitchCompletesAndMigratesBack(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      MigrationCluster.Load load = c.new Load(20, 2, 10);
      c.startNode(2);
      MigratorOptions stopInCopy = MigrationCluster.crashingBefore("copied");
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopInCopy));
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try (var dbs = new io.eventpipe.migrator.NodeDatabases(c.vertx, k -> MigrationCluster.config(c.nodeDbs.get(k)), true)) {
        Migrator.Result r = await(new Migrator(c.vertx, store, dbs, MigrationCluster.fastOptions(), p -> {}).abort(), 120);
        assertTrue(r.summary().contains("rolled back"), r.summary());
        assertEquals(2, (int) await(store.nodeCount()));
        assertEquals(0, topology(c).ownedBy(2).length, "node 2 owns nothing again");
      } finally {
        await(store.closeAsync());
      }
      c.stopNode(2);
      Thread.sleep(1000);
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(60);
    }
  }

  /**
   * Issue 15, hole 1: a migrator that published the new epoch and died before recording the switch (the switch was two
   * transactions before the fix, and a migration may be left so by an older migrator). The abort must see the epoch in
   * force and complete then migrate back, as after a recorded switch; undoing holds and fences instead would leave the
   * new epoch in force with sources and targets both serving, and the sources' backlog stranded.
   */
  @Test
  void anAbortAfterAnUnrecordedSwitchCompletesAndMigratesBack(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 16, 3, 2)) {
      c.sinkFailureRate = 0.3; // the sources keep a backlog of retried jobs for the moving partitions
      MigrationCluster.Load load = c.new Load(40, 2, 10);
      c.startNode(2);
      Thread.sleep(1000);
      MigratorOptions stopAtSwitch = MigrationCluster.crashingBefore("switched");
      assertThrows(ExecutionException.class, () -> c.migrate(3, stopAtSwitch));
      ControlStore store = await(ControlStore.open(c.vertx, c.control));
      try (var dbs = new io.eventpipe.migrator.NodeDatabases(c.vertx, k -> MigrationCluster.config(c.nodeDbs.get(k)), true)) {
        Migration m = await(store.activeMigration()).orElseThrow();
        assertEquals(Migration.Step.FENCED, m.step());
        // the switch's first transaction, as the old migrator ran it: the epoch is in force, SWITCHED never recorded
        long epoch = await(store.publish(m.newOwners(), m.toNodes(), m.id())).epoch();
        Thread.sleep(1000); // writes for the moved partitions now land on node 2, held
        assertEquals(Migration.Step.FENCED, await(store.migration(m.id())).orElseThrow().step());
        Migrator.Result r = await(new Migrator(c.vertx, store, dbs, MigrationCluster.fastOptions(), p -> {}).abort(), 120);
        assertTrue(r.summary().contains("rolled back"), "the abort sees the epoch in force: " + r.summary());
        assertEquals(Migration.Step.FINISHED, await(store.migration(m.id())).orElseThrow().step(), "completed first");
        assertTrue(await(store.current()).orElseThrow().epoch() > epoch, "then migrated back");
        assertEquals(2, (int) await(store.nodeCount()));
        assertEquals(0, topology(c).ownedBy(2).length, "node 2 owns nothing again");
      } finally {
        await(store.closeAsync());
      }
      c.stopNode(2);
      c.sinkFailureRate = 0;
      Thread.sleep(1000);
      load.close();
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
      c.assertAllDelivered(120);
    }
  }

  static Topology topology(MigrationCluster c) throws Exception {
    ControlStore store = await(ControlStore.open(c.vertx, c.control));
    try {
      return await(store.current()).orElseThrow();
    } finally {
      await(store.closeAsync());
    }
  }

  static io.vertx.core.Future<Integer> nodeCount(MigrationCluster c) {
    return ControlStore.open(c.vertx, c.control).compose(s -> s.nodeCount().eventually(s::closeAsync));
  }
}
