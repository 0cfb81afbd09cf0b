package io.eventpipe.gateway.impl;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;

/**
 * Strict UTF-8 validation (Unicode 15, table 3-7): rejects overlong forms, UTF-16 surrogates encoded as UTF-8,
 * code points above U+10FFFF, truncated sequences, and, because JSON text never contains one, the NUL byte.
 *
 * <p>Jackson's UTF-8 parser catches bad continuation bytes but decodes overlong forms ({@code C0 80} becomes
 * U+0000) and encoded surrogates ({@code ED A0 80}), so the gateway validates bytes itself before parsing. Rejecting
 * NUL bytes also guarantees Jackson's encoding detection picks UTF-8 (UTF-16/32 JSON always has NUL bytes).
 * ASCII runs are checked eight bytes at a time.
 */
public final class Utf8 {

  private static final VarHandle LONGS =
      MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
  private static final long HIGH_BITS = 0x8080808080808080L;
  private static final long LOW_BITS = 0x0101010101010101L;

  private Utf8() {}

  /** Result of {@link #check}: valid UTF-8 without a surrogate escape. */
  public static final int VALID = -1;
  /**
   * Result of {@link #check}: valid UTF-8 that may escape a lone UTF-16 surrogate or a NUL character (the only ways a
   * JSON text can carry a string that {@link io.eventpipe.gateway.Text#storableProblem} refuses).
   */
  public static final int VALID_WITH_SUSPECT_ESCAPE = -2;

  private static final long BACKSLASHES = 0x5C5C5C5C5C5C5C5CL;

  /** Returns the offset of the first byte that makes {@code b} invalid, or -1 if it is valid UTF-8 without NUL. */
  public static int firstInvalid(byte[] b) {
    int result = check(b);
    return result >= 0 ? result : -1;
  }

  /**
   * Validates {@code b} and, in the same pass, looks for JSON escapes of lone UTF-16 surrogates
   * (<code>&#92;uD800</code> to <code>&#92;uDFFF</code>, either case, not part of an escaped pair), the only way a
   * JSON text can carry a lone surrogate once encoded surrogates are rejected, and for escapes of NUL
   * (<code>&#92;u0000</code>), the only way it can carry one once NUL bytes are rejected. An escaped pair such as
   * <code>&#92;uD83D&#92;uDE00</code> is not reported. A report may be a false alarm (a pair written as two
   * escapes split differently); the caller then looks at the strings themselves.
   *
   * @return the offset of the first invalid byte, or {@link #VALID}, or {@link #VALID_WITH_SUSPECT_ESCAPE}
   */
  public static int check(byte[] b) {
    boolean suspect = false;
    int i = 0;
    int n = b.length;
    while (i < n) {
      // Fast path: 8 ASCII bytes, none of them NUL or a backslash.
      if (i + 8 <= n) {
        long v = (long) LONGS.get(b, i);
        long escapes = v ^ BACKSLASHES;
        if ((v & HIGH_BITS) == 0 && ((v - LOW_BITS) & ~v & HIGH_BITS) == 0
            && ((escapes - LOW_BITS) & ~escapes & HIGH_BITS) == 0) {
          i += 8;
          continue;
        }
      }
      int c = b[i] & 0xFF;
      if (c < 0x80) {
        if (c == 0) {
          return i;
        }
        if (c == '\\' && i + 1 < n) {
          int next = b[i + 1];
          if (next == '\\') {
            i += 2; // an escaped backslash: what follows is literal text
            continue;
          }
          if (next == 'u' && i + 5 < n && b[i + 2] == '0' && b[i + 3] == '0' && b[i + 4] == '0' && b[i + 5] == '0') {
            suspect = true; // an escaped NUL
          } else if (next == 'u' && i + 3 < n && (b[i + 2] | 0x20) == 'd') {
            int nibble = hexValue(b[i + 3]);
            if (nibble >= 0x8 && nibble <= 0xB) {
              // A high surrogate escape: fine if a low surrogate escape follows at once (an escaped pair).
              if (i + 9 < n && b[i + 6] == '\\' && b[i + 7] == 'u' && (b[i + 8] | 0x20) == 'd'
                  && hexValue(b[i + 9]) >= 0xC) {
                i += 10;
                continue;
              }
              suspect = true;
            } else if (nibble >= 0xC) {
              suspect = true; // a low surrogate escape that no high one precedes
            }
          }
        }
        i++;
        continue;
      }
      int need;
      int lo = 0x80;
      int hi = 0xBF;
      if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
      } else if (c == 0xE0) {
        need = 2;
        lo = 0xA0;
      } else if (c == 0xED) {
        need = 2;
        hi = 0x9F;
      } else if (c >= 0xE1 && c <= 0xEF) {
        need = 2;
      } else if (c == 0xF0) {
        need = 3;
        lo = 0x90;
      } else if (c == 0xF4) {
        need = 3;
        hi = 0x8F;
      } else if (c >= 0xF1 && c <= 0xF3) {
        need = 3;
      } else {
        return i;
      }
      if (i + need >= n) {
        return i;
      }
      int second = b[i + 1] & 0xFF;
      if (second < lo || second > hi) {
        return i;
      }
      for (int k = 2; k <= need; k++) {
        int cont = b[i + k] & 0xFF;
        if (cont < 0x80 || cont > 0xBF) {
          return i;
        }
      }
      i += need + 1;
    }
    return suspect ? VALID_WITH_SUSPECT_ESCAPE : VALID;
  }

  /** The value of a hex digit, or -1. */
  private static int hexValue(byte digit) {
    if (digit >= '0' && digit <= '9') {
      return digit - '0';
    }
    int d = digit | 0x20;
    return d >= 'a' && d <= 'f' ? d - 'a' + 10 : -1;
  }
}
