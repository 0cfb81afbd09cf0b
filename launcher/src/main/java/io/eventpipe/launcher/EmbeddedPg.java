package io.eventpipe.launcher;

import io.eventpipe.jobsdb.PgConfig;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server from a Maven artifact (no install), keeping its data in a directory so a restart
 * finds everything. A server orphaned by a killed launcher (kill -9 leaves its postgres child running) is stopped
 * first, so the data directory can be reused.
 */
final class EmbeddedPg implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPg.class);

  private final EmbeddedPostgres pg;

  private EmbeddedPg(EmbeddedPostgres pg) {
    this.pg = pg;
  }

  static EmbeddedPg start(Path dataDir) throws IOException {
    Files.createDirectories(dataDir);
    stopOrphan(dataDir);
    EmbeddedPostgres pg = EmbeddedPostgres.builder()
        .setDataDirectory(dataDir)
        .setCleanDataDirectory(false)
        .setPGStartupWait(Duration.ofSeconds(60))
        .setServerConfig("max_connections", "300")
        .setServerConfig("shared_buffers", "256MB")
        .start();
    LOG.info("embedded PostgreSQL on port {} with data in {}", pg.getPort(), dataDir);
    return new EmbeddedPg(pg);
  }

  private static void stopOrphan(Path dataDir) throws IOException {
    Path pidFile = dataDir.resolve("postmaster.pid");
    if (!Files.exists(pidFile)) {
      return;
    }
    List<String> lines = Files.readAllLines(pidFile);
    if (lines.isEmpty()) {
      return;
    }
    long pid;
    try {
      pid = Long.parseLong(lines.get(0).trim());
    } catch (NumberFormatException e) {
      return;
    }
    Optional<ProcessHandle> proc = ProcessHandle.of(pid);
    if (proc.isEmpty() || !proc.get().isAlive()) {
      return;
    }
    LOG.warn("stopping PostgreSQL (pid {}) left running by a previous run on {}", pid, dataDir);
    proc.get().destroy();
    try {
      proc.get().onExit().get(60, java.util.concurrent.TimeUnit.SECONDS);
    } catch (Exception e) {
      proc.get().destroyForcibly();
    }
  }

  int port() {
    return pg.getPort();
  }

  /** The database {@code name}, created when missing. */
  PgConfig database(String name) throws SQLException {
    try (Connection c = DriverManager.getConnection("jdbc:postgresql://localhost:" + pg.getPort() + "/postgres", "postgres", "");
         Statement s = c.createStatement()) {
      try (ResultSet rs = s.executeQuery("SELECT 1 FROM pg_database WHERE datname = '" + name + "'")) {
        if (!rs.next()) {
          s.execute("CREATE DATABASE " + name);
        }
      }
    }
    return new PgConfig("localhost", pg.getPort(), name, "postgres", "");
  }

  @Override
  public void close() throws IOException {
    pg.close();
  }
}
