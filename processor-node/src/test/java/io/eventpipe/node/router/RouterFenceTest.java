package io.eventpipe.node.router;

import static io.eventpipe.node.router.Workspaces.webhook;
import static io.eventpipe.testing.Waiting.await;
import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.node.processor.ProcessorOptions;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.vertx.core.Future;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * {@link Router#fence}: once it completes, the node sends nothing more of the fenced partitions (the migration then
 * confirms the fence and the target delivers them), while the other partitions' users are delivered as before.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class RouterFenceTest {

  private Sink sink;
  private PgDatabase db;

  @BeforeAll
  void start(PgDatabase db) {
    this.db = db;
    sink = new Sink();
  }

  @AfterAll
  void stop() {
    sink.close();
  }

  /** The fixture puts a user in partition hash mod 64: the fenced half is [0, 32). */
  private static boolean inFencedHalf(String user) {
    return Math.floorMod(user.hashCode(), 64) < 32;
  }

  private static Set<Integer> fencedHalf() {
    Set<Integer> parts = new HashSet<>();
    for (int p = 0; p < 32; p++) {
      parts.add(p);
    }
    return parts;
  }

  @Test
  void aFailedBatchOfSeveralUsersIsNotSentAgainForAPartitionFencedWhileItRan() throws Exception {
    String path = "/fence-batch";
    String yaml = Workspaces.of(webhook("fb", "{\"url\": \"" + sink.url(path) + "\", \"batch\": {\"maxEvents\": 50},"
        + " \"retry\": {\"initialBackoffMs\": 5, \"maxBackoffMs\": 20}}"));
    AtomicBoolean first = new AtomicBoolean(true);
    AtomicBoolean fenceDone = new AtomicBoolean();
    ConcurrentLinkedQueue<String> sentAfterFence = new ConcurrentLinkedQueue<>();
    java.util.concurrent.CountDownLatch inFlight = new java.util.concurrent.CountDownLatch(1);
    sink.behave((p, events) -> {
      if (!p.equals(path)) {
        return Sink.Reply.OK;
      }
      for (var e : events) {
        if (fenceDone.get() && inFencedHalf(Sink.user(e))) {
          sentAfterFence.add(e.getString("messageId"));
        }
      }
      Set<String> users = new HashSet<>();
      boolean fencedUser = false;
      for (var e : events) {
        users.add(Sink.user(e));
        fencedUser |= inFencedHalf(Sink.user(e));
      }
      if (users.size() > 1 && fencedUser && first.compareAndSet(true, false)) {
        inFlight.countDown();
        return new Sink.Reply(503, Map.of(), "try later", 500); // fails after the fence was asked for
      }
      return Sink.Reply.OK;
    });
    try (NodeFixture node = new NodeFixture(db, "fencebatch", Clock.systemUTC(), yaml)) {
      node.start();
      List<NewJob> jobs = node.users("web", "fb", 300, 3); // 900 events: many requests of 50, past a read batch's share
      node.ingest(jobs);
      assertTrue(inFlight.await(60, java.util.concurrent.TimeUnit.SECONDS), "a batch with a fenced user is in flight");
      await(node.router.fence(fencedHalf()).onSuccess(v -> fenceDone.set(true)));
      long innocent = jobs.stream().filter(j -> !inFencedHalf(j.routingKey())).count();
      Sink.Endpoint ep = sink.endpoint(path);
      Map<String, Long> expected = new java.util.HashMap<>();
      for (int u = 0; u < 300; u++) {
        if (!inFencedHalf("fb" + u)) {
          expected.put("fb" + u, 3L);
        }
      }
      eventually("every user of the other partitions is delivered", () -> expected.entrySet().stream()
          .allMatch(e -> ep.accepted.delivered(e.getKey()) == e.getValue()), () -> "accepted " + ep.acceptedEvents.get());
      eventually("their outcomes are written", () -> node.count("SELECT count(*) FROM {rt}.job_state WHERE state = 3"
          + " AND partition_id >= 32") == innocent);
      assertEquals(List.of(), List.copyOf(sentAfterFence), "nothing of a fenced partition is sent after the fence completed");
      long fencedJobs = jobs.size() - innocent;
      assertTrue(fencedJobs > 0);
      long acceptedFenced = 0;
      for (int u = 0; u < 300; u++) {
        if (inFencedHalf("fb" + u)) {
          acceptedFenced += ep.accepted.delivered("fb" + u);
        }
      }
      assertEquals(fencedJobs - acceptedFenced, node.count("SELECT count(*) FROM {rt}.job_state WHERE partition_id < 32"
          + " AND state < 3"), "what a fenced partition had not delivered before the fence stays pending for the migration");
    }
  }

  @Test
  void aFenceWaitsForTheRequestsOfAWorkerThatIsStopping() throws Exception {
    String path = "/fence-stop";
    String yaml = Workspaces.of(webhook("fs", "{\"url\": \"" + sink.url(path) + "\"}"));
    java.util.concurrent.CountDownLatch inFlight = new java.util.concurrent.CountDownLatch(1);
    sink.behave((p, events) -> {
      if (p.equals(path)) {
        inFlight.countDown();
        return new Sink.Reply(200, Map.of(), "{}", 700);
      }
      return Sink.Reply.OK;
    });
    try (NodeFixture node = new NodeFixture(db, "fencestop", Clock.systemUTC(), yaml)) {
      node.start(ProcessorOptions.defaults().withIdlePoll(Duration.ofMillis(20)),
          RouterOptions.defaults().withIdlePoll(Duration.ofMillis(20)).withStopTimeout(Duration.ofSeconds(30)));
      String user = "stopper";
      int partition = Math.floorMod(user.hashCode(), 64);
      node.ingest(node.event("web", user, 1));
      assertTrue(inFlight.await(60, java.util.concurrent.TimeUnit.SECONDS), "the request is in flight");
      // a configuration change restarts the worker: the old one stops, its request still running
      Files.writeString(node.configFile, Workspaces.of(webhook("fs", "{\"url\": \"" + sink.url(path) + "\", \"timeoutMs\": 9000}")));
      assertTrue(node.store.reloadNow());
      Future<Void> reconciled = node.router.reconcile();
      eventually("the old worker is stopping", () -> !reconciled.isComplete()
          && Router.DestinationStatus.STOPPED.equals(node.router.status().get("fs").state()));
      Sink.Endpoint ep = sink.endpoint(path);
      await(node.router.fence(Set.of(partition)));
      assertEquals(1, ep.acceptedEvents.get(), "the fence completed only after the stopping worker's request ended");
      await(reconciled);
    }
  }
}
