package io.eventpipe.node;

import io.eventpipe.gateway.http.ConnectionLimits;
import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Everything a processor node needs to run.
 *
 * @param nodeId        the node's ordinal (StatefulSet ordinal k pairs with PostgreSQL k)
 * @param pg            the node's own PostgreSQL (its jobsdb)
 * @param partitions    the cluster's partition count (a power of two, fixed at creation)
 * @param gateway       the SDK-facing API of this node
 * @param internalHost     interface of the internal port
 * @param internalPort     the internal port: ingest from proxies, admin API, metrics and probes (0 picks a free port)
 * @param adminToken    the bearer token of the admin API, the node's status and the cluster status (operators)
 * @param ingestToken   the bearer token of internal ingest (what proxies hold); null for a standalone node, which
 *                      has no internal ingest. Deployments give it a value other than the admin token (the
 *                      launcher refuses equal ones), so the internet-facing tier cannot read or replay aborted payloads
 * @param workspace     the workspace YAML file (hot-reloaded)
 * @param control       the control store; null for a standalone node, which owns every partition and serves the
 *                      public API itself; a cluster node serves only internal ingest (proxies face the SDKs)
 * @param advertise     the host:port other processes reach the internal port at (null: internalHost:actual port)
 * @param internalConnections the internal port's header deadline, idle timeout and connection cap
 * @param allowNonDurableDatabase start even when {@link #pg()} (or {@link #control()}) does not commit durably ({@code fsync},
 *                      {@code synchronous_commit} or {@code full_page_writes} off), with a warning and the
 *                      {@code node.database.non.durable} gauge at 1: for tests on a fast throwaway server only, since
 *                      a crash there loses acknowledged events. False unless asked for, so a node refuses such a database
 */
public record NodeOptions(
    int nodeId,
    PgConfig pg,
    int partitions,
    GatewayOptions gateway,
    String internalHost,
    int internalPort,
    String adminToken,
    String ingestToken,
    Path workspace,
    PgConfig control,
    String advertise,
    ConnectionLimits internalConnections,
    boolean allowNonDurableDatabase,
    java.time.Duration finishedRetention) {

  /** The longest {@link #finishedRetention}: a year. */
  public static final java.time.Duration MAX_RETENTION = java.time.Duration.ofDays(366);

  public NodeOptions {
    Objects.requireNonNull(finishedRetention, "finishedRetention");
    if (finishedRetention.isNegative() || finishedRetention.compareTo(MAX_RETENTION) > 0) {
      throw new IllegalArgumentException("finished-job retention must be within 0 and " + MAX_RETENTION.toDays() + " days, was "
          + finishedRetention);
    }
    Objects.requireNonNull(internalConnections, "internalConnections");
    Objects.requireNonNull(pg, "pg");
    Objects.requireNonNull(gateway, "gateway");
    Objects.requireNonNull(adminToken, "adminToken");
    Objects.requireNonNull(workspace, "workspace");
    if (nodeId < 0) {
      throw new IllegalArgumentException("node id must be >= 0, was " + nodeId);
    }
    if (adminToken.length() < 8) {
      throw new IllegalArgumentException("admin token must be at least 8 characters");
    }
    if (control != null && ingestToken == null) {
      throw new IllegalArgumentException("a cluster node needs an ingest token (what proxies send)");
    }
    if (ingestToken != null && ingestToken.length() < 8) {
      throw new IllegalArgumentException("ingest token must be at least 8 characters");
    }
  }

  /** Finished jobs dropped as soon as their dataset is all finished (no retention). */
  public NodeOptions(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost, int internalPort,
      String adminToken, String ingestToken, Path workspace, PgConfig control, String advertise,
      ConnectionLimits internalConnections, boolean allowNonDurableDatabase) {
    this(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace, control, advertise,
        internalConnections, allowNonDurableDatabase, java.time.Duration.ZERO);
  }

  /** A node that refuses a database that does not commit durably, with the internal port's default limits. */
  public NodeOptions(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost, int internalPort,
      String adminToken, String ingestToken, Path workspace, PgConfig control, String advertise) {
    this(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace, control, advertise,
        ConnectionLimits.internalDefaults());
  }

  /** A node that refuses a database that does not commit durably. */
  public NodeOptions(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost, int internalPort,
      String adminToken, String ingestToken, Path workspace, PgConfig control, String advertise,
      ConnectionLimits internalConnections) {
    this(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace, control, advertise,
        internalConnections, false);
  }

  public NodeOptions withInternalConnections(ConnectionLimits v) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, v, allowNonDurableDatabase, finishedRetention);
  }

  /** One token for both internal ingest and the admin API: for tests that run a cluster in one process. */
  public NodeOptions(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost, int internalPort,
      String token, Path workspace, PgConfig control, String advertise) {
    this(nodeId, pg, partitions, gateway, internalHost, internalPort, token, token, workspace, control, advertise);
  }

  /** A standalone node: no control store, the public API served by the node itself. */
  public static NodeOptions standalone(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost,
      int internalPort, String adminToken, Path workspace) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, null, workspace, null, null);
  }

  /** These options, with {@link #allowNonDurableDatabase()} set to {@code allow}. */
  public NodeOptions withAllowNonDurableDatabase(boolean allow) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, internalConnections, allow, finishedRetention);
  }

  /**
   * These options, with finished jobs (and the datasets holding them) kept for {@code retention} after their last
   * state change ({@code --retention-finished-hours}).
   */
  public NodeOptions withFinishedRetention(java.time.Duration retention) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, internalConnections, allowNonDurableDatabase, retention);
  }

  public boolean clustered() {
    return control != null;
  }
}
