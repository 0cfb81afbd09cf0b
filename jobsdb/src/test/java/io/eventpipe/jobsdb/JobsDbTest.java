package io.eventpipe.jobsdb;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Future;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JobsDbTest {

  private JobsDbFixture fx;
  private PgDatabase database;

  @BeforeAll
  void start(PgDatabase db) {
    database = db;
    fx = new JobsDbFixture(db);
  }

  @AfterAll
  void stop() {
    fx.close();
  }

  @Test
  void storesAndReadsInOrderPerKeyUnderManyConcurrentWriters() {
    JobsDb db = fx.open(fx.options("order").withMaxBatchJobs(300));
    int writers = 32;
    int perWriter = 60;
    // each writer owns keys; it sends its requests one after another, as an SDK does, several events each
    List<Future<Void>> all = new ArrayList<>();
    Map<String, Long> expected = new HashMap<>();
    for (int w = 0; w < writers; w++) {
      int writer = w;
      Future<Void> chain = Future.succeededFuture();
      AtomicInteger seq = new AtomicInteger();
      for (int r = 0; r < perWriter / 3; r++) {
        chain = chain.compose(v -> {
          List<NewJob> req = new ArrayList<>();
          for (int e = 0; e < 3; e++) {
            int n = seq.incrementAndGet();
            String key = "user-" + writer + "-" + (n % 2);
            req.add(fx.job(writer % 16, key, "", "m-" + writer + "-" + n, key + ":" + n));
          }
          return db.store(req).mapEmpty();
        });
      }
      all.add(chain);
      expected.put("user-" + writer + "-0", (long) perWriter / 2);
      expected.put("user-" + writer + "-1", (long) perWriter / 2);
    }
    await(Future.all(all));

    // per-key sequence numbers count up within the key; map each key's n to 1..k
    SequenceChecker checker = new SequenceChecker();
    Map<String, Integer> positions = new HashMap<>();
    for (Job j : fx.drain(db, "")) {
      String[] parts = new String(j.payload(), StandardCharsets.UTF_8).split(":");
      int n = Integer.parseInt(parts[1]);
      // writer's n alternates keys, so key k sees n = 2, 4, 6 ... or 1, 3, 5 ...
      long seq = (n + 1) / 2;
      checker.observe(parts[0], seq);
      positions.merge(parts[0], 1, Integer::sum);
    }
    checker.assertComplete(expected);
    assertEquals(0, checker.duplicates(), "each stored job is read exactly once");
  }

  @Test
  void aKeyWaitingForARetryIsSkippedWholeWhileOthersFlow() {
    JobsDb db = fx.open(fx.options("blocked"));
    List<NewJob> jobs = List.of(
        fx.job(1, "alice", "hook", "a1", "a1"),
        fx.job(2, "bob", "hook", "b1", "b1"),
        fx.job(1, "alice", "hook", "a2", "a2"),
        fx.job(2, "bob", "hook", "b2", "b2"),
        fx.job(3, "carol", "other", "c1", "c1"));
    await(db.store(jobs));
    Instant now = fx.clock.instant();
    List<Job> first = await(db.readPending(new ReadRequest("hook", 10, 1 << 20, 100, now)));
    assertEquals(List.of("a1", "b1", "a2", "b2"), ids(first), "a destination reads only its own jobs, in order");

    // alice's first job fails and waits a minute; bob's waits half a minute
    Job a1 = first.get(0);
    Job b1 = first.get(1);
    await(db.updateStates(List.of(
        new StateUpdate(a1.jobId(), JobState.FAILED, 1, now, now.plusSeconds(60), "HTTP 503"),
        new StateUpdate(b1.jobId(), JobState.FAILED, 1, now, now.plusSeconds(30), "timeout"))));
    assertEquals(List.of(), ids(await(db.readPending(new ReadRequest("hook", 10, 1 << 20, 100, now)))),
        "alice and bob wait for their retries: both keys are blocked whole");

    await(db.updateStates(List.of(new StateUpdate(b1.jobId(), JobState.SUCCEEDED, 1, now, null, null))));
    assertEquals(List.of("b2"), ids(await(db.readPending(new ReadRequest("hook", 10, 1 << 20, 100, now)))));

    List<Job> later = await(db.readPending(new ReadRequest("hook", 10, 1 << 20, 100, now.plusSeconds(61))));
    assertEquals(List.of("a1", "a2", "b2"), ids(later), "once due, alice's failed job comes first again");
    assertEquals(1, later.get(0).attempts());
    assertEquals("HTTP 503", later.get(0).lastError());
  }

  @Test
  void readsAreBoundedByCountAndBytes() {
    JobsDb db = fx.open(fx.options("bounds"));
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      jobs.add(fx.job(0, "k" + i, "", "m" + i, "x".repeat(1000)));
    }
    await(db.store(jobs));
    assertEquals(5, await(db.readPending(new ReadRequest("", 5, 1 << 20, 100, fx.clock.instant()))).size());
    assertEquals(3, await(db.readPending(new ReadRequest("", 10, 2500, 100, fx.clock.instant()))).size(),
        "jobs start while the running total is under the byte budget");
    assertEquals(1, await(db.readPending(new ReadRequest("", 10, 1, 100, fx.clock.instant()))).size(),
        "the first job is returned whatever its size");
  }

  @Test
  void oldestPendingNamesTheHeadOfEachDestinationsBacklog() {
    JobsDb db = fx.open(fx.options("oldest"));
    assertEquals(Map.of(), await(db.oldestPending()));
    Instant t0 = fx.clock.instant();
    await(db.store(List.of(fx.job(0, "k", "a", "a1", "1"), fx.job(0, "k", "b", "b1", "1"))));
    fx.clock.advance(Duration.ofSeconds(10));
    await(db.store(List.of(fx.job(0, "k", "a", "a2", "2"), fx.job(0, "k", "c", "c1", "1"))));
    assertEquals(Map.of("a", t0, "b", t0, "c", t0.plusSeconds(10)), await(db.oldestPending()));

    // finishing a's head moves its age to the next pending job; b's finished destination disappears
    List<Job> a = await(db.readPending(new ReadRequest("a", 1, 1 << 20, 10, fx.clock.instant())));
    List<Job> b = await(db.readPending(new ReadRequest("b", 1, 1 << 20, 10, fx.clock.instant())));
    await(db.updateStates(List.of(StateUpdate.of(a.get(0), JobState.SUCCEEDED), StateUpdate.of(b.get(0), JobState.ABORTED))));
    assertEquals(Map.of("a", t0.plusSeconds(10), "c", t0.plusSeconds(10)), await(db.oldestPending()));
  }

  @Test
  void duplicatesByMessageIdAreAcknowledgedButStoredOnceAcrossRestartsAndWithinTheWindow() {
    JobsDbOptions options = fx.options("dedup").withDedupWindow(Duration.ofMinutes(10));
    JobsDb db = fx.open(options);
    StoreResult first = await(db.store(List.of(
        fx.job(7, "u", "", "same", "one"), fx.job(7, "u", "", "same", "again-in-batch"), fx.job(8, "u", "", "same", "other-partition"))));
    assertEquals(2, first.stored());
    assertEquals(StoreResult.DUPLICATE, first.jobIds()[1]);

    await(db.shutdown());
    JobsDb reopened = fx.open(options);
    fx.clock.advance(Duration.ofMinutes(9));
    StoreResult retry = await(reopened.store(List.of(fx.job(7, "u", "", "same", "retry"), fx.job(7, "u", "", "new", "new"))));
    assertArrayEquals(new boolean[] {true, false}, new boolean[] {retry.jobIds()[0] == StoreResult.DUPLICATE, retry.jobIds()[1] == StoreResult.DUPLICATE});

    fx.clock.advance(Duration.ofMinutes(12));
    await(reopened.runMaintenance());
    assertEquals(1, await(reopened.store(List.of(fx.job(7, "u", "", "same", "after-window")))).stored(),
        "past the window a messageId is new again");
    List<String> bodies = fx.drain(reopened, "").stream().map(j -> new String(j.payload(), StandardCharsets.UTF_8)).toList();
    assertEquals(List.of("one", "other-partition", "new", "after-window"), bodies);
  }

  /**
   * Issue 14: messageIds are client-chosen, so a source that knows (or guesses) another's could have its events
   * dropped as duplicates. Dedup is keyed by source: B's event with A's messageId and user is stored, and each
   * source's own retry is still a duplicate, beside innocent traffic, in batches past the group-commit limit.
   */
  @Test
  void aSourceCannotSuppressAnotherSourcesEventsWithTheSameMessageId() {
    JobsDb db = fx.open(fx.options("bysource").withMaxBatchJobs(500));
    List<NewJob> first = new ArrayList<>();
    for (int i = 0; i < 1500; i++) {
      first.add(fx.sourced(i % 4, "source-a", "user" + i, "", "m-" + i, "a-" + i));
      first.add(fx.sourced(i % 4, "source-c", "other" + i, "", "c-" + i, "c-" + i));
    }
    assertEquals(3000, await(db.store(first)).stored());
    // B replays A's messageIds for A's users (and, in the same batch, sends them twice itself)
    List<NewJob> hostile = new ArrayList<>();
    for (int i = 0; i < 1500; i++) {
      hostile.add(fx.sourced(i % 4, "source-b", "user" + i, "", "m-" + i, "b-" + i));
      hostile.add(fx.sourced(i % 4, "source-b", "user" + i, "", "m-" + i, "b-again-" + i));
    }
    StoreResult b = await(db.store(hostile));
    assertEquals(1500, b.stored(), "B's events are stored once each, whatever A sent");
    fx.clock.advance(Duration.ofMinutes(30));
    List<NewJob> retries = new ArrayList<>();
    for (int i = 0; i < 1500; i++) {
      retries.add(fx.sourced(i % 4, "source-a", "user" + i, "", "m-" + i, "a-retry-" + i));
      retries.add(fx.sourced(i % 4, "source-b", "user" + i, "", "m-" + i, "b-retry-" + i));
      retries.add(fx.sourced(i % 4, "source-c", "other" + i, "", "c-" + i, "c-retry-" + i));
    }
    assertEquals(0, await(db.store(retries)).stored(), "every source's retry is a duplicate");
    Map<String, Long> bySource = fx.drain(db, "").stream()
        .collect(Collectors.groupingBy(j -> new String(j.payload(), StandardCharsets.UTF_8).replaceAll("-[0-9]+$", ""),
            Collectors.counting()));
    assertEquals(Map.of("a", 1500L, "b", 1500L, "c", 1500L), bySource);
  }

  /**
   * Issue 14, the upgrade: entries written before dedup was keyed by source have none. Each still dedups its
   * messageId (from any source, since which one sent it is unknown) for the rest of its window, so an SDK retry that
   * spans the upgrade is not stored twice; the bucket that was live at the upgrade then takes both sources' entries.
   */
  @Test
  void entriesFromBeforeTheUpgradeStillDedupARetryThatSpansIt() {
    JobsDbOptions options = fx.options("upgrade");
    String schema = options.schema();
    org.flywaydb.core.Flyway.configure().dataSource(fx.pg.jdbcUrl(), fx.pg.user(), fx.pg.password())
        .schemas(schema).defaultSchema(schema).locations("classpath:db/jobsdb").target("3").load().migrate();
    // what the version before wrote, half an hour into an hour: a bucket keyed by (partition, messageId), 2,500 entries
    long hour = Duration.ofHours(1).toMillis();
    fx.clock.advance(Duration.ofMillis(hour - Math.floorMod(fx.clock.instant().toEpochMilli(), hour)).plusMinutes(30));
    long bucket = Math.floorDiv(fx.clock.instant().toEpochMilli(), hour);
    String name = schema + ".dedup_b" + bucket;
    await(fx.pool.query("CREATE TABLE " + name + " PARTITION OF " + schema + ".dedup FOR VALUES FROM ('"
        + Instant.ofEpochMilli(bucket * hour) + "') TO ('" + Instant.ofEpochMilli((bucket + 1) * hour) + "')").execute());
    await(fx.pool.query("CREATE UNIQUE INDEX dedup_b" + bucket + "_key ON " + name + " (partition_id, message_id)").execute());
    await(fx.pool.query("INSERT INTO " + name + " (partition_id, message_id, seen_at) SELECT g % 4, 'old-' || g, '"
        + fx.clock.instant() + "' FROM generate_series(0, 2499) g").execute());

    JobsDb db = fx.open(options);
    // a node of the version before, still running on this database after a newer process migrated it, writes as it
    // did: its own retries stay duplicates
    assertEquals(0, await(fx.pool.query("INSERT INTO " + name + " (partition_id, message_id, seen_at) SELECT g % 4, 'old-' || g, '"
        + fx.clock.instant() + "' FROM generate_series(0, 2499) g ON CONFLICT DO NOTHING").execute()).rowCount());
    List<NewJob> afterUpgrade = new ArrayList<>();
    for (int i = 0; i < 2500; i++) {
      afterUpgrade.add(fx.sourced(i % 4, "source-a", "user" + i, "", "old-" + i, "a-retry"));
      afterUpgrade.add(fx.sourced(i % 4, "source-a", "user" + i, "", "new-" + i, "a-new"));
      afterUpgrade.add(fx.sourced(i % 4, "source-b", "user" + i, "", "new-" + i, "b-new"));
    }
    StoreResult r = await(db.store(afterUpgrade));
    assertEquals(5000, r.stored(), "the retries of old entries are duplicates; A's and B's new messageIds are both stored");
    // the hour turns: the old bucket is the previous one, still within the window
    fx.clock.advance(Duration.ofMinutes(50));
    List<NewJob> later = new ArrayList<>();
    for (int i = 0; i < 2500; i++) {
      later.add(fx.sourced(i % 4, "source-a", "user" + i, "", "old-" + i, "a-retry-again"));
      later.add(fx.sourced(i % 4, "source-b", "user" + i, "", "new-" + i, "b-retry"));
      later.add(fx.sourced(i % 4, "source-b", "user" + i, "", "later-" + i, "b-later"));
    }
    assertEquals(2500, await(db.store(later)).stored(), "only the new messageIds are stored");
    Map<String, Long> bodies = fx.drain(db, "").stream()
        .collect(Collectors.groupingBy(j -> new String(j.payload(), StandardCharsets.UTF_8), Collectors.counting()));
    assertEquals(Map.of("a-new", 2500L, "b-new", 2500L, "b-later", 2500L), bodies);
    // past the window the old entries are gone with their bucket
    fx.clock.advance(Duration.ofMinutes(70));
    await(db.runMaintenance());
    assertEquals(2500, await(db.store(later.stream().filter(j -> j.messageId().startsWith("old-")).toList())).stored());
  }

  @Test
  void jobsInFlightAtACrashArePendingAfterRestartWithTheirAttempts() {
    JobsDbOptions options = fx.options("crash");
    JobsDb db = fx.open(options);
    await(db.store(List.of(fx.job(0, "k", "d", "1", "1"), fx.job(0, "k", "d", "2", "2"))));
    List<Job> read = await(db.readPending(new ReadRequest("d", 10, 1 << 20, 100, fx.clock.instant())));
    Instant now = fx.clock.instant();
    await(db.updateStates(List.of(new StateUpdate(read.get(0).jobId(), JobState.FAILED, 2, now, now, "timeout"))));
    assertEquals(2, await(db.readPending(new ReadRequest("d", 10, 1 << 20, 100, now))).size(), "both read again: in flight");
    // no outcome written, no shutdown: the process "died"; a new instance opens the same queue
    JobsDb restarted = fx.open(options);
    List<Job> again = await(restarted.readPending(new ReadRequest("d", 10, 1 << 20, 100, now)));
    assertEquals(List.of("1", "2"), ids(again));
    assertEquals(JobState.FAILED, again.get(0).state());
    assertEquals(2, again.get(0).attempts(), "attempts survive the crash");
    assertEquals(JobState.UNPROCESSED, again.get(1).state());
  }

  @Test
  void creatingDatasetsUnderConcurrentReadsAndWritesNeverDeadlocks() {
    JobsDb db = fx.open(fx.options("ddl").withDatasetSize(2048).withMaxBatchJobs(256));
    java.util.concurrent.atomic.AtomicBoolean writing = new java.util.concurrent.atomic.AtomicBoolean(true);
    List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
    AtomicInteger reads = new AtomicInteger();
    // readers touch job_state then jobs (as pending reads, listings and the oldest-pending query do)
    List<Future<Void>> readers = new ArrayList<>();
    for (int r = 0; r < 4; r++) {
      io.vertx.core.Promise<Void> done = io.vertx.core.Promise.promise();
      readLoop(db, writing, failures, reads, done);
      readers.add(done.future());
    }
    // writers lock jobs then job_state; each 2048 ids a new dataset (two tables) is created
    Future<Void> writes = Future.succeededFuture();
    for (int b = 0; b < 40; b++) {
      int base = b * 500;
      writes = writes.compose(v -> {
        List<NewJob> batch = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
          batch.add(fx.job(i % 8, "k" + (i % 50), "d", "m" + (base + i), "x"));
        }
        return Future.all(db.store(batch.subList(0, 250)), db.store(batch.subList(250, 500))).mapEmpty();
      });
    }
    try {
      await(writes);
    } finally {
      writing.set(false);
    }
    await(Future.join(readers));
    assertEquals(List.of(), failures);
    assertTrue(reads.get() > 10, "reads ran while datasets were created: " + reads.get());
    assertTrue(await(db.datasets()).size() >= 10, "the writes went through many datasets");
  }

  private void readLoop(JobsDb db, java.util.concurrent.atomic.AtomicBoolean writing, List<Throwable> failures,
      AtomicInteger reads, io.vertx.core.Promise<Void> done) {
    if (!writing.get()) {
      done.complete();
      return;
    }
    db.readPending(new ReadRequest("d", 100, 1 << 20, 400, fx.clock.instant()))
        .compose(v -> db.oldestPending())
        .compose(v -> db.listAborted("d", Long.MIN_VALUE, 10))
        .onComplete(ar -> {
          reads.incrementAndGet();
          if (ar.failed()) {
            failures.add(ar.cause());
          }
          readLoop(db, writing, failures, reads, done);
        });
  }

  /**
   * A node restarted over datasets whose jobs have all finished: its maintenance ran before its first allocation and
   * treated every dataset as below the one being written, so it dropped the dataset the sequence continues in, which an
   * allocation in flight had just found to exist ("no partition of relation job_state found for row" on a migration's
   * target). Maintenance before the first allocation keeps it; every store after it succeeds.
   */
  @Test
  void maintenanceBeforeTheFirstAllocationKeepsTheDatasetTheSequenceContinuesIn() throws Exception {
    JobsDbOptions options = fx.options("restarted").withDatasetSize(4096).withMaxBatchJobs(256);
    JobsDb first = fx.open(options);
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      jobs.add(fx.job(i % 64, "k" + (i % 50), "d", "m" + i, "p" + i));
    }
    await(first.store(jobs));
    assertEquals(3000, fx.drain(first, "d").size());
    await(first.shutdown());

    JobsDb restarted = fx.open(options);
    long lastValue;
    try (Connection c = database.connect(); Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT last_value FROM jobs_restarted.job_id_seq")) {
      rs.next();
      lastValue = rs.getLong(1);
    }
    await(restarted.runMaintenance());
    assertTrue(await(restarted.datasets()).contains("r" + lastValue / 4096),
        "the dataset the sequence continues in survives maintenance: " + await(restarted.datasets()));
    List<NewJob> more = new ArrayList<>();
    for (int i = 0; i < 600; i++) {
      more.add(fx.job(i % 64, "k" + (i % 50), "d", "n" + i, "q" + i));
    }
    await(restarted.store(more));
    assertEquals(600, fx.drain(restarted, "d").size());
  }

  @Test
  void finishedJobsAreKeptForTheRetentionThenTheirDatasetIsDroppedWhole() throws Exception {
    JobsDb db = fx.open(fx.options("retain").withDatasetSize(2048).withMaxBatchJobs(256)
        .withFinishedRetention(java.time.Duration.ofHours(2)));
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      jobs.add(fx.job(i % 8, "k" + (i % 13), "d", "m" + i, "n" + i));
    }
    for (int i = 0; i < jobs.size(); i += 500) {
      await(db.store(jobs.subList(i, i + 500)));
    }
    assertEquals(5000, fx.drain(db, "d").size()); // every job succeeded, at the clock's now
    int before = await(db.datasets()).size();
    assertTrue(before >= 3, "the jobs span datasets: " + await(db.datasets()));
    await(db.runMaintenance());
    assertEquals(before, await(db.datasets()).size(), "finished jobs within the retention keep their datasets");
    fx.clock.advance(java.time.Duration.ofMinutes(119));
    await(db.runMaintenance());
    assertEquals(before, await(db.datasets()).size(), "still within the retention");
    fx.clock.advance(java.time.Duration.ofMinutes(2));
    await(db.runMaintenance());
    assertTrue(await(db.datasets()).size() < before, "past the retention, full finished datasets are dropped whole: "
        + await(db.datasets()));
    assertThrows(IllegalArgumentException.class, () -> fx.options("bad").withFinishedRetention(java.time.Duration.ofSeconds(-1)));
  }

  @Test
  void deadLettersAreDeletedOnceTheirRetentionSinceTheirAbortIsOverAndNotBefore() throws Exception {
    JobsDb db = fx.open(fx.options("deadexp").withDatasetSize(2048).withMaxBatchJobs(256)
        .withDeadLetterRetention(java.time.Duration.ofDays(14)));
    java.time.Instant first = fx.clock.instant();
    storeAndFinishAbortingSome(db, 0, 5000);
    fx.clock.advance(java.time.Duration.ofDays(7));
    java.time.Instant second = fx.clock.instant();
    storeAndFinishAbortingSome(db, 5000, 5000);
    Map<java.time.Instant, Long> before = deadLettersByAbort("deadexp");
    assertTrue(before.getOrDefault(first, 0L) > 0 && before.getOrDefault(second, 0L) > 0,
        "both rounds' aborted jobs are dead letters once their datasets were dropped: " + before);

    fx.clock.advance(java.time.Duration.ofDays(7).minusMinutes(1)); // the first round was aborted 14 days less a minute ago
    await(db.runMaintenance());
    assertEquals(before, deadLettersByAbort("deadexp"), "within the retention every dead letter stays");

    fx.clock.advance(java.time.Duration.ofMinutes(2));
    await(db.runMaintenance());
    assertEquals(Map.of(second, before.get(second)), deadLettersByAbort("deadexp"),
        "past 14 days the first round's dead letters are deleted, the second round's (7 days old) stay");
    List<Job> listed = await(db.listAborted("d", Long.MIN_VALUE, 1000));
    assertTrue(listed.stream().noneMatch(j -> Long.parseLong(j.messageId().substring(1)) < 5000),
        "the deleted dead letters are no longer listed");

    fx.clock.advance(java.time.Duration.ofDays(7));
    await(db.runMaintenance());
    assertEquals(Map.of(), deadLettersByAbort("deadexp"), "and the second round's, 14 days after their abort");
    assertThrows(IllegalArgumentException.class, () -> fx.options("bad").withDeadLetterRetention(java.time.Duration.ofSeconds(-1)));
  }

  /** Stores {@code count} jobs from number {@code from} on, and finishes them all: those numbered ...7 aborted. */
  private void storeAndFinishAbortingSome(JobsDb db, int from, int count) throws Exception {
    List<NewJob> jobs = new ArrayList<>();
    for (int i = from; i < from + count; i++) {
      jobs.add(fx.job(i % 8, "k" + (i % 13), "d", "m" + i, "n" + i));
    }
    for (int i = 0; i < jobs.size(); i += 500) {
      await(db.store(jobs.subList(i, i + 500)));
    }
    while (true) {
      List<Job> read = await(db.readPending(new ReadRequest("d", 700, 1 << 22, 5000, fx.clock.instant())));
      if (read.isEmpty()) {
        break;
      }
      List<StateUpdate> updates = new ArrayList<>();
      for (Job j : read) {
        boolean abort = j.messageId().endsWith("7");
        updates.add(new StateUpdate(j.jobId(), abort ? JobState.ABORTED : JobState.SUCCEEDED, 1, fx.clock.instant(), null,
            abort ? "HTTP 400: bad request" : null));
      }
      await(db.updateStates(updates));
    }
    await(db.runMaintenance());
  }

  /** The rows of {@code queue}'s dead-letter table, counted by abort time. */
  private Map<java.time.Instant, Long> deadLettersByAbort(String queue) throws Exception {
    Map<java.time.Instant, Long> out = new java.util.TreeMap<>();
    try (Connection c = database.connect(); Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT aborted_at, count(*) FROM jobs_" + queue + ".dead_letter GROUP BY 1")) {
      while (rs.next()) {
        out.put(rs.getTimestamp(1).toInstant(), rs.getLong(2));
      }
    }
    return out;
  }

  @Test
  void finishedDatasetsAreDroppedWholeUnderLoadAndAbortedJobsMoveToTheDeadLetterTable() throws Exception {
    JobsDb db = fx.open(fx.options("rotate").withDatasetSize(2048).withMaxBatchJobs(256));
    int total = 12_000;
    Set<Long> seen = new HashSet<>();
    int maxDatasets = 0;
    int next = 0;
    long aborted = 0;
    while (true) {
      if (next < total) {
        List<NewJob> batch = new ArrayList<>();
        for (int i = 0; i < 500 && next < total; i++, next++) {
          batch.add(fx.job(next % 64, "k" + (next % 97), "d", "m" + next, "n" + next));
        }
        await(db.store(batch));
      }
      List<Job> read = await(db.readPending(new ReadRequest("d", 700, 1 << 22, 5000, fx.clock.instant())));
      if (read.isEmpty() && next >= total) {
        break;
      }
      List<StateUpdate> updates = new ArrayList<>();
      for (Job j : read) {
        assertTrue(seen.add(j.jobId()), "job read twice: " + j.jobId());
        boolean abort = j.messageId().endsWith("77");
        aborted += abort ? 1 : 0;
        updates.add(new StateUpdate(j.jobId(), abort ? JobState.ABORTED : JobState.SUCCEEDED, 1, fx.clock.instant(), null,
            abort ? "HTTP 400: bad request" : null));
      }
      await(db.updateStates(updates));
      await(db.runMaintenance());
      maxDatasets = Math.max(maxDatasets, await(db.datasets()).size());
    }
    assertEquals(total, seen.size(), "every stored job read exactly once");
    assertTrue(maxDatasets <= 5, "datasets stay bounded under steady load, saw " + maxDatasets);
    assertTrue(await(db.datasets()).size() <= 3, "finished datasets were dropped: " + await(db.datasets()));
    try (Connection c = database.connect(); Statement st = c.createStatement();
         ResultSet rs = st.executeQuery("SELECT count(*) FROM jobs_rotate.dead_letter")) {
      rs.next();
      assertTrue(rs.getLong(1) > 0, "aborted jobs of dropped datasets are kept");
    }
    List<Job> listed = new ArrayList<>();
    long after = Long.MIN_VALUE;
    while (true) {
      List<Job> page = await(db.listAborted("d", after, 50));
      if (page.isEmpty()) {
        break;
      }
      listed.addAll(page);
      after = page.get(page.size() - 1).jobId();
    }
    assertEquals(aborted, listed.size(), "every aborted job is listed, live or dead-lettered");
    assertEquals("HTTP 400: bad request", listed.get(0).lastError());

    // replay all of them: live and dead-lettered ones come back pending, in their original order per key
    assertEquals(aborted, (long) await(db.replayAborted("d", ReplayFilter.all())));
    assertTrue(await(db.listAborted("d", Long.MIN_VALUE, 10)).isEmpty());
    List<String> replayed = fx.drain(db, "d").stream().map(Job::messageId).toList();
    List<String> expectedOrder = listed.stream().map(Job::messageId).toList();
    assertEquals(expectedOrder, replayed, "replayed jobs come back in their original order");
  }

  @Test
  void aFailingUsersBacklogDoesNotHideOtherUsersFromAKeyRead() {
    JobsDb db = fx.open(fx.options("hol"));
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 5000; i++) {
      jobs.add(fx.job(1, "bad", "hook", "bad-" + i, "bad:" + i));
    }
    await(db.store(jobs));
    jobs.clear();
    for (int n = 1; n <= 2; n++) {
      for (int u = 0; u < 300; u++) {
        jobs.add(fx.job(u % 16, "user-" + u, "hook", "u-" + u + "-" + n, "user-" + u + ":" + n));
      }
    }
    await(db.store(jobs));
    Instant now = fx.clock.instant();
    Job first = await(db.readPending(new ReadRequest("hook", 1, 1 << 20, 1, now))).get(0);
    await(db.updateStates(List.of(new StateUpdate(first.jobId(), JobState.FAILED, 1, now, now.plusSeconds(3600), "HTTP 503"))));

    // walk the keys as the router does: on from where the last read stopped, 1000 jobs and 2000 keys at most
    List<Job> read = new ArrayList<>();
    String after = "";
    for (int round = 0; round < 10; round++) {
      KeyReadRequest.Result r = readKeys(db, after, 2000, Set.of(), now);
      read.addAll(r.jobs());
      if (r.reachedEnd()) {
        break;
      }
      after = r.lastKey();
    }
    SequenceChecker checker = new SequenceChecker();
    Map<String, Long> expected = new HashMap<>();
    for (Job j : read) {
      String[] parts = new String(j.payload(), StandardCharsets.UTF_8).split(":");
      checker.observe(parts[0], Long.parseLong(parts[1]));
    }
    for (int u = 0; u < 300; u++) {
      expected.put("user-" + u, 2L);
    }
    assertTrue(read.stream().noneMatch(j -> j.routingKey().equals("bad")), "the failing user's jobs wait for its retry");
    checker.assertComplete(expected);
    assertEquals(0, checker.duplicates());
  }

  @Test
  void aBusyUserGetsAtMostItsShareOfAKeyReadAndBusyKeysArePassedOver() {
    JobsDb db = fx.open(fx.options("busy"));
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      jobs.add(fx.job(1, "a-busy", "hook", "busy-" + i, "a-busy:" + i));
    }
    for (int u = 0; u < 50; u++) {
      jobs.add(fx.job(2, "user-" + u, "hook", "u-" + u, "user-" + u + ":0"));
    }
    await(db.store(jobs));
    Instant now = fx.clock.instant();
    KeyReadRequest.Result r = readKeys(db, "", 2000, Set.of(), now);
    assertEquals(100, r.jobs().stream().filter(j -> j.routingKey().equals("a-busy")).count(), "at most 100 per key");
    assertEquals(150, r.jobs().size(), "every other user's job is in the same read");
    assertTrue(r.reachedEnd());
    List<Long> busyIds = r.jobs().stream().filter(j -> j.routingKey().equals("a-busy")).map(Job::jobId).toList();
    assertEquals(busyIds.stream().sorted().toList(), busyIds, "a key's jobs come in job order");

    KeyReadRequest.Result skip = readKeys(db, "", 2000, Set.of("a-busy", "user-0"), now);
    assertEquals(49, skip.jobs().size(), "keys the caller holds are passed over");

    // a walk of at most 10 keys stops at the 10th and says where
    KeyReadRequest.Result part = readKeys(db, "", 10, Set.of(), now);
    assertFalse(part.reachedEnd());
    assertEquals(part.jobs().get(part.jobs().size() - 1).routingKey(), part.lastKey());
    KeyReadRequest.Result rest = readKeys(db, part.lastKey(), 2000, Set.of(), now);
    assertEquals(150 - part.jobs().size(), rest.jobs().size(), "the next walk continues after it");
    assertTrue(rest.reachedEnd());
  }

  @Test
  void pendingCountsStopAtTheCap() {
    JobsDb db = fx.open(fx.options("counts"));
    List<NewJob> jobs = new ArrayList<>();
    for (int i = 0; i < JobsDb.PENDING_COUNT_CAP + 500; i++) {
      jobs.add(fx.job(i % 16, "k" + (i % 100), "big", "m" + i, "x"));
    }
    jobs.add(fx.job(1, "k", "small", "s", "x"));
    for (int from = 0; from < jobs.size(); from += 2000) {
      await(db.store(jobs.subList(from, Math.min(jobs.size(), from + 2000))));
    }
    Map<String, Long> counts = await(db.pendingCounts());
    assertEquals(Map.of("big", JobsDb.PENDING_COUNT_CAP, "small", 1L), counts,
        "a destination's count stops at the cap (bounded work), smaller ones are exact");
  }

  /** A key walk of destination "hook" as the router does it: 100 jobs per key, 1000 in all. */
  private static KeyReadRequest.Result readKeys(JobsDb db, String after, int maxKeys, Set<String> excluded, Instant now) {
    return await(db.readKeys(new KeyReadRequest("hook", after, maxKeys, 100, 1000, 1 << 24, excluded, now)));
  }

  private static List<String> ids(List<Job> jobs) {
    return jobs.stream().map(Job::messageId).toList();
  }
}
