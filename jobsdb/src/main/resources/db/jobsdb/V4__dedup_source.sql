-- Dedup is keyed by (partition, source, messageId): one source's messageIds never suppress another source's events.
-- Entries written before this version have no source (NULL). Each stands for its messageId seen from any source, so
-- an SDK retry that spans the upgrade is still deduplicated; they leave with their bucket, within one window.
ALTER TABLE dedup ADD COLUMN source_id text;

-- The buckets that exist (the window's, created at run time) get the new unique index in place of the old
-- (partition_id, message_id) one, which would refuse a second source's messageId. Built before the old one is
-- dropped, so uniqueness is never unchecked; this costs one index build per live bucket, once. The source-less entries
-- stay unique by (partition_id, message_id) (a partial index, as on every bucket from now on): a node of the version
-- before, still running while a newer migrator migrated its schema, keeps deduplicating its own writes.
DO $$
DECLARE
  b record;
BEGIN
  FOR b IN SELECT c.relname FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
      WHERE p.relname = 'dedup' AND p.relnamespace = current_schema()::regnamespace
  LOOP
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I.%I (partition_id, message_id, source_id)',
        b.relname || '_skey', current_schema(), b.relname);
    EXECUTE format('CREATE UNIQUE INDEX IF NOT EXISTS %I ON %I.%I (partition_id, message_id) WHERE source_id IS NULL',
        b.relname || '_lkey', current_schema(), b.relname);
    EXECUTE format('DROP INDEX IF EXISTS %I.%I', current_schema(), b.relname || '_key');
  END LOOP;
END $$;
