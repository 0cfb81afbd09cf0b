package io.eventpipe.workspace;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;

/** Extraction and safe display of write keys. */
public final class WriteKeys {

  /**
   * The longest write key: the workspace refuses longer ones, and the gateway refuses longer keys with 401 before it
   * looks them up (a key is client input, and a megabyte one must not be hashed, compared or kept anywhere).
   */
  public static final int MAX_CHARS = 256;

  private WriteKeys() {}

  /** Whether {@code writeKey} is longer than any write key can be ({@link #MAX_CHARS}). */
  public static boolean tooLong(String writeKey) {
    return writeKey != null && writeKey.length() > MAX_CHARS;
  }

  /**
   * The write key of an HTTP Basic {@code Authorization} header: the username, that is everything before the
   * first colon of the decoded credentials, or all of them when there is no colon. The password is ignored (the
   * SDKs send it empty). The scheme is case-insensitive; missing base64 padding is tolerated.
   *
   * @param headerValue the {@code Authorization} header value, or null
   * @return the write key, or empty if the header is absent, not Basic, not base64, or has an empty username
   */
  public static Optional<String> fromBasicAuth(String headerValue) {
    if (headerValue == null) {
      return Optional.empty();
    }
    String value = headerValue.trim();
    if (value.length() < 6 || !value.regionMatches(true, 0, "Basic", 0, 5)
        || !Character.isWhitespace(value.charAt(5))) {
      return Optional.empty();
    }
    String encoded = value.substring(6).trim();
    if (encoded.isEmpty()) {
      return Optional.empty();
    }
    byte[] decoded;
    try {
      decoded = Base64.getDecoder().decode(pad(encoded));
    } catch (IllegalArgumentException e) {
      return Optional.empty();
    }
    String credentials = new String(decoded, StandardCharsets.UTF_8);
    int colon = credentials.indexOf(':');
    String user = colon < 0 ? credentials : credentials.substring(0, colon);
    return user.isEmpty() ? Optional.empty() : Optional.of(user);
  }

  /** The value of an {@code Authorization} header that carries {@code writeKey} the way the SDKs send it. */
  public static String basicAuthHeader(String writeKey) {
    return "Basic " + Base64.getEncoder().encodeToString((writeKey + ":").getBytes(StandardCharsets.UTF_8));
  }

  /** A write key shortened for logs and messages: its first 4 characters when long enough, never all of it. */
  public static String mask(String writeKey) {
    if (writeKey == null) {
      return "null";
    }
    return writeKey.length() >= 12 ? writeKey.substring(0, 4) + "..." : "****";
  }

  private static String pad(String base64) {
    return base64 + "=".repeat((4 - base64.length() % 4) % 4);
  }
}
