package io.eventpipe.loadtests.harness;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import org.HdrHistogram.Histogram;

/**
 * A run's figures in one-second buckets of its elapsed time: requests the schedule intended, events acknowledged and
 * their acknowledgement latency (from the intended send time), events delivered and their lag (from the intended send
 * time to the sink's first 2xx), failed attempts; and the faults and resizes as time bands. Latencies are kept in
 * HdrHistograms of microseconds (3 significant digits, up to an hour). Thread-safe: the load and the sink write to it.
 */
public final class Timeline {

  /** A fault or a resize, from {@code fromMillis} to {@code toMillis} of the run (to = -1 while it lasts). */
  public record Band(String label, long fromMillis, long toMillis) {}

  private static final long MAX_MICROS = 3_600_000_000L;

  private static final class Bucket {
    long intended;
    long ackedEvents;
    long deliveredEvents;
    long failedAttempts;
    final Histogram ack = new Histogram(MAX_MICROS, 3);
    final Histogram lag = new Histogram(MAX_MICROS, 3);
  }

  private final TreeMap<Long, Bucket> buckets = new TreeMap<>();
  private final Histogram ackAll = new Histogram(MAX_MICROS, 3);
  private final Histogram lagAll = new Histogram(MAX_MICROS, 3);
  private final List<Band> bands = new ArrayList<>();
  private long ackedEvents;
  private long deliveredEvents;

  private Bucket at(long nanos) {
    return buckets.computeIfAbsent(Math.max(0, nanos) / 1_000_000_000L, s -> new Bucket());
  }

  private static long micros(long nanos) {
    return Math.min(MAX_MICROS, Math.max(0, nanos / 1000));
  }

  /** The schedule meant a request to go at {@code intendedNanos}. */
  public synchronized void intended(long intendedNanos) {
    at(intendedNanos).intended++;
  }

  /** A request of {@code events} events intended at {@code intendedNanos} was acknowledged at {@code ackNanos}. */
  public synchronized void acked(long intendedNanos, long ackNanos, int events) {
    Bucket b = at(ackNanos);
    long us = micros(ackNanos - intendedNanos);
    b.ack.recordValue(us);
    ackAll.recordValue(us);
    b.ackedEvents += events;
    ackedEvents += events;
  }

  /** An attempt of a request failed (refused, timed out, connection lost) at {@code atNanos}; it will be retried. */
  public synchronized void failedAttempt(long atNanos) {
    at(atNanos).failedAttempts++;
  }

  /** An event intended at {@code intendedNanos} was first delivered (2xx) at {@code deliveredNanos}. */
  public synchronized void delivered(long intendedNanos, long deliveredNanos) {
    Bucket b = at(deliveredNanos);
    long us = micros(deliveredNanos - intendedNanos);
    b.lag.recordValue(us);
    lagAll.recordValue(us);
    b.deliveredEvents++;
    deliveredEvents++;
  }

  /** Opens a band (a fault, a resize) at {@code atMillis}; {@link #close} ends it. */
  public synchronized int open(String label, long atMillis) {
    bands.add(new Band(label, atMillis, -1));
    return bands.size() - 1;
  }

  public synchronized void close(int band, long atMillis) {
    Band b = bands.get(band);
    bands.set(band, new Band(b.label(), b.fromMillis(), atMillis));
  }

  public synchronized List<Band> bands() {
    return List.copyOf(bands);
  }

  public synchronized long ackedEvents() {
    return ackedEvents;
  }

  public synchronized long deliveredEvents() {
    return deliveredEvents;
  }

  /** The acknowledgement latency at {@code percentile} (0-100) over the whole run, in milliseconds. */
  public synchronized double ackMillis(double percentile) {
    return ackAll.getValueAtPercentile(percentile) / 1000.0;
  }

  public synchronized double lagMillis(double percentile) {
    return lagAll.getValueAtPercentile(percentile) / 1000.0;
  }

  /**
   * The series, one entry per second from 0 to the last bucket, as columns (what a chart takes): {@code t} seconds,
   * {@code intended} requests, {@code acked} and {@code delivered} events, {@code failed} attempts, and the ack latency
   * and delivery lag percentiles in ms ({@code ackP50}, {@code ackP99}, {@code ackP999}, {@code ackMax}, {@code lagP50},
   * {@code lagP99}, {@code lagMax}; null in a second without any).
   */
  public synchronized JsonObject series() {
    String[] names = {"t", "intended", "acked", "delivered", "failed", "ackP50", "ackP99", "ackP999", "ackMax", "lagP50",
        "lagP99", "lagMax"};
    JsonArray[] cols = new JsonArray[names.length];
    for (int i = 0; i < cols.length; i++) {
      cols[i] = new JsonArray();
    }
    long last = buckets.isEmpty() ? -1 : buckets.lastKey();
    for (long s = 0; s <= last; s++) {
      Bucket b = buckets.get(s);
      cols[0].add(s);
      cols[1].add(b == null ? 0 : b.intended);
      cols[2].add(b == null ? 0 : b.ackedEvents);
      cols[3].add(b == null ? 0 : b.deliveredEvents);
      cols[4].add(b == null ? 0 : b.failedAttempts);
      boolean acks = b != null && b.ack.getTotalCount() > 0;
      boolean lags = b != null && b.lag.getTotalCount() > 0;
      cols[5].add(acks ? ms(b.ack, 50) : null);
      cols[6].add(acks ? ms(b.ack, 99) : null);
      cols[7].add(acks ? ms(b.ack, 99.9) : null);
      cols[8].add(acks ? b.ack.getMaxValue() / 1000.0 : null);
      cols[9].add(lags ? ms(b.lag, 50) : null);
      cols[10].add(lags ? ms(b.lag, 99) : null);
      cols[11].add(lags ? b.lag.getMaxValue() / 1000.0 : null);
    }
    JsonObject out = new JsonObject();
    for (int i = 0; i < names.length; i++) {
      out.put(names[i], cols[i]);
    }
    return out;
  }

  private static double ms(Histogram h, double percentile) {
    return h.getValueAtPercentile(percentile) / 1000.0;
  }

  /** The bands as JSON: label, from and to in seconds of the run (to: the end of the run when it never closed). */
  public synchronized JsonArray bandsJson(long endMillis) {
    JsonArray out = new JsonArray();
    for (Band b : bands) {
      out.add(new JsonObject().put("label", b.label()).put("from", b.fromMillis() / 1000.0)
          .put("to", (b.toMillis() < 0 ? endMillis : b.toMillis()) / 1000.0));
    }
    return out;
  }
}
