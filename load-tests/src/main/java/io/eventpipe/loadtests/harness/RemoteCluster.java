package io.eventpipe.loadtests.harness;

import java.net.URI;

/**
 * A cluster deployed elsewhere, given its API's URL and a write key whose source delivers to the harness's sink
 * ({@code -DsinkPort} fixes the sink's port so the destination's URL can be configured beforehand). Faults and
 * resizes are its operator's: scenarios that need them refuse to run against it.
 */
public final class RemoteCluster implements Cluster {

  private final URI api;
  private final String writeKey;

  public RemoteCluster(URI api, String writeKey) {
    if (api.getHost() == null || !(api.getScheme().equals("http"))) {
      throw new IllegalArgumentException("-Dapi needs an http URL with a host, got " + api);
    }
    this.api = api;
    this.writeKey = writeKey;
  }

  @Override
  public URI api() {
    return api;
  }

  @Override
  public String writeKey() {
    return writeKey;
  }

  @Override
  public boolean controllable() {
    return false;
  }

  @Override
  public void kill9() {
    throw new UnsupportedOperationException("a deployed cluster's processes are not the harness's to kill");
  }

  @Override
  public void restart() {
    throw new UnsupportedOperationException("a deployed cluster is restarted by its operator");
  }

  @Override
  public int scale(int nodes, long timeoutSeconds) {
    throw new UnsupportedOperationException("a deployed cluster is resized by its operator (nodes.replicaCount)");
  }

  @Override
  public ScaleRun startScale(int nodes) {
    throw new UnsupportedOperationException("a deployed cluster is resized by its operator (nodes.replicaCount)");
  }

  @Override
  public int nodes() {
    return -1;
  }

  @Override
  public String describe() {
    return "deployed cluster at " + api;
  }

  @Override
  public void close() {}
}
