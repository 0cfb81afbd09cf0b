package io.eventpipe.launcher;

import io.eventpipe.control.ControlRoles;
import io.eventpipe.control.ControlStore;
import io.eventpipe.jobsdb.Durability;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Topology;
import io.vertx.core.Vertx;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code pipeline control-init}: provisions the control store as its owner, so that no other process needs to be
 * it. It creates the roles whose passwords it is given (and sets their passwords, so a rotated secret takes effect),
 * migrates the schema, applies the grants, and with {@code --cluster-nodes N} creates the topology of a new cluster.
 * The Helm chart runs it as the nodes' init container, the only place the owner's password is mounted; a rerun
 * changes nothing but the passwords.
 */
final class ControlInit {

  private static final Logger LOG = LoggerFactory.getLogger(ControlInit.class);

  /** Flag → role: each flag given (or its PIPELINE_ variable) creates that role and sets its password. */
  static final Map<String, String> ROLE_FLAGS = new LinkedHashMap<>();

  static {
    ROLE_FLAGS.put("proxy-role-password", ControlRoles.PROXY);
    ROLE_FLAGS.put("node-role-password", ControlRoles.ANY_NODE);
    ROLE_FLAGS.put("migrator-role-password", ControlRoles.MIGRATOR);
    ROLE_FLAGS.put("status-role-password", ControlRoles.STATUS);
  }

  private ControlInit() {}

  /**
   * The control store's topology and migration records decide which node holds an acknowledged event, so the control
   * store must commit durably like the node databases: {@code role} (control-init, migrator) refuses it otherwise,
   * with the setting and its fix, unless started with the tests-only {@code --allow-non-durable-database}. Checked
   * where a process starts, not in {@code ControlStore.open}, which tests open on fast servers at many places.
   */
  static void requireDurable(PgConfig control, boolean allowNonDurable, String role) {
    try (Connection c = DriverManager.getConnection(control.jdbcUrl(), control.user(), control.password())) {
      requireDurable(c, control, allowNonDurable, role);
    } catch (SQLException e) {
      throw new Flags.BadFlag("pipeline " + role + ": cannot read the durability settings of the control store at "
          + control.redacted() + " (SQLSTATE " + e.getSQLState() + ")");
    }
  }

  private static void requireDurable(Connection c, PgConfig control, boolean allowNonDurable, String role)
      throws SQLException {
    try {
      Durability.read(c).requireDurableUnless(allowNonDurable, "the control store at " + control.redacted(),
          "Fix the server; only for a test on a throwaway server, run pipeline " + role
              + " with --allow-non-durable-database (PIPELINE_ALLOW_NON_DURABLE_DATABASE=true)");
    } catch (JobsDbException.NotDurable e) {
      throw new Flags.BadFlag(e.getMessage());
    }
  }

  static void run(Flags flags, int partitions) throws Exception {
    PgConfig owner = PgConfig.parse(flags.required("control-url"));
    int clusterNodes = flags.integer("cluster-nodes", 0, 0, 4096);
    int waitSeconds = flags.integer("wait-seconds", 300, 0, 86_400);
    boolean allowNonDurable = flags.bool("allow-non-durable-database", false);
    Map<String, String> passwords = new LinkedHashMap<>();
    for (Map.Entry<String, String> e : ROLE_FLAGS.entrySet()) {
      String pw = flags.string(e.getKey(), null);
      if (pw != null) {
        SecretFiles.checkToken(e.getKey(), pw);
        passwords.put(e.getValue(), pw);
      }
    }
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(waitSeconds);
    while (true) {
      try (Connection c = DriverManager.getConnection(owner.jdbcUrl(), owner.user(), owner.password())) {
        requireDurable(c, owner, allowNonDurable, "control-init");
        if (!passwords.isEmpty()) {
          ControlRoles.provision(c, passwords);
        }
        break;
      } catch (SQLException e) {
        // 08xxx: the server is not up yet (the control store may start after this pod); anything else is final
        if (e.getSQLState() == null || !e.getSQLState().startsWith("08") || System.nanoTime() > deadline) {
          throw new Flags.BadFlag("cannot provision the control store at " + owner.redacted() + ": " + e.getMessage());
        }
        LOG.info("waiting for the control store at {}: {}", owner.redacted(), e.getMessage());
        Thread.sleep(2000);
      }
    }
    Vertx vertx = Vertx.vertx();
    try {
      ControlStore store = ControlStore.open(vertx, owner).toCompletionStage().toCompletableFuture().get(120, TimeUnit.SECONDS);
      try {
        if (clusterNodes > 0) {
          Topology t = store.initialize(partitions, clusterNodes).toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
          LOG.info("control store ready: topology epoch {} with {} partitions", t.epoch(), t.partitionCount());
        }
      } finally {
        store.closeAsync().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      }
      LOG.info("control store provisioned: roles {} and their grants", passwords.keySet());
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
