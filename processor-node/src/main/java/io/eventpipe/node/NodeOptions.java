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
 * @param selfFence     how long the node goes on delivering once it cannot renew its hold on its database (then it
 *                      aborts its requests in flight and stops until it holds the database again); recorded in the
 *                      database, where the migrator reads how long to wait before it confirms for a node that is down
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
    java.time.Duration selfFence,
    java.time.Duration finishedRetention,
    java.time.Duration deadLetterRetention) {

  /** The default of {@link #selfFence()}: well under the migrator's default lease (15 s). */
  public static final java.time.Duration DEFAULT_SELF_FENCE = java.time.Duration.ofSeconds(5);
  /** The longest {@link #finishedRetention}: a year. */
  public static final java.time.Duration MAX_RETENTION = java.time.Duration.ofDays(366);
  /** The longest {@link #deadLetterRetention}: ten years (zero keeps dead letters for ever). */
  public static final java.time.Duration MAX_DEAD_LETTER_RETENTION = java.time.Duration.ofDays(3660);

  public NodeOptions {
    Objects.requireNonNull(selfFence, "selfFence");
    if (selfFence.toMillis() < 100 || selfFence.toMillis() > 600_000) {
      throw new IllegalArgumentException("self-fence must be within 100 ms and 10 min, was " + selfFence.toMillis() + " ms");
    }
    Objects.requireNonNull(finishedRetention, "finishedRetention");
    if (finishedRetention.isNegative() || finishedRetention.compareTo(MAX_RETENTION) > 0) {
      throw new IllegalArgumentException("finished-job retention must be within 0 and " + MAX_RETENTION.toDays() + " days, was "
          + finishedRetention);
    }
    Objects.requireNonNull(deadLetterRetention, "deadLetterRetention");
    if (deadLetterRetention.isNegative() || deadLetterRetention.compareTo(MAX_DEAD_LETTER_RETENTION) > 0) {
      throw new IllegalArgumentException("dead-letter retention must be within 0 and " + MAX_DEAD_LETTER_RETENTION.toDays()
          + " days, was " + deadLetterRetention);
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

  /** The default self-fence; finished jobs dropped as soon as their dataset is all finished (no retention). */
  public NodeOptions(int nodeId, PgConfig pg, int partitions, GatewayOptions gateway, String internalHost, int internalPort,
      String adminToken, String ingestToken, Path workspace, PgConfig control, String advertise,
      ConnectionLimits internalConnections, boolean allowNonDurableDatabase) {
    this(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace, control, advertise,
        internalConnections, allowNonDurableDatabase, DEFAULT_SELF_FENCE, java.time.Duration.ZERO,
        io.eventpipe.jobsdb.JobsDbOptions.DEFAULT_DEAD_LETTER_RETENTION);
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
        control, advertise, v, allowNonDurableDatabase, selfFence, finishedRetention, deadLetterRetention);
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
        control, advertise, internalConnections, allow, selfFence, finishedRetention, deadLetterRetention);
  }

  /** These options, with {@link #selfFence()} set to {@code v}. */
  public NodeOptions withSelfFence(java.time.Duration v) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, internalConnections, allowNonDurableDatabase, v, finishedRetention, deadLetterRetention);
  }

  /**
   * These options, with finished jobs (and the datasets holding them) kept for {@code retention} after their last
   * state change ({@code --retention-finished-hours}).
   */
  public NodeOptions withFinishedRetention(java.time.Duration retention) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, internalConnections, allowNonDurableDatabase, selfFence, retention, deadLetterRetention);
  }

  /**
   * These options, with dead letters deleted {@code retention} after their abort ({@code --retention-dead-letter-days};
   * zero keeps them for ever).
   */
  public NodeOptions withDeadLetterRetention(java.time.Duration retention) {
    return new NodeOptions(nodeId, pg, partitions, gateway, internalHost, internalPort, adminToken, ingestToken, workspace,
        control, advertise, internalConnections, allowNonDurableDatabase, selfFence, finishedRetention, retention);
  }

  public boolean clustered() {
    return control != null;
  }
}
