package io.eventpipe.gateway;

import io.eventpipe.workspace.RateLimit;
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Hot keys: one routing key (one user) of a source that sends far more than a user does, such as a bot or a broken
 * integration sending every event as {@code userId: "undefined"}. A key's events are delivered one at a time, in order,
 * so its backlog drains no faster than its destinations answer, and may never drain.
 *
 * <ul>
 *   <li><b>Detection</b>, always on: a key that sends more than {@link #HOT_EVENTS_PER_SECOND} events a second over a
 *       {@link #WINDOW} is counted in {@code gateway_hot_keys_total{source}} (once per key and window) and logged at
 *       most once a minute per source, naming the key.</li>
 *   <li><b>Limit</b>, when the source's {@code rateLimit.perKeyEventsPerSecond} is set: a token bucket per key (its burst
 *       one second's worth); a request whose events of some key do not fit is refused whole with 429 and Retry-After
 *       (tokens it took for its other keys are given back), counted in {@code gateway_key_limited_events_total{source}}.
 *       Other keys of the source are not affected.</li>
 * </ul>
 * Keys are remembered in a cache bounded by bytes ({@link #MAX_KEY_BYTES}, each key weighed by its characters plus
 * its state; dropped a minute after their last event), so memory stays bounded however many users there are and however
 * long their ids (routing keys are client input); a forgotten key starts with a full bucket. Each process limits on its own: with
 * N proxies a key may send up to N times the limit. Time comes from the injected nano clock.
 */
public final class KeyRateLimiter {

  private static final Logger LOG = LoggerFactory.getLogger(KeyRateLimiter.class);

  /** Above this rate over a {@link #WINDOW}, a key is reported hot. */
  public static final double HOT_EVENTS_PER_SECOND = 100;
  public static final Duration WINDOW = Duration.ofSeconds(10);
  /** Bytes the remembered keys may take: about 100,000 keys of 100 characters, or 10,000 of the longest. */
  public static final long MAX_KEY_BYTES = 32L << 20;
  /** What a remembered key costs besides its characters: the entry, its state and bucket, the source id. */
  private static final int ENTRY_OVERHEAD_BYTES = 200;
  private static final long LOG_EVERY_NANOS = Duration.ofMinutes(1).toNanos();
  private static final int LOGGED_KEY_CHARS = 64;

  private final Function<String, Optional<RateLimit>> limits;
  private final LongSupplier nanoClock;
  private final MeterRegistry registry;
  private final Cache<String, KeyState> keys;
  private final Map<String, Counter> hot = new ConcurrentHashMap<>();
  private final Map<String, Counter> limited = new ConcurrentHashMap<>();
  private final Map<String, Long> logged = new ConcurrentHashMap<>();

  /**
   * @param limits the limit of a source id, e.g. {@code store::rateLimitFor}
   * @param nanoClock a monotonic clock in nanoseconds, e.g. {@code System::nanoTime}
   */
  public KeyRateLimiter(Function<String, Optional<RateLimit>> limits, LongSupplier nanoClock, MeterRegistry registry) {
    this.limits = Objects.requireNonNull(limits, "limits");
    this.nanoClock = Objects.requireNonNull(nanoClock, "nanoClock");
    this.registry = Objects.requireNonNull(registry, "registry");
    this.keys = Caffeine.newBuilder().maximumWeight(MAX_KEY_BYTES).weigher((String k, KeyState v) -> weight(k))
        .expireAfterAccess(Duration.ofMinutes(1)).build();
  }

  /** A remembered key's bytes: two per character (UTF-16 at worst) and the entry's overhead. */
  static int weight(String key) {
    return ENTRY_OVERHEAD_BYTES + 2 * key.length();
  }

  /** The bytes the remembered keys weigh now, by {@link #weight}; at most {@link #MAX_KEY_BYTES}. For tests. */
  long rememberedBytes() {
    keys.cleanUp();
    return keys.policy().eviction().orElseThrow().weightedSize().orElseThrow();
  }

  /**
   * Counts the request's events per key, and takes them from the keys' buckets when the source has a per-key limit.
   *
   * @throws RateLimitedException (429) naming the first key over its limit, with the Retry-After seconds
   */
  public void acquireOrThrow(String sourceId, List<Event> events) {
    RateLimit limit = limits.apply(sourceId).orElse(null);
    RateLimit perKey = limit == null || limit.perKeyEventsPerSecond() <= 0 ? null
        : RateLimit.perSecond(limit.perKeyEventsPerSecond());
    Map<String, Integer> counts = new LinkedHashMap<>();
    for (Event e : events) {
      counts.merge(e.routingKey(), 1, Integer::sum);
    }
    long now = nanoClock.getAsLong();
    List<Map.Entry<KeyState, Integer>> taken = new ArrayList<>();
    String refusedKey = null;
    long retryAfter = 0;
    for (Map.Entry<String, Integer> c : counts.entrySet()) {
      KeyState k = keys.get(sourceId + '\u0000' + c.getKey(), x -> new KeyState(now));
      int rate = k.observe(c.getValue(), now);
      if (rate > 0) {
        hot(sourceId, c.getKey(), rate, false);
      }
      if (perKey != null && refusedKey == null) {
        long wait = k.bucket.tryAcquire(perKey, c.getValue(), now);
        if (wait > 0) {
          refusedKey = c.getKey();
          retryAfter = wait;
        } else {
          taken.add(Map.entry(k, c.getValue()));
        }
      }
    }
    if (refusedKey == null) {
      return;
    }
    for (Map.Entry<KeyState, Integer> t : taken) {
      t.getKey().bucket.refund(perKey, t.getValue());
    }
    limited.computeIfAbsent(sourceId, s -> Counter.builder("gateway.key.limited.events")
        .description("Events refused (429) because their routing key was over the source's perKeyEventsPerSecond")
        .tag("source", s).register(registry)).increment(events.size());
    hot(sourceId, refusedKey, (int) limit.perKeyEventsPerSecond(), true);
    throw new RateLimitedException(sourceId, retryAfter, "routing key '" + shown(refusedKey) + "' of source '" + sourceId
        + "' is over the source's limit of " + limit.perKeyEventsPerSecond() + " events per second per user; retry after "
        + retryAfter + " s (Retry-After header), or send distinct userIds/anonymousIds");
  }

  private void hot(String sourceId, String key, int rate, boolean refused) {
    if (!refused) {
      hot.computeIfAbsent(sourceId, s -> Counter.builder("gateway.hot.keys")
          .description("Routing keys found sending more than " + (int) HOT_EVENTS_PER_SECOND + " events/s (once per key and "
              + WINDOW.toSeconds() + " s)").tag("source", s).register(registry)).increment();
    }
    long now = nanoClock.getAsLong();
    Long last = logged.get(sourceId);
    if (last != null && now - last < LOG_EVERY_NANOS) {
      return;
    }
    logged.put(sourceId, now);
    if (refused) {
      LOG.warn("source '{}': routing key '{}' is over its limit of {} events/s per user (rateLimit.perKeyEventsPerSecond);"
          + " its requests are answered 429 (logged at most once a minute per source)", sourceId, shown(key), rate);
    } else {
      LOG.warn("source '{}': hot routing key '{}' sends about {} events/s; one user's events are delivered one at a time,"
          + " in order, so its backlog may never drain (a bot, or an integration sending every event as one user?);"
          + " rateLimit.perKeyEventsPerSecond in the workspace limits it (logged at most once a minute per source)",
          sourceId, shown(key), rate);
    }
  }

  private static String shown(String key) {
    return Text.forLog(key, LOGGED_KEY_CHARS); // a client's string: CR/LF would forge log lines
  }

  /** One key: its bucket, and its events in the current detection window. */
  private static final class KeyState {
    final RateLimiter.Bucket bucket;
    private long windowStart;
    private long windowEvents;
    private boolean reported;

    KeyState(long now) {
      this.bucket = new RateLimiter.Bucket(Double.MAX_VALUE, now);
      this.windowStart = now;
    }

    /** Adds events; returns the key's rate (events/s) when it just crossed the hot threshold in this window, else 0. */
    synchronized int observe(int n, long now) {
      if (now - windowStart >= WINDOW.toNanos()) {
        windowStart = now;
        windowEvents = 0;
        reported = false;
      }
      windowEvents += n;
      if (!reported && windowEvents > HOT_EVENTS_PER_SECOND * WINDOW.toSeconds()) {
        reported = true;
        return (int) Math.min(Integer.MAX_VALUE, windowEvents * 1_000_000_000L / Math.max(1_000_000_000L, now - windowStart));
      }
      return 0;
    }
  }
}
