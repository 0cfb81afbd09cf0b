package io.eventpipe.routing;

import java.util.Objects;
import org.apache.commons.codec.digest.MurmurHash3;

/**
 * MurmurHash3, the 32-bit x86 variant ({@code MurmurHash3_x86_32}), bit for bit as Austin Appleby's
 * public-domain reference implementation: the partition function's hash, a compatibility contract pinned by
 * {@code Murmur3Test}'s vectors.
 *
 * <p>The result equals the reference's {@code uint32_t} output reinterpreted as a Java {@code int}; use
 * {@code hash & 0xFFFFFFFFL} (or {@link Integer#toUnsignedLong(int)}) for the unsigned value that other
 * languages print (Python's {@code mmh3.hash(data, seed, signed=False)}, Go's {@code murmur3.Sum32}).
 */
public final class Murmur3 {

  /*
   * Implementation notes
   *
   * Reference: Austin Appleby, SMHasher, src/MurmurHash3.cpp, MurmurHash3_x86_32
   * (https://github.com/aappleby/smhasher), public domain.
   *
   * The hashing is commons-codec's MurmurHash3 (org.apache.commons.codec.digest), which is maintained and
   * matches the reference. Use only hash32x86 for byte arrays: commons-codec's older hash32(byte[] ...) methods
   * sign-extend the 1..3 tail bytes (CODEC-264), which changes the hash of every non-ASCII UTF-8 key; they are
   * deprecated for that reason. hash32(long, int) hashes exactly 8 bytes (no tail), so it is exact.
   */

  private Murmur3() {}

  /**
   * Hashes all of {@code data}.
   *
   * @param data the bytes to hash (a routing key is hashed as its UTF-8 encoding)
   * @param seed the seed; the partition function uses 0
   * @return the 32-bit hash, as a signed int holding the reference's unsigned bits
   */
  public static int hash32(byte[] data, int seed) {
    Objects.requireNonNull(data, "data");
    return MurmurHash3.hash32x86(data, 0, data.length, seed);
  }

  /**
   * Hashes {@code length} bytes of {@code data} starting at {@code offset}.
   *
   * @param data the array holding the bytes to hash
   * @param offset index of the first byte to hash
   * @param length number of bytes to hash
   * @param seed the seed
   * @return the 32-bit hash, as a signed int holding the reference's unsigned bits
   * @throws IndexOutOfBoundsException if the range is not inside {@code data}
   */
  public static int hash32(byte[] data, int offset, int length, int seed) {
    Objects.requireNonNull(data, "data");
    Objects.checkFromIndexSize(offset, length, data.length);
    return MurmurHash3.hash32x86(data, offset, length, seed);
  }

  /**
   * Hashes two ints as the 8 bytes of their little-endian encodings ({@code a} first), without
   * allocating: equal to {@code hash32(bytesLE(a) ++ bytesLE(b), seed)}. Used by {@link Assignment} to
   * rank partitions.
   */
  static int hash32(int a, int b, int seed) {
    // commons-codec hashes the long's big-endian bytes; reversed, they are a's then b's little-endian bytes
    return MurmurHash3.hash32(Long.reverseBytes((long) b << 32 | (a & 0xFFFFFFFFL)), seed);
  }
}
