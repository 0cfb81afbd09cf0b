package io.eventpipe.autoscaler;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The controller loop: every {@code interval} it takes a reading, asks the {@link ScalingPolicy}, and on a grow or a
 * shrink drives the {@link Resizer} (blocking: the next reading comes after the resize ends). Every decision is
 * counted in {@code autoscaler_decisions_total{action,signal}}; a change, and a hold that says something else than the
 * previous decision (its signal, or its reason once numbers are left out), is logged and recorded in the control store ({@link DecisionStore}), so the log and
 * {@code pipeline status} say why the cluster has its size without repeating the same hold every few seconds.
 */
public final class Autoscaler implements Runnable {

  private static final Logger LOG = LoggerFactory.getLogger(Autoscaler.class);

  private final Callable<Signals> signals;
  private final ScalingPolicy policy;
  private final Resizer resizer;
  private final DecisionStore store;
  private final MeterRegistry registry;
  private final Clock clock;
  private final Duration interval;
  private final AtomicInteger desired = new AtomicInteger();
  private volatile boolean stopped;
  private volatile Decision last;
  private String lastLogged;

  /** @param store where decisions are recorded, or null (not recorded) */
  public Autoscaler(Callable<Signals> signals, ScalingPolicy policy, Resizer resizer, DecisionStore store,
      MeterRegistry registry, Clock clock, Duration interval) {
    this.signals = signals;
    this.policy = policy;
    this.resizer = resizer;
    this.store = store;
    this.registry = registry;
    this.clock = clock;
    this.interval = interval;
    Gauge.builder("autoscaler.nodes.desired", desired, AtomicInteger::get)
        .description("The node count the autoscaler last decided on").register(registry);
  }

  /** The last decision, or null before the first. */
  public Decision last() {
    return last;
  }

  public void stop() {
    stopped = true;
  }

  /** Runs until {@link #stop} (or the thread is interrupted). */
  @Override
  public void run() {
    LOG.info("autoscaler: {}..{} nodes, reading every {} s", policy.config().min(), policy.config().max(),
        interval.toMillis() / 1000.0);
    while (!stopped && !Thread.currentThread().isInterrupted()) {
      try {
        step();
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      } catch (Exception e) {
        LOG.warn("autoscaler: reading the signals failed ({}); trying again in {} s", e.toString(), interval.toMillis() / 1000.0);
      }
      try {
        Thread.sleep(interval.toMillis());
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    LOG.info("autoscaler: stopped");
  }

  /** One reading, one decision, and the resize it calls for. */
  public Decision step() throws Exception {
    Signals s = signals.call();
    if (s == null) {
      return null;
    }
    Decision d = policy.decide(s);
    last = d;
    desired.set(d.to());
    Counter.builder("autoscaler.decisions").description("Autoscaler decisions, by action and by the signal that caused them")
        .tag("action", d.action().name().toLowerCase(java.util.Locale.ROOT)).tag("signal", d.signal().tag())
        .register(registry).increment();
    // a hold is logged when what it says changes, not its numbers (ages, counts, seconds into the window)
    String key = d.signal() + " " + d.reason().replaceAll("[0-9][0-9.]*", "#");
    boolean noteworthy = d.changes() || !key.equals(lastLogged);
    lastLogged = key;
    Long id = null;
    if (noteworthy) {
      LOG.info(d.line());
      id = record(d);
    } else {
      LOG.debug(d.line());
    }
    if (d.changes()) {
      try {
        resizer.resize(d.from(), d.to());
        LOG.info("autoscaler: the cluster serves {} nodes", d.to());
        outcome(id, "done");
      } catch (InterruptedException e) {
        throw e;
      } catch (Exception e) {
        LOG.error("autoscaler: resizing {} -> {} failed: {}; trying again after the cooldown", d.from(), d.to(), e.toString());
        outcome(id, "failed: " + e.getMessage());
      } finally {
        policy.resized(clock.instant());
        lastLogged = null;
      }
    }
    return d;
  }

  private Long record(Decision d) {
    if (store == null) {
      return null;
    }
    try {
      return store.record(d);
    } catch (Exception e) {
      LOG.warn("autoscaler: recording the decision in the control store failed: {}", e.toString());
      return null;
    }
  }

  private void outcome(Long id, String outcome) {
    if (store == null || id == null) {
      return;
    }
    try {
      store.outcome(id, outcome.length() > 500 ? outcome.substring(0, 500) : outcome);
    } catch (Exception e) {
      LOG.warn("autoscaler: recording the outcome in the control store failed: {}", e.toString());
    }
  }
}
