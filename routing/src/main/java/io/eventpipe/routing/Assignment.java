package io.eventpipe.routing;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * An immutable partition &rarr; node map over nodes {@code 0 .. nodeCount-1} (StatefulSet ordinals).
 *
 * <p>{@link #compute(int, int)} is the cluster's assignment rule. For {@code P} partitions and {@code n}
 * nodes it is:
 * <ul>
 *   <li><b>a pure function of (P, n)</b>: every process computes the same map, in any JVM, forever;
 *       like the {@link Partitioner partition function} it is a compatibility contract pinned by test
 *       vectors, because the migrator plans a scale-out as {@code diff(compute(P, n), compute(P, n+1))}
 *       against a map a previous version may have computed;
 *   <li><b>perfectly balanced</b>: every node owns {@code floor(P/n)} or {@code ceil(P/n)} partitions
 *       (nodes beyond the {@code P}-th own nothing);
 *   <li><b>minimal in movement</b>: from {@code n} to {@code n+1} nodes only the new node {@code n}'s
 *       share ({@code floor(P/(n+1))} partitions) moves, all of it onto node {@code n}; from {@code n+1}
 *       to {@code n} nodes only the removed node {@code n}'s partitions move (a StatefulSet scales down
 *       from its highest ordinal), back to the nodes they came from.
 * </ul>
 *
 * <p>{@link #of(int[], int)} wraps an explicit map, such as the one a {@link Topology} holds in the middle
 * of a migration; such a map need not be balanced.
 */
public final class Assignment {

  /*
   * Algorithm notes
   *
   * Why not jump consistent hash. Jump hash (J. Lamping, E. Veach, "A Fast, Minimal Memory, Consistent
   * Hash Algorithm", arXiv:1406.2294, 2014; see JumpConsistentHash) has the right movement property but
   * assigns every partition independently, so each node's load is a random variable: its standard
   * deviation is about sqrt(P/n). For 1024 partitions over 32 nodes (32 each on average) the fullest
   * node owns 44 (max/mean 1.375), and that node bounds the cluster's throughput. A cluster has few
   * partitions and we store the map anyway, so we can afford an exact construction. Ring-based consistent
   * hashing (Karger et al., 1997) with virtual nodes has the same statistical imbalance and more state.
   *
   * Construction, by induction on the node count (each step is one scale-out):
   *   1. assignment(P, 1): every partition on node 0.
   *   2. assignment(P, k+1) from assignment(P, k): the new node k takes share = floor(P/(k+1))
   *      partitions, one at a time, each from the node that currently owns the most (ties: lowest
   *      ordinal). Before the step the counts differ by at most one; taking from a maximum keeps it so,
   *      and the new node's floor(P/(k+1)) is within one of the others' (P - share)/k, so the result is
   *      again balanced: every count is floor or ceil of P/(k+1).
   *   3. Within a donor, the partitions given are those ranked first by the key
   *      (murmur3_x86_32(le32(partition) ++ le32(k), seed 0) unsigned, then partition). The rank
   *      depends on the new node, so the partitions that move are scattered over [0, P) rather than
   *      contiguous, and which partitions move at one step is unrelated to which moved at the previous one.
   * Minimal movement follows from the construction: step k moves exactly `share` partitions, all onto
   * node k, and nothing else; assignment(P, n) is assignment(P, n+1) with node n's partitions given back.
   * The new node takes the floor rather than the ceiling so that, when P is not divisible by n, the
   * highest ordinal (the first removed on scale-down) never holds more than any other node.
   *
   * Cost. Each node keeps its list of partitions. Step k ranks only the donors' partitions (all P
   * while share >= k, that is k < sqrt(P); about share * P/k = P^2/k^2 after) and picks each donor's c_d
   * smallest keys with quickselect (expected linear) instead of sorting, after a one-pass filter that
   * keeps only keys below a threshold expected to admit a few more than c_d (see donate). The donor counts have a closed
   * form (planDonations) equal to the one-at-a-time rule, O(k) per step. In all about 2 P^1.5 hashes
   * plus O(min(n, P)^2) bookkeeping: P = 65536, n = 256 is about 17 million hashes of 8 bytes. Steps
   * with share = 0 (k >= P) are skipped. Nothing is memoized.
   */

  /**
   * The largest supported node count: far beyond any cluster of PostgreSQL-backed nodes, and it bounds
   * the work of {@link #compute(int, int)}.
   */
  public static final int MAX_NODES = 4096;

  private static final long PARTITION_MASK = 0xFFFF; // partitions are below MAX_PARTITIONS = 2^16

  /**
   * One partition changing owner.
   *
   * @param partition the partition that moves
   * @param fromNode its owner before
   * @param toNode its owner after
   */
  public record Move(int partition, int fromNode, int toNode) {

    /**
     * Validates a move.
     *
     * @throws IllegalArgumentException if a value is negative or {@code fromNode == toNode}
     */
    public Move {
      Checks.requireArgument(partition >= 0, "partition must be >= 0, got %d", partition);
      Checks.requireArgument(fromNode >= 0, "fromNode must be >= 0, got %d", fromNode);
      Checks.requireArgument(toNode >= 0, "toNode must be >= 0, got %d", toNode);
      Checks.requireArgument(
          fromNode != toNode, "a move must change the owner, got node %d -> %d", fromNode, toNode);
    }
  }

  private final int[] owners;
  private final int nodeCount;

  private Assignment(int[] owners, int nodeCount) {
    this.owners = owners;
    this.nodeCount = nodeCount;
  }

  /**
   * Computes the cluster's assignment of {@code partitionCount} partitions over nodes
   * {@code 0 .. nodeCount-1} by the rule described above.
   *
   * @param partitionCount P, a power of two in {@code [1, 65536]}
   * @param nodeCount n, in {@code [1, MAX_NODES]}; may exceed P, in which case nodes {@code P..n-1}
   *     own nothing
   * @return the assignment
   * @throws IllegalArgumentException if an argument is out of range
   */
  public static Assignment compute(int partitionCount, int nodeCount) {
    Checks.requirePartitionCount("partitionCount", partitionCount);
    Checks.requireNodeCount(nodeCount);
    int[] owners = new int[partitionCount]; // step 1: every partition on node 0
    int[][] members = new int[nodeCount][]; // members[d]: the partitions node d owns, any order
    members[0] = new int[partitionCount];
    for (int p = 0; p < partitionCount; p++) {
      members[0][p] = p;
    }
    int[] give = new int[nodeCount];
    long[] keys = new long[partitionCount];
    for (int k = 1; k < nodeCount; k++) {
      int share = partitionCount / (k + 1);
      if (share == 0) {
        break; // k >= P: this node and every later one take nothing
      }
      // Step 2: how many partitions each existing node gives to node k.
      planDonations(members, k, share, give);
      // Step 3: each donor gives its give[d] first-ranked partitions.
      int[] taken = new int[share];
      int t = 0;
      for (int d = 0; d < k; d++) {
        if (give[d] > 0) {
          members[d] = donate(members[d], give[d], k, keys, taken, t);
          t += give[d];
        }
      }
      for (int p : taken) {
        owners[p] = k;
      }
      members[k] = taken;
    }
    return new Assignment(owners, nodeCount);
  }

  /**
   * Wraps an explicit partition &rarr; node map.
   *
   * @param owners {@code owners[p]} is the node owning partition {@code p}; the length must be a power of
   *     two in {@code [1, 65536]}; the array is copied
   * @param nodeCount the nodes are {@code 0 .. nodeCount-1}; every owner must be one of them
   * @return the assignment
   * @throws IllegalArgumentException if the length, the node count or an owner is out of range
   */
  public static Assignment of(int[] owners, int nodeCount) {
    Objects.requireNonNull(owners, "owners");
    Checks.requirePartitionCount("owners.length (the partition count)", owners.length);
    Checks.requireNodeCount(nodeCount);
    int[] copy = owners.clone();
    for (int p = 0; p < copy.length; p++) {
      int owner = copy[p];
      Checks.requireArgument(
          owner >= 0 && owner < nodeCount,
          "owner of partition %d must be a node in [0, %d), got %d", p, nodeCount, owner);
    }
    return new Assignment(copy, nodeCount);
  }

  /**
   * Lists the partitions whose owner differs between two assignments: the plan of a migration.
   *
   * @param from the current assignment
   * @param to the target assignment, with the same partition count
   * @return the moves in ascending partition order; empty if the maps are equal
   * @throws IllegalArgumentException if the partition counts differ
   */
  public static List<Move> diff(Assignment from, Assignment to) {
    Objects.requireNonNull(from, "from");
    Objects.requireNonNull(to, "to");
    Checks.requireArgument(
        from.owners.length == to.owners.length,
        "cannot diff assignments with different partition counts: %d and %d",
        from.owners.length, to.owners.length);
    List<Move> moves = new ArrayList<>();
    for (int p = 0; p < from.owners.length; p++) {
      if (from.owners[p] != to.owners[p]) {
        moves.add(new Move(p, from.owners[p], to.owners[p]));
      }
    }
    return List.copyOf(moves);
  }

  /** Returns the number of partitions P. */
  public int partitionCount() {
    return owners.length;
  }

  /** Returns the number of nodes n; the nodes are {@code 0 .. n-1}, and some may own nothing. */
  public int nodeCount() {
    return nodeCount;
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
   * Returns the partitions a node owns.
   *
   * @param node a node in {@code [0, nodeCount())}
   * @return a new array, ascending; empty if the node owns nothing
   * @throws IllegalArgumentException if {@code node} is out of range
   */
  public int[] partitionsOf(int node) {
    Checks.requireArgument(
        node >= 0 && node < nodeCount, "node must be in [0, %d), got %d", nodeCount, node);
    return partitionsOf(owners, node);
  }

  /** Returns a copy of the map: element {@code p} is the owner of partition {@code p}. */
  public int[] owners() {
    return owners.clone();
  }

  static int[] partitionsOf(int[] owners, int node) {
    int count = 0;
    for (int owner : owners) {
      if (owner == node) {
        count++;
      }
    }
    int[] result = new int[count];
    int i = 0;
    for (int p = 0; p < owners.length && i < count; p++) {
      if (owners[p] == node) {
        result[i++] = p;
      }
    }
    return result;
  }

  /**
   * Sets {@code give[d]} for the nodes {@code 0..k-1}: how many partitions each gives to new node k when
   * {@code share} partitions are taken one at a time from the node that currently owns the most (ties:
   * lowest ordinal). The counts ({@code members[d].length}) differ by at most one, so the one-at-a-time
   * rule has a closed form: first every node at the maximum, in ordinal order; then, all being equal,
   * whole rounds over every node, then a partial round from node 0 up.
   */
  static void planDonations(int[][] members, int k, int share, int[] give) {
    int max = 0;
    for (int d = 0; d < k; d++) {
      max = Math.max(max, members[d].length);
    }
    int left = share;
    for (int d = 0; d < k; d++) {
      give[d] = 0;
      if (left > 0 && members[d].length == max) {
        give[d] = 1;
        left--;
      }
    }
    int rounds = left / k;
    int partial = left % k;
    for (int d = 0; d < k; d++) {
      give[d] += rounds + (d < partial ? 1 : 0);
    }
  }

  /**
   * Moves the {@code count} first-ranked partitions of {@code owned} to {@code taken[from..]} and returns
   * the rest. {@code keys} is scratch space of at least {@code owned.length}.
   */
  private static int[] donate(int[] owned, int count, int k, long[] keys, int[] taken, int from) {
    int m = owned.length;
    // Keys below `limit` go to the front, the others to the back. The limit is set so that, the hashes
    // being uniform, the front very likely holds a few more than `count` keys; then the `count`
    // smallest are all in the front and only it needs selecting. Otherwise select over all the keys.
    // Either way the result is the `count` smallest: the limit changes the speed, never the answer.
    long limit = candidateLimit(count, m);
    int front = 0;
    int back = m;
    for (int p : owned) {
      long key = rankKey(p, k);
      if (key <= limit) {
        keys[front++] = key;
      } else {
        keys[--back] = key;
      }
    }
    selectSmallest(keys, front >= count ? front : m, count);
    for (int i = 0; i < count; i++) {
      taken[from + i] = (int) (keys[i] & PARTITION_MASK);
    }
    int[] kept = new int[m - count];
    for (int i = count; i < m; i++) {
      kept[i - count] = (int) (keys[i] & PARTITION_MASK);
    }
    return kept;
  }

  /**
   * A rank key below which about {@code count + 3 sqrt(count) + 10} of {@code m} uniformly hashed keys
   * fall: more than {@code count} with high probability (the idea of Floyd and Rivest's sampling
   * selection, "Algorithm 489: SELECT", CACM 1975, without the sample).
   */
  private static long candidateLimit(int count, int m) {
    double fraction = (count + 3 * Math.sqrt(count) + 10) / m;
    if (fraction >= 1) {
      return Long.MAX_VALUE;
    }
    long hashLimit = (long) (fraction * 0x1p32); // < 2^32
    return hashLimit << 16 | PARTITION_MASK;
  }

  /**
   * Rearranges {@code a[0..size)} so that its {@code count} smallest elements (distinct) come first, in
   * any order: Hoare's quickselect (C. A. R. Hoare, "Algorithm 65: Find", CACM 1961), expected O(size).
   * The set selected does not depend on the pivots, only the running time does.
   */
  static void selectSmallest(long[] a, int size, int count) {
    int lo = 0;
    int hi = size - 1;
    while (lo < hi && count > lo && count <= hi) {
      // Invariant: a[0..lo) are all smaller than a[lo..hi], which are all smaller than a(hi..size).
      long pivot = medianOfThree(a[lo], a[(lo + hi) >>> 1], a[hi]);
      int i = lo;
      int j = hi;
      while (i <= j) {
        while (a[i] < pivot) {
          i++;
        }
        while (a[j] > pivot) {
          j--;
        }
        if (i <= j) {
          long tmp = a[i];
          a[i] = a[j];
          a[j] = tmp;
          i++;
          j--;
        }
      }
      // Now a[lo..j] <= pivot <= a[i..hi], and i > j.
      if (count <= j) {
        hi = j;
      } else if (count >= i) {
        lo = i;
      } else {
        return; // the boundary falls between j and i: everything before it is smaller
      }
    }
  }

  private static long medianOfThree(long a, long b, long c) {
    return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
  }

  /**
   * The rank of partition {@code p} when choosing what moves to new node {@code k}: smaller goes first.
   * The unsigned hash fills bits 16..47 and the partition (below 2^16, unique) bits 0..15, so the keys
   * are distinct, non-negative, and ordered by (hash, partition).
   */
  private static long rankKey(int p, int k) {
    return Integer.toUnsignedLong(Murmur3.hash32(p, k, 0)) << 16 | p;
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Assignment
        && ((Assignment) o).nodeCount == nodeCount
        && Arrays.equals(((Assignment) o).owners, owners);
  }

  @Override
  public int hashCode() {
    return 31 * nodeCount + Arrays.hashCode(owners);
  }

  @Override
  public String toString() {
    return "Assignment[partitionCount=" + owners.length + ", nodeCount=" + nodeCount + "]";
  }
}
