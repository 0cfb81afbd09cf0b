package io.eventpipe.node;

import io.eventpipe.jobsdb.NodePartitions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.processor.Processor;
import io.eventpipe.node.router.Router;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnection;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes the node obey what its own database records about moving partitions ({@link NodePartitions}), whoever wrote it
 * (normally the migrator, on this database directly).
 *
 * <ol>
 *   <li>Holds the database's instance lock on a connection of its own for the node's whole life: a second process
 *       started with the same database cannot serve it, and the migrator can tell that nobody serves it.</li>
 *   <li>On that connection, {@code LISTEN partitions}, and polls every second as a fallback.</li>
 *   <li>A partition newly fenced: the router drops its queued jobs and waits for its deliveries in flight, then the
 *       node records the confirmation (the migrator copies only after it). Ingest and fan-out need nothing here: they
 *       check the record inside their transactions.</li>
 *   <li>A partition released (no longer incoming) or unfenced: the processor and the router read again at once.</li>
 * </ol>
 * If the lock connection drops (the database restarted or the network failed), the node re-takes the lock; while it
 * cannot, it does not know whether it still serves its partitions, so it fences everything in the router (deliveries
 * stop; nothing is lost: what it held stays pending in the database).
 *
 * <h2>Self-fence: no delivery outlives the node's hold on its database</h2>
 * A connection that dies silently (a network partition) can look alive to the node long after the database dropped
 * its lock, and the migrator confirms the fence of a node it sees down after a lease. So the node renews its hold: a
 * query on the lock connection every fifth of {@code selfFence}. When none has succeeded for {@code selfFence}
 * (counted from when the last successful one was sent, before the database answered it), and the lock was not taken
 * again meanwhile, the node cuts itself off: every partition fenced, every request in flight abandoned and its
 * connection closed ({@link Router#cutOff}), the lock connection closed and taken again. A lock connection that
 * drops (a restart) only fences: taken again within the self-fence, the outcomes of what was in flight are written.
 * {@code selfFence} is recorded in the node's database with the lock ({@link NodePartitions#selfFence()}), and the migrator waits longer than that after it saw the lock free, so the old
 * owner's last request is closed before the new owner delivers anything of its partitions.
 */
final class PartitionFollower {

  private static final Logger LOG = LoggerFactory.getLogger(PartitionFollower.class);

  private final Vertx vertx;
  private final PgConfig pg;
  private final NodePartitions partitions;
  private final Router router;
  private final Processor processor;
  private final int nodeId;
  private final java.time.Duration selfFence;
  private final AtomicInteger fencedGauge = new AtomicInteger();
  private final AtomicInteger heldGauge = new AtomicInteger();
  private PgConnection lock;
  private long timer = -1;
  private long heartbeatTimer = -1;
  private long selfFenceTimer = -1;
  private boolean refreshing;
  private boolean closed;
  private Set<Integer> fenced = new HashSet<>();
  private Set<Integer> incoming = new HashSet<>();

  PartitionFollower(Vertx vertx, PgConfig pg, NodePartitions partitions, Router router, Processor processor, int nodeId,
      java.time.Duration selfFence, MeterRegistry registry) {
    this.selfFence = selfFence;
    this.vertx = vertx;
    this.pg = pg;
    this.partitions = partitions;
    this.router = router;
    this.processor = processor;
    this.nodeId = nodeId;
    Gauge.builder("node.partitions.fenced", fencedGauge, AtomicInteger::get)
        .description("Partitions this node's database records as fenced or moved away").register(registry);
    Gauge.builder("node.partitions.held", heldGauge, AtomicInteger::get)
        .description("Incoming partitions held (accepting writes, not delivering) until a migration releases them").register(registry);
  }

  /** Takes the instance lock (failing if another process holds it) and applies the current record. */
  Future<Void> start() {
    return lockAndListen().compose(v -> refresh()).map(v -> {
      timer = vertx.setPeriodic(1000, t -> refresh());
      heartbeatTimer = vertx.setPeriodic(Math.max(1, selfFence.toMillis() / 5), t -> renew());
      return null;
    });
  }

  /** One renewal of the hold: a query on the lock connection; its success moves the self-fence deadline. */
  private void renew() {
    PgConnection conn = lock;
    if (conn == null || closed) {
      return;
    }
    long sentAt = System.nanoTime();
    conn.query("SELECT 1").execute().onSuccess(r -> {
      if (conn == lock) {
        armSelfFence(sentAt);
      }
    });
  }

  /** The node cuts itself off {@code selfFence} after {@code renewedAt} unless a later renewal succeeds. */
  private void armSelfFence(long renewedAt) {
    if (selfFenceTimer >= 0) {
      vertx.cancelTimer(selfFenceTimer);
    }
    long delayMs = Math.max(1, java.util.concurrent.TimeUnit.NANOSECONDS.toMillis(renewedAt + selfFence.toNanos() - System.nanoTime()));
    selfFenceTimer = vertx.setTimer(delayMs, t -> {
      selfFenceTimer = -1;
      if (closed) {
        return;
      }
      LOG.error("node {}: could not renew its hold on its database for {} ms; abandoning every delivery in flight until "
          + "it holds the instance lock again", nodeId, selfFence.toMillis());
      cutOff();
      PgConnection conn = lock;
      if (conn != null) { // it looks alive but answers nothing: take the lock again on a new one
        lock = null;
        conn.close(); // its close handler finds lock != conn and leaves the relock to us
        relock();
      } // else it dropped, and lost() is taking the lock again already
    });
  }

  /** Every partition fenced and every request in flight abandoned, until the record says otherwise again. */
  private void cutOff() {
    Set<Integer> all = allPartitions();
    router.cutOff(all);
    fenced = new HashSet<>(all);
  }

  private static Set<Integer> allPartitions() {
    Set<Integer> all = new HashSet<>();
    for (int p = 0; p < 65536; p++) {
      all.add(p);
    }
    return all;
  }

  /** Applies the record to the router before it starts, so its workers never read a fenced partition. */
  static Future<Set<Integer>> initiallyFenced(NodePartitions partitions) {
    return partitions.entries().map(entries -> {
      Set<Integer> out = new HashSet<>();
      entries.forEach((p, e) -> {
        if (e.state() != NodePartitions.State.INCOMING) {
          out.add(p);
        }
      });
      return out;
    });
  }

  private Future<Void> lockAndListen() {
    long sentAt = System.nanoTime();
    return NodePartitions.lockInstance(vertx, pg, selfFence, "node-" + nodeId).compose(conn -> {
      conn.notificationHandler(n -> refresh());
      conn.closeHandler(v -> lost(conn));
      return conn.query("LISTEN " + NodePartitions.CHANNEL).execute().<Void>map(v -> {
        lock = conn;
        armSelfFence(sentAt);
        return null;
      }).recover(e -> conn.close().transform(x -> Future.<Void>failedFuture(e)));
    });
  }

  private void lost(PgConnection conn) {
    if (closed || conn != lock) {
      return; // closed by us (closing, or a self-fence that already cut off and relocks)
    }
    lock = null;
    LOG.error("node {}: lost the connection holding its database's instance lock; not delivering until it is back", nodeId);
    // stop reading; requests in flight may end and their outcomes wait for the database (a restart, most often). Were
    // the lock not taken again within the self-fence, counted from the last renewal, its timer abandons them
    Set<Integer> all = allPartitions();
    router.fence(all);
    fenced = new HashSet<>(all);
    relock();
  }

  private void relock() {
    if (closed) {
      return;
    }
    lockAndListen().onSuccess(v -> {
      LOG.info("node {}: instance lock taken again", nodeId);
      refresh();
    }).onFailure(e -> vertx.setTimer(1000, t -> relock()));
  }

  private Future<Void> refresh() {
    if (refreshing || closed || lock == null) {
      return Future.succeededFuture();
    }
    refreshing = true;
    return partitions.entries().compose(entries -> apply(entries))
        .onFailure(e -> LOG.warn("node {}: reading its partition record failed: {}", nodeId, e.toString()))
        .eventually(() -> {
          refreshing = false;
          return Future.succeededFuture();
        });
  }

  private Future<Void> apply(Map<Integer, NodePartitions.Entry> entries) {
    Set<Integer> nowFenced = new HashSet<>();
    Set<Integer> toConfirm = new TreeSet<>();
    Set<Integer> nowIncoming = new HashSet<>();
    entries.forEach((p, e) -> {
      if (e.state() == NodePartitions.State.INCOMING) {
        nowIncoming.add(p);
      } else {
        nowFenced.add(p);
        if (e.state() == NodePartitions.State.FENCED && !e.confirmed()) {
          toConfirm.add(p);
        }
      }
    });
    Set<Integer> unfenced = new HashSet<>(fenced);
    unfenced.removeAll(nowFenced);
    boolean released = !nowIncoming.containsAll(incoming);
    fenced = nowFenced;
    incoming = nowIncoming;
    fencedGauge.set(nowFenced.size());
    heldGauge.set(nowIncoming.size());
    if (!unfenced.isEmpty()) {
      router.unfence(unfenced);
    }
    if (released || !unfenced.isEmpty()) {
      processor.wake();
      router.wakeAll();
    }
    if (toConfirm.isEmpty()) {
      return Future.succeededFuture();
    }
    return router.fence(nowFenced).compose(v -> partitions.confirm(toConfirm)).map(v -> {
      LOG.info("node {}: confirmed the fence of {} partitions (nothing of theirs in memory or in flight)", nodeId, toConfirm.size());
      return null;
    });
  }

  /** Partitions this node's database records as fenced or gone. */
  int fenced() {
    return fencedGauge.get();
  }

  /** Incoming partitions held until a migration releases them. */
  int held() {
    return heldGauge.get();
  }

  Future<Void> close() {
    closed = true;
    for (long t : new long[] {timer, heartbeatTimer, selfFenceTimer}) {
      if (t >= 0) {
        vertx.cancelTimer(t);
      }
    }
    return lock == null ? Future.succeededFuture() : lock.close();
  }
}
