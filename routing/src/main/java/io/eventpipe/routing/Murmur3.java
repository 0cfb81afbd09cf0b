package io.eventpipe.routing;

import java.util.Objects;

/**
 * MurmurHash3, the 32-bit x86 variant ({@code MurmurHash3_x86_32}), bit for bit as Austin Appleby's
 * public-domain reference implementation.
 *
 * <p>The result equals the reference's {@code uint32_t} output reinterpreted as a Java {@code int}; use
 * {@code hash & 0xFFFFFFFFL} (or {@link Integer#toUnsignedLong(int)}) for the unsigned value that other
 * languages print (Python's {@code mmh3.hash(data, seed, signed=False)}, Go's {@code murmur3.Sum32}).
 */
public final class Murmur3 {

  /*
   * Algorithm notes
   *
   * Reference: Austin Appleby, SMHasher, src/MurmurHash3.cpp, MurmurHash3_x86_32
   * (https://github.com/aappleby/smhasher), public domain.
   *
   * 1. Body: the input is read as little-endian 32-bit blocks (the reference's getblock32 on x86).
   *    Each block k is mixed: k *= c1; k = rotl(k, 15); k *= c2; then h ^= k; h = rotl(h, 13);
   *    h = h * 5 + 0xe6546b64.
   * 2. Tail: the 1..3 remaining bytes are assembled little-endian into k as UNSIGNED bytes (the reference
   *    reads them through a const uint8_t*; sign-extending them, a classic porting bug, changes the hash
   *    of every non-ASCII UTF-8 key), mixed like a block but without the h rotation and h*5+n step.
   * 3. Finalisation: h ^= length in bytes, then fmix32 (xor-shift 16, * 0x85ebca6b, xor-shift 13,
   *    * 0xc2b2ae35, xor-shift 16) for avalanche.
   *
   * Java's int arithmetic wraps modulo 2^32 exactly like the reference's uint32_t, and >>> is the
   * reference's unsigned >>, so no masking is needed.
   */

  private static final int C1 = 0xcc9e2d51;
  private static final int C2 = 0x1b873593;

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
    return hash32(data, 0, data.length, seed);
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
    int h = seed;
    int end = offset + (length & ~3);
    for (int i = offset; i < end; i += 4) {
      int k = (data[i] & 0xff)
          | (data[i + 1] & 0xff) << 8
          | (data[i + 2] & 0xff) << 16
          | (data[i + 3] & 0xff) << 24;
      h = mixH(h, mixK(k));
    }
    int rest = length & 3;
    if (rest > 0) {
      int k = 0;
      if (rest == 3) {
        k ^= (data[end + 2] & 0xff) << 16;
      }
      if (rest >= 2) {
        k ^= (data[end + 1] & 0xff) << 8;
      }
      k ^= data[end] & 0xff;
      h ^= mixK(k);
    }
    return fmix(h ^ length);
  }

  /**
   * Hashes two ints as the 8 bytes of their little-endian encodings ({@code a} first), without
   * allocating: equal to {@code hash32(bytesLE(a) ++ bytesLE(b), seed)}. Used by {@link Assignment} to
   * rank partitions.
   */
  static int hash32(int a, int b, int seed) {
    int h = mixH(seed, mixK(a));
    h = mixH(h, mixK(b));
    return fmix(h ^ 8);
  }

  private static int mixK(int k) {
    k *= C1;
    k = Integer.rotateLeft(k, 15);
    return k * C2;
  }

  private static int mixH(int h, int k) {
    h ^= k;
    h = Integer.rotateLeft(h, 13);
    return h * 5 + 0xe6546b64;
  }

  private static int fmix(int h) {
    h ^= h >>> 16;
    h *= 0x85ebca6b;
    h ^= h >>> 13;
    h *= 0xc2b2ae35;
    h ^= h >>> 16;
    return h;
  }
}
