package io.eventpipe.destinations;

import java.time.Duration;
import java.time.Instant;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;

/** Parses an HTTP {@code Retry-After} header (RFC 9110 10.2.3): delay-seconds or an HTTP-date. */
public final class RetryAfter {

  private RetryAfter() {}

  /** The delay the header asks for, from {@code now}; null when absent or unreadable; never negative. */
  public static Duration parse(String header, Instant now) {
    if (header == null) {
      return null;
    }
    String v = header.trim();
    if (v.isEmpty()) {
      return null;
    }
    if (v.chars().allMatch(Character::isDigit)) {
      try {
        return Duration.ofSeconds(Math.min(Long.parseLong(v), Duration.ofDays(365).toSeconds()));
      } catch (NumberFormatException e) {
        return Duration.ofDays(365);
      }
    }
    try {
      Instant at = ZonedDateTime.parse(v, DateTimeFormatter.RFC_1123_DATE_TIME).toInstant();
      Duration d = Duration.between(now, at);
      return d.isNegative() ? Duration.ZERO : d;
    } catch (DateTimeParseException e) {
      return null;
    }
  }
}
