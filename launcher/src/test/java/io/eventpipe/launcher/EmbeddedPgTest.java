package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.PgConfig;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashSet;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The PostgreSQL {@code pipeline local} runs: durable (the embedded library's defaults are not), password-protected
 * over every connection type, its password kept owner-only and reused by a restart, and a data directory made by an
 * earlier version (trust authentication, no password) upgraded on start without losing its data.
 */
class EmbeddedPgTest {

  @Test
  void runsWithFsyncSynchronousCommitAndFullPageWritesOn(@TempDir Path dir) throws Exception {
    try (EmbeddedPg pg = EmbeddedPg.start(dir.resolve("pg"))) {
      PgConfig db = pg.database("events");
      try (Connection c = connect(db, db.password()); Statement s = c.createStatement()) {
        assertEquals("on", show(s, "fsync"));
        assertEquals("on", show(s, "synchronous_commit"));
        assertEquals("on", show(s, "full_page_writes"));
        Durability d = Durability.read(c);
        assertTrue(d.durable(), d.summary());
      }
      assertTrue(pg.durability().durable(), pg.durability().summary());
    }
  }

  @Test
  void refusesConnectionsWithoutThePasswordOrWithAWrongOne(@TempDir Path dir) throws Exception {
    try (EmbeddedPg pg = EmbeddedPg.start(dir.resolve("pg"))) {
      PgConfig su = pg.superuser();
      assertTrue(su.password().length() >= 32, "a generated password of 24 random bytes, hex");
      assertThrows(SQLException.class, () -> connect(su, "").close(), "no password");
      SQLException wrong = assertThrows(SQLException.class, () -> connect(su, su.password() + "x").close());
      assertEquals("28P01", wrong.getSQLState(), "invalid_password: " + wrong.getMessage());
      // the database a node uses is protected as well, and the right password still works beside the refusals
      PgConfig node = pg.database("node0");
      assertThrows(SQLException.class, () -> connect(node, "").close());
      try (Connection c = connect(node, node.password()); Statement s = c.createStatement()) {
        assertEquals("node0", show(s, "current_database() AS d", "d"));
      }
      assertEveryRuleRequiresScram(su);
    }
  }

  @Test
  void keepsThePasswordOwnerOnlyAndReusesItOnRestart(@TempDir Path dir) throws Exception {
    Path data = dir.resolve("pg");
    String password;
    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      password = pg.superuser().password();
      try (Connection c = connect(pg.database("keep"), password); Statement s = c.createStatement()) {
        s.execute("CREATE TABLE kept (v text)");
        s.execute("INSERT INTO kept VALUES ('before the restart')");
      }
    }
    Path file = data.resolve(EmbeddedPg.PASSWORD_FILE);
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
    assertEquals(password, Files.readString(file).trim());
    try (Stream<Path> leftovers = Files.list(data)) {
      assertFalse(leftovers.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")), "no temporary file left");
    }

    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      assertEquals(password, pg.superuser().password());
      try (Connection c = connect(pg.database("keep"), password); Statement s = c.createStatement()) {
        assertEquals("before the restart", show(s, "v FROM kept", "v"));
      }
      assertTrue(pg.durability().durable(), pg.durability().summary());
    }
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
  }

  /** What the refusal of an unreadable password file tells the operator to do: delete it, and a new one is set. */
  @Test
  void aDeletedPasswordFileGetsANewPasswordOnRestart(@TempDir Path dir) throws Exception {
    Path data = dir.resolve("pg");
    String old;
    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      old = pg.superuser().password();
    }
    Files.delete(data.resolve(EmbeddedPg.PASSWORD_FILE));
    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      assertNotEquals(old, pg.superuser().password());
      assertThrows(SQLException.class, () -> connect(pg.superuser(), old).close(), "the old password is gone");
      assertEquals(pg.superuser().password(), Files.readString(data.resolve(EmbeddedPg.PASSWORD_FILE)).trim());
    }
  }

  /** What the launcher made before: the library's defaults (trust for everyone, fsync off, no password). */
  @Test
  void upgradesADataDirectoryMadeWithTrustAuthentication(@TempDir Path dir) throws Exception {
    Path data = dir.resolve("pg");
    try (EmbeddedPostgres old = EmbeddedPostgres.builder().setDataDirectory(data).setCleanDataDirectory(false).start();
         Connection c = old.getPostgresDatabase().getConnection(); Statement s = c.createStatement()) {
      assertEquals("off", show(s, "fsync"), "the library's default, which the old launcher kept");
      s.execute("CREATE TABLE kept (v text)");
      s.execute("INSERT INTO kept VALUES ('acknowledged before the upgrade')");
    }
    assertFalse(Files.exists(data.resolve(EmbeddedPg.PASSWORD_FILE)));

    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      PgConfig su = pg.superuser();
      assertThrows(SQLException.class, () -> connect(su, "").close(), "trust is gone");
      try (Connection c = connect(su, su.password()); Statement s = c.createStatement()) {
        assertEquals("acknowledged before the upgrade", show(s, "v FROM kept", "v"));
        assertEquals("on", show(s, "fsync"));
      }
      assertEveryRuleRequiresScram(su);
      assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(data.resolve(EmbeddedPg.PASSWORD_FILE))));
    }
    // and the upgraded directory restarts like any other
    try (EmbeddedPg pg = EmbeddedPg.start(data)) {
      assertThrows(SQLException.class, () -> connect(pg.superuser(), "").close());
      assertTrue(pg.durability().durable());
    }
  }

  @Test
  void twoDataDirectoriesGetDifferentPasswords(@TempDir Path dir) throws Exception {
    try (EmbeddedPg a = EmbeddedPg.start(dir.resolve("a")); EmbeddedPg b = EmbeddedPg.start(dir.resolve("b"))) {
      assertNotEquals(a.superuser().password(), b.superuser().password());
      assertThrows(SQLException.class, () -> connect(b.superuser(), a.superuser().password()).close());
    }
  }

  /** pg_hba.conf as the server loaded it: a local (socket) and host lines, every one scram-sha-256. */
  private static void assertEveryRuleRequiresScram(PgConfig su) throws SQLException {
    Set<String> types = new HashSet<>();
    try (Connection c = connect(su, su.password()); Statement s = c.createStatement();
         ResultSet rs = s.executeQuery("SELECT type, auth_method, error FROM pg_hba_file_rules")) {
      while (rs.next()) {
        assertEquals(null, rs.getString("error"));
        assertEquals("scram-sha-256", rs.getString("auth_method"), "rule of type " + rs.getString("type"));
        types.add(rs.getString("type"));
      }
    }
    assertEquals(Set.of("local", "host"), types);
  }

  private static Connection connect(PgConfig db, String password) throws SQLException {
    return DriverManager.getConnection(db.jdbcUrl(), db.user(), password);
  }

  private static String show(Statement s, String setting) throws SQLException {
    try (ResultSet rs = s.executeQuery("SHOW " + setting)) {
      rs.next();
      return rs.getString(1);
    }
  }

  private static String show(Statement s, String selectList, String column) throws SQLException {
    try (ResultSet rs = s.executeQuery("SELECT " + selectList)) {
      rs.next();
      return rs.getString(column);
    }
  }
}
