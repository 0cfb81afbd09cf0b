package io.eventpipe.control;

import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Map;
import org.postgresql.PGConnection;

/**
 * The database roles of the control store, one per kind of process, so that no process holds more than it uses:
 * a compromised proxy (the internet-facing tier) can read the topology but cannot rewrite a node's address to
 * receive other proxies' traffic, and a node can write its own heartbeat but not the topology.
 *
 * <p>Roles are cluster-wide, so they are created by whoever provisions the server ({@code pipeline local}, the
 * chart's {@code pipeline control-init}, or a DBA following docs/deploy.md); the grants live in the control
 * schema's migrations ({@code control.apply_grants()}, rerun by the schema's owner at each of its starts).
 *
 * <table>
 *   <caption>Roles</caption>
 *   <tr><th>role</th><th>used by</th><th>may</th></tr>
 *   <tr><td>{@value #PROXY}</td><td>proxies</td><td>read topology, nodes, migrations</td></tr>
 *   <tr><td>{@value #STATUS}</td><td>{@code pipeline status}</td><td>the same reads</td></tr>
 *   <tr><td>{@code eventpipe_node_<k>}</td><td>node k</td><td>the reads; insert/update node k's address, heartbeat, readiness</td></tr>
 *   <tr><td>{@value #ANY_NODE}</td><td>nodes sharing one credential</td><td>the same for any node's row</td></tr>
 *   <tr><td>{@value #MIGRATOR}</td><td>the migrator</td><td>change topology, node rows, migration records (no DDL)</td></tr>
 * </table>
 * Node logins are members of the group {@value #NODES} (no login), which holds their grants; which row each may
 * write is row-level security keyed by the login's name ({@code control.may_write_node}), chosen over a SECURITY
 * DEFINER function because it holds for every statement, needs no second code path for writes, and a member
 * cannot widen it with {@code SET ROLE} (the group itself matches no row).
 */
public final class ControlRoles {

  /** Proxies: read-only. */
  public static final String PROXY = "eventpipe_proxy";
  /** {@code pipeline status}: read-only. */
  public static final String STATUS = "eventpipe_status";
  /** The group that holds the nodes' grants; no login. */
  public static final String NODES = "eventpipe_nodes";
  /** One login shared by every node, for deployments whose nodes cannot hold credentials of their own. */
  public static final String ANY_NODE = "eventpipe_node_any";
  /** The migrator: the topology and the migration records. */
  public static final String MIGRATOR = "eventpipe_migrator";

  private ControlRoles() {}

  /** Node {@code id}'s own login: it may write that node's row of {@code control.nodes} only. */
  public static String node(int id) {
    return "eventpipe_node_" + id;
  }

  /**
   * Creates each login role of {@code passwords} that is missing and sets its password (so a rotated secret takes
   * effect at the next provisioning), and the group {@value #NODES}; node logins join it. Needs a connection whose
   * role may create roles (CREATEROLE or superuser). Passwords travel hashed (SCRAM, computed here), never in a
   * statement the server could log. Idempotent; safe against a concurrent provisioning of the same server.
   */
  public static void provision(Connection conn, Map<String, String> passwords) throws SQLException {
    ensureRole(conn, NODES, false);
    for (Map.Entry<String, String> e : passwords.entrySet()) {
      String role = e.getKey();
      if (!role.matches("eventpipe_[a-z0-9_]+")) {
        throw new IllegalArgumentException("not a control store role: '" + role + "'");
      }
      ensureRole(conn, role, true);
      conn.unwrap(PGConnection.class).alterUserPassword(role, e.getValue().toCharArray(), null);
      if (role.startsWith("eventpipe_node_")) {
        try (Statement s = conn.createStatement()) {
          s.execute("GRANT " + NODES + " TO " + role);
        }
      }
    }
  }

  /**
   * Keeps {@code roles} out of {@code database}: they cannot even connect (the control store's roles have no business in
   * a node's database on the same server, as under {@code pipeline local}).
   */
  public static void denyConnect(Connection conn, String database) throws SQLException {
    if (!database.matches("[a-z0-9_]+")) {
      throw new IllegalArgumentException("not a database name: '" + database + "'");
    }
    try (Statement s = conn.createStatement()) {
      s.execute("REVOKE CONNECT, TEMPORARY ON DATABASE " + database + " FROM PUBLIC");
    }
  }

  private static void ensureRole(Connection conn, String role, boolean login) throws SQLException {
    try (Statement s = conn.createStatement()) {
      // no CREATE ROLE IF NOT EXISTS: a DO block that tolerates a concurrent creation of the same role
      s.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" + role + "') THEN"
          + " CREATE ROLE " + role + (login ? " LOGIN" : " NOLOGIN") + " NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION;"
          + " END IF; EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$");
    }
  }
}
