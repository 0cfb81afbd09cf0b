package io.eventpipe.node.router;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import java.time.Instant;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The lane rules on their own: no database, no event loop, no clock. */
class LaneSchedulerTest {

  private long nextId = 1;

  private Job job(String key) {
    return job(key, 0);
  }

  private Job job(String key, int partition) {
    long id = nextId++;
    return new Job(id, partition, key, "src", "hook", key + "-" + id, Instant.EPOCH, new byte[0], JobState.UNPROCESSED,
        0, null, null, null);
  }

  private static List<String> ids(LaneScheduler.Batch b) {
    return b.jobs().stream().map(Job::messageId).toList();
  }

  @Test
  void readyLanesShareARequestInTheOrderTheyBecameReadyUpToMaxEvents() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    s.add(job("b"), false);
    s.add(job("a"), false);
    s.add(job("c"), false);
    assertEquals(3, s.nextCount(3));
    LaneScheduler.Batch first = s.take(3);
    assertEquals(List.of("a-1", "a-3", "b-2"), ids(first), "a's jobs in order, then b's, cut at maxEvents");
    assertEquals(2, first.lanes().size());
    LaneScheduler.Batch second = s.take(3);
    assertEquals(List.of("c-4"), ids(second), "busy lanes wait for their request to end");
    assertNull(s.take(3));
    assertEquals(0, s.nextCount(3));
  }

  @Test
  void aLaneHasOneRequestInFlightAndIsReadyAgainWhenItEnds() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    LaneScheduler.Batch first = s.take(1);
    s.add(job("a"), false);
    assertFalse(s.hasReady(), "a job read behind a request in flight waits for it");
    LaneScheduler.Finished done = s.finish(first, Set.of(), true);
    assertTrue(done.dropped().isEmpty());
    assertEquals(List.of("a-2"), ids(s.take(10)));
  }

  @Test
  void aRetryingKeyGivesUpWhatIsQueuedBehindItsFailedJob() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    LaneScheduler.Batch first = s.take(1);
    s.add(job("a"), false);
    s.add(job("a"), false);
    LaneScheduler.Finished done = s.finish(first, Set.of("a"), true);
    assertEquals(2, done.dropped().size());
    assertFalse(s.hasReady());
    assertFalse(s.keys().contains("a"), "its lane is gone: the next read finds the key again once the job is due");
  }

  @Test
  void anEmptiedLaneWhoseReadWasFullAsksForAnotherRead() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), true);
    s.add(job("b"), false);
    LaneScheduler.Batch batch = s.take(10);
    assertTrue(s.finish(batch, Set.of(), true).readAgain());
    s.add(job("c"), false);
    assertFalse(s.finish(s.take(10), Set.of(), true).readAgain());
  }

  @Test
  void aFailedRequestOfSeveralUsersIsRetriedOneUserPerRequestFirst() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    s.add(job("b"), false);
    LaneScheduler.Batch shared = s.take(10);
    s.add(job("c"), false);
    s.requeueApart(shared, true);
    Set<List<String>> apart = Set.of(ids(s.take(10)), ids(s.take(10)));
    assertEquals(Set.of(List.of("a-1"), List.of("b-2")), apart, "each user alone, both ahead of c");
    assertEquals(List.of("c-3"), ids(s.take(10)));
  }

  @Test
  void aRejectedRequestOfOneUsersEventsIsRetriedOneEventPerRequest() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    s.add(job("a"), false);
    LaneScheduler.Batch batch = s.take(10);
    s.requeueApart(batch, true);
    LaneScheduler.Batch one = s.take(10);
    assertEquals(List.of("a-1"), ids(one));
    s.finish(one, Set.of(), true);
    assertEquals(List.of("a-2"), ids(s.take(10)));
  }

  @Test
  void aStoppingWorkerDoesNotRequeue() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    s.add(job("a"), false);
    s.finish(s.take(1), Set.of(), false);
    assertFalse(s.hasReady());
  }

  @Test
  void droppingQueuedJobsKeepsLanesInFlight() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a"), false);
    LaneScheduler.Batch inFlight = s.take(1);
    s.add(job("a"), false);
    s.add(job("b"), false);
    assertEquals(2, s.dropQueued().size());
    assertFalse(s.hasReady());
    assertEquals(Set.of("a"), s.keys(), "a's request is still in flight");
    s.finish(inFlight, Set.of(), true);
    assertTrue(s.keys().isEmpty());
  }

  @Test
  void droppingPartitionsTakesOnlyTheirQueuedJobs() {
    LaneScheduler s = new LaneScheduler();
    s.add(job("a", 1), false);
    s.add(job("b", 2), false);
    assertEquals(1, s.dropPartitions(Set.of(1)).size());
    assertEquals(Set.of("b"), s.keys());
    assertEquals(List.of("b-2"), ids(s.take(10)));
  }
}
