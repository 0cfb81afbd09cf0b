-- Each dedup entry carries the node's fence-lock generation of the transaction that wrote it (node.fence_lock, see the
-- node schema's V2); entries from before this version (and imported ones) carry 0, so a migration that began before it
-- copies its whole window again after the fence.
ALTER TABLE dedup ADD COLUMN mark bigint NOT NULL DEFAULT 0;

-- Per migration, the generation its dedup copy began at on this node (the first one recorded: a rerun keeps it). After
-- the fence, the entries from this mark on are copied again.
CREATE TABLE dedup_marks (
  migration_id text   PRIMARY KEY,
  mark         bigint NOT NULL
);
