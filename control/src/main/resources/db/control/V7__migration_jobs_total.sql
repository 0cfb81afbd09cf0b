-- The jobs a migration's copy moves, as the migrator counted them when the copy began (the sources keep every copied
-- job until the finish step, so a rerun counts the same whole): with jobs_moved, what the console's time left needs.
-- Null until the copy begins, and for migrations recorded before this column. The grants (V6's apply_grants) cover it.
ALTER TABLE migrations ADD COLUMN jobs_total bigint;
