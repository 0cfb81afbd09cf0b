package io.eventpipe.autoscaler;

import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Timestamp;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The autoscaler's decisions in the control store ({@code control.autoscaler_decisions}, migration V6), so that
 * {@code pipeline status} shows the last ones wherever the autoscaler runs.
 */
public final class DecisionStore {

  /** A stored decision with what came of it ({@code outcome}: decided, done, failed: why, or null for a hold). */
  public record Stored(long id, Decision decision, String outcome) {

    public String line() {
      return String.format(Locale.ROOT, "  %s %s%s", decision.at().toString().replaceFirst("\\.\\d+Z$", "Z"),
          decision.line().substring("autoscaler: ".length()), outcome == null ? "" : " [" + outcome + "]");
    }
  }

  private final ControlStoreReader control;

  public DecisionStore(ControlStoreReader control) {
    this.control = control;
  }

  /** Records {@code d}; returns its id. */
  public long record(Decision d) throws SQLException {
    try (Connection c = control.connect(); PreparedStatement ps = c.prepareStatement(
        "INSERT INTO autoscaler_decisions (decided_at, action, from_nodes, to_nodes, signal, reason, outcome)"
            + " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id")) {
      ps.setTimestamp(1, Timestamp.from(d.at()));
      ps.setString(2, d.action().name().toLowerCase(Locale.ROOT));
      ps.setInt(3, d.from());
      ps.setInt(4, d.to());
      ps.setString(5, d.signal().tag());
      ps.setString(6, d.reason());
      ps.setString(7, d.changes() ? "decided" : null);
      try (ResultSet rs = ps.executeQuery()) {
        rs.next();
        return rs.getLong(1);
      }
    }
  }

  /** What came of decision {@code id}: done, or failed with why. */
  public void outcome(long id, String outcome) throws SQLException {
    try (Connection c = control.connect();
        PreparedStatement ps = c.prepareStatement("UPDATE autoscaler_decisions SET outcome = ? WHERE id = ?")) {
      ps.setString(1, outcome);
      ps.setLong(2, id);
      ps.executeUpdate();
    }
  }

  /** The last {@code limit} decisions, newest first. */
  public List<Stored> last(int limit) throws SQLException {
    List<Stored> out = new ArrayList<>();
    try (Connection c = control.connect(); PreparedStatement ps = c.prepareStatement(
        "SELECT id, decided_at, action, from_nodes, to_nodes, signal, reason, outcome FROM autoscaler_decisions"
            + " ORDER BY id DESC LIMIT ?")) {
      ps.setInt(1, limit);
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new Stored(rs.getLong(1), new Decision(rs.getTimestamp(2).toInstant(),
              Decision.Action.valueOf(rs.getString(3).toUpperCase(Locale.ROOT)), rs.getInt(4), rs.getInt(5),
              Decision.Signal.valueOf(rs.getString(6).toUpperCase(Locale.ROOT)), rs.getString(7)), rs.getString(8)));
        }
      }
    }
    return out;
  }
}
