package io.eventpipe.jobsdb;

import static io.eventpipe.jobsdb.JobsDbFixture.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.SequenceChecker;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Dataset pinning (issue 9): a few jobs of a disabled destination left pending in every dataset kept each dataset
 * whole forever. Mostly-finished datasets are now compacted in place: same ids, states and order, far fewer rows.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class DatasetCompactionTest {

  /** Jobs stored by {@link #pin}: ids 1024..7167, so datasets r0 (its upper half), r1 and r2 are full, r3 written. */
  private static final int STORED = 6144;
  private static final List<String> OLD = List.of("r0", "r1", "r2");

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
  void datasetsPinnedByADisabledDestinationAreCompactedKeepingIdsStatesAndOrder() throws Exception {
    String queue = "compact";
    Pinned pinned = pinnedQueue(queue);
    String schema = pinned.schema;
    JobsDb db = pinned.db;

    // one legacy row in the executing state (code 1), moved to a destination of its own: it must be kept exactly too
    long legacy = pinned.disabled.remove(2); // the first job of u2
    sql("UPDATE " + schema + ".job_state SET destination_id = 'legacy', state = 1 WHERE job_id = " + legacy);

    Instant later = fx.clock.instant().plus(Duration.ofHours(2));
    List<String> rowsBefore = liveRows(schema);
    Map<String, long[]> countsBefore = new LinkedHashMap<>();
    for (String d : List.of("r0", "r1", "r2", "r3")) {
      countsBefore.put(d, tableCounts(schema, d));
    }
    List<String> indexesBefore = indexes(schema, "r1");
    List<Job> pendingBefore = readAll(db, "disabled", later);
    List<Job> dueNowBefore = readAll(db, "disabled", fx.clock.instant());
    List<Job> keysBefore = walkKeys(db, "disabled", later);
    List<Long> abortedBefore = abortedIds(db);
    List<String> datasetsBefore = await(db.datasets());
    assertEquals(pinned.disabled.size(), pendingBefore.size());

    // one compaction per maintenance run, oldest first; once compacted, a dataset is left alone
    double compactions = runMaintenanceUntilQuiet(db, queue);
    assertEquals(3.0, compactions, "the three full datasets were compacted, the one being written was not");

    assertEquals(datasetsBefore, await(db.datasets()), "compaction keeps every dataset and its name");
    assertEquals(rowsBefore, liveRows(schema), "every unfinished job kept its id, state row and payload, exactly");
    for (String d : OLD) {
      long[] before = countsBefore.get(d);
      long[] after = tableCounts(schema, d);
      long live = sql("SELECT count(*) FROM " + schema + ".job_state WHERE state < 3 AND job_id >= " + lo(d)
          + " AND job_id < " + (lo(d) + 2048));
      assertTrue(live > 0 && live * 10 < before[0], d + ": a few live jobs pinned it: " + live + " of " + before[0]);
      assertEquals(live, after[0], d + ": job_state holds only the unfinished jobs");
      assertEquals(live, after[1], d + ": jobs holds only the unfinished jobs");
      assertTrue(after[2] < before[2], d + ": its tables shrank: " + before[2] + " -> " + after[2] + " bytes");
    }
    assertEquals(countsBefore.get("r3")[0], tableCounts(schema, "r3")[0], "the dataset being written is untouched");
    assertEquals(indexesBefore, indexes(schema, "r1"), "same (partial) indexes, index names and fillfactor as before");
    assertEquals(List.of("fillfactor=70"), reloptions(schema + ".job_state_r1"));

    // reads see the same jobs in the same order, with the same states
    assertEquals(describe(pendingBefore), describe(readAll(db, "disabled", later)), "readPending, all due");
    assertEquals(describe(dueNowBefore), describe(readAll(db, "disabled", fx.clock.instant())),
        "readPending now: the failed user is still blocked until its retry");
    assertEquals(describe(keysBefore), describe(walkKeys(db, "disabled", later)), "readKeys");
    Job failed = pendingBefore.stream().filter(j -> j.jobId() == pinned.failed).findFirst().orElseThrow();
    assertEquals(JobState.FAILED, failed.state());
    assertEquals(3, failed.attempts());
    assertEquals(pinned.retryAt, failed.nextRetryAt());
    assertEquals("HTTP 503", failed.lastError());

    // aborted jobs of the compacted datasets moved to the dead-letter table: still listed, with the same ids
    assertEquals(abortedBefore, abortedIds(db), "every aborted job is still listed");
    assertTrue(sql("SELECT count(*) FROM " + schema + ".dead_letter") > 0, "aborted jobs were dead-lettered");

    // state updates and new writes work on the compacted tables
    Job first = pendingBefore.stream().filter(j -> j.jobId() != pinned.failed).findFirst().orElseThrow();
    await(db.updateStates(List.of(StateUpdate.of(first, JobState.SUCCEEDED),
        new StateUpdate(pinned.failed, JobState.FAILED, 4, failed.firstAttemptAt(), later, "HTTP 502"))));
    List<Job> afterUpdate = readAll(db, "disabled", later.plusSeconds(1));
    assertFalse(afterUpdate.stream().anyMatch(j -> j.jobId() == first.jobId()), "the succeeded job is gone");
    Job refailed = afterUpdate.stream().filter(j -> j.jobId() == pinned.failed).findFirst().orElseThrow();
    assertEquals(4, refailed.attempts());
    assertEquals("HTTP 502", refailed.lastError());
    assertEquals(pendingBefore.size() - 1, afterUpdate.size());
    assertEquals(1, sql("SELECT count(*) FROM " + schema + ".job_state WHERE state = 1 AND job_id = " + legacy));
    assertEquals(3.0, runMaintenanceUntilQuiet(db, queue), "nothing more to compact");
  }

  @Test
  void storesReadsAndStateUpdatesDuringCompactionNeitherFailNorLoseAnything() throws Exception {
    String queue = "compactload";
    Pinned pinned = pinnedQueue(queue);
    String schema = pinned.schema;
    JobsDb db = pinned.db;
    List<Long> disabled = List.copyOf(pinned.disabled);

    AtomicBoolean stop = new AtomicBoolean();
    List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
    SequenceChecker order = new SequenceChecker();
    Map<String, Long> stored = new ConcurrentHashMap<>();
    Map<Long, Integer> lastUpdate = new ConcurrentHashMap<>();
    AtomicInteger walks = new AtomicInteger();

    // 1. a writer: batches of new jobs for 20 users, each user's payloads numbered in order
    Promise<Void> writerDone = Promise.promise();
    write(db, stop, failures, stored, writerDone);
    // 2. a consumer of those jobs: reads in order, acknowledges
    Promise<Void> consumerDone = Promise.promise();
    consume(db, stop, failures, order, consumerDone);
    // 3. state updates of the pinned jobs while their datasets are compacted: none may be lost
    Promise<Void> updaterDone = Promise.promise();
    updatePinned(db, stop, failures, disabled, 0, lastUpdate, updaterDone);
    // 4. key walks over the pinned jobs: each key's jobs in order
    Promise<Void> walkerDone = Promise.promise();
    walk(db, stop, failures, walks, walkerDone);

    // 5. maintenance until the three pinned datasets are compacted (oldest first, one per run)
    int runs = 0;
    try {
      while (compactions(queue) < 3 && runs++ < 500) {
        await(db.runMaintenance());
      }
    } finally {
      stop.set(true);
    }
    await(Future.join(writerDone.future(), consumerDone.future(), updaterDone.future(), walkerDone.future()));
    assertEquals(List.of(), failures, "no store, read or update failed");
    assertTrue(compactions(queue) >= 3, "the pinned datasets were compacted under load: " + compactions(queue));
    for (String d : OLD) {
      long[] after = tableCounts(schema, d);
      assertEquals(pinnedIn(disabled, d), after[0], d + " holds only its pinned jobs");
      assertEquals(pinnedIn(disabled, d), after[1], d + " holds only its pinned jobs' rows");
    }

    // everything stored was read exactly once, each user in order
    for (Job j : fx.drain(db, "live")) {
      observe(order, j);
    }
    order.assertComplete(stored);
    assertEquals(0, order.duplicates(), "each stored job is read exactly once");

    // every pinned job kept its last acknowledged update
    Map<Long, Job> now = new HashMap<>();
    for (Job j : readAll(db, "disabled", fx.clock.instant().plus(Duration.ofHours(2)))) {
      now.put(j.jobId(), j);
    }
    assertEquals(Set.copyOf(disabled), now.keySet(), "every pinned job is still pending, with its id");
    assertTrue(lastUpdate.size() > 0, "pinned jobs were updated during the test");
    for (Map.Entry<Long, Integer> e : lastUpdate.entrySet()) {
      Job j = now.get(e.getKey());
      assertEquals(e.getValue(), j.attempts(), "job " + e.getKey() + " kept its last update");
      assertEquals("e" + e.getValue(), j.lastError());
    }
  }

  @Test
  void changesCommittedWhileACompactionCopiesAreCaughtUpBeforeTheSwap() throws Exception {
    String queue = "compactrace";
    Pinned pinned = pinnedQueue(queue);
    String schema = pinned.schema;
    JobsDb db = pinned.db;
    String inR0 = " AND job_id >= " + lo("r0") + " AND job_id < " + lo("r1");
    List<Long> aborted = new ArrayList<>();
    for (String id : strings("SELECT job_id FROM " + schema + ".job_state WHERE state = 4" + inR0 + " ORDER BY job_id")) {
      aborted.add(Long.parseLong(id));
    }
    // a compaction that cannot take its locks in time gives up; each try changes other rows
    for (int attempt = 0; attempt < 5 && compactions(queue) == 0; attempt++) {
      long failing = pinned.disabled.get(0);
      long succeeding = pinned.disabled.get(1 + attempt);
      long replayed = aborted.get(attempt);
      List<String> expected;
      try (Connection c = database.connect(); Statement st = c.createStatement()) {
        // 1. a transaction changes three rows of r0 and stays open: a failure, a success, a replay of an aborted job
        c.setAutoCommit(false);
        st.executeUpdate("UPDATE " + schema + ".job_state SET state = 2, attempts = " + (10 + attempt)
            + ", next_retry_at = '2026-01-01T00:00:00Z', last_error = 'held', updated_at = now() WHERE job_id = " + failing);
        st.executeUpdate("UPDATE " + schema + ".job_state SET state = 3 WHERE job_id = " + succeeding);
        st.executeUpdate("UPDATE " + schema + ".job_state SET state = 0, attempts = 0, last_error = NULL WHERE job_id = "
            + replayed);
        expected = new ArrayList<>();
        try (ResultSet rs = st.executeQuery(liveRowsQuery(schema))) {
          while (rs.next()) {
            expected.add(rs.getString(1));
          }
        }
        // 2. maintenance copies r0 without those changes, then waits for the parents' locks
        Future<Integer> maintenance = db.runMaintenance();
        while (!maintenance.isComplete() && sql("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation IN ('"
            + schema + ".jobs'::regclass, '" + schema + ".job_state'::regclass) AND mode = 'AccessExclusiveLock'") == 0) {
          Thread.sleep(2);
        }
        // 3. the changes commit; the compaction takes its locks and must carry them over
        c.commit();
        await(maintenance);
      }
      if (compactions(queue) > 0) {
        assertEquals(expected, liveRows(schema), "the committed changes are in the compacted dataset");
        long[] r0 = tableCounts(schema, "r0");
        long live = sql("SELECT count(*) FROM " + schema + ".job_state WHERE state < 3" + inR0);
        assertEquals(live, r0[0]);
        assertEquals(live, r0[1]);
        assertTrue(strings("SELECT job_id FROM " + schema + ".job_state_r0").contains(Long.toString(replayed)),
            "the replayed job (and its job row) is in the new tables");
        assertFalse(strings("SELECT job_id FROM " + schema + ".jobs_r0").contains(Long.toString(succeeding)),
            "the job that succeeded meanwhile is gone");
        Job held = readAll(db, "disabled", fx.clock.instant().plus(Duration.ofHours(2))).stream()
            .filter(j -> j.jobId() == failing).findFirst().orElseThrow();
        assertEquals(10 + attempt, held.attempts());
        assertEquals("held", held.lastError());
      }
    }
    assertEquals(1.0, compactions(queue), "r0 was compacted");
  }

  @Test
  void aCompactionInterruptedBetweenItsTwoSwapsKeepsReadsWholeAndIsFinishedByTheNextMaintenance() throws Exception {
    String queue = "compacthalf";
    Pinned pinned = pinnedQueue(queue);
    String schema = pinned.schema;
    JobsDb db = pinned.db;
    Instant later = fx.clock.instant().plus(Duration.ofHours(2));
    List<String> rowsBefore = liveRows(schema);
    List<String> pendingBefore = describe(readAll(db, "disabled", later));
    List<Long> abortedBefore = abortedIds(db);
    long jobsRowsBefore = tableCounts(schema, "r0")[1];
    try (Connection c = database.connect(); Statement st = c.createStatement()) {
      // 1. a long transaction that read jobs: the second swap (jobs) cannot get its lock and gives up
      c.setAutoCommit(false);
      st.executeQuery("SELECT count(*) FROM " + schema + ".jobs WHERE job_id < 0").close();
      await(db.runMaintenance());
      assertEquals(0.0, compactions(queue), "the compaction is not finished");
      // 2. job_state is compacted, jobs not yet: reads, listings and updates still see every job whole
      long[] r0 = tableCounts(schema, "r0");
      assertEquals(pinnedIn(pinned.disabled, "r0"), r0[0], "job_state_r0 holds only the unfinished jobs");
      assertEquals(jobsRowsBefore, r0[1], "jobs_r0 still holds every job");
      assertEquals(rowsBefore, liveRows(schema));
      assertEquals(pendingBefore, describe(readAll(db, "disabled", later)));
      assertEquals(abortedBefore, abortedIds(db), "aborted jobs are listed from the dead-letter table");
      await(db.updateStates(List.of(new StateUpdate(pinned.disabled.get(1), JobState.SUCCEEDED, 1, later, null, null))));
      c.commit();
    }
    // 3. the next maintenance finishes it first
    await(db.runMaintenance());
    assertEquals(1.0, compactions(queue));
    long[] r0 = tableCounts(schema, "r0");
    assertEquals(r0[0], r0[1], "jobs_r0 holds the job rows of job_state_r0's rows, no more");
    assertTrue(r0[1] < jobsRowsBefore);
    assertEquals(0, sql("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        + " WHERE n.nspname = '" + schema + "' AND c.relname LIKE '%compact%'"), "no table is left behind");
    List<String> pendingAfter = new ArrayList<>(pendingBefore);
    pendingAfter.removeIf(line -> line.startsWith(pinned.disabled.get(1) + " "));
    assertEquals(pendingAfter, describe(readAll(db, "disabled", later)));
  }

  // ---------------------------------------------------------------- set-up

  private JobsDbOptions options(String queue) {
    // maintenance runs only when the test calls it
    return fx.options(queue).withDatasetSize(2048).withMaxBatchJobs(512).withMaintenanceEvery(Duration.ofHours(1));
  }

  /** A queue set up by {@link #pin}, and what it left pending. */
  private record Pinned(JobsDb db, String schema, List<Long> disabled, long failed, Instant retryAt) {}

  private Pinned pinnedQueue(String queue) throws Exception {
    return pin(fx.open(options(queue)), "jobs_" + queue);
  }

  /**
   * Stores {@link #STORED} jobs in order: every 50th (from the 8th) for destination "disabled" (users u0..u2), the
   * rest for "live", which are all read and finished (every 97th aborted). The first job of u1 has failed three times
   * and waits for a retry.
   */
  private Pinned pin(JobsDb db, String schema) throws Exception {
    List<Long> disabled = new ArrayList<>();
    for (int from = 0; from < STORED; from += 512) {
      List<NewJob> batch = new ArrayList<>();
      for (int i = from; i < from + 512; i++) {
        batch.add(i % 50 == 7
            ? fx.job(i % 16, "u" + (i % 3), "disabled", "p" + i, "pinned:" + i)
            : fx.job(i % 16, "k" + (i % 31), "live", "m" + i, "live:" + i));
      }
      long[] ids = await(db.store(batch)).jobIds();
      for (int i = 0; i < ids.length; i++) {
        if ((from + i) % 50 == 7) {
          disabled.add(ids[i]);
        }
      }
    }
    int abortedCount = 0;
    while (true) {
      List<Job> read = await(db.readPending(new ReadRequest("live", 1000, 1 << 24, 3000, fx.clock.instant())));
      if (read.isEmpty()) {
        break;
      }
      List<StateUpdate> updates = new ArrayList<>();
      for (Job j : read) {
        boolean abort = j.jobId() % 97 == 0;
        abortedCount += abort ? 1 : 0;
        updates.add(new StateUpdate(j.jobId(), abort ? JobState.ABORTED : JobState.SUCCEEDED, 1, fx.clock.instant(), null,
            abort ? "HTTP 400" : null));
      }
      await(db.updateStates(updates));
    }
    assertTrue(abortedCount > 0);
    long failed = disabled.get(0); // the first job of u1 (i = 7)
    Instant first = fx.clock.instant();
    Instant retryAt = first.plus(Duration.ofMinutes(30));
    await(db.updateStates(List.of(new StateUpdate(failed, JobState.FAILED, 3, first, retryAt, "HTTP 503"))));
    assertEquals(lo("r3") + 1024, sql("SELECT max(job_id) + 1 FROM " + schema + ".jobs"), "ids as planned");
    return new Pinned(db, schema, disabled, failed, retryAt);
  }

  private static long lo(String dataset) {
    return Long.parseLong(dataset.substring(1)) * 2048;
  }

  private static long pinnedIn(List<Long> ids, String dataset) {
    return ids.stream().filter(id -> id >= lo(dataset) && id < lo(dataset) + 2048).count();
  }

  // ---------------------------------------------------------------- concurrent loops

  private void write(JobsDb db, AtomicBoolean stop, List<Throwable> failures, Map<String, Long> stored, Promise<Void> done) {
    if (stop.get()) {
      done.complete();
      return;
    }
    List<NewJob> batch = new ArrayList<>();
    for (int i = 0; i < 100; i++) {
      String key = "w" + (i % 20);
      long seq = stored.merge(key, 1L, Long::sum);
      batch.add(fx.job(i % 16, key, "live", key + "-" + seq, key + ":" + seq));
    }
    db.store(batch).onComplete(ar -> {
      if (ar.failed()) {
        failures.add(ar.cause());
        done.complete();
        return;
      }
      write(db, stop, failures, stored, done);
    });
  }

  private void consume(JobsDb db, AtomicBoolean stop, List<Throwable> failures, SequenceChecker order, Promise<Void> done) {
    if (stop.get()) {
      done.complete();
      return;
    }
    db.readPending(new ReadRequest("live", 300, 1 << 22, 1000, fx.clock.instant()))
        .compose(jobs -> {
          List<StateUpdate> acks = new ArrayList<>();
          for (Job j : jobs) {
            observe(order, j);
            acks.add(StateUpdate.of(j, JobState.SUCCEEDED));
          }
          return db.updateStates(acks);
        })
        .onComplete(ar -> {
          if (ar.failed()) {
            failures.add(ar.cause());
            done.complete();
            return;
          }
          consume(db, stop, failures, order, done);
        });
  }

  private static void observe(SequenceChecker order, Job j) {
    String[] parts = new String(j.payload(), StandardCharsets.UTF_8).split(":");
    order.observe(parts[0], Long.parseLong(parts[1]));
  }

  /** Marks the pinned jobs failed (due at once) one after another, round and round, with ever higher attempts. */
  private void updatePinned(JobsDb db, AtomicBoolean stop, List<Throwable> failures, List<Long> ids, int n,
      Map<Long, Integer> lastUpdate, Promise<Void> done) {
    if (stop.get()) {
      done.complete();
      return;
    }
    long id = ids.get(n % ids.size());
    int attempts = n + 1;
    Instant now = fx.clock.instant();
    db.updateStates(List.of(new StateUpdate(id, JobState.FAILED, attempts, now, now.minusSeconds(1), "e" + attempts)))
        .onComplete(ar -> {
          if (ar.failed()) {
            failures.add(ar.cause());
            done.complete();
            return;
          }
          lastUpdate.put(id, attempts);
          updatePinned(db, stop, failures, ids, n + 1, lastUpdate, done);
        });
  }

  private void walk(JobsDb db, AtomicBoolean stop, List<Throwable> failures, AtomicInteger walks, Promise<Void> done) {
    if (stop.get()) {
      done.complete();
      return;
    }
    db.readKeys(new KeyReadRequest("disabled", "", 10, 1000, 5000, 1 << 24, Set.of(), fx.clock.instant()))
        .onComplete(ar -> {
          if (ar.failed()) {
            failures.add(ar.cause());
            done.complete();
            return;
          }
          Map<String, Long> last = new HashMap<>();
          for (Job j : ar.result().jobs()) {
            Long before = last.put(j.routingKey(), j.jobId());
            if (before != null && before >= j.jobId()) {
              failures.add(new AssertionError("key " + j.routingKey() + ": job " + j.jobId() + " after " + before));
            }
          }
          walks.incrementAndGet();
          walk(db, stop, failures, walks, done);
        });
  }

  // ---------------------------------------------------------------- observations

  private double compactions(String queue) {
    var counter = fx.registry.find("jobsdb.compacted.datasets").tag("queue", queue).counter();
    return counter == null ? 0 : counter.count();
  }

  /** Runs maintenance until a run compacts nothing more; the number of compactions so far. */
  private double runMaintenanceUntilQuiet(JobsDb db, String queue) {
    double before = -1;
    for (int i = 0; i < 20 && before != compactions(queue); i++) {
      before = compactions(queue);
      await(db.runMaintenance());
    }
    return compactions(queue);
  }

  /** All pending jobs of a destination that are due at {@code now}, by repeated reads (nothing is acknowledged). */
  private static List<Job> readAll(JobsDb db, String dest, Instant now) {
    return await(db.readPending(new ReadRequest(dest, 100_000, 1L << 40, 100_000, now)));
  }

  private static List<Job> walkKeys(JobsDb db, String dest, Instant now) {
    return await(db.readKeys(new KeyReadRequest(dest, "", 100, 10_000, 100_000, 1L << 40, Set.of(), now))).jobs();
  }

  private static List<String> describe(List<Job> jobs) {
    return jobs.stream().map(j -> j.jobId() + " " + j.routingKey() + " " + j.messageId() + " " + j.state() + " "
        + j.attempts() + " " + j.firstAttemptAt() + " " + j.nextRetryAt() + " " + j.lastError() + " "
        + new String(j.payload(), StandardCharsets.UTF_8)).toList();
  }

  private List<Long> abortedIds(JobsDb db) {
    return await(db.listAborted("live", Long.MIN_VALUE, 100_000)).stream().map(Job::jobId).toList();
  }

  /** Every unfinished job's whole state row and a digest of its job row, in id order. */
  private List<String> liveRows(String schema) throws Exception {
    return strings(liveRowsQuery(schema));
  }

  private static String liveRowsQuery(String schema) {
    return "SELECT s::text || ' ' || md5(j::text) FROM " + schema + ".job_state s JOIN " + schema
        + ".jobs j ON j.job_id = s.job_id WHERE s.state < 3 ORDER BY s.job_id";
  }

  /** Rows of a dataset's job_state and jobs tables, and their total size in bytes (indexes included). */
  private long[] tableCounts(String schema, String dataset) throws Exception {
    String state = schema + ".job_state_" + dataset;
    String jobs = schema + ".jobs_" + dataset;
    return new long[] {
        sql("SELECT count(*) FROM " + state),
        sql("SELECT count(*) FROM " + jobs),
        sql("SELECT pg_total_relation_size('" + state + "') + pg_total_relation_size('" + jobs + "')")};
  }

  /** A dataset's index definitions (names included), and its tables' storage options. */
  private List<String> indexes(String schema, String dataset) throws Exception {
    List<String> out = new ArrayList<>();
    for (String t : List.of(schema + ".jobs_" + dataset, schema + ".job_state_" + dataset)) {
      out.addAll(strings("SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = '" + t + "'::regclass ORDER BY 1"));
      out.add(t + " " + reloptions(t));
    }
    return out;
  }

  private List<String> reloptions(String table) throws Exception {
    return strings("SELECT unnest(reloptions) FROM pg_class WHERE oid = '" + table + "'::regclass ORDER BY 1");
  }

  private long sql(String sql) throws Exception {
    try (Connection c = database.connect(); Statement st = c.createStatement()) {
      if (!sql.startsWith("SELECT")) {
        st.executeUpdate(sql);
        return 0;
      }
      try (ResultSet rs = st.executeQuery(sql)) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  private List<String> strings(String sql) throws Exception {
    try (Connection c = database.connect(); Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      List<String> out = new ArrayList<>();
      while (rs.next()) {
        out.add(rs.getString(1));
      }
      return out;
    }
  }
}
