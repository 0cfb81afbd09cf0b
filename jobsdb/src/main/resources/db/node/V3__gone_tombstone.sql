-- A hold that replaces a "gone" record (a partition coming back to this node) remembers the migration that moved it
-- away, so an abort's unhold restores the tombstone instead of deleting it: a process of this node with an old
-- topology must never accept that partition's writes again.
ALTER TABLE partition_state ADD COLUMN gone_migration text;
