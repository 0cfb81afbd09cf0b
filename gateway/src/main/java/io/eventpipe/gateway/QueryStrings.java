package io.eventpipe.gateway;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Decoding of raw query strings for the pixel and beacon endpoints. */
public final class QueryStrings {

  private QueryStrings() {}

  /**
   * Decodes {@code a=1&b=x%20y} into an ordered map. Names and values are percent-decoded as UTF-8 and
   * {@code +} means a space (HTML form encoding, what browsers send). The first value of a repeated name wins;
   * a name without {@code =} has the empty value; empty names are skipped.
   *
   * @param rawQuery the part of the URI after {@code ?}, without it; null or empty gives an empty map
   * @throws InvalidRequestException (400) for a malformed percent escape
   */
  public static Map<String, String> parse(String rawQuery) {
    if (rawQuery == null || rawQuery.isEmpty()) {
      return Collections.emptyMap();
    }
    Map<String, String> out = new LinkedHashMap<>();
    int start = 0;
    int len = rawQuery.length();
    while (start <= len) {
      int amp = rawQuery.indexOf('&', start);
      int end = amp < 0 ? len : amp;
      if (end > start) {
        int eq = rawQuery.indexOf('=', start);
        String name;
        String value;
        if (eq < 0 || eq > end) {
          name = decode(rawQuery.substring(start, end));
          value = "";
        } else {
          name = decode(rawQuery.substring(start, eq));
          value = decode(rawQuery.substring(eq + 1, end));
        }
        if (!name.isEmpty()) {
          out.putIfAbsent(name, value);
        }
      }
      start = end + 1;
    }
    return Collections.unmodifiableMap(out);
  }

  private static String decode(String s) {
    if (s.indexOf('%') < 0 && s.indexOf('+') < 0) {
      return s;
    }
    try {
      return URLDecoder.decode(s, StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      String near = s.length() <= 40 ? s : s.substring(0, 40) + "...";
      throw new InvalidRequestException("malformed query string near '" + near + "': " + e.getMessage()
          + "; percent-encode parameters as UTF-8 (%XX)", e);
    }
  }
}
