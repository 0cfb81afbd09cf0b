package io.eventpipe.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.zip.Deflater;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;

class BodyDecoderTest {

  private static final byte[] JSON = "{\"userId\":\"u1\",\"event\":\"e\"}".getBytes(StandardCharsets.UTF_8);

  @Test
  void identityReturnsTheSameArray() {
    assertSame(JSON, BodyDecoder.decode(JSON, null, 1000));
    assertSame(JSON, BodyDecoder.decode(JSON, "", 1000));
    assertSame(JSON, BodyDecoder.decode(JSON, " Identity ", 1000));
  }

  @Test
  void gzipAndXGzipAreInflated() {
    byte[] gz = gzip(JSON);
    assertArrayEquals(JSON, BodyDecoder.decode(gz, "gzip", 1000));
    assertArrayEquals(JSON, BodyDecoder.decode(gz, "x-gzip", 1000));
    assertArrayEquals(JSON, BodyDecoder.decode(gz, "GZIP", 1000));
  }

  @Test
  void gzipOfExactlyTheLimitIsAccepted() {
    byte[] body = new byte[5000];
    Arrays.fill(body, (byte) 'a');
    assertArrayEquals(body, BodyDecoder.decode(gzip(body), "gzip", 5000));
    GatewayException e = assertThrows(GatewayException.class, () -> BodyDecoder.decode(gzip(body), "gzip", 4999));
    assertEquals(413, e.status());
  }

  @Test
  void concatenatedGzipMembersAreOneBody() {
    byte[] a = "{\"a\":".getBytes(StandardCharsets.UTF_8);
    byte[] b = "1}".getBytes(StandardCharsets.UTF_8);
    assertEquals("{\"a\":1}", new String(BodyDecoder.decode(concat(gzip(a), gzip(b)), "gzip", 100),
        StandardCharsets.UTF_8));
  }

  @Test
  void otherEncodingsAre415NamingTheEncoding() {
    for (String encoding : new String[] {"br", "deflate", "zstd", "gzip, br"}) {
      GatewayException e = assertThrows(GatewayException.class, () -> BodyDecoder.decode(JSON, encoding, 1000));
      assertEquals(415, e.status());
      assertTrue(e.getMessage().contains("'" + encoding + "'"), e.getMessage());
      assertTrue(e instanceof UnsupportedContentEncodingException);
    }
  }

  @Test
  void rawBodyOverTheLimitIs413() {
    GatewayException e = assertThrows(GatewayException.class, () -> BodyDecoder.decode(JSON, null, 10));
    assertEquals(413, e.status());
    assertTrue(e.getMessage().contains("10 bytes"), e.getMessage());
    assertEquals(413, assertThrows(GatewayException.class, () -> BodyDecoder.decode(gzip(JSON), "gzip", 10)).status());
  }

  @Test
  void corruptGzipIs400() {
    byte[] gz = gzip(JSON);
    byte[] corrupt = gz.clone();
    corrupt[12] ^= 0x55;
    corrupt[13] ^= 0x55;
    GatewayException e = assertThrows(GatewayException.class, () -> BodyDecoder.decode(corrupt, "gzip", 1000));
    assertEquals(400, e.status());
    assertTrue(e.getMessage().contains("gzip"), e.getMessage());

    byte[] truncated = Arrays.copyOf(gz, gz.length - 6);
    assertEquals(400, assertThrows(GatewayException.class, () -> BodyDecoder.decode(truncated, "gzip", 1000)).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> BodyDecoder.decode(JSON, "gzip", 1000)).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> BodyDecoder.decode(new byte[0], "gzip", 1000)).status());
  }

  /**
   * 1 GiB of zeros as 1024 gzip members of 1 MiB each (about 1 MB compressed; RFC 1952 allows concatenated
   * members and GZIPInputStream reads them all). Built in milliseconds, unlike deflating 1 GiB at once.
   */
  @Test
  void gzipBombOfOneGibibyteStopsAtTheLimit() {
    byte[] member = gzip(new byte[1 << 20]);
    ByteArrayOutputStream bomb = new ByteArrayOutputStream(member.length * 1024);
    for (int i = 0; i < 1024; i++) {
      bomb.write(member, 0, member.length);
    }
    byte[] compressed = bomb.toByteArray();
    assertTrue(compressed.length < 4 << 20, "the bomb is small: " + compressed.length);
    GatewayException e = assertThrows(GatewayException.class, () -> BodyDecoder.decode(compressed, "gzip", 4 << 20));
    assertEquals(413, e.status());
    assertTrue(e.getMessage().contains(String.valueOf(4 << 20)), e.getMessage());
  }

  @Test
  void singleStreamGzipBombStopsAtTheLimit() {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out, 1 << 16) {
      {
        def.setLevel(Deflater.BEST_COMPRESSION);
      }
    }) {
      byte[] zeros = new byte[1 << 16];
      for (int i = 0; i < 512; i++) { // 32 MiB
        gz.write(zeros);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    GatewayException e = assertThrows(GatewayException.class,
        () -> BodyDecoder.decode(out.toByteArray(), "gzip", 1 << 20));
    assertEquals(413, e.status());
  }

  static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out) {
      {
        def.setLevel(Deflater.BEST_COMPRESSION);
      }
    }) {
      gz.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }
}
