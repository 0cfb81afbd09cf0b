package io.eventpipe.testing;

import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.net.URI;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.testcontainers.DockerClientFactory;
import org.testcontainers.postgresql.PostgreSQLContainer;

/**
 * One PostgreSQL server per test JVM, chosen in this order:
 * <ol>
 *   <li>an external server named by {@code EVENTPIPE_TEST_PG_URL}
 *       ({@code postgresql://user:password@host:port/db}, the user may create databases);</li>
 *   <li>a Testcontainers container when a Docker engine answers;</li>
 *   <li>an embedded PostgreSQL (real server binaries shipped in a Maven artifact) otherwise, with the library's
 *       defaults: fsync and synchronous_commit off, for speed. Nodes refuse such a database unless told otherwise,
 *       so a test that starts one passes {@code allowNonDurableDatabase} (or {@code --allow-non-durable-database}).
 *       Benchmarks do not use this one: they run on the durable server {@code pipeline local} uses.</li>
 * </ol>
 * Callers get a fresh database from {@link #createDatabase(String)} so test classes never share state.
 */
public final class PgServer {

  private static final Logger LOG = LoggerFactory.getLogger(PgServer.class);
  private static final AtomicInteger DATABASES = new AtomicInteger();
  private static volatile PgServer instance;

  private final String host;
  private final int port;
  private final String user;
  private final String password;
  private final String adminDatabase;
  private final String kind;

  private PgServer(String host, int port, String user, String password, String adminDatabase, String kind) {
    this.host = host;
    this.port = port;
    this.user = user;
    this.password = password;
    this.adminDatabase = adminDatabase;
    this.kind = kind;
  }

  /** The shared server, started on first use and stopped when the JVM exits. */
  public static PgServer get() {
    PgServer server = instance;
    if (server == null) {
      synchronized (PgServer.class) {
        server = instance;
        if (server == null) {
          server = start();
          instance = server;
          LOG.info("test PostgreSQL: {} at {}:{}", server.kind, server.host, server.port);
        }
      }
    }
    return server;
  }

  private static PgServer start() {
    if (externalConfigured()) {
      return external(System.getenv("EVENTPIPE_TEST_PG_URL"));
    }
    if (!"false".equalsIgnoreCase(System.getenv("EVENTPIPE_TEST_DOCKER")) && dockerAvailable()) {
      PostgreSQLContainer container = new PostgreSQLContainer("postgres:17-alpine")
          .withCommand("postgres", "-c", "max_connections=400", "-c", "fsync=on");
      container.start();
      Runtime.getRuntime().addShutdownHook(new Thread(container::stop, "pg-container-stop"));
      return new PgServer(container.getHost(), container.getFirstMappedPort(), container.getUsername(),
          container.getPassword(), container.getDatabaseName(), "testcontainers");
    }
    try {
      EmbeddedPostgres pg = EmbeddedPostgres.builder()
          .setServerConfig("max_connections", "400")
          .setServerConfig("shared_buffers", "256MB")
          .start();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          pg.close();
        } catch (Exception e) {
          LOG.warn("stopping embedded PostgreSQL", e);
        }
      }, "pg-embedded-stop"));
      return new PgServer("localhost", pg.getPort(), "postgres", "postgres", "postgres", "embedded");
    } catch (Exception e) {
      throw new IllegalStateException("cannot start an embedded PostgreSQL; set EVENTPIPE_TEST_PG_URL to use an existing server", e);
    }
  }

  /**
   * A server someone else started (a benchmark's durable embedded one), to create and drop databases on as
   * {@link #get()}'s server does.
   *
   * @param user a role that may create databases, whose password is {@code password}
   */
  public static PgServer of(String host, int port, String user, String password, String adminDatabase, String kind) {
    return new PgServer(host, port, user, password, adminDatabase, kind);
  }

  /** Whether {@link #get()} uses the external server named by {@code EVENTPIPE_TEST_PG_URL}. */
  public static boolean externalConfigured() {
    String external = System.getenv("EVENTPIPE_TEST_PG_URL");
    return external != null && !external.isBlank();
  }

  private static boolean dockerAvailable() {
    try {
      return DockerClientFactory.instance().isDockerAvailable();
    } catch (Throwable t) {
      return false;
    }
  }

  private static PgServer external(String url) {
    URI uri = URI.create(url.replaceFirst("^jdbc:", ""));
    String[] userInfo = uri.getUserInfo() == null ? new String[] {"postgres", ""} : uri.getUserInfo().split(":", 2);
    String db = uri.getPath() == null || uri.getPath().length() <= 1 ? "postgres" : uri.getPath().substring(1);
    return new PgServer(uri.getHost(), uri.getPort() < 0 ? 5432 : uri.getPort(), userInfo[0],
        userInfo.length > 1 ? userInfo[1] : "", db, "external");
  }

  /** Creates an empty database whose name starts with {@code prefix}. */
  public PgDatabase createDatabase(String prefix) {
    return create(uniqueName(prefix, 60));
  }

  /**
   * Creates {@code count} empty databases whose names differ only by a last {@code _k} (k = 0 .. count-1), so one URL
   * template reaches them all (as the migrator's {@code --node-pg-url ...{node}} does).
   */
  public java.util.List<PgDatabase> createDatabases(String prefix, int count) {
    String stem = uniqueName(prefix, 54);
    java.util.List<PgDatabase> out = new java.util.ArrayList<>();
    for (int k = 0; k < count; k++) {
      out.add(create(stem + "_" + k));
    }
    return out;
  }

  private static String uniqueName(String prefix, int max) {
    String name = (prefix.replaceAll("[^A-Za-z0-9]", "_") + "_" + DATABASES.incrementAndGet() + "_" + ProcessHandle.current().pid())
        .toLowerCase(Locale.ROOT);
    if (name.length() > max) {
      name = name.substring(name.length() - max);
    }
    if (!Character.isLetter(name.charAt(0))) {
      name = "d" + name.substring(1);
    }
    return name;
  }

  private PgDatabase create(String name) {
    try (Connection c = DriverManager.getConnection(adminJdbcUrl(), user, password);
         Statement s = c.createStatement()) {
      s.execute("CREATE DATABASE " + name);
    } catch (SQLException e) {
      throw new IllegalStateException("cannot create test database " + name, e);
    }
    return new PgDatabase(host, port, name, user, password);
  }

  /** Drops a database made by {@link #createDatabase}, disconnecting whoever is still on it. */
  public void dropDatabase(PgDatabase db) {
    try (Connection c = DriverManager.getConnection(adminJdbcUrl(), user, password);
         Statement s = c.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS " + db.database() + " WITH (FORCE)");
    } catch (SQLException e) {
      LOG.warn("cannot drop test database {}", db.database(), e);
    }
  }

  private String adminJdbcUrl() {
    return "jdbc:postgresql://" + host + ":" + port + "/" + adminDatabase;
  }

  /** A JDBC connection to the server's admin database, as the user that creates databases. */
  public Connection connectAdmin() throws SQLException {
    return DriverManager.getConnection(adminJdbcUrl(), user, password);
  }

  public String kind() {
    return kind;
  }
}
