package io.eventpipe.jobsdb.impl;

/** The per-schema SQL of the hot paths (insert, pending read, state update, export), built once per queue. */
final class Statements {

  /** Inserts jobs and their states from arrays bound by {@link Rows#insertTuple}. */
  final String insert;
  /** Updates states from arrays: job ids, states, attempts, first attempt, next retry, last error; $7 is now. */
  final String update;
  /** Pending jobs of partitions $1 after job $2 for destination $5, at most $3 jobs and (about) $4 bytes. */
  final String export;
  private final String readPrefix;
  private final String readSuffix;

  Statements(String s) {
    this.insert = "WITH u AS (SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],"
        + " $7::timestamptz[], $8::bytea[], $9::int2[], $10::int[], $11::timestamptz[], $12::timestamptz[], $13::text[])"
        + " AS u(job_id, partition_id, routing_key, source_id, destination_id, message_id, received_at, payload,"
        + " state, attempts, first_attempt_at, next_retry_at, last_error)),"
        + " j AS (INSERT INTO " + s + ".jobs SELECT job_id, partition_id, routing_key, source_id, destination_id,"
        + " message_id, received_at, payload FROM u)"
        + " INSERT INTO " + s + ".job_state (job_id, partition_id, destination_id, state, attempts, first_attempt_at,"
        + " next_retry_at, last_error) SELECT job_id, partition_id, destination_id, state, attempts, first_attempt_at,"
        + " next_retry_at, last_error FROM u";
    // 1. take the first scanLimit pending jobs of the consumer in job order (partial index, O(scan));
    // 2. a key is blocked from its first executing or failed-and-not-yet-due job on (running bool_or);
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
    this.readSuffix = "),"
        + " b AS (SELECT p.*, j.routing_key, j.source_id, j.message_id, j.received_at, j.payload,"
        + " bool_or(p.state = 1 OR (p.state = 2 AND p.next_retry_at > $2))"
        + " OVER (PARTITION BY j.routing_key ORDER BY p.job_id) AS blocked"
        + " FROM p CROSS JOIN LATERAL (SELECT jj.routing_key, jj.source_id, jj.message_id, jj.received_at, jj.payload"
        + " FROM " + s + ".jobs jj WHERE jj.job_id = p.job_id LIMIT 1) j),"
        + " x AS (SELECT b.*, sum(octet_length(b.payload)) OVER (ORDER BY b.job_id) - octet_length(b.payload) AS before"
        + " FROM b WHERE NOT b.blocked)"
        + " SELECT " + cols + " FROM x WHERE x.before < $3 ORDER BY x.job_id LIMIT $4";
    this.update = "UPDATE " + s + ".job_state t SET state = u.state, attempts = u.attempts,"
        + " first_attempt_at = u.first_attempt_at, next_retry_at = u.next_retry_at, last_error = u.last_error, updated_at = $7"
        + " FROM unnest($1::bigint[], $2::int2[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[])"
        + " AS u(job_id, state, attempts, first_attempt_at, next_retry_at, last_error) WHERE t.job_id = u.job_id"
        // a job migrated away stays so: a late outcome from a worker that held it must not make it pending here again
        + " AND t.state <> 5"
        // redundant with the join, but lets the planner probe the primary key: without it the plan for a large batch
        // is a hash join over every row of job_state, finished ones included (47 ms instead of 9 ms for 1000 of 60K)
        + " AND t.job_id = ANY($1::bigint[])";
    this.export = "WITH x AS (SELECT s.*, j.routing_key, j.source_id, j.message_id, j.received_at, j.payload,"
        + " sum(octet_length(j.payload)) OVER (ORDER BY s.job_id) - octet_length(j.payload) AS before"
        + " FROM (SELECT * FROM " + s + ".job_state WHERE state < 3 AND destination_id = $5 AND job_id > $2"
        + " AND partition_id = ANY($1::int[]) ORDER BY job_id LIMIT $3) s JOIN " + s + ".jobs j ON j.job_id = s.job_id)"
        + " SELECT " + cols + " FROM x WHERE x.before < $4 ORDER BY x.job_id";
  }

  /**
   * The pending read for a scan window of {@code scanLimit} jobs. Callers use one or two limits each, so the client's
   * prepared statement cache holds one statement per limit.
   */
  String read(int scanLimit) {
    return readPrefix + scanLimit + readSuffix;
  }
}
