package io.eventpipe.loadtests;

import io.eventpipe.testing.PgDatabase;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;

/**
 * The raw PostgreSQL ceiling for a scenario's result ({@link RawCeiling}, issue 17's, on the benchmarks' durable
 * server {@link BenchPg}, as {@code pipeline local} runs it), in the shape of the scenario's load: events of its
 * payload size, one row each, as many rows per transaction as its requests carry events, with the writers
 * {@link RawCeiling#writersFor} gives that size. Measured before the scenario's cluster starts, so that it is the
 * quiet machine's ceiling, in the same run.
 */
public final class ScenarioCeiling {

  private ScenarioCeiling() {}

  /** Rows per second over {@code seconds}, with what was measured. */
  public static JsonObject measure(int eventsPerRequest, int payloadBytes, int seconds) throws Exception {
    PgDatabase db = BenchPg.get().createDatabase("ceiling");
    byte[] event = ("{\"type\":\"track\",\"event\":\"Load\",\"properties\":{\"pad\":\"" + "x".repeat(Math.max(0, payloadBytes - 60))
        + "\"}}").getBytes(StandardCharsets.UTF_8);
    int writers = RawCeiling.writersFor(eventsPerRequest);
    double rows = RawCeiling.measure(db, writers, eventsPerRequest, seconds, seq -> event, seq -> "user-" + (seq % 1000));
    return new JsonObject().put("what", "raw JDBC INSERT of the events' bytes, one row each with a primary key and a"
            + " (routing key, id) index, " + eventsPerRequest + " per transaction, " + writers + " writers, durable")
        .put("seconds", seconds).put("rowsPerSecond", rows);
  }
}
