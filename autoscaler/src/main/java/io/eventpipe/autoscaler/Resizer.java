package io.eventpipe.autoscaler;

/**
 * Changes the node count the way an operator would: grow = add nodes, then migrate; shrink = migrate away, then remove
 * nodes. {@link #resize} blocks until the cluster serves {@code to} nodes, or throws (the autoscaler logs it, records
 * the failure and tries again after its cooldown; a migration interrupted half way is resumed by the next one).
 */
public interface Resizer {

  void resize(int from, int to) throws Exception;

  /** The migration step a resizer drives: moves the partitions so that {@code to} nodes own them, blocking. */
  @FunctionalInterface
  interface Migration {
    void migrate(int to) throws Exception;
  }

  /** Which partitions a node owns in the current topology (read from the control store). */
  @FunctionalInterface
  interface Ownership {
    int ownedBy(int node) throws Exception;
  }

  /** A resize that could not be done, and why. */
  final class ResizeException extends Exception {
    public ResizeException(String message) {
      super(message);
    }
  }
}
