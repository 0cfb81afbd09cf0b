package io.eventpipe.gateway.impl;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;

/**
 * Parsing and formatting of the ISO-8601 timestamps the SDKs send, without {@link DateTimeFormatter} on the hot
 * path (it costs about a microsecond per call; this costs a few dozen nanoseconds).
 */
public final class Timestamps {

  private static final DateTimeFormatter WIDE_YEARS =
      DateTimeFormatter.ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  private Timestamps() {}

  /**
   * Parses {@code yyyy-MM-ddTHH:mm:ss[.fraction](Z|±HH[:]MM|±HH)}, the RFC 3339 forms the RudderStack and Segment
   * SDKs send ({@code T} may also be {@code t} or a space, {@code Z} may be {@code z}; the fraction may have 1 to 9
   * digits, further digits are ignored). A time without an offset is not accepted: it has no defined instant.
   *
   * @return the instant, or null if {@code s} is not such a timestamp
   */
  public static Instant parse(String s) {
    if (s == null) {
      return null;
    }
    int n = s.length();
    if (n < 20) {
      return null;
    }
    int year = digits(s, 0, 4);
    int month = digits(s, 5, 2);
    int day = digits(s, 8, 2);
    int hour = digits(s, 11, 2);
    int minute = digits(s, 14, 2);
    int second = digits(s, 17, 2);
    char t = s.charAt(10);
    if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0
        || s.charAt(4) != '-' || s.charAt(7) != '-' || (t != 'T' && t != 't' && t != ' ')
        || s.charAt(13) != ':' || s.charAt(16) != ':'
        || hour > 23 || minute > 59 || second > 59) {
      return null;
    }
    int i = 19;
    int nanos = 0;
    if (s.charAt(i) == '.') {
      i++;
      int start = i;
      while (i < n && isDigit(s.charAt(i))) {
        if (i - start < 9) {
          nanos = nanos * 10 + (s.charAt(i) - '0');
        }
        i++;
      }
      int count = i - start;
      if (count == 0) {
        return null;
      }
      for (int k = count; k < 9; k++) {
        nanos *= 10;
      }
    }
    if (i >= n) {
      return null;
    }
    int offsetSeconds;
    char o = s.charAt(i);
    if (o == 'Z' || o == 'z') {
      offsetSeconds = 0;
      i++;
    } else if (o == '+' || o == '-') {
      int oh = digits(s, i + 1, 2);
      int om = 0;
      i += 3;
      if (oh < 0 || oh > 18) {
        return null;
      }
      if (i < n) {
        if (s.charAt(i) == ':') {
          i++;
        }
        om = digits(s, i, 2);
        if (om < 0 || om > 59) {
          return null;
        }
        i += 2;
      }
      offsetSeconds = (oh * 3600 + om * 60) * (o == '-' ? -1 : 1);
    } else {
      return null;
    }
    if (i != n) {
      return null;
    }
    try {
      long epochDay = LocalDate.of(year, month, day).toEpochDay();
      long epochSecond = epochDay * 86_400 + hour * 3600L + minute * 60L + second - offsetSeconds;
      return Instant.ofEpochSecond(epochSecond, nanos);
    } catch (DateTimeException e) {
      return null;
    }
  }

  /** Formats an instant as {@code yyyy-MM-ddTHH:mm:ss.SSSZ} in UTC (truncating to milliseconds). */
  public static String format(Instant instant) {
    LocalDateTime t = LocalDateTime.ofEpochSecond(instant.getEpochSecond(), 0, ZoneOffset.UTC);
    int year = t.getYear();
    if (year < 0 || year > 9999) {
      return WIDE_YEARS.format(instant);
    }
    char[] c = new char[24];
    put(c, 0, year, 4);
    c[4] = '-';
    put(c, 5, t.getMonthValue(), 2);
    c[7] = '-';
    put(c, 8, t.getDayOfMonth(), 2);
    c[10] = 'T';
    put(c, 11, t.getHour(), 2);
    c[13] = ':';
    put(c, 14, t.getMinute(), 2);
    c[16] = ':';
    put(c, 17, t.getSecond(), 2);
    c[19] = '.';
    put(c, 20, instant.getNano() / 1_000_000, 3);
    c[23] = 'Z';
    return new String(c);
  }

  private static void put(char[] c, int at, int value, int width) {
    for (int k = at + width - 1; k >= at; k--) {
      c[k] = (char) ('0' + value % 10);
      value /= 10;
    }
  }

  private static boolean isDigit(char c) {
    return c >= '0' && c <= '9';
  }

  /** The value of {@code count} decimal digits at {@code at}, or -1 if they are not all digits. */
  private static int digits(String s, int at, int count) {
    if (at + count > s.length()) {
      return -1;
    }
    int v = 0;
    for (int k = at; k < at + count; k++) {
      char c = s.charAt(k);
      if (!isDigit(c)) {
        return -1;
      }
      v = v * 10 + (c - '0');
    }
    return v;
  }
}
