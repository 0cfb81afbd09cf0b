package io.eventpipe.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.eventpipe.gateway.impl.Timestamps;
import io.eventpipe.gateway.impl.Utf8;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class Utf8AndTimestampsTest {

  @Test
  void utf8AcceptsEveryValidForm() {
    String all = "ascii \u007f \u0080 \u07ff \u0800 \uffff \uD800\uDC00 \uDBFF\uDFFF \u00e9\u4e2d\uD83D\uDE00";
    byte[] bytes = all.getBytes(StandardCharsets.UTF_8);
    assertEquals(Utf8.VALID, Utf8.check(bytes));
    for (int cut = 0; cut < bytes.length; cut++) { // every prefix that ends on a character boundary is valid
      byte[] prefix = java.util.Arrays.copyOf(bytes, cut);
      int result = Utf8.check(prefix);
      boolean boundary = cut == bytes.length || (bytes[cut] & 0xC0) != 0x80;
      assertEquals(boundary, result == Utf8.VALID, "prefix of " + cut + " bytes");
    }
  }

  @Test
  void utf8ReportsTheOffset() {
    byte[] b = "0123456789abcdef".getBytes(StandardCharsets.UTF_8);
    b[11] = (byte) 0x80;
    assertEquals(11, Utf8.check(b));
    b[11] = 0;
    assertEquals(11, Utf8.check(b));
    assertEquals(3, Utf8.check(new byte[] {'a', 'b', 'c', (byte) 0xC1, (byte) 0x81}));
    assertEquals(0, Utf8.check(new byte[] {(byte) 0xF5, (byte) 0x80, (byte) 0x80, (byte) 0x80}));
  }

  @Test
  void utf8FlagsOnlyLoneSurrogateAndNulEscapes() {
    assertEquals(Utf8.VALID, check("{\"a\":\"\\ud83d\\ude00 \\u00e9 \\\\ud800 \\\\\\\\udc00\"}"));
    assertEquals(Utf8.VALID, check("{\"a\":\"\\uD83D\\uDE00\\uDBFF\\uDFFF padding padding\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"\\ud800\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"\\udc00\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"\\uD800\\uD800\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"\\ud83d\\ude00\\ude00\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"\\\\\\ud800\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\":\"x\\u0000y\"}"));
    assertEquals(Utf8.VALID_WITH_SUSPECT_ESCAPE, check("{\"a\\u0000\":1}"));
    assertEquals(Utf8.VALID, check("{\"a\":\"\\u0001 \\u0020 \\\\u0000\"}"), "an escaped backslash, then text");
  }

  private static int check(String s) {
    return Utf8.check(s.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void timestampsParseTheSdkForms() {
    Instant t = Instant.parse("2024-05-01T12:00:05Z");
    assertEquals(t, Timestamps.parse("2024-05-01T12:00:05Z"));
    assertEquals(t, Timestamps.parse("2024-05-01T12:00:05.000Z"));
    assertEquals(t, Timestamps.parse("2024-05-01t12:00:05z"));
    assertEquals(t, Timestamps.parse("2024-05-01 12:00:05Z"));
    assertEquals(t, Timestamps.parse("2024-05-01T14:00:05+02:00"));
    assertEquals(t, Timestamps.parse("2024-05-01T14:00:05+0200"));
    assertEquals(t, Timestamps.parse("2024-05-01T14:00:05+02"));
    assertEquals(t, Timestamps.parse("2024-05-01T06:30:05-05:30"));
    assertEquals(t.plusMillis(5), Timestamps.parse("2024-05-01T12:00:05.005Z"));
    assertEquals(t.plusNanos(123456789), Timestamps.parse("2024-05-01T12:00:05.1234567891234Z"));
    assertEquals(t.plusMillis(500), Timestamps.parse("2024-05-01T12:00:05.5Z"));
    assertEquals(Instant.parse("2024-02-29T00:00:00Z"), Timestamps.parse("2024-02-29T00:00:00Z"));
  }

  @Test
  void timestampsRejectEverythingElse() {
    for (String s : new String[] {null, "", "yesterday", "2024-05-01", "2024-05-01T12:00:05", "2024-05-01T12:00:05.Z",
        "2024-13-01T12:00:05Z", "2023-02-29T00:00:00Z", "2024-05-01T24:00:00Z", "2024-05-01T12:60:00Z",
        "2024-05-01T12:00:61Z", "2024-05-01T12:00:05+2:00", "2024-05-01T12:00:05+02:0", "2024-05-01T12:00:05ZZ",
        "2024-05-01T12:00:05+19:00", "2024/05/01T12:00:05Z", "1714564805000", "+2024-05-01T12:00:05Z"}) {
      assertNull(Timestamps.parse(s), s);
    }
  }

  @Test
  void timestampsFormatWithMilliseconds() {
    assertEquals("2024-05-01T12:00:05.000Z", Timestamps.format(Instant.parse("2024-05-01T12:00:05Z")));
    assertEquals("2024-05-01T12:00:05.123Z", Timestamps.format(Instant.parse("2024-05-01T12:00:05.123999Z")));
    assertEquals("0001-01-01T00:00:00.000Z", Timestamps.format(Instant.parse("0001-01-01T00:00:00Z")));
    assertEquals("1969-12-31T23:59:59.999Z", Timestamps.format(Instant.ofEpochMilli(-1)));
    assertEquals("+12345-01-01T00:00:00.000Z", Timestamps.format(Instant.parse("+12345-01-01T00:00:00Z")));
  }
}
