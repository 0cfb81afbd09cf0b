package io.eventpipe.loadtests;

import io.eventpipe.testing.PgDatabase;
import io.vertx.core.json.JsonObject;

/**
 * The raw PostgreSQL insert ceiling of this machine, for a scenario's result: the benchmarks' durable server
 * ({@link BenchPg}, as {@code pipeline local} runs it) taking the same rows as a jobsdb job by JDBC multi-row inserts,
 * 1000 per transaction, on 1 and on 2 threads ({@link JobsDbBench#rawInsert}). Measured before the scenario's cluster
 * starts, so that it is the quiet machine's ceiling, in the same run.
 */
public final class RawCeiling {

  private RawCeiling() {}

  /** {@code rowsPerSecond1Thread}, {@code rowsPerSecond2Threads}, each measured for {@code seconds}. */
  public static JsonObject measure(double seconds) throws Exception {
    PgDatabase db = BenchPg.get().createDatabase("ceiling");
    return new JsonObject().put("what", "raw JDBC multi-row INSERT of jobsdb-shaped rows, 1000 per transaction, durable")
        .put("seconds", seconds)
        .put("rowsPerSecond1Thread", JobsDbBench.rawInsert(db, 1, 1000, seconds))
        .put("rowsPerSecond2Threads", JobsDbBench.rawInsert(db, 2, 1000, seconds));
  }
}
