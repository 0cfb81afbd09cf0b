package io.eventpipe.jobsdb;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.SequenceChecker;
import io.eventpipe.testing.TcpProxy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** PostgreSQL connections cut in the middle of group commits: nothing acknowledged is lost, nothing is stored twice. */
@ExtendWith(PostgresExtension.class)
class JobsDbFaultTest {

  @Test
  void connectionsCutMidTransactionLoseNothingAcknowledgedAndRetriesDoNotDuplicate(PgDatabase database) throws Exception {
    Vertx vertx = Vertx.vertx();
    try (TcpProxy proxy = new TcpProxy(database.host(), database.port())) {
      PgConfig direct = new PgConfig(database.host(), database.port(), database.database(), database.user(), database.password());
      PgConfig viaProxy = new PgConfig(proxy.host(), proxy.port(), database.database(), database.user(), database.password());
      Pool pool = viaProxy.createPool(vertx, 4);
      JobsDbOptions options = JobsDbOptions.defaults("faults").withMaxBatchJobs(200);
      JobsDb db = await(JobsDb.open(vertx, direct, pool, options, new SimpleMeterRegistry()));

      int users = 40;
      int perUser = 25;
      Map<String, Long> expected = new HashMap<>();
      List<Future<Void>> writers = new ArrayList<>();
      int[] failures = new int[1];
      for (int u = 0; u < users; u++) {
        String key = "user-" + u;
        expected.put(key, (long) perUser);
        Future<Void> chain = Future.succeededFuture();
        for (int seq = 1; seq <= perUser; seq++) {
          NewJob job = new NewJob(u % 8, key, "src", "", key + "-" + seq, Instant.now(), (key + ":" + seq).getBytes(StandardCharsets.UTF_8));
          // an SDK retries a failed request with the same messageId until it is acknowledged
          chain = chain.compose(v -> storeWithRetry(vertx, db, job, failures));
        }
        writers.add(chain);
      }
      for (int cut = 0; cut < 5; cut++) {
        Thread.sleep(40);
        proxy.cutAll();
      }
      await(Future.all(writers));
      assertTrue(failures[0] > 0, "the cuts failed some transactions (otherwise this test proves nothing)");

      SequenceChecker checker = new SequenceChecker();
      await(db.shutdown());
      Pool directPool = direct.createPool(vertx, 2);
      JobsDb reader = await(JobsDb.open(vertx, direct, directPool, options, new SimpleMeterRegistry()));
      while (true) {
        List<Job> batch = await(reader.readPending(new ReadRequest("", 1000, 1 << 24, 5000, Instant.now())));
        if (batch.isEmpty()) {
          break;
        }
        List<StateUpdate> done = new ArrayList<>();
        for (Job j : batch) {
          String[] parts = new String(j.payload(), StandardCharsets.UTF_8).split(":");
          checker.observe(parts[0], Long.parseLong(parts[1]));
          done.add(StateUpdate.of(j, JobState.SUCCEEDED));
        }
        await(reader.updateStates(done));
      }
      checker.assertComplete(expected);
      assertEquals(0, checker.duplicates(), "retried requests were deduplicated by messageId");
      await(reader.shutdown());
      await(directPool.close());
      await(pool.close());
    } finally {
      await(vertx.close());
    }
  }

  private static Future<Void> storeWithRetry(Vertx vertx, JobsDb db, NewJob job, int[] failures) {
    return db.store(List.of(job)).<Void>mapEmpty().recover(err -> {
      synchronized (failures) {
        failures[0]++;
      }
      return vertx.timer(20).compose(t -> storeWithRetry(vertx, db, job, failures));
    });
  }
}
