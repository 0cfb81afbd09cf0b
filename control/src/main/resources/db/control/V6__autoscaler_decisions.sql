-- The autoscaler's decisions (pipeline autoscaler, local --autoscale): every grow and shrink, and each hold whose
-- signal differs from the decision before it, with the signal that caused it and what came of it. pipeline status
-- shows the last ones.
CREATE TABLE autoscaler_decisions (
  id          bigserial   PRIMARY KEY,
  decided_at  timestamptz NOT NULL,
  action      text        NOT NULL CHECK (action IN ('grow', 'shrink', 'hold')),
  from_nodes  int         NOT NULL,
  to_nodes    int         NOT NULL,
  signal      text        NOT NULL,   -- backlog_age, underused, failing_destination, migration_running, ...
  reason      text        NOT NULL,
  outcome     text                    -- a change's: decided, done, failed: why; null for a hold
);

-- V5's grants (V4's and the regulations'), and: the autoscaler (it runs the migrator, so it connects as eventpipe_migrator) records decisions;
-- status, proxies and nodes (the console on the admin port) read them.
CREATE OR REPLACE FUNCTION apply_grants() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['eventpipe_proxy', 'eventpipe_status', 'eventpipe_nodes', 'eventpipe_migrator'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA control TO %I', r);
      EXECUTE format('GRANT SELECT ON control.topology, control.nodes, control.migrations, control.migration_moves,'
          ' control.regulations, control.regulation_status, control.autoscaler_decisions TO %I', r);
      EXECUTE format('GRANT EXECUTE ON FUNCTION control.may_write_node(int) TO %I', r);
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eventpipe_nodes') THEN
    -- register (address) and heartbeat (heartbeat_at, ready): column grants, nothing else of the row
    GRANT INSERT (node_id, address), UPDATE (address, updated_at, heartbeat_at, ready) ON control.nodes TO eventpipe_nodes;
    GRANT INSERT (kind, user_id, requested_by) ON control.regulations TO eventpipe_nodes;
    GRANT USAGE ON SEQUENCE control.regulations_id_seq TO eventpipe_nodes;
    GRANT INSERT, UPDATE (status, removed, removed_partitions, removed_message_ids, updated_at) ON control.regulation_status
      TO eventpipe_nodes;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eventpipe_migrator') THEN
    GRANT INSERT, UPDATE, DELETE ON control.topology, control.nodes, control.migrations, control.migration_moves
      TO eventpipe_migrator;
    -- the autoscaler runs as the migrator: it records its decisions and their outcomes
    GRANT INSERT, UPDATE ON control.autoscaler_decisions TO eventpipe_migrator;
    GRANT USAGE ON SEQUENCE control.autoscaler_decisions_id_seq TO eventpipe_migrator;
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION apply_grants() FROM PUBLIC;
SELECT apply_grants();
