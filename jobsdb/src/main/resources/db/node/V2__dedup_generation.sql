-- A counter on the fence lock's row, for the migrator's dedup copy. Every ingest transaction holds this row FOR SHARE
-- until it commits and stamps its dedup entries with the generation it reads; the migrator bumps it (an UPDATE, so it
-- waits for every writer that holds the row) before it copies the dedup window. Afterwards every entry with an older
-- generation is committed, and every later one carries the new generation or a higher one: the copy after the fence
-- takes those, whatever the clocks say and however long a commit stalled.
ALTER TABLE fence_lock ADD COLUMN generation bigint NOT NULL DEFAULT 0;
