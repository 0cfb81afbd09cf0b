package io.eventpipe.routing;

import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * The partition function: routing key &rarr; partition in {@code [0, P)}.
 *
 * <p><b>Compatibility contract.</b> {@code partition(key)} is
 * {@code murmur3_x86_32(utf8(key), seed 0)}, read as an unsigned 32-bit number, keeping its top
 * {@code log2(P)} bits. Every proxy, node and migrator of a cluster, in any language and any version,
 * must compute exactly this; a change silently moves users to other partitions, where their new events
 * can overtake their pending ones. The function is pinned by test vectors ({@code PartitionerTest}).
 * Other implementations can reproduce it with, for example, Python's
 * {@code mmh3.hash(key.encode("utf-8"), 0, signed=False) >> (32 - log2(P))}.
 *
 * <p>The key is encoded with {@link String#getBytes(java.nio.charset.Charset) UTF-8}; a string holding an
 * unpaired surrogate (not valid Unicode, so no SDK produces it) is encoded with {@code '?'} in its place.
 *
 * <p>Instances are immutable and thread-safe.
 */
public final class Partitioner {

  /*
   * Algorithm notes
   *
   * - Hash: MurmurHash3_x86_32 (Appleby, SMHasher), seed 0, over the UTF-8 bytes. Most languages ship it
   *   (Guava Hashing.murmur3_32_fixed, Python mmh3, Go spaolacci/murmur3), so a non-Java client can
   *   compute the partition.
   * - Range reduction by the HIGH bits: partition = hash >>> (32 - log2 P), i.e. floor(hash / (2^32 / P))
   *   on the unsigned hash. Two reasons:
   *   1. hash % P on a signed Java int is negative for half the keys, and the usual fixes
   *      (Math.abs, which fails on Integer.MIN_VALUE; floorMod; masking) differ between languages; a shift
   *      of the unsigned value is unambiguous.
   *   2. Partition p covers the contiguous hash range [p * 2^32/P, (p+1) * 2^32/P), so doubling P splits
   *      every partition into exactly two children, 2p and 2p+1, whose keys all came from p: a future
   *      re-partitioning can split partitions in place. It is the same value as Lemire's multiply-shift
   *      reduction floor(hash * P / 2^32) (D. Lemire, "A fast alternative to the modulo reduction", 2016),
   *      which other implementations may already use.
   * - P = 1: the shift would be 32; Java masks int shift distances to 5 bits, so the code shifts the
   *   value widened to long (a shift by 32 of a value below 2^32 is 0), and the result is always 0.
   */

  /** The default number of partitions of a cluster, fixed at cluster creation. */
  public static final int DEFAULT_PARTITIONS = 1024;

  /** The largest supported number of partitions. */
  public static final int MAX_PARTITIONS = 65536;

  /** The murmur3 seed of the partition function (part of the contract). */
  static final int SEED = 0;

  private final int partitionCount;
  private final int shift;

  private Partitioner(int partitionCount) {
    this.partitionCount = partitionCount;
    this.shift = 32 - Integer.numberOfTrailingZeros(partitionCount);
  }

  /**
   * Returns the partition function for {@code partitionCount} partitions.
   *
   * @param partitionCount a power of two in {@code [1, 65536]}, usually {@link #DEFAULT_PARTITIONS}
   * @return the partitioner
   * @throws IllegalArgumentException if {@code partitionCount} is not a power of two in range
   */
  public static Partitioner of(int partitionCount) {
    return new Partitioner(Checks.requirePartitionCount("partitionCount", partitionCount));
  }

  /** Returns the number of partitions P. */
  public int partitionCount() {
    return partitionCount;
  }

  /**
   * Returns the partition of a routing key.
   *
   * @param routingKey the routing key (see {@link RoutingKey#of(String, String)}); the empty string is a
   *     valid input here, though {@link RoutingKey} never returns it
   * @return the partition, in {@code [0, partitionCount())}
   * @throws NullPointerException if {@code routingKey} is null
   */
  public int partition(String routingKey) {
    Objects.requireNonNull(routingKey, "routingKey");
    return partitionOfHash(Murmur3.hash32(routingKey.getBytes(StandardCharsets.UTF_8), SEED));
  }

  /** Maps a 32-bit hash (read as unsigned) to its partition by its high bits. */
  int partitionOfHash(int hash) {
    return (int) (Integer.toUnsignedLong(hash) >>> shift);
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof Partitioner && ((Partitioner) o).partitionCount == partitionCount;
  }

  @Override
  public int hashCode() {
    return partitionCount;
  }

  @Override
  public String toString() {
    return "Partitioner[murmur3_x86_32 seed 0, high bits, partitionCount=" + partitionCount + "]";
  }
}
