-- What this node's own database says about partitions that are moving or have moved (schema "node").
-- A partition without a row is served normally. The record lives here, beside the jobs, so that a node restarted
-- on its volume, or cut off from the control store, obeys it: every ingest, fan-out and delivery-state
-- transaction checks it where it commits.
--   state 1 incoming: a migration target; writes are accepted, fan-out and delivery are held until release
--   state 2 fenced:   a migration source; writes are refused, nothing is fanned out or delivered
--   state 3 gone:     moved away; as fenced, kept so that a stale process never serves it again
CREATE TABLE partition_state (
  partition_id int         PRIMARY KEY,
  state        smallint    NOT NULL CHECK (state IN (1, 2, 3)),
  migration_id text        NOT NULL,
  confirmed    boolean     NOT NULL DEFAULT false,  -- fenced: the node dropped what it held in memory and finished in flight
  since        timestamptz NOT NULL DEFAULT now()
);

-- One row. Writers lock it FOR SHARE inside their transaction before they read partition_state; a fence
-- UPDATEs it first, so it waits for every writer that checked before it and every later writer waits for the
-- fence to commit, then sees it (a row lock, not a snapshot: no write slips between the check and the commit).
CREATE TABLE fence_lock (id int PRIMARY KEY);
INSERT INTO fence_lock VALUES (1);
