package io.eventpipe.jobsdb;

import io.vertx.core.Vertx;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import java.net.URI;
import java.util.Objects;

/** Where a PostgreSQL database is, in the form every process takes it: {@code postgresql://user:pw@host:port/db}. */
public record PgConfig(String host, int port, String database, String user, String password) {

  public PgConfig {
    Objects.requireNonNull(host, "host");
    Objects.requireNonNull(database, "database");
    Objects.requireNonNull(user, "user");
    password = password == null ? "" : password;
    if (port <= 0 || port > 65535) {
      throw new IllegalArgumentException("PostgreSQL port must be in 1..65535, was " + port);
    }
  }

  /**
   * Parses {@code postgresql://user:password@host:port/database} (a {@code jdbc:} prefix is accepted). A URL that does
   * not parse is named in the exception with its password masked ({@link #redact(String)}), and the parser's own
   * exception (whose message holds the whole URL) is not chained: the message reaches logs and terminals.
   */
  public static PgConfig parse(String url) {
    Objects.requireNonNull(url, "url");
    URI uri;
    try {
      uri = new URI(url.trim().replaceFirst("^jdbc:", ""));
    } catch (java.net.URISyntaxException e) {
      throw new IllegalArgumentException("not a PostgreSQL URL: '" + redact(url) + "': " + e.getReason() + " at index "
          + e.getIndex() + " (expected postgresql://user:password@host:port/database; percent-encode special characters"
          + " of the password)");
    }
    if (!"postgresql".equals(uri.getScheme()) && !"postgres".equals(uri.getScheme()) || uri.getHost() == null) {
      throw new IllegalArgumentException("not a PostgreSQL URL: '" + redact(url) + "' (expected postgresql://user:password@host:port/database)");
    }
    String[] userInfo = uri.getUserInfo() == null ? new String[] {"postgres"} : uri.getUserInfo().split(":", 2);
    String db = uri.getPath() == null || uri.getPath().length() <= 1 ? "postgres" : uri.getPath().substring(1);
    return new PgConfig(uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(), db, userInfo[0],
        userInfo.length > 1 ? userInfo[1] : "");
  }

  /**
   * {@code url} with the password of its user information replaced by {@code ***}, whatever else is wrong with it:
   * everything between the first ':' after "//" and the last '@' before the path (a password may hold '@', ':' or '/'
   * when it is not percent-encoded, which is what makes such a URL fail to parse).
   */
  public static String redact(String url) {
    if (url == null) {
      return null;
    }
    int start = url.indexOf("//");
    if (start < 0) {
      return url;
    }
    int at = url.lastIndexOf('@');
    if (at < start) {
      return url;
    }
    int colon = url.indexOf(':', start + 2);
    if (colon < 0 || colon > at) {
      return url;
    }
    return url.substring(0, colon + 1) + "***" + url.substring(at);
  }

  public String jdbcUrl() {
    return "jdbc:postgresql://" + host + ":" + port + "/" + database;
  }

  /** The URL without its password, for logs. */
  public String redacted() {
    return "postgresql://" + user + "@" + host + ":" + port + "/" + database;
  }

  public PgConnectOptions connectOptions() {
    return new PgConnectOptions()
        .setHost(host)
        .setPort(port)
        .setDatabase(database)
        .setUser(user)
        .setPassword(password)
        .setCachePreparedStatements(true)
        .setPreparedStatementCacheMaxSize(256)
        .addProperty("application_name", "eventpipe")
        // IF NOT EXISTS on tables that exist is normal here; its NOTICEs are not worth a WARN log line each
        .addProperty("client_min_messages", "warning");
  }

  /** A reactive pool of {@code size} connections. */
  public Pool createPool(Vertx vertx, int size) {
    return PgBuilder.pool()
        .with(new PoolOptions().setMaxSize(size).setMaxWaitQueueSize(10_000))
        .connectingTo(connectOptions())
        .using(vertx)
        .build();
  }
}
