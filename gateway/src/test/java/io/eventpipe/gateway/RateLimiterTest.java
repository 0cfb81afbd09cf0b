package io.eventpipe.gateway;

import io.eventpipe.workspace.RateLimit;
import io.eventpipe.workspace.Source;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RateLimiterTest {

  final AtomicLong nanos = new AtomicLong(123_456_789L);
  final Map<String, RateLimit> limits = new HashMap<>();
  final RateLimiter limiter = RateLimiter.create(id -> Optional.ofNullable(limits.get(id)), nanos::get);

  void advanceMillis(long millis) {
    nanos.addAndGet(TimeUnit.MILLISECONDS.toNanos(millis));
  }

  @Test
  void burstThenSustainedRate() {
    limits.put("web", RateLimit.perSecond(10));
    for (int i = 0; i < 10; i++) {
      assertEquals(0, limiter.tryAcquire("web", 1), "permit " + i);
    }
    assertEquals(1, limiter.tryAcquire("web", 1));
    advanceMillis(99);
    assertEquals(1, limiter.tryAcquire("web", 1));
    advanceMillis(1);
    assertEquals(0, limiter.tryAcquire("web", 1));
    assertEquals(1, limiter.tryAcquire("web", 1));
    advanceMillis(10_000);
    assertEquals(0, limiter.tryAcquire("web", 10), "refill is capped at the burst");
    assertEquals(1, limiter.tryAcquire("web", 1));
  }

  @Test
  void retryAfterCoversTheDeficit() {
    limits.put("slow", new RateLimit(0.5, 1));
    assertEquals(0, limiter.tryAcquire("slow", 1));
    assertEquals(2, limiter.tryAcquire("slow", 1));
    advanceMillis(1500);
    assertEquals(1, limiter.tryAcquire("slow", 1));
    advanceMillis(500);
    assertEquals(0, limiter.tryAcquire("slow", 1));
  }

  @Test
  void requestsLargerThanTheBurstGoIntoDebt() {
    limits.put("web", new RateLimit(10, 10));
    assertEquals(0, limiter.tryAcquire("web", 25), "admitted with a full bucket");
    assertEquals(2, limiter.tryAcquire("web", 1), "-15 tokens: 1.6 s until one is available");
    advanceMillis(1599);
    assertEquals(1, limiter.tryAcquire("web", 1));
    advanceMillis(1);
    assertEquals(0, limiter.tryAcquire("web", 1));
    assertEquals(1, limiter.tryAcquire("web", 25), "needs a full bucket again");
  }

  @Test
  void sourcesAreIndependentAndUnlimitedByDefault() {
    limits.put("a", new RateLimit(1, 1));
    assertEquals(0, limiter.tryAcquire("a", 1));
    assertEquals(1, limiter.tryAcquire("a", 1));
    limits.put("b", new RateLimit(1, 1));
    assertEquals(0, limiter.tryAcquire("b", 1));
    for (int i = 0; i < 1000; i++) {
      assertEquals(0, limiter.tryAcquire("unlimited", 1000));
    }
    assertEquals(0, limiter.tryAcquire("a", 0));
  }

  @Test
  void aReloadedLimitAppliesAtOnce() {
    limits.put("web", new RateLimit(100, 100));
    assertEquals(0, limiter.tryAcquire("web", 50));
    limits.put("web", new RateLimit(1, 5));
    assertEquals(0, limiter.tryAcquire("web", 5), "tokens capped at the new burst");
    assertEquals(1, limiter.tryAcquire("web", 1));
    limits.remove("web");
    assertEquals(0, limiter.tryAcquire("web", 1000));
    limits.put("web", new RateLimit(1, 2));
    assertEquals(0, limiter.tryAcquire("web", 2), "a fresh bucket starts full");
  }

  @Test
  void acquireOrThrowCarriesRetryAfter() {
    limits.put("web", new RateLimit(1, 1));
    limiter.acquireOrThrow("web", 1);
    RateLimitedException e = assertThrows(RateLimitedException.class, () -> limiter.acquireOrThrow("web", 1));
    assertEquals(429, e.status());
    assertEquals(1, e.retryAfterSeconds());
    assertEquals("web", e.sourceId());
  }

  @Test
  void worksWithTheStoresLimits() {
    WorkspaceConfigStore store = WorkspaceConfigStore.fixed(WorkspaceConfig.of(List.of(
        new Source("app", "App", "appKey", true, new RateLimit(2, 2), Map.of())), List.of()));
    RateLimiter fromStore = RateLimiter.create(store::rateLimitFor, nanos::get);
    assertEquals(0, fromStore.tryAcquire("app", 2));
    assertEquals(1, fromStore.tryAcquire("app", 1));
    assertThrows(IllegalArgumentException.class, () -> fromStore.tryAcquire("app", -1));
  }
}
