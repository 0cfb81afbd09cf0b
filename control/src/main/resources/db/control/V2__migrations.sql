-- Liveness of nodes: each node renews its heartbeat every few seconds while it runs; ready once it serves.
ALTER TABLE nodes ADD COLUMN heartbeat_at timestamptz;
ALTER TABLE nodes ADD COLUMN ready boolean NOT NULL DEFAULT false;

-- Migrations (changes of the node count). One at a time: the partial unique index refuses a second active one.
-- state: planned, prepared, fenced, switched, confirmed, copied, released, finished, aborted
CREATE TABLE migrations (
  id           text        PRIMARY KEY,
  from_nodes   int         NOT NULL,
  to_nodes     int         NOT NULL,
  from_epoch   bigint      NOT NULL,
  old_owners   int[]       NOT NULL,
  new_owners   int[]       NOT NULL,
  state        text        NOT NULL,
  abort_requested boolean  NOT NULL DEFAULT false,
  error        text,
  jobs_moved   bigint      NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);
CREATE UNIQUE INDEX migrations_one_active ON migrations ((true)) WHERE state NOT IN ('finished', 'aborted');

-- The partitions a migration moves, and whether each (source, target) pair's copy is done.
CREATE TABLE migration_moves (
  migration_id text   NOT NULL REFERENCES migrations (id),
  partition_id int    NOT NULL,
  source       int    NOT NULL,
  target       int    NOT NULL,
  copied       boolean NOT NULL DEFAULT false,
  PRIMARY KEY (migration_id, partition_id)
);
