package io.eventpipe.routing;

import static java.nio.charset.StandardCharsets.ISO_8859_1;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Pins {@link Murmur3#hash32} to MurmurHash3_x86_32.
 *
 * <p>Sources of the expected values:
 * <ul>
 *   <li>published: the Stack Overflow question "MurmurHash3 test vectors" (questions/14747343, itself
 *       checked against Appleby's reference), Bitcoin Core {@code src/test/hash_tests.cpp}, the absmartly
 *       SDKs' {@code murmur3_32} tests, and the widely repeated {@code "hello"} and pangram vectors;
 *   <li>computed: the non-ASCII and high-byte vectors, with Python {@code mmh3} 5.3.1 (a binding of the
 *       reference C code): {@code mmh3.hash(data, seed, signed=False)}.
 * </ul>
 * Every published vector was also re-checked with {@code mmh3}.
 */
class Murmur3Test {

  /** (bytes as ISO-8859-1 text, so "\u00ff" is the byte 0xFF; seed; expected unsigned hash). */
  static Stream<Arguments> publishedBinaryVectors() {
    return Stream.of(
        // Stack Overflow 14747343: seeds, embedded NULs, each tail length, endianness of a block
        v("", 0, 0x00000000),
        v("", 1, 0x514E28B7),
        v("", 0xFFFFFFFF, 0x81F16F39),
        v("\0\0\0\0", 0, 0x2362F9DE),
        v("aaaa", 0x9747B28C, 0x5A97808A),
        v("aaa", 0x9747B28C, 0x283E0130),
        v("aa", 0x9747B28C, 0x5D211726),
        v("a", 0x9747B28C, 0x7FA09EA6),
        v("abcd", 0x9747B28C, 0xF0478627),
        v("abc", 0x9747B28C, 0xC84A62DD),
        v("ab", 0x9747B28C, 0x74875592),
        v("Hello, world!", 0x9747B28C, 0x24884CBA),
        v("a".repeat(256), 0x9747B28C, 0x37405BDC),
        v("abc", 0, 0xB3DD93FA),
        v("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0, 0xEE925B90),
        v("The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
        v("\u00ff\u00ff\u00ff\u00ff", 0, 0x76293B50),
        v("\u0021\u0043\u0065\u0087", 0, 0xF55B516B),
        v("\u0021\u0043\u0065\u0087", 0x5082EDEE, 0x2362F9DE),
        v("\u0021\u0043\u0065", 0, 0x7E4A8634),
        v("\u0021\u0043", 0, 0xA0F7B07A),
        v("\u0021", 0, 0x72661CF4),
        v("\0\0\0", 0, 0x85F0B427),
        v("\0\0", 0, 0x30F4C306),
        v("\0", 0, 0x514E28B7),
        // Bitcoin Core hash_tests.cpp (0xFBA4C795 is the BIP 37 tweak)
        v("", 0xFBA4C795, 0x6A396F08),
        v("\0", 0xFBA4C795, 0xEA3F0B17),
        v("\u00ff", 0, 0xFD6CF10D),
        // widely repeated in ports
        v("hello", 0, 0x248BFA47),
        v("The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
        v("test", 0, 0xBA6BD213),
        v("test", 0x9747B28C, 0x704B81DC),
        v("Hello, world!", 0, 0xC0363E43),
        // computed with mmh3: high bytes in every tail length (unsigned tail bytes)
        v("\u00ff\u00ff", 0, 0x8619621F),
        v("\u00ff\u00ff\u00ff", 0, 0xBF12A026),
        v("\u0080\u0081\u0082\u0083\u0084\u0085\u0086", 0, 0x5769CE95));
  }

  /** (Java string, hashed as UTF-8; seed; expected unsigned hash). */
  static Stream<Arguments> utf8Vectors() {
    return Stream.of(
        // published: Stack Overflow 14747343 (U+03C0 GREEK SMALL LETTER PI x 8) and absmartly
        Arguments.of("\u03c0".repeat(8), 0x9747B28C, 0xD58063C1),
        Arguments.of("special characters a\u00e7b\u2193c", 0, 0xBE83B140),
        Arguments.of("special characters a\u00e7b\u2193c", 0xDEADBEEF, 0xF7FDD8A2),
        // computed with mmh3: 2-, 3- and 4-byte sequences (4-byte ones are surrogate pairs in Java)
        Arguments.of("\u00e9", 0, 0x10110787), // é
        Arguments.of("\u00df", 0, 0x14147826), // ß
        Arguments.of("\u03a9", 0, 0x4F323F71), // Ω
        Arguments.of("\u20ac", 0, 0x5B43FCA5), // €
        Arguments.of("anon-\u00fc", 0, 0x05C9E02A), // anon-ü
        Arguments.of("\u65e5\u672c\u8a9e\u306e\u30e6\u30fc\u30b6\u30fc", 0, 0x40BA4B7C), // 日本語のユーザー
        Arguments.of("\ud83d\ude00", 0, 0xBEB42EFA), // 😀
        Arguments.of("user-\ud83d\ude00", 0, 0x0FAB5E7A), // user-😀
        Arguments.of("\ud83c\udf89\ud83c\udf89", 0, 0xFF00D209), // 🎉🎉
        Arguments.of("R\u00fdchla hned\u00e1 l\u00ed\u0161ka presko\u010dila leniv\u00e9ho psa", 0, 0x678B9BE9),
        Arguments.of("R\u00fdchla hned\u00e1 l\u00ed\u0161ka presko\u010dila leniv\u00e9ho psa", 0x9747B28C,
            0x8D3382A7),
        Arguments.of("\u0411\u044b\u0441\u0442\u0440\u0430\u044f \u043a\u043e\u0440\u0438\u0447\u043d\u0435"
            + "\u0432\u0430\u044f \u043b\u0438\u0441\u0430 \u043f\u0435\u0440\u0435\u043f\u0440\u044b\u0433"
            + "\u0438\u0432\u0430\u0435\u0442 \u0447\u0435\u0440\u0435\u0437 \u043b\u0435\u043d\u0438\u0432"
            + "\u0443\u044e \u0441\u043e\u0431\u0430\u043a\u0443", 0, 0xA94F1F75));
  }

  private static Arguments v(String latin1, int seed, int expected) {
    return Arguments.of(latin1, seed, expected);
  }

  @ParameterizedTest(name = "[{index}] seed {1}")
  @MethodSource("publishedBinaryVectors")
  void matchesPublishedVectors(String latin1, int seed, int expected) {
    assertHash(expected, Murmur3.hash32(latin1.getBytes(ISO_8859_1), seed));
  }

  @ParameterizedTest(name = "[{index}] {0} seed {1}")
  @MethodSource("utf8Vectors")
  void matchesVectorsForNonAsciiUtf8(String text, int seed, int expected) {
    assertHash(expected, Murmur3.hash32(text.getBytes(UTF_8), seed));
  }

  @Test
  void hashesARangeOfAnArrayLikeACopyOfIt() {
    byte[] data = "xxThe quick brown fox jumps over the lazy dogyy".getBytes(UTF_8);
    assertHash(0x2E4FF723, Murmur3.hash32(data, 2, data.length - 4, 0));
    SplittableRandom random = new SplittableRandom(42);
    byte[] buffer = new byte[64];
    for (int i = 0; i < 1000; i++) {
      for (int j = 0; j < buffer.length; j++) {
        buffer[j] = (byte) random.nextInt(256);
      }
      int offset = random.nextInt(buffer.length + 1);
      int length = random.nextInt(buffer.length - offset + 1);
      int seed = random.nextInt();
      assertEquals(
          Murmur3.hash32(Arrays.copyOfRange(buffer, offset, offset + length), seed),
          Murmur3.hash32(buffer, offset, length, seed));
    }
  }

  @Test
  void rejectsRangesOutsideTheArray() {
    byte[] data = new byte[8];
    assertThrows(IndexOutOfBoundsException.class, () -> Murmur3.hash32(data, -1, 2, 0));
    assertThrows(IndexOutOfBoundsException.class, () -> Murmur3.hash32(data, 4, 5, 0));
    assertThrows(IndexOutOfBoundsException.class, () -> Murmur3.hash32(data, 0, -1, 0));
    assertThrows(NullPointerException.class, () -> Murmur3.hash32(null, 0));
  }

  @Test
  void twoIntHashEqualsTheHashOfTheirLittleEndianBytes() {
    // computed with mmh3: mmh3.hash(struct.pack("<ii", a, b), 0, signed=False)
    assertHash(0x3AD85688, Murmur3.hash32(0, 1, 0));
    assertHash(0xD61F24BD, Murmur3.hash32(1023, 5, 0));
    assertHash(0x89C9EF14, Murmur3.hash32(65535, 4095, 0));
    assertHash(0x625C2CC3, Murmur3.hash32(-1, 7, 0));
    SplittableRandom random = new SplittableRandom(7);
    for (int i = 0; i < 10_000; i++) {
      int a = random.nextInt();
      int b = random.nextInt();
      int seed = random.nextInt();
      byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(a).putInt(b).array();
      assertEquals(Murmur3.hash32(bytes, seed), Murmur3.hash32(a, b, seed));
    }
  }

  private static void assertHash(int expected, int actual) {
    assertEquals(
        Integer.toHexString(expected), Integer.toHexString(actual), "hash (as unsigned hex)");
  }
}
