-- A held (incoming) partition accepts writes only from a writer whose topology is at least the epoch its migration's
-- switch publishes (hold_epoch): before that switch the partition is another node's, so a write here can only come
-- from a process with an old topology (this node cut off from the control store, at an epoch when it owned the
-- partition, and a proxy as old), and stored here it would go beside the owner's newer events, out of order.
-- Null: no floor (a hold written before this version, or by a caller that gives no epoch).
ALTER TABLE partition_state ADD COLUMN hold_epoch bigint;
