package io.eventpipe.loadtests;

import io.eventpipe.testing.PgDatabase;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongFunction;

/**
 * The raw PostgreSQL ceiling that every ingest figure is a ratio to (issue 17): what the same server takes when
 * nothing but the rows is written. One row per event with the event's own bytes, a primary key and a (routing key,
 * id) index (the least a queue that reads per key needs), {@code rowsPerTransaction} rows per transaction by
 * {@code writers} JDBC connections, closed loop. For 100-event requests: 100 rows per transaction and 16 writers; for
 * single events: one commit each and 64 writers.
 *
 * <p>The table is created before and dropped after each measurement, so neither its rows nor their autovacuum
 * compete with what is measured next.
 */
final class RawCeiling {

  private RawCeiling() {}

  /** The writers the ceiling uses for requests of {@code events} events: 64 for single events, 16 for batches. */
  static int writersFor(int events) {
    return Integer.getInteger("raw.writers." + events, events == 1 ? 64 : 16);
  }

  /**
   * Rows per second, over {@code seconds}.
   *
   * @param event the bytes of event {@code seq}, and {@code userOf} its routing key (both as the load sends them)
   */
  static double measure(PgDatabase db, int writers, int rowsPerTransaction, int seconds, LongFunction<byte[]> event,
      LongFunction<String> userOf) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute("DROP TABLE IF EXISTS raw_events");
      s.execute("CREATE TABLE raw_events (id bigserial PRIMARY KEY, routing_key text NOT NULL, message_id text NOT NULL,"
          + " received_at timestamptz NOT NULL, payload bytea NOT NULL)");
      s.execute("CREATE INDEX raw_events_key ON raw_events (routing_key, id)");
    }
    AtomicLong sequence = new AtomicLong(Long.MIN_VALUE / 2);
    double perSecond;
    try {
      perSecond = writers(db, writers, rowsPerTransaction, seconds,
          "INSERT INTO raw_events (routing_key, message_id, received_at, payload) VALUES (?, ?, ?, ?)", (ps, writer, i, now) -> {
            long seq = sequence.incrementAndGet();
            ps.setString(1, userOf.apply(seq));
            ps.setString(2, Long.toString(seq));
            ps.setTimestamp(3, now);
            ps.setBytes(4, event.apply(seq));
          });
    } finally {
      try (Connection c = db.connect(); Statement s = c.createStatement()) {
        s.execute("DROP TABLE raw_events");
      }
    }
    return perSecond;
  }

  /** Binds row {@code i} of a transaction of writer {@code writer}, stamped {@code now}. */
  @FunctionalInterface
  interface RowBinder {
    void bind(PreparedStatement ps, int writer, int i, Timestamp now) throws java.sql.SQLException;
  }

  /**
   * The closed loop every raw ceiling runs: {@code writers} JDBC connections (batched inserts rewritten into multi-row
   * ones), each inserting {@code rowsPerTransaction} rows of {@code insert} bound by {@code row} and committing, again
   * and again for {@code seconds}; returns committed rows per second, or throws the first writer's failure.
   */
  static double writers(PgDatabase db, int writers, int rowsPerTransaction, int seconds, String insert, RowBinder row)
      throws Exception {
    AtomicLong rows = new AtomicLong();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    CountDownLatch done = new CountDownLatch(writers);
    List<Throwable> errors = new ArrayList<>();
    long start = System.nanoTime();
    for (int w = 0; w < writers; w++) {
      int writer = w;
      new Thread(() -> {
        try (Connection c = java.sql.DriverManager.getConnection(db.jdbcUrl() + "?reWriteBatchedInserts=true", db.user(),
                 db.password());
             PreparedStatement ps = c.prepareStatement(insert)) {
          c.setAutoCommit(false);
          while (System.nanoTime() < deadline) {
            Timestamp now = Timestamp.from(Instant.now());
            for (int i = 0; i < rowsPerTransaction; i++) {
              row.bind(ps, writer, i, now);
              ps.addBatch();
            }
            ps.executeBatch();
            c.commit();
            rows.addAndGet(rowsPerTransaction);
          }
        } catch (Throwable e) {
          synchronized (errors) {
            errors.add(e);
          }
        } finally {
          done.countDown();
        }
      }, "raw-" + w).start();
    }
    done.await();
    if (!errors.isEmpty()) {
      throw new IllegalStateException("raw insert failed", errors.get(0));
    }
    return rows.get() / ((System.nanoTime() - start) / 1e9);
  }

  /** min / median / max of {@code values}, each formatted with {@code format}. */
  static String spread(List<Double> values, String format) {
    if (values.isEmpty()) {
      return "n/a";
    }
    return String.format(Locale.ROOT, format + " / " + format + " / " + format, java.util.Collections.min(values), median(values),
        java.util.Collections.max(values));
  }

  /** The median of {@code values}. */
  static double median(List<Double> values) {
    double[] v = values.stream().mapToDouble(Double::doubleValue).sorted().toArray();
    return v.length == 0 ? Double.NaN : v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }
}
