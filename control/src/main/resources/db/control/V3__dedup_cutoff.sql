-- The earliest source-database clock reading taken before a migration's first copy of the dedup window: after the
-- fence, only entries seen since then (minus a margin for commits in flight) are copied again.
ALTER TABLE migrations ADD COLUMN dedup_cutoff timestamptz;
