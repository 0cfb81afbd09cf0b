package io.eventpipe.migrator;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.time.Clock;
import java.util.Collection;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one pacing point of a migration's data movement: the job copy's batches ({@link #pace}) and the first dedup copy's
 * pages ({@link #paceDedup}) take their time from one schedule shared by every stream. With {@code --throttle auto} the
 * rate comes from a {@link ThrottleController} fed each {@link MigratorOptions.Throttling#tick} with the involved nodes'
 * ingest latency; with {@code off}, it is {@code --max-jobs-per-second} (or none).
 *
 * <p>A dedup entry counts as one unit, as a job does (one row written on the target in the same kind of batch insert),
 * but only while the adaptive throttle holds the rate below the ceiling: {@code --max-jobs-per-second} counts jobs, and
 * an operator who caps the job copy has not asked for a dedup window of a few small rows to take as long.
 */
final class Throttle {

  private static final Logger LOG = LoggerFactory.getLogger(Throttle.class);
  private static final long QUIET_REASON_LOG_NANOS = 10_000_000_000L;

  private final Vertx vertx;
  private final MigratorOptions options;
  private final Supplier<IngestLatency> defaultSource;
  private final Clock clock;
  private final Set<Integer> nodes = new TreeSet<>();
  private ThrottleController controller;
  private IngestLatency source;
  private long timer = -1;
  private Future<Void> lastTick = Future.succeededFuture();
  private long unitsSinceTick;
  private long lastTickNanos;
  private long lastReasonLog;
  private long paceUntil;
  private final java.util.concurrent.atomic.AtomicInteger waiting = new java.util.concurrent.atomic.AtomicInteger();
  private volatile double limit;
  private volatile String reason;

  Throttle(Vertx vertx, MigratorOptions options, Supplier<IngestLatency> defaultSource, Clock clock) {
    this.vertx = vertx;
    this.options = options;
    this.defaultSource = defaultSource;
    this.clock = clock;
    this.limit = options.maxJobsPerSecond() > 0 ? options.maxJobsPerSecond() : Double.POSITIVE_INFINITY;
    this.reason = options.throttling().adaptive() ? null : "--throttle off";
  }

  /**
   * Starts watching {@code involved} (adding them when already watching). The first start measures the steady-state
   * baseline first: the returned future completes when the copy may begin.
   */
  synchronized Future<Void> start(Collection<Integer> involved) {
    nodes.addAll(involved);
    if (!options.throttling().adaptive() || controller != null) {
      return Future.succeededFuture();
    }
    MigratorOptions.Throttling t = options.throttling();
    controller = new ThrottleController(new ThrottleController.Settings(t.targetLatencyRatio(), options.maxJobsPerSecond(),
        t.floorJobsPerSecond(), t.baselineFor(), t.tick().multipliedBy(2), ThrottleController.DEFAULT_MIN_BASELINE_MILLIS), clock);
    if (source == null) {
      source = t.source() != null ? t.source() : defaultSource.get();
    }
    limit = controller.limit();
    reason = controller.reason();
    lastTickNanos = System.nanoTime();
    LOG.info("copy throttle: measuring steady-state ingest latency on nodes {} for {} ms before the copy (target p99 {}x of it)",
        nodes, t.baselineFor().toMillis(), t.targetLatencyRatio());
    timer = vertx.setPeriodic(t.tick().toMillis(), id -> tick());
    return vertx.timer(Math.max(1, t.baselineFor().toMillis())).compose(x -> tick());
  }

  /** Stops watching (the limit stays as it is until the next start measures a new baseline). */
  synchronized void stop() {
    if (timer >= 0) {
      vertx.cancelTimer(timer);
      timer = -1;
    }
    controller = null;
    nodes.clear();
  }

  /** One control step after the previous one ended (a slow scrape never overlaps the next). */
  private synchronized Future<Void> tick() {
    lastTick = lastTick.transform(x -> {
      Collection<Integer> watched;
      synchronized (this) {
        watched = new TreeSet<>(nodes);
      }
      Future<Map<Integer, Double>> readings;
      try {
        readings = source.p99Millis(watched);
      } catch (RuntimeException e) {
        readings = Future.failedFuture(e);
      }
      return readings.transform(ar -> {
        if (ar.failed()) {
          LOG.warn("copy throttle: reading ingest latency failed ({}); keeping the current rate", ar.cause().toString());
        }
        apply(ar.succeeded() ? ar.result() : Map.of());
        return Future.<Void>succeededFuture();
      });
    });
    return lastTick;
  }

  private synchronized void apply(Map<Integer, Double> readings) {
    if (controller == null) {
      return; // stopped while the reading was under way
    }
    long now = System.nanoTime();
    double seconds = Math.max(1e-3, (now - lastTickNanos) / 1e9);
    double observed = unitsSinceTick / seconds;
    unitsSinceTick = 0;
    lastTickNanos = now;
    double before = limit;
    boolean wasMeasuring = controller.measuringBaseline() || reason.equals("measuring steady-state ingest latency");
    ThrottleController.Decision d = controller.tick(readings, observed);
    limit = d.limit();
    reason = d.reason();
    boolean measuring = controller.measuringBaseline();
    if (d.limit() != before || wasMeasuring && !measuring) {
      // a new limit, or the baseline just taken: worth a line and a decision of record
      LOG.info("copy throttle: {}", d.reason());
      lastReasonLog = now;
      options.throttling().decisions().decided(limit(), d.reason());
    } else if (d.changed() && now - lastReasonLog > QUIET_REASON_LOG_NANOS) {
      LOG.info("copy throttle: {}", d.reason());
      lastReasonLog = now;
    }
  }

  /**
   * Takes the next {@code units / limit} seconds of the shared schedule; completes when that slot has passed (at once
   * without a limit).
   */
  Future<Void> pace(int units) {
    long now = System.nanoTime();
    long slotEnd;
    synchronized (this) {
      unitsSinceTick += units;
      double rate = limit;
      if (Double.isInfinite(rate)) {
        paceUntil = now;
        return Future.succeededFuture();
      }
      paceUntil = Math.max(paceUntil, now) + (long) (units * 1e9 / rate);
      slotEnd = paceUntil;
    }
    long waitMs = (slotEnd - now) / 1_000_000;
    if (waitMs <= 0) {
      return Future.succeededFuture();
    }
    waiting.incrementAndGet();
    Promise<Void> done = Promise.promise();
    vertx.setTimer(waitMs, id -> {
      waiting.decrementAndGet();
      done.complete();
    });
    return done.future();
  }

  /**
   * Paces a dedup page of {@code entries} like a batch of jobs while the adaptive throttle has slowed the copy below
   * {@code --max-jobs-per-second} (or below none); at the ceiling, the page passes (and counts toward the observed rate).
   */
  Future<Void> paceDedup(int entries) {
    double ceiling = options.maxJobsPerSecond() > 0 ? options.maxJobsPerSecond() : Double.POSITIVE_INFINITY;
    if (limit < ceiling) {
      return pace(entries);
    }
    synchronized (this) {
      unitsSinceTick += entries;
    }
    return Future.succeededFuture();
  }

  /** Whether a stream waits for the rate limit now. */
  boolean waiting() {
    return waiting.get() > 0;
  }

  /** The current limit in units per second, 0 for none. */
  double limit() {
    double l = limit;
    return Double.isInfinite(l) ? 0 : l;
  }

  /** Why the limit is what it is (null before the throttle decided anything). */
  String reason() {
    return reason;
  }

  @Override
  public String toString() {
    return String.format(Locale.ROOT, "Throttle[limit %.0f, %s]", limit(), reason);
  }
}
