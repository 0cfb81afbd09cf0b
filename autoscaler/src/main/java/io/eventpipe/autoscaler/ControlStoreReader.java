package io.eventpipe.autoscaler;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.Map;
import java.util.TreeMap;

/**
 * Reads the control store as {@code pipeline status} does (JDBC, its own short connection per call): the current
 * topology's node count and owners, the node addresses, the migration in progress.
 */
public final class ControlStoreReader implements Resizer.Ownership {

  /** The current topology: its epoch, node count, and each partition's owner. */
  public record Topology(long epoch, int nodes, int[] owners, String migration, Map<Integer, String> addresses) {

    public int ownedBy(int node) {
      int count = 0;
      for (int o : owners) {
        if (o == node) {
          count++;
        }
      }
      return count;
    }
  }

  private final String jdbcUrl;
  private final String user;
  private final String password;

  public ControlStoreReader(String jdbcUrl, String user, String password) {
    this.jdbcUrl = jdbcUrl;
    this.user = user;
    this.password = password;
  }

  Connection connect() throws SQLException {
    Connection c = DriverManager.getConnection(jdbcUrl, user, password);
    try (var st = c.createStatement()) {
      st.execute("SET search_path TO control");
    }
    return c;
  }

  /** The current topology, or null when the cluster is not initialized. */
  public Topology topology() throws SQLException {
    try (Connection c = connect()) {
      int nodes;
      long epoch;
      int[] owners;
      try (PreparedStatement ps = c.prepareStatement("SELECT epoch, node_count, owners FROM topology ORDER BY epoch DESC LIMIT 1");
          ResultSet rs = ps.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        epoch = rs.getLong(1);
        nodes = rs.getInt(2);
        Integer[] boxed = (Integer[]) rs.getArray(3).getArray();
        owners = new int[boxed.length];
        for (int i = 0; i < boxed.length; i++) {
          owners[i] = boxed[i];
        }
      }
      String migration = null;
      try (PreparedStatement ps = c.prepareStatement(
          "SELECT id FROM migrations WHERE state NOT IN ('finished', 'aborted') ORDER BY started_at DESC LIMIT 1");
          ResultSet rs = ps.executeQuery()) {
        if (rs.next()) {
          migration = rs.getString(1);
        }
      }
      Map<Integer, String> addresses = new TreeMap<>();
      try (PreparedStatement ps = c.prepareStatement("SELECT node_id, address FROM nodes ORDER BY node_id");
          ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          addresses.put(rs.getInt(1), rs.getString(2));
        }
      }
      return new Topology(epoch, nodes, owners, migration, addresses);
    }
  }

  @Override
  public int ownedBy(int node) throws SQLException {
    Topology t = topology();
    return t == null ? 0 : t.ownedBy(node);
  }
}
