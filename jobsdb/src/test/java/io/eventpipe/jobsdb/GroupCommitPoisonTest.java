package io.eventpipe.jobsdb;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 14, defence in depth: a caller whose jobs PostgreSQL refuses for their data (a NUL in a text column, which the
 * edge should have refused) fails alone and permanently ({@link JobsDbException.InvalidData}: a 400, not a 503 retried
 * for ever), and the innocent callers group-committed with it are stored.
 */
@ExtendWith(PostgresExtension.class)
class GroupCommitPoisonTest {

  @Test
  void aPoisonousCallerAmongInnocentOnesFailsAlonePermanently(PgDatabase database) {
    try (JobsDbFixture fx = new JobsDbFixture(database)) {
      JobsDb db = fx.open(fx.options("poison").withMaxBatchJobs(1000));
      for (String[] poison : new String[][] {{"key\u0000", "m-ok"}, {"key", "m\u0000"}}) {
        String tag = poison[1].length() + "-";
        List<Future<StoreResult>> innocent = new ArrayList<>();
        Future<StoreResult> bad = null;
        // queued among innocent callers, so the poisonous one shares their group commits
        for (int i = 0; i < 80; i++) {
          String key = "in-" + tag + i;
          innocent.add(db.store(List.of(fx.job(i % 8, key, "", key + "-a", "a"), fx.job(i % 8, key, "", key + "-b", "b"))));
          if (i == 40) {
            bad = db.store(List.of(fx.job(4, "in-bad", "", "in-bad-" + tag, "x"), fx.job(3, poison[0], "", poison[1], "p")));
          }
        }
        for (Future<StoreResult> f : innocent) {
          assertEquals(0, await(f).duplicates(), "stored");
        }
        Throwable err = failureOf(bad);
        JobsDbException.InvalidData invalid = assertInstanceOf(JobsDbException.InvalidData.class, err, err.toString());
        assertTrue(invalid.sqlState().startsWith("22"), invalid.sqlState());
        assertTrue(!invalid.getMessage().contains("invalid byte sequence"), "no PostgreSQL text in the message: " + invalid.getMessage());
      }
      List<Job> stored = fx.drain(db, "");
      assertEquals(2 * 80 * 2, stored.size(), "every innocent job, nothing of the poisonous callers");
      assertTrue(stored.stream().noneMatch(j -> j.routingKey().equals("in-bad")), "the poisonous caller's jobs are all refused");
    }
  }

  private static Throwable failureOf(Future<?> f) {
    try {
      await(f);
    } catch (Throwable t) {
      Throwable c = t;
      while (c != null && !(c instanceof JobsDbException)) {
        c = c.getCause();
      }
      return c == null ? t : c;
    }
    throw new AssertionError("expected a failure");
  }
}
