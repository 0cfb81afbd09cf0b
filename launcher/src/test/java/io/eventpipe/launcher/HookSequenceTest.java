package io.eventpipe.launcher;

import static io.eventpipe.launcher.MigrationCluster.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.Migration;
import io.eventpipe.migrator.AdvisoryRunLock;
import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.routing.Topology;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 16: the real {@code pipeline migrator} (its entry, {@link Migrate#migrator}, with the flags the chart's hooks
 * pass) through the sequences Helm produces: pre-upgrade/pre-rollback hooks run {@code --only shrink} before the
 * StatefulSet changes, post-upgrade/post-rollback hooks {@code --only grow} after it, each with the revision's node
 * count. Real nodes and PostgreSQL, SDK-shaped load throughout, and the sink checks that nothing acknowledged is lost
 * and every user's order is kept.
 */
class HookSequenceTest {

  /** An upgrade 2 -> 3 (the shrink hook has nothing to do, the grow hook moves), then a rollback of that finished resize. */
  @Test
  void anUpgradeTwoToThreeThenARollbackOfTheFinishedResize(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      c.sinkFailureRate = 0.1;
      MigrationCluster.Load load = c.new Load(60, 4, 10);
      Thread.sleep(800);
      long epoch = topology(c).epoch();
      // pre-upgrade: nothing to move, read only; it does not even need the lock (another migrator holds it)
      try (Connection other = holdLock(c)) {
        assertEquals(0, hook(c, "shrink", 3));
      }
      assertEquals(epoch, topology(c).epoch());
      assertTrue(migrations(c).isEmpty(), "the shrink hook recorded nothing");
      c.startNode(2); // the StatefulSet gains ordinal 2
      assertEquals(0, hook(c, "grow", 3));
      assertEquals(3, nodeCount(c));
      // helm rollback to the revision with 2 nodes: its pre-rollback shrink moves back, then the StatefulSet shrinks
      assertEquals(0, hook(c, "shrink", 2));
      assertEquals(0, topology(c).ownedBy(2).length, "node 2 owns nothing before the StatefulSet removes it");
      c.stopNode(2);
      assertEquals(0, hook(c, "grow", 2)); // post-rollback: nothing
      assertEquals(2, migrations(c).size(), "one migration up, one down: " + migrations(c));
      finish(c, load, true);
    }
  }

  /** {@code --atomic} after the grow hook failed before the switch: the pre-rollback shrink reverses it. */
  @Test
  void aGrowHookThatFailsBeforeTheSwitchIsUndoneByTheAtomicRollback(@TempDir Path dir) throws Exception {
    atomicRollbackOfAFailedGrow(dir, "switched", Migration.Step.ABORTED);
  }

  /** {@code --atomic} after the grow hook failed in the copy: the pre-rollback shrink completes it, then shrinks back. */
  @Test
  void aGrowHookThatFailsAfterTheSwitchIsCompletedAndMovedBackByTheAtomicRollback(@TempDir Path dir) throws Exception {
    atomicRollbackOfAFailedGrow(dir, "copied", Migration.Step.FINISHED);
  }

  private static void atomicRollbackOfAFailedGrow(Path dir, String crashBefore, Migration.Step failedEndsAs) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      c.sinkFailureRate = 0.2; // a backlog with delivery state on the sources
      MigrationCluster.Load load = c.new Load(60, 4, 10);
      Thread.sleep(1000);
      assertEquals(0, hook(c, "shrink", 3));
      c.startNode(2);
      assertEquals(1, hook(c, "grow", 3, crashBefore(crashBefore)), "the grow hook fails: Helm rolls back");
      Migration failed = migrations(c).get(0);
      assertTrue(failed.step().active(), failed.toString());
      // pre-rollback, with the old revision's count: before this change it was refused ("2 -> 3 is in progress")
      assertEquals(0, hook(c, "shrink", 2));
      assertEquals(failedEndsAs, migration(c, failed.id()).step());
      assertTrue(active(c).isEmpty(), "nothing left open");
      assertEquals(2, nodeCount(c));
      assertEquals(0, topology(c).ownedBy(2).length, "node 2 owns nothing before the StatefulSet removes it");
      c.stopNode(2);
      assertEquals(0, hook(c, "grow", 2)); // post-rollback
      finish(c, load, true);
    }
  }

  /**
   * An upgrade 3 -> 2 whose shrink hook fails after the switch, then {@code --atomic}: the pre-rollback shrink (to 3)
   * completes the shrink and leaves the growth to the post-rollback grow, which finds node 2 still running (the
   * StatefulSet never changed) and moves its share back. The forgotten node must have registered again.
   */
  @Test
  void aShrinkHookThatFailsAfterTheSwitchIsCompletedThenGrownBackByTheAtomicRollback(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 3)) {
      c.sinkFailureRate = 0.2;
      MigrationCluster.Load load = c.new Load(60, 4, 10);
      Thread.sleep(1000);
      assertEquals(1, hook(c, "shrink", 2, crashBefore("copied")), "the pre-upgrade hook fails: nothing is applied");
      String out = captured(() -> assertEquals(0, hook(c, "shrink", 3)));
      assertTrue(out.contains("not this run's job (--only shrink)"), out);
      assertEquals(2, nodeCount(c), "the shrink hook completed the shrink and left the growth");
      assertEquals(0, hook(c, "grow", 3, step -> {}, "--ready-timeout-seconds", "30"));
      assertEquals(3, nodeCount(c));
      assertTrue(topology(c).ownedBy(2).length > 0, "node 2 owns its share again");
      finish(c, load, true);
    }
  }

  /** A rerun of the upgrade after the grow hook failed: its shrink hook leaves the open grow alone, its grow hook resumes it. */
  @Test
  void aRerunUpgradesShrinkHookDoesNotResumeTheOpenGrow(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      MigrationCluster.Load load = c.new Load(40, 4, 10);
      c.startNode(2);
      assertEquals(1, hook(c, "grow", 3, crashBefore("copied")));
      Migration open = active(c).orElseThrow();
      String out;
      try (Connection other = holdLock(c)) { // read only: it would fail had it asked for the lock
        out = captured(() -> assertEquals(0, hook(c, "shrink", 3)));
      }
      assertTrue(out.contains("the grow run resumes it"), out);
      assertEquals(open.step(), migration(c, open.id()).step(), "the shrink hook did not resume the grow");
      assertEquals(0, hook(c, "grow", 3));
      assertEquals(Migration.Step.FINISHED, migration(c, open.id()).step());
      finish(c, load, true);
    }
  }

  /**
   * The documented rerun while a Job still runs: a second migrator refuses clearly at once (--lock-wait-seconds 0),
   * or waits for the first; here the first (a real process) is killed -9 mid-migration, as when Helm deletes the old
   * hook Job, and the waiting one takes over and finishes.
   */
  @Test
  void aRerunWhileAnotherMigratorRunsRefusesOrWaitsThenTakesOver(@TempDir Path dir) throws Exception {
    try (MigrationCluster c = new MigrationCluster(dir, 32, 3, 2)) {
      c.sinkFailureRate = 0.4;
      MigrationCluster.Load load = c.new Load(60, 4, 5);
      Thread.sleep(1500); // a backlog to copy
      Process first = migratorProcess(c, dir, "--to", "3", "--only", "grow", "--ready-timeout-seconds", "120",
          "--max-jobs-per-second", "20", "--batch-jobs", "10");
      try {
        MigrationCluster.waitFor(() -> lockHeld(c), 90, () -> "the first migrator holds the lock; its log: " + dir.resolve("migrator.log"));
        // it waits for node 2, holding the lock: a second one with no wait refuses, naming why, and touches nothing
        String out = captured(() -> assertEquals(1, hook(c, "grow", 3)));
        assertTrue(out.contains("another migrator is running against this control store"), out);
        assertTrue(migrations(c).isEmpty(), "the refused run planned nothing");
        // a rerun that waits, then the old Job is deleted (kill -9) while it migrates
        CompletableFuture<Integer> rerun = CompletableFuture.supplyAsync(() -> {
          try {
            return hook(c, "grow", 3, step -> {}, "--lock-wait-seconds", "120");
          } catch (Exception e) {
            throw new IllegalStateException(e);
          }
        });
        c.startNode(2);
        MigrationCluster.waitFor(() -> {
          try {
            return active(c).map(m -> m.step().ordinal() >= Migration.Step.SWITCHED.ordinal()).orElse(false);
          } catch (Exception e) {
            return false;
          }
        }, 90, () -> "the first migrator got past the switch");
        assertFalse(rerun.isDone(), "the rerun waits while the first one runs");
        first.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        assertEquals(0, (int) rerun.get(180, TimeUnit.SECONDS));
      } finally {
        first.destroyForcibly();
      }
      assertEquals(3, nodeCount(c));
      assertEquals(1, migrations(c).size(), "one migration, resumed by the rerun: " + migrations(c));
      assertEquals(Migration.Step.FINISHED, migrations(c).get(0).step());
      finish(c, load, true);
    }
  }

  /**
   * A first install or sync: the hooks find a control store with no schema (or no database) and, with
   * --if-initialized, end with nothing to do, creating nothing. A control store that cannot be reached is a failure,
   * never "nothing to do".
   */
  @Test
  void aFirstInstallWithNoControlStoreSchemaIsNothingToDo() throws Exception {
    PgDatabase empty = PgServer.get().createDatabase("hooks_empty");
    String url = "postgresql://" + empty.user() + ":" + empty.password() + "@" + empty.host() + ":" + empty.port() + "/";
    String nodes = url + "no_such_node_{node}";
    for (String only : List.of("shrink", "grow")) {
      String out = captured(() -> assertEquals(0, run("--to", "3", "--only", only, "--if-initialized",
          "--control-url", url + empty.database(), "--node-pg-url", nodes)));
      assertTrue(out.contains("holds no cluster yet"), out);
      assertEquals(0, run("--to", "3", "--only", only, "--if-initialized", "--control-url", url + "no_such_database",
          "--node-pg-url", nodes));
    }
    try (Connection conn = empty.connect(); Statement st = conn.createStatement();
         ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_namespace WHERE nspname = 'control'")) {
      rs.next();
      assertEquals(0, rs.getInt(1), "nothing was created");
    }
    int closedPort;
    try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
      closedPort = s.getLocalPort();
    }
    String unreachable = "postgresql://u:p@127.0.0.1:" + closedPort + "/control";
    String out = captured(() -> assertEquals(1, run("--to", "3", "--only", "shrink", "--if-initialized",
        "--control-url", unreachable, "--node-pg-url", nodes)));
    assertTrue(out.contains("cannot read the control store"), out);
    // without the flag, a control store without a cluster is an error
    assertEquals(1, run("--to", "3", "--only", "shrink", "--control-url", url + empty.database(), "--node-pg-url", nodes));
  }

  // ------------------------------------------------------------------ helpers

  /** A hook's run, as the chart calls it (MigrationCluster's fast timings), in this JVM. */
  private static int hook(MigrationCluster c, String only, int to) throws Exception {
    return hook(c, only, to, step -> {});
  }

  private static int hook(MigrationCluster c, String only, int to, MigratorOptions.StepHook crash, String... extra)
      throws Exception {
    List<String> args = new ArrayList<>(List.of("--to", String.valueOf(to), "--only", only, "--control-url", c.controlUrl(),
        "--node-pg-url", c.nodeUrlTemplate(), "--progress", "plain", "--lease-seconds", "2", "--ready-timeout-seconds", "60",
        "--batch-jobs", "500", "--if-initialized", "--allow-non-durable-database"));
    args.addAll(List.of(extra));
    return Migrate.migrator(new Flags(args.toArray(String[]::new), Main.flagsOf("migrator"), Map.of()), crash);
  }

  /** {@code pipeline migrator} with {@code args}, on the fast test server (hence the non-durable allowance). */
  private static int run(String... args) throws Exception {
    List<String> all = new ArrayList<>(List.of(args));
    all.add("--allow-non-durable-database");
    return Migrate.migrator(new Flags(all.toArray(String[]::new), Main.flagsOf("migrator"), Map.of()));
  }

  private static MigratorOptions.StepHook crashBefore(String step) {
    return MigrationCluster.crashingBefore(step).hook();
  }

  private static Process migratorProcess(MigrationCluster c, Path dir, String... flags) throws Exception {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
        "-cp", System.getProperty("java.class.path"), "io.eventpipe.launcher.Main", "migrator", "--control-url", c.controlUrl(),
        "--node-pg-url", c.nodeUrlTemplate(), "--progress", "plain", "--lease-seconds", "2", "--allow-non-durable-database"));
    cmd.addAll(List.of(flags));
    return new ProcessBuilder(cmd).redirectErrorStream(true)
        .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("migrator.log").toFile())).start();
  }

  /** Another migrator, as far as the lock goes: a session holding it. */
  private static Connection holdLock(MigrationCluster c) throws Exception {
    Connection conn = java.sql.DriverManager.getConnection(c.control.jdbcUrl(), c.control.user(), c.control.password());
    try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery("SELECT pg_try_advisory_lock(" + AdvisoryRunLock.KEY + ")")) {
      rs.next();
      assertTrue(rs.getBoolean(1));
    }
    return conn;
  }

  private static boolean lockHeld(MigrationCluster c) {
    try (Connection conn = java.sql.DriverManager.getConnection(c.control.jdbcUrl(), c.control.user(), c.control.password());
         Statement st = conn.createStatement();
         ResultSet rs = st.executeQuery("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
             + " AND classid::bigint = " + (AdvisoryRunLock.KEY >>> 32) + " AND objid::bigint = " + (AdvisoryRunLock.KEY & 0xffff_ffffL))) {
      rs.next();
      return rs.getInt(1) > 0;
    } catch (Exception e) {
      return false;
    }
  }

  /** What {@code body} printed on stdout and stderr (the migrator's messages), echoed as well. */
  private static String captured(ThrowingRunnable body) throws Exception {
    PrintStream out = System.out;
    PrintStream err = System.err;
    ByteArrayOutputStream buffer = new ByteArrayOutputStream();
    PrintStream both = new PrintStream(buffer, true, StandardCharsets.UTF_8);
    System.setOut(both);
    System.setErr(both);
    try {
      body.run();
    } finally {
      System.setOut(out);
      System.setErr(err);
    }
    String text = buffer.toString(StandardCharsets.UTF_8);
    out.print(text);
    return text;
  }

  @FunctionalInterface
  private interface ThrowingRunnable {
    void run() throws Exception;
  }

  private static void finish(MigrationCluster c, MigrationCluster.Load load, boolean noErrors) throws Exception {
    c.sinkFailureRate = 0;
    Thread.sleep(500);
    load.close();
    if (noErrors) {
      assertEquals(0, load.errors.get(), "SDK requests failed: " + load.errorSamples);
    }
    assertTrue(load.total() > 100, "the load kept going: " + load.total());
    c.assertAllDelivered(120);
  }

  private static <T> T withStore(MigrationCluster c, java.util.function.Function<ControlStore, io.vertx.core.Future<T>> f)
      throws Exception {
    ControlStore store = await(ControlStore.open(c.vertx, c.control));
    try {
      return await(f.apply(store));
    } finally {
      await(store.closeAsync());
    }
  }

  private static Topology topology(MigrationCluster c) throws Exception {
    return withStore(c, s -> s.current().map(Optional::orElseThrow));
  }

  private static int nodeCount(MigrationCluster c) throws Exception {
    return withStore(c, ControlStore::nodeCount);
  }

  private static List<Migration> migrations(MigrationCluster c) throws Exception {
    return withStore(c, s -> s.recentMigrations(10));
  }

  private static Migration migration(MigrationCluster c, String id) throws Exception {
    return withStore(c, s -> s.migration(id).map(Optional::orElseThrow));
  }

  private static Optional<Migration> active(MigrationCluster c) throws Exception {
    return withStore(c, ControlStore::activeMigration);
  }
}
