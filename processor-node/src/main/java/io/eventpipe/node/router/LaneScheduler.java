package io.eventpipe.node.router;

import io.eventpipe.jobsdb.Job;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Which of a destination worker's queued jobs go in the next request: one lane (a FIFO of jobs) per routing key,
 * taking turns. No I/O, no clock, no Vert.x: {@link DestinationWorker} drives it on its event loop, and it is tested on
 * its own ({@code LaneSchedulerTest}).
 *
 * <ol>
 *   <li>A lane has at most one request in flight (it is <em>busy</em> from {@link #take} to {@link #finish} or
 *       {@link #requeueApart}); a lane with jobs that is not busy is <em>ready</em>, in the order it became so.</li>
 *   <li>A request takes ready lanes in order, each lane's jobs from its head, up to {@code maxEvents} jobs.</li>
 *   <li>One failure, one victim: after a failed request of several users, each user's lane goes alone in its next
 *       request; after a rejected request of one user's several events, that lane sends its next events one per
 *       request. Such lanes go first.</li>
 *   <li>A key whose job will be retried gives up its queued jobs (they stay pending in jobsdb, which skips the key
 *       until the job is due), so no event goes before an earlier one of its key succeeded or was aborted.</li>
 * </ol>
 */
final class LaneScheduler {

  /** The queued jobs of one routing key. */
  static final class Lane {
    final String key;
    private final ArrayDeque<Job> jobs = new ArrayDeque<>();
    private boolean busy;
    private boolean queued;
    /** a read returned as many of this key's jobs as a read gives one key: more may be pending */
    private boolean more;
    /** the next request takes this lane alone (its jobs were in a batch of several users that failed) */
    private boolean alone;
    /** the next {@code singles} jobs go one per request (a batch of this lane's jobs was rejected) */
    private int singles;

    private Lane(String key) {
      this.key = key;
    }
  }

  /** One request's worth: jobs of one or more lanes, each lane's taken jobs all in it, in order. */
  record Batch(List<Job> jobs, List<Lane> lanes) {}

  /** What {@link #finish} let go: queued jobs dropped behind a retry, and whether an emptied lane may have more. */
  record Finished(List<Job> dropped, boolean readAgain) {}

  private final Map<String, Lane> lanes = new HashMap<>();
  private final ArrayDeque<Lane> ready = new ArrayDeque<>();

  /** The keys that have a lane (queued or in flight): a read passes over them. */
  Set<String> keys() {
    return lanes.keySet();
  }

  boolean hasReady() {
    return !ready.isEmpty();
  }

  /**
   * Queues a job read for its key, behind the lane's other jobs.
   *
   * @param fullShare the read returned as many of this key's jobs as it gives one key (more may be pending)
   */
  void add(Job job, boolean fullShare) {
    Lane lane = lanes.computeIfAbsent(job.routingKey(), Lane::new);
    lane.jobs.add(job);
    lane.more |= fullShare;
    if (!lane.busy && !lane.queued) {
      lane.queued = true;
      ready.add(lane);
    }
  }

  /** How many jobs {@link #take} would take now (0 when no lane is ready). */
  int nextCount(int maxEvents) {
    return pick(maxEvents, new ArrayList<>(1));
  }

  /** Takes the next request's jobs (see the class comment), marking their lanes busy; null when none is ready. */
  Batch take(int maxEvents) {
    List<Lane> picked = new ArrayList<>(1);
    int count = pick(maxEvents, picked);
    if (count == 0) {
      return null;
    }
    List<Job> jobs = new ArrayList<>(count);
    for (Lane lane : picked) {
      ready.poll();
      lane.queued = false;
      lane.busy = true;
      while (jobs.size() < count && !lane.jobs.isEmpty()) {
        jobs.add(lane.jobs.poll());
      }
      if (lane.singles > 0) {
        lane.singles--;
      }
      lane.alone = false;
    }
    return new Batch(jobs, picked);
  }

  /** A lane set apart after a failed batch goes alone; others share a request up to maxEvents, in ready order. */
  private int pick(int maxEvents, List<Lane> picked) {
    Lane head = ready.peek();
    if (head == null) {
      return 0;
    }
    if (head.alone || head.singles > 0) {
      picked.add(head);
      return head.singles > 0 ? 1 : Math.min(head.jobs.size(), maxEvents);
    }
    int count = 0;
    for (Lane lane : ready) {
      if (lane.alone || lane.singles > 0 || count >= maxEvents) {
        break;
      }
      picked.add(lane);
      count += Math.min(lane.jobs.size(), maxEvents - count);
    }
    return count;
  }

  /**
   * A request ended with an outcome for every job. Lanes of {@code retrying} keys drop their queued jobs; emptied
   * lanes go away; others are ready again if {@code requeue} (the worker is running).
   */
  Finished finish(Batch batch, Set<String> retrying, boolean requeue) {
    List<Job> dropped = new ArrayList<>();
    boolean readAgain = false;
    for (Lane lane : batch.lanes()) {
      lane.busy = false;
      if (retrying.contains(lane.key)) {
        dropped.addAll(lane.jobs);
        lane.jobs.clear();
        lanes.remove(lane.key);
      } else if (lane.jobs.isEmpty()) {
        lanes.remove(lane.key);
        readAgain |= lane.more;
      } else if (requeue && !lane.queued) {
        lane.queued = true;
        ready.add(lane);
      }
    }
    return new Finished(dropped, readAgain);
  }

  /**
   * A request failed before anyone got its outcome: its jobs go back to the front of their lanes, each user's in a
   * request of its own if the request had several users, else (a rejected batch of one user's events) one event per
   * request. The lanes go to the front of the ready queue if {@code requeue}.
   */
  void requeueApart(Batch batch, boolean requeue) {
    boolean severalUsers = batch.lanes().size() > 1;
    for (Lane lane : batch.lanes()) {
      lane.busy = false;
      List<Job> mine = batch.jobs().stream().filter(j -> j.routingKey().equals(lane.key)).toList();
      for (int i = mine.size() - 1; i >= 0; i--) {
        lane.jobs.addFirst(mine.get(i));
      }
      if (severalUsers) {
        lane.alone = true;
      } else {
        lane.singles = mine.size();
      }
      if (requeue && !lane.queued) {
        lane.queued = true;
        ready.addFirst(lane);
      }
    }
  }

  /** Drops every queued job (returned); lanes with a request in flight stay. */
  List<Job> dropQueued() {
    List<Job> dropped = new ArrayList<>();
    for (Iterator<Lane> it = lanes.values().iterator(); it.hasNext();) {
      Lane lane = it.next();
      dropped.addAll(lane.jobs);
      lane.jobs.clear();
      lane.alone = false;
      lane.singles = 0;
      if (!lane.busy) {
        it.remove();
      }
    }
    for (Lane lane : ready) {
      lane.queued = false;
    }
    ready.clear();
    return dropped;
  }

  /** Drops the queued jobs of {@code partitions} (returned); lanes left empty and idle go away. */
  List<Job> dropPartitions(Set<Integer> partitions) {
    List<Job> dropped = new ArrayList<>();
    for (Iterator<Lane> it = lanes.values().iterator(); it.hasNext();) {
      Lane lane = it.next();
      lane.jobs.removeIf(j -> {
        if (partitions.contains(j.partitionId())) {
          dropped.add(j);
          return true;
        }
        return false;
      });
      if (lane.jobs.isEmpty() && !lane.busy) {
        it.remove();
      }
    }
    ready.removeIf(lane -> {
      if (lane.jobs.isEmpty()) {
        lane.queued = false;
        return true;
      }
      return false;
    });
    return dropped;
  }

  /** Forgets everything (the worker stopped). */
  void clear() {
    lanes.clear();
    ready.clear();
  }
}
