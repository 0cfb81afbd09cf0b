-- Privacy regulations (issue 20): requests to suppress a user's future events at the edge and/or to delete what is
-- stored of them, modelled on RudderStack's and Segment's regulation APIs. A request is durable and auditable (who,
-- when, what) and idempotent: one row per (kind, user), a repeated request returns the first one. Every node records
-- its own progress in regulation_status (status per node); proxies and nodes read the suppressions.
CREATE TABLE regulations (
  id           bigserial   PRIMARY KEY,
  kind         text        NOT NULL CHECK (kind IN ('suppress', 'delete', 'suppress_delete')),
  user_id      text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 512),
  requested_by text        NOT NULL,
  requested_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (kind, user_id)
);

-- One row per (regulation, node): applied (its delete ran on the node's whole database; a suppression is in force)
-- and how many stored jobs, dead letters and dedup entries it removed there. removed_partitions/removed_message_ids
-- are the (partition, messageId) pairs of the jobs it removed: a migration copies the dedup window before it fences
-- (so a target may hold the entries of jobs its source deleted), and the migrator removes them there by these pairs.
CREATE TABLE regulation_status (
  regulation_id bigint      NOT NULL REFERENCES regulations (id),
  node_id       int         NOT NULL,
  status        text        NOT NULL,
  removed       bigint      NOT NULL DEFAULT 0,
  removed_partitions  int[]  NOT NULL DEFAULT '{}',
  removed_message_ids text[] NOT NULL DEFAULT '{}',
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (regulation_id, node_id)
);

-- A node writes its own status rows only, as for control.nodes.
ALTER TABLE regulation_status ENABLE ROW LEVEL SECURITY;
CREATE POLICY regulation_status_read ON regulation_status FOR SELECT USING (true);
CREATE POLICY regulation_status_write ON regulation_status FOR ALL USING (control.may_write_node(node_id))
  WITH CHECK (control.may_write_node(node_id));

-- The grants of V4, plus: every role reads the regulations (proxies suppress at the edge, the migrator deletes on a
-- migration's targets before their release, status lists them); nodes (the admin API) record requests and their own
-- status; nothing deletes or rewrites a request (the audit trail).
CREATE OR REPLACE FUNCTION apply_grants() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['eventpipe_proxy', 'eventpipe_status', 'eventpipe_nodes', 'eventpipe_migrator'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA control TO %I', r);
      EXECUTE format('GRANT SELECT ON control.topology, control.nodes, control.migrations, control.migration_moves,'
          ' control.regulations, control.regulation_status TO %I', r);
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
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION apply_grants() FROM PUBLIC;
SELECT apply_grants();
