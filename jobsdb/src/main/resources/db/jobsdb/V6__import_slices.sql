-- A migration's import range records the partitions of the copy slice it serves, so a rerun (maybe of another
-- migrator version, slicing differently) adopts the recorded slices and their progress marks instead of applying
-- a mark to partitions it does not describe. NULL: a range of a dead-letter replay, or of an older migrator.
ALTER TABLE import_ranges ADD COLUMN partitions int[];
