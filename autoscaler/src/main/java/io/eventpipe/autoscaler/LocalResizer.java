package io.eventpipe.autoscaler;

/**
 * Resizes a cluster whose nodes this machine starts and stops itself ({@code pipeline local}), the way
 * {@code pipeline scale} does: grow = start the new nodes (they own nothing yet), then migrate; shrink = migrate
 * away, check that the nodes to stop own nothing, then stop them.
 */
public final class LocalResizer implements Resizer {

  /** The local nodes. */
  public interface Nodes {
    /** Starts nodes {@code 0 .. count-1} that do not run yet, and returns once they serve. */
    void start(int count) throws Exception;

    /** Stops nodes {@code count ..}. */
    void stopFrom(int count) throws Exception;
  }

  private final Nodes nodes;
  private final Migration migration;
  private final Ownership ownership;

  public LocalResizer(Nodes nodes, Migration migration, Ownership ownership) {
    this.nodes = nodes;
    this.migration = migration;
    this.ownership = ownership;
  }

  @Override
  public void resize(int from, int to) throws Exception {
    if (to > from) {
      nodes.start(to);
      migration.migrate(to);
      return;
    }
    migration.migrate(to);
    for (int k = to; k < from; k++) {
      int owned = ownership.ownedBy(k);
      if (owned > 0) {
        throw new ResizeException("node " + k + " still owns " + owned + " partitions after the migration to " + to
            + " nodes: it keeps running");
      }
    }
    nodes.stopFrom(to);
  }
}
