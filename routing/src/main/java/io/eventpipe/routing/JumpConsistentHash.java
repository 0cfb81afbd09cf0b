package io.eventpipe.routing;

/**
 * Jump consistent hash (Lamping and Veach, 2014), exactly as the paper's reference code.
 *
 * <p>Kept for comparison, not used for routing: {@link Assignment} explains why. It maps a 64-bit key to a
 * bucket in {@code [0, buckets)} so that growing from {@code n} to {@code n + 1} buckets moves about
 * {@code 1/(n+1)} of the keys, all of them to the new bucket, but the number of keys per bucket is only
 * balanced statistically: with few keys per bucket (1024 partitions over 32 nodes is 32 each) the fullest
 * bucket is far above the mean.
 */
public final class JumpConsistentHash {

  /*
   * Algorithm notes
   *
   * Reference: John Lamping, Eric Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
   * arXiv:1406.2294 (2014), Figure 1:
   *
   *   int32_t JumpConsistentHash(uint64_t key, int32_t num_buckets) {
   *     int64_t b = -1, j = 0;
   *     while (j < num_buckets) {
   *       b = j;
   *       key = key * 2862933555777941757ULL + 1;
   *       j = (b + 1) * (double(1LL << 31) / double((key >> 33) + 1));
   *     }
   *     return b;
   *   }
   *
   * The key is a 64-bit linear congruential generator state; the loop jumps forward to the next bucket
   * at which the key would move, in O(ln n) expected iterations. Java's long multiplication wraps like
   * uint64_t, >>> 33 is the unsigned shift, and the double-to-long cast truncates like C's conversion
   * (the product is below 2^62, so it never saturates).
   */

  private static final long LCG_MULTIPLIER = 2862933555777941757L;

  private JumpConsistentHash() {}

  /**
   * Returns the bucket of {@code key}.
   *
   * @param key any 64-bit key, read as unsigned
   * @param buckets the number of buckets, at least 1
   * @return a bucket in {@code [0, buckets)}
   * @throws IllegalArgumentException if {@code buckets < 1}
   */
  public static int bucket(long key, int buckets) {
    Checks.requireArgument(buckets >= 1, "buckets must be >= 1, got %d", buckets);
    long b = -1;
    long j = 0;
    while (j < buckets) {
      b = j;
      key = key * LCG_MULTIPLIER + 1;
      j = (long) ((b + 1) * ((double) (1L << 31) / (double) ((key >>> 33) + 1)));
    }
    return (int) b;
  }
}
