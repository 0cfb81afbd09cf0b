package io.eventpipe.jobsdb.impl;

/** The per-schema SQL of the hot paths (insert, pending read, state update, export), built once per queue. */
final class Statements {

  /** Inserts jobs and their states from arrays bound by {@link Rows#insertTuple}. */
  final String insert;
  /** Updates states from arrays: job ids, states, attempts, first attempt, next retry, last error; $7 is now. */
  final String update;
  /** Pending jobs of partitions $1 after job $2 for destination $5, at most $3 jobs and (about) $4 bytes. */
  final String export;
  /** The key walk of {@link io.eventpipe.jobsdb.KeyReadRequest}: parameters in {@link PgJobsDb#readKeys}' order. */
  final String readKeys;
  private final String readPrefix;
  private final String readSuffix;

  Statements(String s) {
    this.insert = "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
        + " $7::timestamptz[], $8::bytea[], $9::int2[], $10::int[], $11::timestamptz[], $12::timestamptz[], $13::text[])"
        + " AS u(job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload,"
        + " state, attempts, first_attempt_at, next_retry_at, last_error)),"
        + " j AS (INSERT INTO " + s + ".jobs SELECT job_id, partition_id, routing_key, source_id, destination_id,"
        + " message_id, received_at, payload FROM u)"
        + " INSERT INTO " + s + ".job_state (job_id, partition_id, routing_key, destination_id, state, attempts,"
        + " first_attempt_at, next_retry_at, last_error) SELECT job_id, partition_id, routing_key, destination_id, state,"
        + " attempts, first_attempt_at, next_retry_at, last_error FROM u";
    // 1. take the first scanLimit pending jobs of the consumer in job order (partial index, O(scan));
    // 2. a key is blocked from its first failed-and-not-yet-due job on (running bool_or);
    // 3. keep the unblocked jobs within the byte budget (the first job always fits), at most maxJobs.
    String cols = "x.job_id, x.partition_id, x.routing_key, x.source_id, x.destination_id, x.message_id, x.received_at,"
        + " x.payload, x.state, x.attempts, x.first_attempt_at, x.next_retry_at, x.last_error";
    // The scan limit is a literal (one statement per limit, see read(int)) and the job rows are fetched by a LATERAL
    // lookup: with LIMIT $n, PostgreSQL's generic plan (used once the statement is cached) guesses 10% of the pending
    // rows, and even custom plans for a 2000-row window chose a hash join that read every job row of the dataset
    // (measured: 50 ms instead of 14 ms per read of 1000 with 60K pending, growing with the dataset). The flagged
    // partitions are one array (an InitPlan) rather than a NOT EXISTS anti-join, which the planner could turn into a
    // hash join over all pending rows followed by a sort, instead of walking the pending index in job order. They are
    // the partitions this node's database records as moving (held incoming, fenced or gone: see NodePartitions).
    this.readPrefix = "WITH p AS (SELECT s.* FROM " + s + ".job_state s"
        + " WHERE s.state < 3 AND s.destination_id = $1"
        + " AND s.partition_id <> ALL (ARRAY(SELECT f.partition_id FROM node.partition_state f))"
        + " ORDER BY s.job_id LIMIT ";
    // The blocking and the count limit are decided on the narrow state rows; only the jobs kept are fetched, and their
    // byte budget is summed in job order as they come (no sort moves a payload): the same prefix as cutting by count and
    // bytes at once, since both cut the unblocked jobs in job order.
    this.readSuffix = "),"
        + " b AS (SELECT p.*, bool_or(p.state = 2 AND p.next_retry_at > $2)"
        + " OVER (PARTITION BY p.routing_key ORDER BY p.job_id) AS blocked FROM p),"
        + " y AS (SELECT b.* FROM b WHERE NOT b.blocked ORDER BY b.job_id LIMIT $4),"
        + " x AS (SELECT y.*, j.source_id, j.message_id, j.received_at, j.payload,"
        + " sum(octet_length(j.payload)) OVER (ORDER BY y.job_id) - octet_length(j.payload) AS before"
        + " FROM y CROSS JOIN LATERAL (SELECT jj.source_id, jj.message_id, jj.received_at, jj.payload"
        + " FROM " + s + ".jobs jj WHERE jj.job_id = y.job_id LIMIT 1) j)"
        + " SELECT " + cols + " FROM x WHERE x.before < $3 ORDER BY x.job_id";
    this.readKeys = readKeys(s, cols);
    this.update = "UPDATE " + s + ".job_state t SET state = u.state, attempts = u.attempts,"
        + " first_attempt_at = u.first_attempt_at, next_retry_at = u.next_retry_at, last_error = u.last_error, updated_at = $7"
        + " FROM unnest($1::bigint[], $2::int2[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[])"
        + " AS u(job_id, state, attempts, first_attempt_at, next_retry_at, last_error) WHERE t.job_id = u.job_id"
        // a job migrated away stays so: a late outcome from a worker that held it must not make it pending here again
        + " AND t.state <> 5"
        // a partition whose fence was confirmed (nothing of it in flight here, as far as anyone may know) or that moved
        // away belongs to its new owner: a late outcome (from a process that lost its lock but kept delivering) is
        // dropped and the job stays as the copy took it, so the new owner delivers it again (at-least-once), never
        // a state written behind its back
        + " AND t.partition_id <> ALL (ARRAY(SELECT f.partition_id FROM node.partition_state f"
        + " WHERE f.state = 3 OR (f.state = 2 AND f.confirmed)))"
        // redundant with the join, but lets the planner probe the primary key: without it the plan for a large batch
        // is a hash join over every row of job_state, finished ones included (47 ms instead of 9 ms for 1000 of 60K)
        + " AND t.job_id = ANY($1::bigint[])";
    this.export = "WITH x AS (SELECT s.*, j.source_id, j.message_id, j.received_at, j.payload,"
        + " sum(octet_length(j.payload)) OVER (ORDER BY s.job_id) - octet_length(j.payload) AS before"
        + " FROM (SELECT * FROM " + s + ".job_state WHERE state < 3 AND destination_id = $5 AND job_id > $2"
        // j.job_id > $2 too: the planner's merge join then starts the job rows at the batch, not at the first dataset
        // (without it, every batch read the job rows of every earlier job: a copy quadratic in the backlog)
        + " AND partition_id = ANY($1::int[]) ORDER BY job_id LIMIT $3) s JOIN " + s + ".jobs j ON j.job_id = s.job_id AND j.job_id > $2)"
        + " SELECT " + cols + " FROM x WHERE x.before < $4 ORDER BY x.job_id";
  }

  /*
   * The key walk. A read that takes a window of the oldest pending jobs and then drops blocked keys is filled by what
   * it throws away: one user with 5,000 jobs behind a failing one starves every other user. This read costs one index
   * probe per key instead, whatever the key holds:
   * 1. walk the destination's keys after $5 in byte order by a loose index scan over job_state_pending_keys (each step
   *    is "the next key greater than this one", one probe), at most $6 keys, stopping once $4 jobs are found;
   * 2. for each key not in $7 (the caller's busy keys), its first $8 pending jobs in job order, cut at its first job
   *    that is failed-and-not-yet-due: a key's prefix, so order per key holds (partitions recorded as
   *    moving are skipped, as in the job-order read);
   * 3. the first $4 of those jobs in walk order, then their rows (primary-key probes), kept within the byte budget $3
   *    (the first always fits): payloads are fetched only for jobs that can be returned;
   * 4. every row also carries the last key walked, its step and the jobs found by then, and a walk that found keys
   *    but no job returns one row of only those: the caller continues after that key, or from "" once a walk ends
   *    before $6 keys and $4 jobs (no next key).
   * Cost: O(keys walked + jobs returned). PostgreSQL has no skip scan of its own; the recursive CTE is the usual
   * emulation (https://wiki.postgresql.org/wiki/Loose_indexscan).
   */
  private static String readKeys(String s, String cols) {
    String fenced = "ARRAY(SELECT f.partition_id FROM node.partition_state f)";
    java.util.function.Function<String, String> prefix = key -> "ARRAY(SELECT q.job_id FROM (SELECT z.job_id,"
        + " bool_or(z.state = 2 AND z.next_retry_at > $2) OVER (ORDER BY z.job_id) AS blocked"
        + " FROM (SELECT y.job_id, y.state, y.next_retry_at FROM " + s + ".job_state y WHERE y.state < 3"
        + " AND y.destination_id = $1 AND y.routing_key = " + key + " AND y.partition_id <> ALL (" + fenced + ")"
        + " AND " + key + " <> ALL ($7::text[]) ORDER BY y.job_id LIMIT $8) z) q WHERE NOT q.blocked ORDER BY q.job_id)";
    String nextKey = "SELECT n.routing_key FROM " + s + ".job_state n WHERE n.state < 3 AND n.destination_id = $1"
        + " AND n.routing_key > ";
    return "WITH RECURSIVE k(routing_key, step, found, ids) AS ("
        + " SELECT f.routing_key, 1, cardinality(f.ids), f.ids FROM (SELECT h.routing_key, " + prefix.apply("h.routing_key")
        + " AS ids FROM (" + nextKey + "$5 ORDER BY n.routing_key LIMIT 1) h) f"
        + " UNION ALL"
        + " SELECT f.routing_key, k.step + 1, k.found + cardinality(f.ids), f.ids FROM k CROSS JOIN LATERAL"
        + " (SELECT h.routing_key, " + prefix.apply("h.routing_key") + " AS ids FROM (" + nextKey + "k.routing_key"
        + " ORDER BY n.routing_key LIMIT 1) h) f WHERE k.step < $6 AND k.found < $4),"
        + " w AS (SELECT k.step, u.job_id FROM k CROSS JOIN LATERAL unnest(k.ids) u(job_id) ORDER BY k.step, u.job_id LIMIT $4),"
        + " b AS (SELECT w.step, st.*, j.source_id, j.message_id, j.received_at, j.payload FROM w"
        + " CROSS JOIN LATERAL (SELECT xx.job_id, xx.partition_id, xx.routing_key, xx.destination_id, xx.state, xx.attempts,"
        + " xx.first_attempt_at, xx.next_retry_at, xx.last_error FROM " + s + ".job_state xx WHERE xx.job_id = w.job_id LIMIT 1) st"
        + " CROSS JOIN LATERAL (SELECT jj.source_id, jj.message_id, jj.received_at, jj.payload FROM " + s + ".jobs jj"
        + " WHERE jj.job_id = w.job_id LIMIT 1) j),"
        + " x AS (SELECT b.*, sum(octet_length(b.payload)) OVER (ORDER BY b.step, b.job_id) - octet_length(b.payload) AS before"
        + " FROM b),"
        + " r AS (SELECT x.step AS walk_step, " + cols + " FROM x WHERE x.before < $3),"
        + " m AS (SELECT k.routing_key, k.step, k.found FROM k ORDER BY k.step DESC LIMIT 1)"
        + " SELECT r.job_id, r.partition_id, r.routing_key, r.source_id, r.destination_id, r.message_id, r.received_at,"
        + " r.payload, r.state, r.attempts, r.first_attempt_at, r.next_retry_at, r.last_error,"
        + " m.routing_key AS last_key, m.step AS last_step, m.found AS found"
        + " FROM m LEFT JOIN r ON true ORDER BY r.walk_step, r.job_id";
  }

  /**
   * The pending read for a scan window of {@code scanLimit} jobs. Callers use one or two limits each, so the client's
   * prepared statement cache holds one statement per limit.
   */
  String read(int scanLimit) {
    return readPrefix + scanLimit + readSuffix;
  }
}
