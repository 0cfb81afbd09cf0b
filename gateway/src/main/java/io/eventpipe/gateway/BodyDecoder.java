package io.eventpipe.gateway;

import java.io.ByteArrayInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Undoes the request's {@code Content-Encoding}, bounded by a size limit.
 *
 * <p>Accepts identity (no header, empty, or {@code identity}) and {@code gzip} / {@code x-gzip} (RudderStack's
 * SDKs gzip batches). Inflation streams into a buffer that never grows past {@code maxBytes + 1}: it stops at the
 * first byte beyond the limit, so a gzip bomb (1 GB of zeros in 1 MB) costs at most {@code maxBytes} of memory and
 * the time to inflate that much.
 */
public final class BodyDecoder {

  private static final int CHUNK = 16 * 1024;

  private BodyDecoder() {}

  /**
   * Decodes a request body.
   *
   * @param raw the body as received
   * @param contentEncoding the {@code Content-Encoding} header value, or null
   * @param maxBytes the largest accepted body, both as received and after decompression
   * @return the decoded body ({@code raw} itself for identity)
   * @throws PayloadTooLargeException (413) if the body, or its decompressed form, exceeds {@code maxBytes}
   * @throws UnsupportedContentEncodingException (415) for any encoding but identity and gzip
   * @throws InvalidRequestException (400) if the gzip stream is corrupt or truncated
   */
  public static byte[] decode(byte[] raw, String contentEncoding, int maxBytes) {
    if (maxBytes < 0) {
      throw new IllegalArgumentException("maxBytes must be >= 0, got " + maxBytes);
    }
    if (raw == null) {
      raw = new byte[0];
    }
    String encoding = contentEncoding == null ? "" : contentEncoding.trim().toLowerCase(Locale.ROOT);
    switch (encoding) {
      case "":
      case "identity":
        if (raw.length > maxBytes) {
          throw tooLarge("request body", raw.length, maxBytes);
        }
        return raw;
      case "gzip":
      case "x-gzip":
        if (raw.length > maxBytes) {
          throw tooLarge("compressed request body", raw.length, maxBytes);
        }
        return gunzip(raw, maxBytes);
      default:
        throw new UnsupportedContentEncodingException(contentEncoding.trim());
    }
  }

  private static byte[] gunzip(byte[] raw, int maxBytes) {
    // Start small relative to the limit (most bodies compress 5-10x) and grow by doubling, never past
    // maxBytes + 1: one byte over the limit is enough to know it is exceeded.
    long limit = Math.min((long) maxBytes + 1, Integer.MAX_VALUE - 8);
    byte[] out = new byte[(int) Math.min(limit, Math.max(CHUNK, (long) raw.length * 8))];
    int size = 0;
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(raw), CHUNK)) {
      while (size < limit) {
        if (size == out.length) {
          out = Arrays.copyOf(out, (int) Math.min((long) out.length * 2, limit));
        }
        int n = in.read(out, size, out.length - size);
        if (n < 0) {
          break;
        }
        size += n;
      }
    } catch (ZipException | EOFException e) {
      throw new InvalidRequestException("request body is not valid gzip (" + e.getMessage()
          + "); compress the whole body with gzip or drop the Content-Encoding header", e);
    } catch (IOException e) {
      throw new InvalidRequestException("request body could not be decompressed: " + e.getMessage(), e);
    }
    if (size >= limit) {
      throw new PayloadTooLargeException("decompressed request body exceeds the limit of " + maxBytes
          + " bytes; send smaller batches", maxBytes, null);
    }
    return size == out.length ? out : Arrays.copyOf(out, size);
  }

  private static PayloadTooLargeException tooLarge(String what, long size, int maxBytes) {
    return new PayloadTooLargeException(what + " is " + size + " bytes, over the limit of " + maxBytes
        + " bytes; send smaller batches", maxBytes, null);
  }
}
