package io.eventpipe.loadtests;

import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.launcher.EmbeddedPg;
import io.eventpipe.testing.PgServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.util.Comparator;
import java.util.stream.Stream;

/**
 * The PostgreSQL every benchmark runs on, so its figures are those of durable commits: the embedded server exactly
 * as {@code pipeline local} runs it ({@link EmbeddedPg}: fsync, synchronous_commit and full_page_writes on, password
 * authentication), in a fresh data directory ({@code -Dpg.dir=DIR} to choose its parent: the disk decides what an
 * fsync costs), or the server named by {@code EVENTPIPE_TEST_PG_URL}, whose settings are read and must be durable
 * too. The first use prints the server's durability settings, the first lines of every benchmark's output.
 */
final class BenchPg {

  private static volatile PgServer server;

  private BenchPg() {}

  /** The benchmark server, started (and its settings printed) on first use. */
  static synchronized PgServer get() {
    if (server == null) {
      try {
        server = start();
      } catch (IOException e) {
        throw new UncheckedIOException("cannot start the benchmark PostgreSQL", e);
      } catch (SQLException e) {
        throw new IllegalStateException("cannot read the benchmark PostgreSQL's settings", e);
      }
    }
    return server;
  }

  private static PgServer start() throws IOException, SQLException {
    PgServer s;
    String where;
    if (PgServer.externalConfigured()) {
      s = PgServer.get();
      where = "the server at EVENTPIPE_TEST_PG_URL";
    } else {
      String parent = System.getProperty("pg.dir");
      Path dir = parent == null ? Files.createTempDirectory("eventpipe-bench-pg")
          : Files.createTempDirectory(Files.createDirectories(Path.of(parent)), "eventpipe-bench-pg");
      EmbeddedPg pg = EmbeddedPg.start(dir);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> stop(pg, dir), "bench-pg-stop"));
      PgConfig su = pg.superuser();
      s = PgServer.of(su.host(), su.port(), su.user(), su.password(), su.database(), "embedded");
      where = "embedded, as `pipeline local` runs it (password authentication), data in " + dir + " ("
          + Files.getFileStore(dir).type() + ")";
    }
    Durability d;
    try (Connection c = s.connectAdmin()) {
      d = Durability.read(c);
    }
    System.out.println("PostgreSQL server: " + where);
    System.out.println("PostgreSQL settings: " + d.summary());
    if (!d.durable()) {
      throw new IllegalStateException("the benchmarks measure durable commits, and " + where + " does not make them: "
          + d.problems());
    }
    return s;
  }

  private static void stop(EmbeddedPg pg, Path dir) {
    try {
      pg.close();
      try (Stream<Path> files = Files.walk(dir)) {
        files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
      }
    } catch (IOException | RuntimeException e) {
      System.err.println("cannot stop or remove the benchmark PostgreSQL in " + dir + ": " + e);
    }
  }
}
