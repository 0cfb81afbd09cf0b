package io.eventpipe.jobsdb;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.Waiting;
import io.vertx.core.Future;
import io.vertx.sqlclient.SqlConnection;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Moving partitions between two node databases: the fence checked where writes commit, the export and idempotent import
 * of jobs with their delivery state, aborted jobs and the dedup window.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PartitionMoverTest {

  private JobsDbFixture src;
  private JobsDbFixture dst;

  @BeforeAll
  void start(PgDatabase db) {
    src = new JobsDbFixture(db);
    dst = new JobsDbFixture(PgServer.get().createDatabase("mover_target"));
  }

  @AfterAll
  void stop() {
    src.close();
    dst.close();
  }

  private static PartitionMover mover(JobsDbFixture fx, String queue) {
    return await(PartitionMover.open(fx.vertx, fx.pg, fx.pool, fx.options(queue)));
  }

  private static NodePartitions partitions(JobsDbFixture fx) {
    return await(NodePartitions.open(fx.vertx, fx.pg, fx.pool));
  }

  @Test
  void pendingJobsMoveWithTheirStateIdempotentlyAndBeforeTheTargetsNewWrites() {
    JobsDb source = src.open(src.options("q1"));
    JobsDb target = dst.open(dst.options("q1"));
    PartitionMover from = mover(src, "q1");
    PartitionMover to = mover(dst, "q1");
    Instant now = src.clock.instant();
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 1; i <= 30; i++) {
      jobs.add(src.job(10 + i % 3, "user" + (i % 5), "d", "m" + i, "e" + i));
    }
    await(source.store(jobs));
    // one job of partition 11 failed twice and waits 5 s for its retry
    Job failed = await(source.readPending(new ReadRequest("d", 100, 1 << 22, 1000, now))).stream()
        .filter(j -> j.partitionId() == 11).findFirst().orElseThrow();
    await(source.updateStates(List.of(new StateUpdate(failed.jobId(), JobState.FAILED, 2, now.minusSeconds(30), now.plusSeconds(5), "HTTP 502"))));

    Set<Integer> moving = Set.of(11, 12);
    await(partitions(dst).hold("mig-1", moving));
    await(partitions(src).fence("mig-1", moving));
    JobsDbException.Fenced refused = assertThrows(JobsDbException.Fenced.class,
        () -> await(source.store(List.of(src.job(11, "user1", "d", "late", "late")))));
    assertEquals(Set.of(11), refused.partitions());
    assertTrue(await(source.readPending(new ReadRequest("d", 100, 1 << 22, 1000, now))).stream()
        .noneMatch(j -> moving.contains(j.partitionId())), "fenced partitions are not read on the source");
    // the target accepts new writes for its held partitions, and does not read them
    await(target.store(List.of(dst.job(11, "user1", "d", "new1", "new-after-switch"))));
    assertTrue(await(target.readPending(new ReadRequest("d", 100, 1 << 22, 1000, now))).isEmpty(), "held partitions are not read");

    assertEquals(List.of("d"), await(from.destinations(moving)));
    long after = Long.MIN_VALUE;
    int batches = 0;
    while (true) {
      PartitionMover.Batch batch = await(from.exportPending("d", moving, after, 7, 1 << 20));
      if (batch.isEmpty()) {
        break;
      }
      int imported = await(to.importBatch(new PartitionMover.Slice("mig-1", List.copyOf(moving)), "q1/0/d/pending", batch));
      boolean retriedAfterCrash = batches == 2;
      assertEquals(retriedAfterCrash ? 0 : batch.jobs().size(), imported, "batch " + batches);
      assertEquals(0, await(to.importBatch(new PartitionMover.Slice("mig-1", List.copyOf(moving)), "q1/0/d/pending", batch)), "a repeated batch is a no-op");
      if (batches++ == 1) {
        continue; // a crash between import and mark: the next export returns the same batch, which imports as a no-op
      }
      await(from.markMigrated(batch.jobs().stream().map(Job::jobId).toList()));
      after = batch.lastJobId();
    }
    await(to.release("mig-1", moving, Duration.ZERO));
    await(partitions(dst).release("mig-1", moving));

    List<Job> moved = await(target.readPending(new ReadRequest("d", 100, 1 << 22, 1000, now.plusSeconds(10))));
    List<String> expectedOrder = jobs.stream().filter(j -> moving.contains(j.partitionId())).map(NewJob::messageId)
        .collect(Collectors.toCollection(ArrayList::new));
    expectedOrder.add("new1");
    assertEquals(expectedOrder, moved.stream().map(Job::messageId).toList(),
        "imported jobs keep their order and come before the writes held during the move");
    Job carried = moved.stream().filter(j -> j.messageId().equals(failed.messageId())).findFirst().orElseThrow();
    assertEquals(JobState.FAILED, carried.state());
    assertEquals(2, carried.attempts(), "a job that failed twice has two attempts after the move");
    assertEquals("HTTP 502", carried.lastError());
    assertTrue(await(from.exportPending("d", moving, Long.MIN_VALUE, 100, 1 << 20)).isEmpty(), "nothing pending on the source");
    assertEquals(new long[] {0, 0}[0], await(from.count(moving))[0]);
    assertEquals(10, src.drain(source, "d").size(), "the source keeps partition 10");
  }

  @Test
  void backoffMovesAsTimeRemainingAndTimeHeldIsGivenBack() {
    JobsDb target = dst.open(dst.options("q2"));
    PartitionMover to = mover(dst, "q2");
    Instant targetNow = await(to.now());
    // the source's clock reads one hour earlier than the target's; its job waits 60 s more for its retry
    Instant sourceNow = targetNow.minus(Duration.ofHours(1));
    Job job = new Job(1024, 20, "u", "src", "d", "m", sourceNow, "x".getBytes(), JobState.FAILED, 2,
        sourceNow.minusSeconds(100), sourceNow.plusSeconds(60), "HTTP 503");
    await(partitions(dst).hold("mig-2", Set.of(20)));
    assertEquals(1, (int) await(to.importBatch(new PartitionMover.Slice("mig-2", List.of(20)), "s", new PartitionMover.Batch(List.of(job), sourceNow))));
    await(to.release("mig-2", Set.of(20), Duration.ofSeconds(30)));
    await(to.release("mig-2", Set.of(20), Duration.ofSeconds(30))); // a rerun does not shift twice
    await(partitions(dst).release("mig-2", Set.of(20)));
    Job moved = await(target.readPending(new ReadRequest("d", 10, 1 << 20, 100, targetNow.plus(Duration.ofDays(1))))).get(0);
    assertEquals(2, moved.attempts());
    Duration remaining = Duration.between(targetNow, moved.nextRetryAt());
    assertTrue(remaining.compareTo(Duration.ofSeconds(89)) > 0 && remaining.compareTo(Duration.ofSeconds(91)) < 0,
        "60 s of backoff left, plus 30 s held: " + remaining);
    Duration used = Duration.between(moved.firstAttemptAt(), targetNow);
    assertTrue(used.compareTo(Duration.ofSeconds(69)) > 0 && used.compareTo(Duration.ofSeconds(71)) < 0,
        "100 s of the retry window were used, minus 30 s held: " + used);
  }

  @Test
  void abortedJobsAndTheDedupWindowMoveToo() {
    JobsDb source = src.open(src.options("q3").withDatasetSize(2048));
    JobsDb target = dst.open(dst.options("q3"));
    PartitionMover from = mover(src, "q3");
    PartitionMover to = mover(dst, "q3");
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 4500; i++) {
      jobs.add(src.job(30 + i % 2, "k" + i % 7, "d", "msg-" + i, "e" + i));
    }
    await(source.store(jobs));
    // abort every job of partition 31, then let rotation move finished datasets' aborted jobs to the dead letters
    abortAndRotate(src, source, 31, 30);
    Set<Integer> moving = Set.of(31);
    await(partitions(dst).hold("mig-3", moving));
    long after = Long.MIN_VALUE;
    int moved = 0;
    while (true) {
      PartitionMover.Batch batch = await(from.exportAborted("d", moving, after, 400, 1 << 20));
      if (batch.isEmpty()) {
        break;
      }
      moved += await(to.importBatch(new PartitionMover.Slice("mig-3", List.of(31)), "q3/0/d/aborted", batch));
      await(from.markMigrated(batch.jobs().stream().map(Job::jobId).toList()));
      after = batch.lastJobId();
    }
    assertEquals(2250, moved, "every aborted job of the partition moved, live and dead-lettered");
    assertTrue(await(source.listAborted("d", Long.MIN_VALUE, 10)).isEmpty(), "none is left on the source");
    List<Job> listed = await(target.listAborted("d", Long.MIN_VALUE, 3000));
    assertEquals(2250, listed.size());
    assertEquals("HTTP 400", listed.get(0).lastError());

    // the dedup window, page by page
    assertEquals(2251, copyDedup(from, to, Set.of(30), 0));
    StoreResult r = await(target.store(List.of(dst.job(30, "k", "d", "msg-0", "retry"), dst.job(30, "k", "d", "fresh", "new"),
        dst.sourced(30, "another-source", "k", "d", "msg-2", "same messageId, other source"))));
    assertEquals(StoreResult.DUPLICATE, r.jobIds()[0], "a messageId acknowledged before the move is deduplicated after it");
    assertFalse(r.jobIds()[1] == StoreResult.DUPLICATE);
    assertFalse(r.jobIds()[2] == StoreResult.DUPLICATE, "the copied entries keep their source: they dedup only its events");
  }

  /**
   * Issue 15, hole 4: a new target that never wrote in an hour receives that hour's entries from the migrator; once the
   * hour turns they are in the previous bucket, which the target's own process never created. It must still check them.
   */
  @Test
  void importedEntriesInABucketTheTargetNeverCreatedAreCheckedAfterTheHourTurns() {
    // both clocks one minute before an hour boundary later than anything the other tests reached
    Instant latest = src.clock.instant().isAfter(dst.clock.instant()) ? src.clock.instant() : dst.clock.instant();
    Instant minuteBefore = Instant.ofEpochSecond((latest.getEpochSecond() / 3600 + 2) * 3600 - 60);
    src.clock.advance(Duration.between(src.clock.instant(), minuteBefore));
    dst.clock.advance(Duration.between(dst.clock.instant(), minuteBefore));
    JobsDb target = dst.open(dst.options("h4"));
    JobsDb source = src.open(src.options("h4"));
    List<NewJob> acknowledged = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      acknowledged.add(src.job(60 + i % 2, "user" + i % 11, "", "m-" + i, "first"));
    }
    await(source.store(acknowledged));
    // the migrator copies the window (the target stores nothing in this hour: a node added by the scale-up)
    PartitionMover from = mover(src, "h4");
    PartitionMover to = mover(dst, "h4");
    assertEquals(3000, copyDedup(from, to, Set.of(60, 61), 0), "the window moved");

    // the hour turns; the SDKs retry every acknowledged event, beside new ones
    src.clock.advance(Duration.ofMinutes(2));
    dst.clock.advance(Duration.ofMinutes(2));
    List<NewJob> retries = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      retries.add(dst.job(60 + i % 2, "user" + i % 11, "", "m-" + i, "retry"));
      retries.add(dst.job(60 + i % 2, "user" + i % 11, "", "n-" + i, "new"));
    }
    StoreResult r = await(target.store(retries));
    assertEquals(3000, r.stored(), "every retry is a duplicate, every new event is stored");
    List<String> bodies = dst.drain(target, "").stream().map(j -> new String(j.payload(), java.nio.charset.StandardCharsets.UTF_8))
        .distinct().toList();
    assertEquals(List.of("new"), bodies);
  }

  /**
   * Issue 15, hole 9: a store whose commit stalls (here on a lock the test holds) across the migrator's first copy of the
   * dedup window, however long, and commits only when the fence waits for it. Its messageIds must reach the target:
   * the copy after the fence is keyed by the source database's commits (the mark), not by a clock and a margin.
   */
  @Test
  void aCommitStalledAcrossTheFirstDedupCopyStillReachesTheTarget() {
    JobsDb source = src.open(src.options("h9"));
    JobsDb target = dst.open(dst.options("h9"));
    PartitionMover from = mover(src, "h9");
    PartitionMover to = mover(dst, "h9");
    Set<Integer> moving = Set.of(70, 71);
    List<NewJob> before = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      before.add(src.job(70 + i % 3, "user" + i % 13, "", "m-" + i, "before"));
    }
    await(source.store(before));

    // step prepare: the mark, then the first copy, while a commit stalls on a lock the test holds
    long mark = await(from.markDedup("mig-9"));
    assertEquals(mark, await(from.markDedup("mig-9")), "a rerun keeps the first mark");
    SqlConnection blocker = await(src.pool.getConnection());
    await(blocker.query("BEGIN").execute());
    await(blocker.query("LOCK TABLE jobs_h9.jobs IN SHARE MODE").execute());
    List<NewJob> late = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      late.add(src.job(70 + i % 3, "user" + i % 13, "", "s-" + i, "stalled"));
    }
    Future<StoreResult> stalled = source.store(late);
    Waiting.eventually("the store's commit waits for the test's lock", () -> await(src.pool.query(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'").execute())
        .iterator().next().getLong(0) > 0);
    int first = copyDedup(from, to, moving, 0);
    // the stalled writer's clock reading is now as old as you like: what it wrote is found by its mark
    src.clock.advance(Duration.ofMinutes(10));

    // step fence: it waits for the stalled commit, which the test lets go
    Future<Void> fenced = partitions(src).fence("mig-9", moving);
    await(blocker.query("COMMIT").execute());
    await(blocker.close());
    assertEquals(600, await(stalled).stored());
    await(fenced);
    int delta = copyDedup(from, to, moving, await(from.dedupMark("mig-9")));
    assertEquals(1334, first, "the first copy saw what was committed: the moving partitions' 1,334 earlier entries");
    assertEquals(400, delta, "the copy after the fence takes exactly what was written after the mark: the stalled 400");

    List<NewJob> retries = new ArrayList<>();
    for (int i = 0; i < 2000; i++) {
      retries.add(dst.job(70 + i % 3, "user" + i % 13, "", "m-" + i, "retry"));
    }
    for (int i = 0; i < 600; i++) {
      retries.add(dst.job(70 + i % 3, "user" + i % 13, "", "s-" + i, "retry"));
      retries.add(dst.job(70 + i % 3, "user" + i % 13, "", "t-" + i, "new"));
    }
    // partition 72 did not move: its messageIds are new on the target
    assertEquals(600 + 666 + 200, await(target.store(retries)).stored(), "only new events and the unmoved partition's are stored");
  }

  /** One copy of the dedup window as the migrator runs it: every page from {@code fromMark} on; returns the entries. */
  private static int copyDedup(PartitionMover from, PartitionMover to, Set<Integer> parts, long fromMark) {
    JobsDb.DedupEntry cursor = null;
    List<JobsDb.DedupEntry> page;
    int copied = 0;
    do {
      page = await(from.exportDedup(parts, fromMark, cursor, 500));
      await(to.importDedup(page));
      copied += page.size();
      cursor = page.isEmpty() ? null : page.get(page.size() - 1);
    } while (page.size() == 500);
    return copied;
  }

  @Test
  void aFenceWaitsForWritesThatCheckedBeforeItAndOnlyTheFencedCallerFails() throws Exception {
    JobsDb db = src.open(src.options("q4"));
    NodePartitions parts = partitions(src);
    // a write transaction that checked partition 40 and has not committed yet
    var conn = await(src.pool.getConnection());
    var tx = await(conn.begin());
    assertTrue(await(NodePartitions.refused(conn, Set.of(40))).isEmpty());
    Future<Void> fence = parts.fence("mig-4", Set.of(40));
    Thread.sleep(300);
    assertFalse(fence.isComplete(), "the fence waits for the write that checked before it");
    await(tx.commit());
    await(fence);
    await(conn.close());
    // group commit: the caller with a fenced partition fails alone, its neighbours in the transaction are stored
    List<Future<StoreResult>> callers = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      int partition = i == 17 ? 40 : 41;
      callers.add(db.store(List.of(src.job(partition, "u" + i, "", "c" + i, "x"))));
    }
    for (int i = 0; i < 40; i++) {
      if (i == 17) {
        int caller = i;
        assertThrows(JobsDbException.Fenced.class, () -> await(callers.get(caller)));
      } else {
        assertEquals(1, await(callers.get(i)).stored(), "caller " + i);
      }
    }
    await(parts.unfence("mig-4", Set.of(40)));
    assertEquals(1, await(db.store(List.of(src.job(40, "u", "", "after-abort", "x")))).stored());
  }

  @Test
  void aReplayIntoAFencedPartitionIsRefusedAndReplaysNothing() {
    JobsDb db = src.open(src.options("q5"));
    await(db.store(List.of(src.job(50, "u", "d", "r1", "x"), src.job(51, "v", "d", "r2", "y"))));
    List<StateUpdate> aborts = new ArrayList<>();
    for (Job j : await(db.readPending(new ReadRequest("d", 10, 1 << 20, 100, src.clock.instant())))) {
      aborts.add(new StateUpdate(j.jobId(), JobState.ABORTED, 1, src.clock.instant(), null, "HTTP 400"));
    }
    await(db.updateStates(aborts));
    await(partitions(src).fence("mig-5", Set.of(50)));
    JobsDbException.Fenced refused = assertThrows(JobsDbException.Fenced.class, () -> await(db.replayAborted("d", ReplayFilter.all())));
    assertEquals(Set.of(50), refused.partitions());
    assertEquals(2, await(db.listAborted("d", Long.MIN_VALUE, 10)).size(), "nothing was replayed");
    await(partitions(src).unfence("mig-5", Set.of(50)));
    assertEquals(2, (int) await(db.replayAborted("d", ReplayFilter.all())));
  }

  /**
   * Aborts every pending job of destination {@code d} in {@code abortPartition} and succeeds the others, stores a job in
   * {@code tailPartition} (a newer dataset is written) and runs maintenance: finished datasets are dropped, their
   * aborted jobs moving to the dead letters.
   */
  private static void abortAndRotate(JobsDbFixture fx, JobsDb db, int abortPartition, int tailPartition) {
    List<StateUpdate> outcomes = new ArrayList<>();
    for (Job j : await(db.readPending(new ReadRequest("d", 5000, 1 << 26, 5000, fx.clock.instant())))) {
      boolean abort = j.partitionId() == abortPartition;
      outcomes.add(new StateUpdate(j.jobId(), abort ? JobState.ABORTED : JobState.SUCCEEDED, 1, fx.clock.instant(), null,
          abort ? "HTTP 400" : null));
    }
    await(db.updateStates(outcomes));
    await(db.store(List.of(fx.job(tailPartition, "tail", "d", "tail-" + abortPartition, "keeps a dataset live"))));
    await(db.runMaintenance());
  }

  /** An exported batch of the source's pending jobs of {@code parts}, as the migrator reads it. */
  private static PartitionMover.Batch exported(PartitionMover from, String dest, Set<Integer> parts) {
    return await(from.exportPending(dest, parts, Long.MIN_VALUE, 1000, 1 << 24));
  }

  @Test
  void aSlicesMarkDescribesItsPartitionsSoARerunThatSlicesDifferentlyResumesEachFromItsOwn() {
    JobsDb source = src.open(src.options("q6"));
    PartitionMover from = mover(src, "q6");
    PartitionMover to = mover(dst, "q6");
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      jobs.add(src.job(60 + i % 4, "k" + i % 8, "d", "m6-" + i, "e" + i));
    }
    await(source.store(jobs));
    await(partitions(dst).hold("mig-6", Set.of(60, 61, 62, 63)));
    // a first run sliced {60, 62} and {61, 63} and imported the first slice
    PartitionMover.Slice first = new PartitionMover.Slice("mig-6", List.of(62, 60));
    PartitionMover.Batch batch = exported(from, "d", Set.of(60, 62));
    assertEquals(20, (int) await(to.importBatch(first, "q6/0/d/pending", batch)));
    assertEquals(List.of(List.of(60, 62)), await(to.importedSlices("mig-6")), "the slice is recorded with its partitions");
    assertEquals(batch.lastJobId(), (long) await(to.progress(first, "q6/0/d/pending")));
    // a rerun slicing {60, 61}: its mark is its own, never the one of the slice at the same position
    PartitionMover.Slice other = new PartitionMover.Slice("mig-6", List.of(60, 61));
    assertEquals(Long.MIN_VALUE, (long) await(to.progress(other, "q6/0/d/pending")));
    assertEquals(first.range(), new PartitionMover.Slice("mig-6", List.of(60, 62)).range(), "named by content");
    assertFalse(first.range().equals(other.range()));
    JobsDbException.ImportConflict outside = assertThrows(JobsDbException.ImportConflict.class,
        () -> await(to.importBatch(first, "q6/0/d/pending", exported(from, "d", Set.of(61)))));
    assertTrue(outside.getMessage().contains("[61]"), outside.getMessage());
    // the finish on the source retires what the marks cover, and keeps (counts) a job written after the copy
    await(source.store(List.of(src.job(60, "k0", "d", "m6-late", "late"))));
    assertEquals(1L, (long) await(from.retireCopied("d", List.of(60, 62), batch.lastJobId(), Long.MIN_VALUE)));
    assertEquals(20L, src.count("SELECT count(*) FROM jobs_q6.job_state WHERE state = 5"), "the copied jobs are retired");
    assertEquals(List.of("m6-late"), await(from.exportPending("d", Set.of(60, 62), Long.MIN_VALUE, 100, 1 << 20)).jobs()
        .stream().map(Job::messageId).toList(), "the late one is kept pending");
  }

  @Test
  void anImportCommitsOnlyWhileTheTargetHoldsThePartitionForThatMigration() {
    JobsDb source = src.open(src.options("q7"));
    JobsDb target = dst.open(dst.options("q7"));
    PartitionMover from = mover(src, "q7");
    PartitionMover to = mover(dst, "q7");
    await(source.store(List.of(src.job(170, "k", "d", "m7-1", "a"), src.job(171, "j", "d", "m7-2", "b"))));
    PartitionMover.Batch both = exported(from, "d", Set.of(170, 171));
    PartitionMover.Batch innocent = exported(from, "d", Set.of(171));
    await(partitions(dst).hold("mig-7", Set.of(170, 171)));
    // another migrator process (a stale one, or a second run of another migration) cannot import here
    JobsDbException.ImportConflict stale = assertThrows(JobsDbException.ImportConflict.class,
        () -> await(to.importBatch(new PartitionMover.Slice("mig-other", List.of(170, 171)), "q7/0/d/pending", both)));
    assertTrue(stale.getMessage().contains("not held for this migration"), stale.getMessage());
    // once a partition is released (or unheld by an abort) nothing more is imported into it, not even a part
    await(partitions(dst).release("mig-7", Set.of(170)));
    assertThrows(JobsDbException.ImportConflict.class,
        () -> await(to.importBatch(new PartitionMover.Slice("mig-7", List.of(170, 171)), "q7/0/d/pending", both)));
    assertEquals(0, await(to.count(Set.of(170, 171)))[0], "a refused import wrote nothing");
    // the partition still held imports as before
    assertEquals(1, (int) await(to.importBatch(new PartitionMover.Slice("mig-7", List.of(171)), "q7/0/d/pending", innocent)));
    await(partitions(dst).release("mig-7", Set.of(171)));
    assertEquals(List.of("m7-2"), dst.drain(target, "d").stream().map(Job::messageId).toList());
  }

  @Test
  void aDeadLetterReplayedAfterAMoveGoesBeforeTheKeysCopiedPendingJobs() {
    JobsDb target = dst.open(dst.options("q8").withDatasetSize(2048));
    JobsDb source = src.open(src.options("q8"));
    PartitionMover from = mover(src, "q8");
    PartitionMover to = mover(dst, "q8");
    // on the target, key k8 was aborted long ago; the dataset that held it is gone, its job is a dead letter
    List<NewJob> filler = new ArrayList<>();
    filler.add(dst.job(80, "k8", "d", "m8-dead", "old"));
    for (int i = 0; i < 2100; i++) {
      filler.add(dst.job(81, "f" + i % 50, "d", "m8-f" + i, "x"));
    }
    await(target.store(filler));
    abortAndRotate(dst, target, 80, 81);
    assertEquals(1L, dst.count("SELECT count(*) FROM jobs_q8.dead_letter WHERE message_id = 'm8-dead'"), "dead-lettered");
    // a migration brings k8's newer events (they are pending)
    await(source.store(List.of(src.job(80, "k8", "d", "m8-1", "a"), src.job(80, "k8", "d", "m8-2", "b"))));
    await(partitions(dst).hold("mig-8", Set.of(80)));
    assertEquals(2, (int) await(to.importBatch(new PartitionMover.Slice("mig-8", List.of(80)), "q8/0/d/pending",
        exported(from, "d", Set.of(80)))));
    await(to.release("mig-8", Set.of(80), Duration.ZERO));
    await(partitions(dst).release("mig-8", Set.of(80)));
    // the operator replays the dead letter: it goes before the key's pending events, as the admin API promises
    assertEquals(1, (int) await(target.replayAborted("d", ReplayFilter.all())));
    List<String> order = dst.drain(target, "d").stream().filter(j -> j.routingKey().equals("k8")).map(Job::messageId).toList();
    assertEquals(List.of("m8-dead", "m8-1", "m8-2"), order);
  }

  @Test
  void anOutcomeWrittenAfterTheFenceWasConfirmedDoesNotLand() throws Exception {
    JobsDb db = src.open(src.options("q9"));
    NodePartitions parts = partitions(src);
    await(db.store(List.of(src.job(90, "late", "d", "m9-1", "a"), src.job(90, "late", "d", "m9-2", "b"),
        src.job(91, "innocent", "d", "m9-3", "c"))));
    List<Job> read = await(db.readPending(new ReadRequest("d", 10, 1 << 20, 100, src.clock.instant())));
    Job first = read.stream().filter(j -> j.messageId().equals("m9-1")).findFirst().orElseThrow();
    Job second = read.stream().filter(j -> j.messageId().equals("m9-2")).findFirst().orElseThrow();
    Job innocent = read.stream().filter(j -> j.messageId().equals("m9-3")).findFirst().orElseThrow();
    await(parts.fence("mig-9", Set.of(90)));
    // between the fence and the confirmation the node writes the outcomes of what it had in flight
    await(db.updateStates(List.of(StateUpdate.of(first, JobState.SUCCEEDED))));
    // a delivery-state write that checked before the confirmation: the confirmation waits for it
    var conn = await(src.pool.getConnection());
    var tx = await(conn.begin());
    await(db.updateStates(conn, List.of(StateUpdate.of(innocent, JobState.SUCCEEDED))));
    Future<Void> confirm = parts.confirm(Set.of(90));
    Thread.sleep(300);
    assertFalse(confirm.isComplete(), "the confirmation waits for the outcome write in progress");
    await(tx.commit());
    await(conn.close());
    await(confirm);
    // a process that lost its lock but kept delivering writes its outcome late: it does not land
    await(db.updateStates(List.of(StateUpdate.of(second, JobState.SUCCEEDED), StateUpdate.of(innocent, JobState.SUCCEEDED))));
    assertEquals(1L, src.count("SELECT count(*) FROM jobs_q9.job_state WHERE state = 3 AND partition_id = 90"),
        "only the outcome written before the confirmation");
    assertEquals(1L, src.count("SELECT count(*) FROM jobs_q9.job_state WHERE state < 3 AND partition_id = 90"),
        "the late one's job stays pending for the copy (delivered again by the new owner: at-least-once)");
    assertEquals(1L, src.count("SELECT count(*) FROM jobs_q9.job_state WHERE state = 3 AND partition_id = 91"),
        "other partitions' outcomes land");
    await(parts.unfence("mig-9", Set.of(90)));
  }

  @Test
  void anAbortedHoldOfAPartitionThatHadMovedAwayRestoresItsTombstone() {
    JobsDb db = src.open(src.options("q10"));
    NodePartitions parts = partitions(src);
    // partition 100 moved away from this node; partition 101 never did
    await(parts.fence("mig-10a", Set.of(100)));
    await(parts.markGone("mig-10a", Set.of(100)));
    // a later migration brings both here, then is aborted before its switch
    await(parts.hold("mig-10b", Set.of(100, 101)));
    await(parts.hold("mig-10b", Set.of(100, 101))); // idempotent: the tombstone is still remembered
    await(parts.unhold("mig-10b", Set.of(100, 101)));
    NodePartitions.Entry e = await(parts.entries()).get(100);
    assertEquals(NodePartitions.State.GONE, e.state(), "the tombstone is back");
    assertEquals("mig-10a", e.migrationId());
    assertFalse(await(parts.entries()).containsKey(101), "a partition that was never here has no record");
    // a process with an old topology still cannot store the partition that moved away
    JobsDbException.Fenced refused = assertThrows(JobsDbException.Fenced.class,
        () -> await(db.store(List.of(src.job(100, "stale", "", "m10-1", "x")))));
    assertEquals(Set.of(100), refused.partitions());
    assertEquals(1, await(db.store(List.of(src.job(101, "fine", "", "m10-2", "y")))).stored());
  }

  /**
   * Hole 7 of issue 15, the rest of it: a partition that moved away and is now held here again for a migration back
   * accepts writes only from writers at that migration's new epoch or later. Before its switch the partition is another
   * node's; a writer with an older topology (this node cut off from the control store at the epoch when it owned the
   * partition, and a proxy as old) would store its events beside the owner's newer ones.
   */
  @Test
  void aPartitionHeldForAMigrationBackRefusesWritersOlderThanItsSwitch() {
    JobsDb db = src.open(src.options("q11"));
    NodePartitions parts = partitions(src);
    await(parts.fence("mig-11a", Set.of(110))); // epoch 1 -> 2: 110 moved away
    await(parts.markGone("mig-11a", Set.of(110)));
    await(parts.hold("mig-11b", Set.of(110, 111), 3L)); // the migration back publishes epoch 3
    JobsDbException.Fenced refused = assertThrows(JobsDbException.Fenced.class,
        () -> await(db.store(List.of(src.job(110, "stale", "", "m11-1", "x")), 1)));
    assertEquals(Set.of(110), refused.partitions());
    assertThrows(JobsDbException.Fenced.class, () -> await(db.store(List.of(src.job(111, "early", "", "m11-2", "x")), 2)));
    // one caller's refusal is its own: a writer at the new epoch committing beside it stores its events
    Future<StoreResult> stale = db.store(List.of(src.job(110, "stale", "", "m11-3", "x")), 2);
    Future<StoreResult> current = db.store(List.of(src.job(110, "after-switch", "", "m11-4", "y"), src.job(111, "after-switch",
        "", "m11-5", "y")), 3);
    assertThrows(JobsDbException.Fenced.class, () -> await(stale));
    assertEquals(2, await(current).stored());
    assertEquals(1, await(db.store(List.of(src.job(112, "standalone", "", "m11-6", "z")))).stored(), "no floor on a partition not held");
    await(parts.release("mig-11b", Set.of(110, 111)));
    assertEquals(1, await(db.store(List.of(src.job(110, "released", "", "m11-7", "z")), 1)).stored(),
        "a released partition limits no writer here (the node's topology check is the owner's)");
  }
}
