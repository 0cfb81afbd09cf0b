package io.eventpipe.jobsdb.impl;

import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobState;
import io.eventpipe.jobsdb.NewJob;
import io.vertx.core.buffer.Buffer;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.RowSet;
import io.vertx.sqlclient.Tuple;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;

/** What the stores share: timestamp conversion, job rows (in {@link Statements}' column order), insert binding. */
final class Rows {

  private Rows() {
  }

  static OffsetDateTime ts(Instant t) {
    return t == null ? null : OffsetDateTime.ofInstant(t, ZoneOffset.UTC);
  }

  static Instant instant(OffsetDateTime t) {
    return t == null ? null : t.toInstant();
  }

  static List<Job> toJobs(RowSet<Row> rows) {
    List<Job> out = new ArrayList<>(rows.rowCount());
    for (Row r : rows) {
      out.add(toJob(r));
    }
    return out;
  }

  /** One job from the first 13 columns of a row. */
  static Job toJob(Row r) {
    return new Job(r.getLong(0), r.getInteger(1), r.getString(2), r.getString(3), r.getString(4), r.getString(5),
        instant(r.getOffsetDateTime(6)), r.getBuffer(7).getBytes(), JobState.of(r.getShort(8)), r.getInteger(9),
        instant(r.getOffsetDateTime(10)), instant(r.getOffsetDateTime(11)), r.getString(12));
  }

  /** Binds jobs as arrays for {@link Statements#insert}; {@code states} carries imported delivery state, or null for new jobs. */
  static Tuple insertTuple(List<NewJob> jobs, List<Long> jobIds, List<Job> states) {
    int n = jobs.size();
    Long[] idArr = jobIds.toArray(new Long[0]);
    Integer[] parts = new Integer[n];
    String[] keys = new String[n];
    String[] sources = new String[n];
    String[] dests = new String[n];
    String[] msgs = new String[n];
    OffsetDateTime[] received = new OffsetDateTime[n];
    Buffer[] payloads = new Buffer[n];
    Short[] stateArr = new Short[n];
    Integer[] attempts = new Integer[n];
    OffsetDateTime[] first = new OffsetDateTime[n];
    OffsetDateTime[] next = new OffsetDateTime[n];
    String[] errors = new String[n];
    for (int i = 0; i < n; i++) {
      NewJob j = jobs.get(i);
      parts[i] = j.partitionId();
      keys[i] = j.routingKey();
      sources[i] = j.sourceId();
      dests[i] = j.destinationId();
      msgs[i] = j.messageId();
      received[i] = ts(j.receivedAt());
      payloads[i] = Buffer.buffer(j.payload());
      if (states == null) {
        stateArr[i] = JobState.UNPROCESSED.code();
        attempts[i] = 0;
      } else {
        Job st = states.get(i);
        stateArr[i] = st.state().code();
        attempts[i] = st.attempts();
        first[i] = ts(st.firstAttemptAt());
        next[i] = ts(st.nextRetryAt());
        errors[i] = st.lastError();
      }
    }
    return Tuple.tuple()
        .addValue(idArr).addValue(parts).addValue(keys).addValue(sources).addValue(dests).addValue(msgs)
        .addValue(received).addValue(payloads).addValue(stateArr).addValue(attempts).addValue(first).addValue(next)
        .addValue(errors);
  }
}
