-- Least privilege on the control store. Roles are cluster-wide and created by whoever provisions the server
-- (ControlRoles: `pipeline local`, `pipeline control-init` in the Helm chart, or a DBA); this database only grants
-- to the ones that exist, through control.apply_grants(), which the schema's owner reruns at each of its starts so
-- a role created later gets its grants too.
--   eventpipe_proxy, eventpipe_status: read the topology, node addresses and readiness, migrations; write nothing.
--   eventpipe_nodes (a group, no login): what every node reads, and the columns of control.nodes a node writes;
--     its members eventpipe_node_<k> (node k's own login) may write node k's row only, eventpipe_node_any (one
--     login shared by nodes that cannot be told apart, as a StatefulSet's pods sharing a Secret) any node's row.
--   eventpipe_migrator: changes the topology, the node rows and the migration records (no DDL).

-- Which rows of control.nodes the current role may write: row-level security keyed by the role's name, so the
-- existing statements (register, heartbeat) stay as they are and no statement can reach another node's row.
CREATE FUNCTION may_write_node(id int) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT current_user IN ('eventpipe_node_any', 'eventpipe_migrator') OR current_user = 'eventpipe_node_' || id
$$;

ALTER TABLE nodes ENABLE ROW LEVEL SECURITY;
CREATE POLICY nodes_read ON nodes FOR SELECT USING (true);
CREATE POLICY nodes_write ON nodes FOR ALL USING (control.may_write_node(node_id)) WITH CHECK (control.may_write_node(node_id));

CREATE FUNCTION apply_grants() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['eventpipe_proxy', 'eventpipe_status', 'eventpipe_nodes', 'eventpipe_migrator'] LOOP
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('GRANT USAGE ON SCHEMA control TO %I', r);
      EXECUTE format('GRANT SELECT ON control.topology, control.nodes, control.migrations, control.migration_moves TO %I', r);
      EXECUTE format('GRANT EXECUTE ON FUNCTION control.may_write_node(int) TO %I', r);
    END IF;
  END LOOP;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eventpipe_nodes') THEN
    -- register (address) and heartbeat (heartbeat_at, ready): column grants, nothing else of the row
    GRANT INSERT (node_id, address), UPDATE (address, updated_at, heartbeat_at, ready) ON control.nodes TO eventpipe_nodes;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'eventpipe_migrator') THEN
    GRANT INSERT, UPDATE, DELETE ON control.topology, control.nodes, control.migrations, control.migration_moves
      TO eventpipe_migrator;
  END IF;
END
$$;
REVOKE EXECUTE ON FUNCTION apply_grants() FROM PUBLIC;
SELECT apply_grants();
