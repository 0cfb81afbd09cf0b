package io.eventpipe.gateway;

import io.netty.handler.codec.http.QueryStringDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Decoding of raw query strings for the pixel and beacon endpoints: Netty's {@link QueryStringDecoder} (on the
 * classpath through Vert.x) does the decoding; this class fixes the gateway's rules on top of it and turns a malformed
 * escape into a 400.
 */
public final class QueryStrings {

  private static final Pattern EMPTY_NAME = Pattern.compile("(^|&)=[^&]*");

  private QueryStrings() {}

  /**
   * Decodes {@code a=1&b=x%20y} into an ordered map. Names and values are percent-decoded as UTF-8 and
   * {@code +} means a space (HTML form encoding, what browsers send); only {@code &} separates parameters
   * ({@code ;} is an ordinary character). The first value of a repeated name wins; a name without {@code =} has the
   * empty value; empty names are skipped.
   *
   * @param rawQuery the part of the URI after {@code ?}, without it; null or empty gives an empty map
   * @throws InvalidRequestException (400) for a malformed percent escape
   */
  public static Map<String, String> parse(String rawQuery) {
    if (rawQuery == null || rawQuery.isEmpty()) {
      return Collections.emptyMap();
    }
    Map<String, List<String>> decoded;
    try {
      decoded = QueryStringDecoder.builder()
          .hasPath(false)
          .charset(StandardCharsets.UTF_8)
          .semicolonIsNormalChar(true)
          .htmlQueryDecoding(true)
          .maxParams(Integer.MAX_VALUE) // the request line's length bounds them (Netty's default drops past 1024)
          .build(withoutEmptyNames(rawQuery))
          .parameters();
    } catch (IllegalArgumentException e) {
      String near = rawQuery.length() <= 40 ? rawQuery : rawQuery.substring(0, 40) + "...";
      throw new InvalidRequestException("malformed query string near '" + near + "': " + e.getMessage()
          + "; percent-encode parameters as UTF-8 (%XX)", e);
    }
    Map<String, String> out = new LinkedHashMap<>();
    decoded.forEach((name, values) -> out.put(name, values.get(0)));
    return Collections.unmodifiableMap(out);
  }

  /** Drops {@code =value} parameters, which Netty would read as a parameter named {@code value}. */
  private static String withoutEmptyNames(String rawQuery) {
    return rawQuery.startsWith("=") || rawQuery.contains("&=") ? EMPTY_NAME.matcher(rawQuery).replaceAll("$1") : rawQuery;
  }
}
