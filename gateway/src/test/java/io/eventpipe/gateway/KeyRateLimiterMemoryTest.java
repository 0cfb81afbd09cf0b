package io.eventpipe.gateway;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Issue 14: the hot-key tracker is keyed by routing keys, which are client input. Counting entries let 100,000 keys of
 * the longest allowed id take about 120 MB; the tracker is bounded by bytes.
 */
class KeyRateLimiterMemoryTest {

  @Test
  void routingKeysOfTheLongestIdsFillTheTrackerOnlyUpToItsByteBound() {
    long[] now = {0};
    KeyRateLimiter limiter = new KeyRateLimiter(source -> Optional.empty(), () -> now[0], new SimpleMeterRegistry());
    int keys = (int) (2 * KeyRateLimiter.MAX_KEY_BYTES / KeyRateLimiter.weight("k".repeat(Event.MAX_ROUTING_KEY_CHARS)));
    String padding = "k".repeat(Event.MAX_ROUTING_KEY_CHARS - 12);
    for (int batch = 0; batch < keys / 1000; batch++) {
      List<Event> events = new ArrayList<>(1000);
      for (int i = 0; i < 1000; i++) {
        String key = String.format("%012d", batch * 1000 + i) + padding;
        events.add(new Event("m" + batch + "-" + i, EventType.TRACK, key, null, key, "{}".getBytes(StandardCharsets.UTF_8)));
      }
      limiter.acquireOrThrow("hostile", events);
      long remembered = limiter.rememberedBytes();
      assertTrue(remembered <= KeyRateLimiter.MAX_KEY_BYTES, "remembered " + remembered + " bytes after " + (batch + 1)
          + "000 keys, over the bound of " + KeyRateLimiter.MAX_KEY_BYTES);
    }
    assertTrue(limiter.rememberedBytes() > KeyRateLimiter.MAX_KEY_BYTES / 2, "the tracker is used up to its bound");
  }
}
