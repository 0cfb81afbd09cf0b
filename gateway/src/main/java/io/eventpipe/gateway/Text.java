package io.eventpipe.gateway;

import java.nio.charset.StandardCharsets;

/**
 * The one rule for strings that enter the pipeline, and the two ways the pipeline makes other text safe.
 *
 * <ol>
 *   <li>{@link #storableProblem}: a client's string (an id, an event name, a property key or value anywhere in the
 *       event tree) is accepted only if it round-trips exactly through every stage: PostgreSQL's {@code text} rejects
 *       NUL (SQLSTATE 22021) and {@code jsonb} rejects <code>&#92;u0000</code>, and encoding a lone UTF-16 surrogate as UTF-8
 *       turns it into {@code ?} (so two different messageIds would become one dedup key); a destination that decodes
 *       JSON replaces a lone surrogate with U+FFFD or refuses the document. Anything else is refused at the edge
 *       with a 400 naming the field, never stored changed (a 200 for something that changes) and never a retryable
 *       503 once it fails further on.</li>
 *   <li>{@link #storable}: text the pipeline did not choose and must keep (what a destination answered, kept as a
 *       job's last error) is made storable instead: lone surrogates replaced, control characters escaped, bounded in
 *       UTF-8 bytes.</li>
 *   <li>{@link #forLog}: client input in a log line has CR, LF and every other control character escaped, so a
 *       client cannot forge log lines.</li>
 * </ol>
 * Each is one linear pass over the string.
 */
public final class Text {

  private Text() {}

  /**
   * Why {@code s} cannot be stored and sent exactly, or null if it can: a NUL character, or a UTF-16 surrogate that
   * is not half of a pair. Other control characters (tab, newline) round-trip through PostgreSQL and JSON and are
   * allowed here; fields with a stricter rule (a messageId is sent in a header) check it beside this one.
   */
  public static String storableProblem(String s) {
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      if (c == 0) {
        return "has a control character (U+0000, NUL) at position " + i
            + ", which PostgreSQL cannot store; remove it";
      }
      if (Character.isSurrogate(c)) {
        if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
          i++;
          continue;
        }
        return String.format("has an unpaired UTF-16 surrogate (U+%04X) at position %d, which UTF-8 cannot encode;"
            + " send valid Unicode text", (int) c, i);
      }
    }
    return null;
  }

  /**
   * Why a payload built at the edge (UTF-8 JSON) cannot be stored and sent exactly, or null if it can: invalid UTF-8
   * (a NUL byte included), or an escaped NUL or lone surrogate. The edge never writes one, so a later stage (a node
   * decoding the internal wire) checks payloads with this one pass over the bytes, without parsing JSON. An escaped
   * surrogate pair passes.
   */
  public static String payloadProblem(byte[] json) {
    int result = io.eventpipe.gateway.impl.Utf8.check(json);
    if (result >= 0) {
      return String.format("is not valid UTF-8 (byte 0x%02X at offset %d)", json[result] & 0xFF, result);
    }
    return result == io.eventpipe.gateway.impl.Utf8.VALID ? null
        : "escapes a NUL or an unpaired UTF-16 surrogate, which cannot be stored and sent exactly";
  }

  /** Why {@code utf8} is not a storable string (invalid UTF-8, a NUL byte), or null: {@link #payloadProblem} for ids. */
  public static String utf8Problem(byte[] utf8) {
    int bad = io.eventpipe.gateway.impl.Utf8.firstInvalid(utf8);
    return bad < 0 ? null : String.format("is not valid UTF-8 without NUL (byte 0x%02X at offset %d)", utf8[bad] & 0xFF, bad);
  }

  /**
   * {@code s} made storable: lone surrogates become U+FFFD, control characters (NUL, CR, LF, tab, DEL, C1) and the
   * line separators U+2028/U+2029 become <code>&#92;uXXXX</code> escapes, and the result is cut to at most {@code maxBytes}
   * UTF-8 bytes (never inside a surrogate pair or an escape), ending in "..." when cut.
   */
  public static String storable(String s, int maxBytes) {
    if (maxBytes < 3) {
      throw new IllegalArgumentException("maxBytes must be >= 3, got " + maxBytes);
    }
    StringBuilder out = new StringBuilder(Math.min(s.length(), maxBytes) + 8);
    int bytes = 0;
    int budget = maxBytes - 3; // room for "..."
    int n = s.length();
    for (int i = 0; i < n; i++) {
      char c = s.charAt(i);
      String piece;
      int cost;
      if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
        piece = s.substring(i, i + 2);
        cost = 4;
      } else if (Character.isSurrogate(c)) {
        piece = "\uFFFD";
        cost = 3;
      } else if (escaped(c)) {
        piece = String.format("\\u%04X", (int) c);
        cost = 6;
      } else {
        piece = null;
        cost = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
      }
      if (bytes + cost > budget && !fitsWhole(s, i, bytes, maxBytes)) {
        return out.append("...").toString();
      }
      if (piece == null) {
        out.append(c);
      } else {
        out.append(piece);
        i += piece.length() == 2 ? 1 : 0;
      }
      bytes += cost;
    }
    return out.toString();
  }

  /** {@link #storable(String, int)} of UTF-8 bytes, invalid sequences decoded as U+FFFD. */
  public static String storable(byte[] utf8, int offset, int length, int maxBytes) {
    // a few bytes more than the bound, so that a sequence cut at the end does not leave a U+FFFD in a full answer
    int take = (int) Math.min(length, (long) maxBytes * 2 + 4);
    return storable(new String(utf8, offset, take, StandardCharsets.UTF_8), maxBytes);
  }

  /** Whether the rest of {@code s} from {@code i} fits whole (so no "..." is needed). */
  private static boolean fitsWhole(String s, int i, int bytes, int maxBytes) {
    long rest = bytes;
    for (int k = i; k < s.length() && rest <= maxBytes; k++) {
      char c = s.charAt(k);
      if (Character.isHighSurrogate(c) && k + 1 < s.length() && Character.isLowSurrogate(s.charAt(k + 1))) {
        rest += 4;
        k++;
      } else {
        rest += Character.isSurrogate(c) ? 3 : escaped(c) ? 6 : c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
      }
    }
    return rest <= maxBytes;
  }

  private static boolean escaped(char c) {
    return Character.isISOControl(c) || c == '\u2028' || c == '\u2029';
  }

  /**
   * {@code s} safe to put in a log line: backslash, CR, LF and every other control character (and U+2028/U+2029)
   * escaped ({@code \\}, {@code \r}, {@code \n}, {@code \t}, <code>&#92;uXXXX</code>), lone surrogates as <code>&#92;uXXXX</code>,
   * and cut to 200 characters; null stays "null". Use it for every value that came from a request.
   */
  public static String forLog(Object value) {
    return forLog(value, MAX_LOG_CHARS);
  }

  /** {@link #forLog(Object)}, cut to {@code maxChars} instead of 200. */
  public static String forLog(Object value, int maxChars) {
    if (value == null) {
      return "null";
    }
    String s = value.toString();
    int n = s.length();
    int i = 0;
    while (i < n && plain(s, i)) {
      i++;
    }
    if (i == n && n <= maxChars) {
      return s;
    }
    StringBuilder out = new StringBuilder(Math.min(n, maxChars) + 16);
    for (int k = 0; k < n; k++) {
      if (out.length() >= maxChars) {
        return out.append("...(").append(n).append(" chars)").toString();
      }
      char c = s.charAt(k);
      if (plain(s, k)) {
        out.append(c);
        if (Character.isHighSurrogate(c)) {
          out.append(s.charAt(++k));
        }
      } else if (c == '\\') {
        out.append("\\\\");
      } else if (c == '\r') {
        out.append("\\r");
      } else if (c == '\n') {
        out.append("\\n");
      } else if (c == '\t') {
        out.append("\\t");
      } else {
        out.append(String.format("\\u%04X", (int) c));
      }
    }
    return out.toString();
  }

  private static final int MAX_LOG_CHARS = 200;

  /** A character written as it is in a log line (a high surrogate only with its low half). */
  private static boolean plain(String s, int i) {
    char c = s.charAt(i);
    if (c == '\\' || escaped(c)) {
      return false;
    }
    if (Character.isHighSurrogate(c)) {
      return i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1));
    }
    if (Character.isLowSurrogate(c)) {
      return i > 0 && Character.isHighSurrogate(s.charAt(i - 1));
    }
    return true;
  }
}
