package io.eventpipe.control;

import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.pgclient.PgConnection;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows the control store's topology: LISTEN/NOTIFY for prompt changes, polling as a fallback (a lost
 * notification, a dropped LISTEN connection). While the control store is down it keeps the last topology it
 * knew, so proxies and nodes keep working; it reconnects by itself.
 */
public final class TopologyWatcher implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(TopologyWatcher.class);

  private final Vertx vertx;
  private final ControlStore store;
  private final Duration pollEvery;
  private final List<Consumer<Topology>> listeners = new CopyOnWriteArrayList<>();
  private volatile Topology current;
  private volatile boolean closed;
  private volatile boolean storeDown;
  private PgConnection listen;
  private long pollTimer = -1;
  private Future<Topology> inFlight;

  private TopologyWatcher(Vertx vertx, ControlStore store, Duration pollEvery) {
    this.vertx = vertx;
    this.store = store;
    this.pollEvery = pollEvery;
  }

  /**
   * Starts watching; completes once a topology is known (it waits, retrying, for the cluster to be initialized).
   */
  public static Future<TopologyWatcher> start(Vertx vertx, ControlStore store, Duration pollEvery) {
    TopologyWatcher w = new TopologyWatcher(vertx, store, pollEvery);
    w.pollTimer = vertx.setPeriodic(pollEvery.toMillis(), t -> w.refresh());
    w.connectListener();
    return w.firstTopology();
  }

  private Future<TopologyWatcher> firstTopology() {
    return refresh().transform(ar -> {
      if (ar.succeeded() && ar.result() != null) {
        return Future.succeededFuture(this);
      }
      if (closed) {
        return Future.failedFuture("topology watcher closed before a topology was known");
      }
      return vertx.timer(pollEvery.toMillis()).compose(t -> firstTopology());
    });
  }

  /** The last topology known, or null before the first one. */
  public Topology current() {
    return current;
  }

  /** Whether the control store answered the last time it was asked. */
  public boolean controlStoreReachable() {
    return !storeDown;
  }

  /** Called on every new epoch (or node address change), on an event loop. */
  public void onChange(Consumer<Topology> listener) {
    listeners.add(listener);
  }

  /**
   * Reads the topology now. On failure the last known topology stays in force and the returned future fails.
   * Concurrent calls share one read.
   */
  public synchronized Future<Topology> refresh() {
    if (inFlight != null) {
      return inFlight;
    }
    Promise<Topology> p = Promise.promise();
    inFlight = p.future();
    store.current().onComplete(ar -> {
      synchronized (this) {
        inFlight = null;
      }
      if (ar.failed()) {
        if (!storeDown) {
          LOG.warn("control store unreachable, keeping topology epoch {}: {}", current == null ? "none" : current.epoch(),
              ar.cause().toString());
        }
        storeDown = true;
        p.fail(ar.cause());
        return;
      }
      if (storeDown) {
        LOG.info("control store reachable again");
        storeDown = false;
      }
      Topology t = ar.result().orElse(null);
      if (t != null && !t.equals(current) && (current == null || t.epoch() >= current.epoch())) {
        current = t;
        for (Consumer<Topology> l : listeners) {
          try {
            l.accept(t);
          } catch (RuntimeException e) {
            LOG.warn("topology listener failed", e);
          }
        }
      }
      p.complete(current);
    });
    return p.future();
  }

  /** Completes with a topology of at least {@code epoch}, refreshing as needed, or fails after {@code timeout}. */
  public Future<Topology> awaitEpoch(long epoch, Duration timeout) {
    long deadline = System.nanoTime() + timeout.toNanos();
    return awaitEpoch(epoch, deadline);
  }

  private Future<Topology> awaitEpoch(long epoch, long deadline) {
    Topology t = current;
    if (t != null && t.epoch() >= epoch) {
      return Future.succeededFuture(t);
    }
    if (System.nanoTime() > deadline) {
      return Future.failedFuture("no topology of epoch " + epoch + " or later within the timeout (have "
          + (t == null ? "none" : t.epoch()) + ")");
    }
    return refresh().transform(ar -> {
      Topology now = current;
      if (now != null && now.epoch() >= epoch) {
        return Future.succeededFuture(now);
      }
      return vertx.timer(50).compose(x -> awaitEpoch(epoch, deadline));
    });
  }

  private void connectListener() {
    if (closed) {
      return;
    }
    PgConnection.connect(vertx, store.config().connectOptions()).onComplete(ar -> {
      if (ar.failed()) {
        vertx.setTimer(pollEvery.toMillis(), t -> connectListener());
        return;
      }
      PgConnection conn = ar.result();
      if (closed) {
        conn.close();
        return;
      }
      listen = conn;
      conn.notificationHandler(n -> {
        if (ControlStore.CHANNEL.equals(n.getChannel())) {
          refresh();
        }
      });
      conn.closeHandler(v -> {
        listen = null;
        if (!closed) {
          vertx.setTimer(pollEvery.toMillis(), t -> connectListener());
        }
      });
      conn.query("LISTEN " + ControlStore.CHANNEL).execute().onSuccess(v -> refresh());
    });
  }

  @Override
  public void close() {
    closed = true;
    if (pollTimer >= 0) {
      vertx.cancelTimer(pollTimer);
    }
    if (listen != null) {
      listen.close();
    }
  }
}
