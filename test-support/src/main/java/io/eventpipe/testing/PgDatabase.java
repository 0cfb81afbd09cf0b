package io.eventpipe.testing;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;

/**
 * A fresh database on the shared test PostgreSQL server. Connection facts only: each consumer builds
 * the client it needs (JDBC for Flyway and the raw ceiling, the Vert.x reactive client for jobsdb).
 */
public record PgDatabase(String host, int port, String database, String user, String password) {

  public String jdbcUrl() {
    return "jdbc:postgresql://" + host + ":" + port + "/" + database;
  }

  /** A {@code postgresql://} URI, the form the pipeline's own flags take. */
  public String uri() {
    return "postgresql://" + user + ":" + password + "@" + host + ":" + port + "/" + database;
  }

  public Connection connect() throws SQLException {
    return DriverManager.getConnection(jdbcUrl(), user, password);
  }
}
