-- One job queue (for example "gw" for ingested events, "rt" for deliveries) lives in its own schema;
-- Flyway runs this with that schema as the default, so names here are unqualified.

-- Regular job ids come from this sequence in blocks of 1024: nextval() returns the first id of a block.
-- Blocks are aligned to 1024, so a block never straddles two datasets (whose sizes are powers of two).
CREATE SEQUENCE job_id_seq MINVALUE 1024 START WITH 1024 INCREMENT BY 1024;
-- Imported (migrated-in) jobs take ids from a reserved negative range per migration, so they sort before
-- every job written locally: a partition's imported backlog is always older than its new writes.
CREATE SEQUENCE import_range_seq START WITH 1 INCREMENT BY 1;

-- Immutable job rows. Payload bytes are written once and never updated.
CREATE TABLE jobs (
  job_id         bigint      NOT NULL,
  partition_id   int         NOT NULL,
  routing_key    text        NOT NULL,
  source_id      text        NOT NULL,
  destination_id text        NOT NULL,
  message_id     text        NOT NULL,
  received_at    timestamptz NOT NULL,
  payload        bytea       NOT NULL,
  PRIMARY KEY (job_id)
) PARTITION BY RANGE (job_id);

-- Mutable delivery state beside each job (state: 0 unprocessed, 1 executing, 2 failed, 3 succeeded,
-- 4 aborted, 5 migrated). partition_id and destination_id are copied here so pending reads never touch
-- the job rows of work they skip.
CREATE TABLE job_state (
  job_id           bigint      NOT NULL,
  partition_id     int         NOT NULL,
  destination_id   text        NOT NULL,
  state            smallint    NOT NULL,
  attempts         int         NOT NULL DEFAULT 0,
  first_attempt_at timestamptz,
  next_retry_at    timestamptz,
  last_error       text,
  updated_at       timestamptz,
  PRIMARY KEY (job_id)
) PARTITION BY RANGE (job_id);

-- Pending work per consumer in job order; finished jobs leave this index, so reads cost O(batch).
-- Migration export walks it per destination too (order only matters per destination and key).
CREATE INDEX job_state_pending ON job_state (destination_id, job_id) WHERE state < 3;
-- Aborted jobs per destination, for the dead-letter API.
CREATE INDEX job_state_aborted ON job_state (destination_id, job_id) WHERE state = 4;

-- Datasets (the range partitions of jobs and job_state), so rotation knows what exists.
CREATE TABLE datasets (
  name        text        PRIMARY KEY,
  lo          bigint      NOT NULL,
  hi          bigint      NOT NULL,
  kind        text        NOT NULL,  -- 'regular' or 'import'
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Per-partition flags: excluded (fenced on a migration source) and held (incoming on a migration target).
-- Reads skip flagged partitions; writes are not affected here.
CREATE TABLE partition_flags (
  partition_id int     PRIMARY KEY,
  excluded     boolean NOT NULL DEFAULT false,
  held         boolean NOT NULL DEFAULT false
);

-- Negative id ranges reserved for imports, one per migration.
CREATE TABLE import_ranges (
  migration_id text   PRIMARY KEY,
  lo           bigint NOT NULL,
  next_id      bigint NOT NULL,
  hi           bigint NOT NULL,
  completed    boolean NOT NULL DEFAULT false
);

-- Progress marks of imports: a batch and its mark commit together, so a repeated batch is a no-op.
CREATE TABLE import_progress (
  migration_id       text   NOT NULL,
  stream             text   NOT NULL,
  last_source_job_id bigint NOT NULL,
  imported           bigint NOT NULL,
  PRIMARY KEY (migration_id, stream)
);

-- Aborted jobs, kept when the dataset that held them is dropped.
CREATE TABLE dead_letter (
  job_id           bigint      PRIMARY KEY,
  partition_id     int         NOT NULL,
  routing_key      text        NOT NULL,
  source_id        text        NOT NULL,
  destination_id   text        NOT NULL,
  message_id       text        NOT NULL,
  received_at      timestamptz NOT NULL,
  payload          bytea       NOT NULL,
  attempts         int         NOT NULL,
  first_attempt_at timestamptz,
  last_error       text,
  aborted_at       timestamptz
);
CREATE INDEX dead_letter_destination ON dead_letter (destination_id, job_id);

-- messageId seen-set, in time buckets (child tables with their own unique index) dropped after the window.
CREATE TABLE dedup (
  partition_id int         NOT NULL,
  message_id   text        NOT NULL,
  seen_at      timestamptz NOT NULL
) PARTITION BY RANGE (seen_at);
