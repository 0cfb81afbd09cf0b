package io.eventpipe.routing;

/** Argument checks shared by the routing types; messages always name the offending value. */
final class Checks {

  private Checks() {}

  /** Throws {@link IllegalArgumentException} with a formatted message unless {@code condition}. */
  static void requireArgument(boolean condition, String format, Object... args) {
    if (!condition) {
      throw new IllegalArgumentException(String.format(format, args));
    }
  }

  /** Returns {@code partitionCount} if it is a power of two in [1, MAX_PARTITIONS], else throws. */
  static int requirePartitionCount(String what, int partitionCount) {
    requireArgument(
        partitionCount >= 1
            && partitionCount <= Partitioner.MAX_PARTITIONS
            && Integer.bitCount(partitionCount) == 1,
        "%s must be a power of two in [1, %d], got %d",
        what, Partitioner.MAX_PARTITIONS, partitionCount);
    return partitionCount;
  }

  /** Returns {@code nodeCount} if it is in [1, MAX_NODES], else throws. */
  static int requireNodeCount(int nodeCount) {
    requireArgument(
        nodeCount >= 1 && nodeCount <= Assignment.MAX_NODES,
        "nodeCount must be in [1, %d], got %d", Assignment.MAX_NODES, nodeCount);
    return nodeCount;
  }

  /** Returns {@code partition} if it is in [0, partitionCount), else throws. */
  static int requirePartition(int partition, int partitionCount) {
    requireArgument(
        partition >= 0 && partition < partitionCount,
        "partition must be in [0, %d), got %d", partitionCount, partition);
    return partition;
  }
}
