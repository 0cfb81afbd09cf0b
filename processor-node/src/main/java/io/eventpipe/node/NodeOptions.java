package io.eventpipe.node;

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
 * @param adminHost     interface of the admin/metrics port
 * @param adminPort     admin API, metrics and probes (0 picks a free port)
 * @param adminToken    bearer token of the admin API
 * @param workspace     the workspace YAML file (hot-reloaded)
 */
public record NodeOptions(
    int nodeId,
    PgConfig pg,
    int partitions,
    GatewayOptions gateway,
    String adminHost,
    int adminPort,
    String adminToken,
    Path workspace) {

  public NodeOptions {
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
  }
}
