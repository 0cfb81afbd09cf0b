-- The router's pending reads walk routing keys (see Statements#readKeys): each key's first jobs, one index probe per
-- key, however many jobs a blocked or busy key holds. So the key is copied beside the state, in byte order ("C":
-- cheap comparisons, and the same order on every node), and indexed per destination. Pending and aborted jobs get
-- their key now (aborted ones may be replayed); finished jobs never need it.
ALTER TABLE job_state ADD COLUMN routing_key text COLLATE "C";
UPDATE job_state s SET routing_key = j.routing_key FROM jobs j
  WHERE j.job_id = s.job_id AND (s.state < 3 OR s.state = 4);
CREATE INDEX job_state_pending_keys ON job_state (destination_id, routing_key, job_id) WHERE state < 3;
