package io.eventpipe.routing;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Pins the partition function, a compatibility contract: these vectors must never change.
 *
 * <p>Expected values computed with Python {@code mmh3} 5.3.1 (a binding of Appleby's reference C code):
 * {@code h = mmh3.hash(key.encode("utf-8"), 0, signed=False)}, {@code partition = h >> (32 - log2(P))}.
 */
class PartitionerTest {

  /** (routing key, murmur3 seed 0 unsigned, partition for P = 1024, partition for P = 16). */
  static Stream<Arguments> vectors() {
    return Stream.of(
        v("", 0x00000000, 0, 0),
        v("a", 0x3C2569B2, 240, 3),
        v("user-1", 0xF8A28763, 994, 15),
        v("user-2", 0xDE9747CB, 890, 13),
        v("user-42", 0xB972DAD0, 741, 11),
        v("alice@example.com", 0xC10E04E6, 772, 12),
        v("bob@example.com", 0x36D561E0, 219, 3),
        v("6c8d2b9a-4f1e-4c3a-9d7b-2e5f8a1c0b3d", 0x9144D5CE, 581, 9),
        v("0b7f3c2e-9a14-4d6e-8b2f-71c5a9e4d003", 0x2B6211E0, 173, 2),
        v("f47ac10b-58cc-4372-a567-0e02b2c3d479", 0xCC5A9309, 817, 12),
        v("anon_8J2kLm9QzX", 0xFC6A0889, 1009, 15),
        v("12345", 0x13A51193, 78, 1),
        v("The quick brown fox jumps over the lazy dog", 0x2E4FF723, 185, 2),
        v("hello", 0x248BFA47, 146, 2),
        v("Jos\u00e9", 0xCBF9AC74, 815, 12), // José
        v("Zo\u00eb \u00c5ngstr\u00f6m", 0xA85FD2A3, 673, 10), // Zoë Ångström
        v("\u7528\u6237-007", 0x149C999D, 82, 1), // 用户-007
        v("\u30e6\u30fc\u30b6\u30fc", 0x62FD8734, 395, 6), // ユーザー
        v("\u043f\u043e\u043b\u044c\u0437\u043e\u0432\u0430\u0442\u0435\u043b\u044c", 0xEA705F26, 937, 14),
        v("user-\ud83d\ude00", 0x0FAB5E7A, 62, 0), // user-😀
        v("\ud83c\udf89", 0x1FEB8B56, 127, 1)); // 🎉
  }

  private static Arguments v(String key, int hash, int p1024, int p16) {
    return Arguments.of(key, hash, p1024, p16);
  }

  @ParameterizedTest(name = "[{index}] {0}")
  @MethodSource("vectors")
  void matchesPinnedVectors(String key, int hash, int p1024, int p16) {
    assertEquals(
        Integer.toHexString(hash),
        Integer.toHexString(Murmur3.hash32(key.getBytes(UTF_8), 0)),
        "murmur3 of the UTF-8 key");
    assertEquals(p1024, Partitioner.of(1024).partition(key), "P = 1024");
    assertEquals(p16, Partitioner.of(16).partition(key), "P = 16");
    assertEquals(0, Partitioner.of(1).partition(key), "P = 1");
    assertEquals(hash >>> 31, Partitioner.of(2).partition(key), "P = 2");
    assertEquals(hash >>> 16, Partitioner.of(65536).partition(key), "P = 65536");
  }

  @Test
  void defaultIs1024() {
    assertEquals(1024, Partitioner.DEFAULT_PARTITIONS);
    assertEquals(994, Partitioner.of(Partitioner.DEFAULT_PARTITIONS).partition("user-1"));
  }

  @Test
  void mapsByTheHighBitsOfTheUnsignedHashNeverByModulo() {
    // murmur3("user-1") = 0xF8A28763: negative as a Java int, so hash % 1024 would be -157.
    int hash = Murmur3.hash32("user-1".getBytes(UTF_8), 0);
    assertTrue(hash < 0);
    assertEquals(994, Partitioner.of(1024).partition("user-1"));
    assertNotEquals(Math.floorMod(hash, 1024), 994);
    assertNotEquals(hash % 1024, 994);
  }

  @Test
  void doublingThePartitionCountSplitsEachPartitionInTwo() {
    for (int bits = 0; bits < 16; bits++) {
      Partitioner small = Partitioner.of(1 << bits);
      Partitioner large = Partitioner.of(1 << (bits + 1));
      for (int i = 0; i < 2000; i++) {
        String key = "user-" + i;
        assertEquals(small.partition(key), large.partition(key) >> 1, key);
      }
    }
  }

  @Test
  void staysInRangeAndSpreadsKeysEvenly() {
    Partitioner partitioner = Partitioner.of(1024);
    int[] counts = new int[1024];
    int keys = 200_000;
    for (int i = 0; i < keys; i++) {
      int p = partitioner.partition("anon-" + i);
      assertTrue(p >= 0 && p < 1024, "partition " + p);
      counts[p]++;
    }
    double mean = keys / 1024.0;
    for (int p = 0; p < 1024; p++) {
      // deterministic keys, so no flakiness: a loose band around the mean of ~195
      assertTrue(counts[p] > mean * 0.7 && counts[p] < mean * 1.3, "partition " + p + ": " + counts[p]);
    }
  }

  @Test
  void encodesAnUnpairedSurrogateAsQuestionMark() {
    Partitioner partitioner = Partitioner.of(1024);
    assertEquals(partitioner.partition("?"), partitioner.partition("\ud800"));
    assertEquals(partitioner.partition("a?b"), partitioner.partition("a\udc00b"));
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, -1024, 3, 1000, 1023, 1025, 131072, Integer.MIN_VALUE, Integer.MAX_VALUE})
  void rejectsPartitionCountsThatAreNotPowersOfTwoInRange(int partitionCount) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Partitioner.of(partitionCount));
    assertTrue(e.getMessage().contains("got " + partitionCount), e.getMessage());
    assertTrue(e.getMessage().contains("partitionCount"), e.getMessage());
  }

  @Test
  void acceptsEveryPowerOfTwoUpTo65536() {
    for (int bits = 0; bits <= 16; bits++) {
      assertEquals(1 << bits, Partitioner.of(1 << bits).partitionCount());
    }
    assertEquals(65536, Partitioner.MAX_PARTITIONS);
  }

  @Test
  void rejectsNullKey() {
    assertThrows(NullPointerException.class, () -> Partitioner.of(16).partition(null));
  }

  @Test
  void isAValue() {
    assertEquals(Partitioner.of(16), Partitioner.of(16));
    assertEquals(Partitioner.of(16).hashCode(), Partitioner.of(16).hashCode());
    assertNotEquals(Partitioner.of(16), Partitioner.of(32));
    assertTrue(Partitioner.of(16).toString().contains("16"));
  }
}
