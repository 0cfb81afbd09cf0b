package io.eventpipe.node.router;

import io.eventpipe.destinations.RetryAfter;
import io.eventpipe.destinations.http.WebhookDestination;
import io.eventpipe.workspace.InvalidDestinationConfigException;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.workspace.Destination;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** The pure rules of delivery: backoff, abort, Retry-After, the adaptive rate limit, configuration checks. */
class DeliveryRulesTest {

  private static final Instant T0 = Instant.parse("2026-01-01T00:00:00Z");

  @Test
  void backoffDoublesWithJitterWithinBoundsAndHonoursRetryAfter() {
    RetryPolicy p = new RetryPolicy(3, Duration.ofHours(3), Duration.ofSeconds(1), Duration.ofSeconds(30));
    for (int attempts = 1; attempts <= 70; attempts++) {
      long nominal = Math.min(30_000, 1000L << Math.min(attempts - 1, 20));
      assertEquals(nominal - nominal / 2, p.backoff(attempts, 0).toMillis(), "lowest, attempt " + attempts);
      assertEquals(nominal - 1, p.backoff(attempts, 0.999999).toMillis(), 1, "highest, attempt " + attempts);
    }
    assertEquals(T0.plusSeconds(120), p.nextAttempt(T0, 1, 0.5, Duration.ofSeconds(120)));
    assertEquals(T0.plusMillis(750), p.nextAttempt(T0, 1, 0.5, Duration.ofMillis(10)), "a shorter Retry-After does not shorten");
    assertEquals(T0.plus(Duration.ofHours(24)), p.nextAttempt(T0, 1, 0.5, Duration.ofDays(30)), "capped at a day");
  }

  @Test
  void aJobIsAbortedOnlyWhenBothItsAttemptsAndItsWindowAreUsedUp() {
    RetryPolicy p = new RetryPolicy(3, Duration.ofMinutes(10), Duration.ofSeconds(1), Duration.ofSeconds(30));
    assertFalse(p.exhausted(2, T0, T0.plus(Duration.ofHours(5))), "window passed, attempts left");
    assertFalse(p.exhausted(50, T0, T0.plus(Duration.ofMinutes(9))), "attempts used, window left");
    assertTrue(p.exhausted(3, T0, T0.plus(Duration.ofMinutes(10))));
  }

  @Test
  void retryAfterIsSecondsOrAnHttpDate() {
    assertEquals(Duration.ofSeconds(120), RetryAfter.parse("120", T0));
    assertEquals(Duration.ofSeconds(90), RetryAfter.parse("Thu, 01 Jan 2026 00:01:30 GMT", T0));
    assertEquals(Duration.ZERO, RetryAfter.parse("Wed, 31 Dec 2025 23:00:00 GMT", T0), "a date in the past: now");
    assertNull(RetryAfter.parse("soon", T0));
    assertNull(RetryAfter.parse(null, T0));
    assertEquals(Duration.ofDays(365), RetryAfter.parse("99999999999999999999999", T0));
  }

  @Test
  void theRateLimitHalvesOnThrottlingOnceABurstAndRecoversAdditively() {
    AtomicLong now = new AtomicLong(0);
    AdaptiveRateLimiter l = new AdaptiveRateLimiter(100.0, now::get);
    assertEquals(100.0, l.rate());
    int sent = 0;
    for (int i = 0; i < 1000; i++) {
      if (l.tryAcquire(1) == 0) {
        sent++;
      }
    }
    assertEquals(10, sent, "the burst is a tenth of a second's worth");
    long wait = l.tryAcquire(1);
    assertTrue(wait > 0 && wait <= 20_000_000L, "then one token per 10 ms: " + wait);
    now.addAndGet(1_000_000_000L);
    assertEquals(0, l.tryAcquire(50), "a batch may take more than the bucket holds (debt)");
    assertTrue(l.tryAcquire(1) > 0);

    l.onThrottled();
    assertEquals(50.0, l.rate());
    l.onThrottled();
    assertEquals(50.0, l.rate(), "one burst of 429s counts once");
    now.addAndGet(1_100_000_000L);
    l.onThrottled();
    assertEquals(25.0, l.rate());
    for (int s = 0; s < 30; s++) {
      now.addAndGet(1_000_000_000L);
      l.onSuccess();
    }
    assertEquals(100.0, l.rate(), "back to the configured rate, never above");

    AdaptiveRateLimiter open = new AdaptiveRateLimiter(null, now::get);
    for (int i = 0; i < 400; i++) {
      assertEquals(0, open.tryAcquire(1));
    }
    now.addAndGet(200_000_000L);
    open.onThrottled();
    assertTrue(open.rate() >= 500 && open.rate() <= 2000, "half the observed rate: " + open.rate());
    for (int s = 0; s < 100 && !Double.isInfinite(open.rate()); s++) {
      now.addAndGet(1_000_000_000L);
      open.onSuccess();
    }
    assertTrue(Double.isInfinite(open.rate()), "without a configured limit it opens again once recovered");
  }

  @Test
  void destinationConfigIsCheckedWithEveryProblemNamed() {
    WebhookDestination webhook = new WebhookDestination();
    DeliverySettings ok = DeliverySettings.of(dest(Map.of("url", "https://example.com/x")), webhook);
    assertEquals(64, ok.maxInFlight());
    assertEquals(RetryPolicy.DEFAULTS, ok.retry());
    assertNull(ok.eventsPerSecond());

    DeliverySettings tuned = DeliverySettings.of(dest(Map.of("url", "http://h:1/", "maxInFlight", 8,
        "rateLimit", Map.of("eventsPerSecond", 2.5), "batch", Map.of("maxEvents", 10),
        "retry", Map.of("maxAttempts", 5, "maxWindowSeconds", 60, "initialBackoffMs", 10, "maxBackoffMs", 100))), webhook);
    assertEquals(new RetryPolicy(5, Duration.ofSeconds(60), Duration.ofMillis(10), Duration.ofMillis(100)), tuned.retry());
    assertEquals(2.5, tuned.eventsPerSecond());
    assertEquals(8, tuned.maxInFlight());

    InvalidDestinationConfigException e = assertThrows(InvalidDestinationConfigException.class, () -> DeliverySettings.of(
        dest(Map.of("url", "ftp://h/", "method", "GET", "timeoutMs", -1, "maxInflight", 3,
            "retry", Map.of("maxAttempts", "three"), "rateLimit", Map.of("eventsPerSecond", 0), "headers", Map.of("Bad Name", "v"))),
        webhook));
    List<String> problems = e.problems();
    assertEquals(7, problems.size(), problems.toString());
    assertTrue(problems.contains("destinations[d].config.maxInflight: unknown setting (known: batch, eventNames, eventTypes,"
        + " headers, mapping, maxInFlight, method, rateLimit, retry, timeoutMs, url)"), problems.toString());
    assertTrue(problems.contains("destinations[d].config.retry.maxAttempts: must be a whole number in 1..1000, got the string 'three'"),
        problems.toString());
    assertTrue(problems.contains("destinations[d].config.url: must be an absolute http or https URL with a host, got 'ftp://h/'"),
        problems.toString());
    assertTrue(problems.contains("destinations[d].config.method: must be POST, PUT or PATCH, got 'GET'"), problems.toString());
    assertTrue(problems.contains("destinations[d].config.timeoutMs: must be in 1..600000, got -1"), problems.toString());
    assertTrue(problems.contains("destinations[d].config.rateLimit.eventsPerSecond: must be a positive number, got the number 0"),
        problems.toString());
    assertTrue(problems.contains("destinations[d].config.headers: 'Bad Name' is not a valid HTTP header name"), problems.toString());

    InvalidDestinationConfigException missing = assertThrows(InvalidDestinationConfigException.class,
        () -> DeliverySettings.of(dest(Map.of()), webhook));
    assertEquals(List.of("destinations[d].config.url: missing: the URL to send events to, e.g. https://example.com/events"),
        missing.problems());
  }

  @Test
  void webhookErrorsKeepTheStatusAndTheStartOfTheBody() {
    assertEquals("HTTP 503", WebhookDestination.httpError(503, io.vertx.core.buffer.Buffer.buffer()));
    assertEquals("HTTP 500: " + "é".repeat(200),
        WebhookDestination.httpError(500, io.vertx.core.buffer.Buffer.buffer("é".repeat(1000))));
  }

  private static Destination dest(Map<String, Object> config) {
    return new Destination("d", "webhook", true, List.of("web"), config);
  }
}
