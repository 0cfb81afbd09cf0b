package io.eventpipe.routing;

import java.util.Arrays;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * An immutable snapshot of the cluster's routing: an epoch, the explicit partition &rarr; node map, and
 * the address of every node. It is what the control store holds; the proxy routes by it and a node
 * accepts writes only for the partitions it owns at the current epoch.
 *
 * <p>The map is explicit (rather than recomputed from the node count) because during a migration it is
 * neither the old nor the new {@link Assignment#compute(int, int) computed} assignment; the epoch orders
 * snapshots, so a node can tell a proxy that its topology is stale.
 *
 * <p>Nodes are identified by ordinal (the StatefulSet pod ordinal). A node may be listed and own nothing,
 * for example a target before a migration switches partitions to it.
 */
public final class Topology {

  private final long epoch;
  private final int[] owners;
  private final SortedMap<Integer, String> addresses;
  private final Assignment assignment;

  private Topology(long epoch, int[] owners, SortedMap<Integer, String> addresses) {
    this.epoch = epoch;
    this.owners = owners;
    this.addresses = Collections.unmodifiableSortedMap(addresses);
    this.assignment = Assignment.of(owners, addresses.lastKey() + 1);
  }

  /**
   * Creates a snapshot from an explicit map, such as the one read from the control store.
   *
   * @param epoch the epoch, {@code >= 0}; a newer snapshot has a larger epoch
   * @param owners {@code owners[p]} is the node owning partition {@code p}; the length is the partition
   *     count, a power of two in {@code [1, 65536]}; the array is copied
   * @param nodeAddresses node ordinal &rarr; address ({@code host:port}) of every node; ordinals in
   *     {@code [0, Assignment.MAX_NODES)}, addresses non-blank; copied
   * @return the snapshot
   * @throws IllegalArgumentException if a value is out of range, or a partition's owner has no address
   */
  public static Topology of(long epoch, int[] owners, Map<Integer, String> nodeAddresses) {
    Objects.requireNonNull(owners, "owners");
    Checks.requireArgument(epoch >= 0, "epoch must be >= 0, got %d", epoch);
    Checks.requirePartitionCount("owners.length (the partition count)", owners.length);
    SortedMap<Integer, String> addresses = copyAddresses(nodeAddresses);
    int[] copy = owners.clone();
    for (int p = 0; p < copy.length; p++) {
      int owner = copy[p];
      Checks.requireArgument(
          addresses.containsKey(owner),
          "partition %d is owned by node %d, which has no address (nodes: %s)",
          p, owner, addresses.keySet());
    }
    return new Topology(epoch, copy, addresses);
  }

  /**
   * Creates the first snapshot of a cluster: the {@link Assignment#compute(int, int) computed}
   * assignment of {@code partitionCount} partitions over the given nodes.
   *
   * @param epoch the epoch, {@code >= 0}
   * @param partitionCount a power of two in {@code [1, 65536]}
   * @param nodeAddresses node ordinal &rarr; address; the ordinals must be exactly {@code 0 .. n-1}, as
   *     a StatefulSet of {@code n} replicas numbers its pods
   * @return the snapshot
   * @throws IllegalArgumentException if a value is out of range or the ordinals are not {@code 0 .. n-1}
   */
  public static Topology initial(long epoch, int partitionCount, Map<Integer, String> nodeAddresses) {
    Checks.requireArgument(epoch >= 0, "epoch must be >= 0, got %d", epoch);
    Checks.requirePartitionCount("partitionCount", partitionCount);
    SortedMap<Integer, String> addresses = copyAddresses(nodeAddresses);
    int n = addresses.size();
    Checks.requireArgument(
        addresses.firstKey() == 0 && addresses.lastKey() == n - 1,
        "node ordinals must be exactly 0..%d (StatefulSet ordinals), got %s", n - 1, addresses.keySet());
    int[] owners = Assignment.compute(partitionCount, n).owners();
    return new Topology(epoch, owners, addresses);
  }

  private static SortedMap<Integer, String> copyAddresses(Map<Integer, String> nodeAddresses) {
    Objects.requireNonNull(nodeAddresses, "nodeAddresses");
    Checks.requireArgument(!nodeAddresses.isEmpty(), "nodeAddresses must not be empty");
    SortedMap<Integer, String> copy = new TreeMap<>();
    for (Map.Entry<Integer, String> e : nodeAddresses.entrySet()) {
      Integer node = e.getKey();
      String address = e.getValue();
      Checks.requireArgument(
          node != null && node >= 0 && node < Assignment.MAX_NODES,
          "node ordinal must be in [0, %d), got %s", Assignment.MAX_NODES, node);
      Checks.requireArgument(
          address != null && !address.isBlank(),
          "address of node %d must be non-blank, got %s",
          node, address == null ? "null" : "\"" + address + "\"");
      copy.put(node, address);
    }
    return copy;
  }

  /** Returns the epoch of this snapshot. */
  public long epoch() {
    return epoch;
  }

  /** Returns the number of partitions P. */
  public int partitionCount() {
    return owners.length;
  }

  /**
   * Returns the node owning a partition.
   *
   * @throws IllegalArgumentException if {@code partition} is not in {@code [0, partitionCount())}
   */
  public int ownerOf(int partition) {
    return owners[Checks.requirePartition(partition, owners.length)];
  }

  /**
   * Returns the address of a node.
   *
   * @throws IllegalArgumentException if the node is not in this topology
   */
  public String addressOf(int node) {
    String address = addresses.get(node);
    Checks.requireArgument(
        address != null, "node %d is not in the topology of epoch %d (nodes: %s)",
        node, epoch, addresses.keySet());
    return address;
  }

  /** Returns the ordinals of the nodes, ascending (unmodifiable). */
  public Set<Integer> nodes() {
    return addresses.keySet();
  }

  /** Returns node ordinal &rarr; address, by ascending ordinal (unmodifiable). */
  public Map<Integer, String> nodeAddresses() {
    return addresses;
  }

  /**
   * Returns the partitions a node owns.
   *
   * @return a new array, ascending; empty if the node owns nothing or is not in this topology
   */
  public int[] ownedBy(int node) {
    return Assignment.partitionsOf(owners, node);
  }

  /**
   * Returns whether a node owns a partition at this epoch: whether it may accept writes for it.
   *
   * @return false if the node does not own it or is not in this topology
   * @throws IllegalArgumentException if {@code partition} is not in {@code [0, partitionCount())}
   */
  public boolean owns(int node, int partition) {
    return ownerOf(partition) == node;
  }

  /** Returns a copy of the map: element {@code p} is the owner of partition {@code p}. */
  public int[] owners() {
    return owners.clone();
  }

  /**
   * Returns the map as an {@link Assignment} over nodes {@code 0 .. max ordinal}, for planning a
   * migration with {@link Assignment#diff(Assignment, Assignment)}.
   */
  public Assignment assignment() {
    return assignment;
  }

  /** Returns the partition function for this topology's partition count. */
  public Partitioner partitioner() {
    return Partitioner.of(owners.length);
  }

  @Override
  public boolean equals(Object o) {
    if (!(o instanceof Topology)) {
      return false;
    }
    Topology t = (Topology) o;
    return t.epoch == epoch && Arrays.equals(t.owners, owners) && t.addresses.equals(addresses);
  }

  @Override
  public int hashCode() {
    return Objects.hash(epoch, Arrays.hashCode(owners), addresses);
  }

  @Override
  public String toString() {
    return "Topology[epoch=" + epoch + ", partitionCount=" + owners.length + ", nodes=" + addresses + "]";
  }
}
