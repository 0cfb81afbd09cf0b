package io.eventpipe.launcher;

import io.eventpipe.control.ControlRoles;
import io.eventpipe.control.ControlStore;
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

  static void run(Flags flags, int partitions) throws Exception {
    PgConfig owner = PgConfig.parse(flags.required("control-url"));
    int clusterNodes = flags.integer("cluster-nodes", 0, 0, 4096);
    int waitSeconds = flags.integer("wait-seconds", 300, 0, 86_400);
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
