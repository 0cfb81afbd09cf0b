package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.waitUntil;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.http.GatewayFixture.StoredJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The official RudderStack and Segment Java SDKs against the gateway, unmodified: each sends a few hundred
 * events of every type through its own batching, gzip and retry code, and every event must be stored exactly once,
 * in each user's order, under the messageId the SDK gave it.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdkCompatibilityTest {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SdkCompatibilityTest.class);
  private static final int USERS = 20;
  private static final int EVENTS = 300;
  private static final String[] TYPES = {"track", "identify", "page", "group", "alias"};

  GatewayFixture fx;
  int port;

  @BeforeAll
  void start(PgDatabase db) {
    fx = new GatewayFixture(db);
    port = fx.start(GatewayFixture.options(), fx.sink(), new SimpleMeterRegistry());
  }

  @AfterAll
  void stop() {
    fx.close();
  }

  /** What the SDK handed to its queue, in enqueue order, and how each message ended. */
  static final class Sent {
    final List<String[]> messages = Collections.synchronizedList(new ArrayList<>()); // {routingKey, messageId, type}
    final AtomicInteger succeeded = new AtomicInteger();
    final List<String> failures = Collections.synchronizedList(new ArrayList<>());

    void record(String anonymousId, String userId, String messageId, String type) {
      messages.add(new String[] {anonymousId != null && !anonymousId.isEmpty() ? anonymousId : userId, messageId, type});
    }
  }

  @Test
  void rudderStackJavaSdk() throws Exception {
    Sent sent = new Sent();
    com.rudderstack.sdk.java.analytics.RudderAnalytics analytics = com.rudderstack.sdk.java.analytics.RudderAnalytics
        .builder(WEB_KEY)
        .setDataPlaneUrl("http://127.0.0.1:" + port)
        .log(new com.rudderstack.sdk.java.analytics.Log() {
          @Override
          public void print(Level level, String format, Object... args) {
            if (level == Level.ERROR) {
              LOG.warn("rudderstack sdk: {}", String.format(format, args));
            } else {
              LOG.debug("rudderstack sdk {}: {}", level, String.format(format, args));
            }
          }

          @Override
          public void print(Level level, Throwable error, String format, Object... args) {
            LOG.warn("rudderstack sdk {}: {}", level, String.format(format, args), error);
          }
        })
        .flushQueueSize(25)
        .flushInterval(1, TimeUnit.SECONDS)
        .messageInterceptor(m -> {
          sent.record(m.anonymousId(), m.userId(), m.messageId(), m.type().name());
          return m;
        })
        .callback(new com.rudderstack.sdk.java.analytics.Callback() {
          @Override
          public void success(com.rudderstack.sdk.java.analytics.messages.Message message) {
            sent.succeeded.incrementAndGet();
          }

          @Override
          public void failure(com.rudderstack.sdk.java.analytics.messages.Message message, Throwable throwable) {
            sent.failures.add(message.messageId() + ": " + throwable);
          }
        })
        .build();
    try {
      for (int i = 0; i < EVENTS; i++) {
        String user = "rs-u" + (i % USERS);
        Map<String, Object> props = Map.of("i", i, "price", 9.99, "label", "ünïcødé ✓");
        switch (TYPES[(i / USERS) % TYPES.length]) {
          case "track" -> analytics.enqueue(com.rudderstack.sdk.java.analytics.messages.TrackMessage.builder("Order Completed")
              .userId(user).properties(props));
          case "identify" -> analytics.enqueue(com.rudderstack.sdk.java.analytics.messages.IdentifyMessage.builder()
              .userId(user).traits(props));
          case "page" -> analytics.enqueue(com.rudderstack.sdk.java.analytics.messages.PageMessage.builder("Checkout")
              .userId(user).properties(props));
          case "group" -> analytics.enqueue(com.rudderstack.sdk.java.analytics.messages.GroupMessage.builder("g-" + (i % 3))
              .userId(user).traits(props));
          default -> analytics.enqueue(com.rudderstack.sdk.java.analytics.messages.AliasMessage.builder("anon-" + i)
              .userId(user));
        }
      }
      analytics.flush();
      waitUntil("the SDK reports every message", 30, () -> sent.succeeded.get() + sent.failures.size() >= EVENTS);
    } finally {
      analytics.shutdown();
    }
    assertStoredOnceInOrder("rs-", sent);
  }

  @Test
  void segmentJavaSdk() throws Exception {
    Sent sent = new Sent();
    com.segment.analytics.Analytics analytics = com.segment.analytics.Analytics.builder(WEB_KEY)
        .endpoint("http://127.0.0.1:" + port)
        .log(new com.segment.analytics.Log() {
          @Override
          public void print(Level level, String format, Object... args) {
            if (level == Level.ERROR) {
              LOG.warn("segment sdk: {}", String.format(format, args));
            } else {
              LOG.debug("segment sdk {}: {}", level, String.format(format, args));
            }
          }

          @Override
          public void print(Level level, Throwable error, String format, Object... args) {
            LOG.warn("segment sdk {}: {}", level, String.format(format, args), error);
          }
        })
        .flushQueueSize(25)
        .flushInterval(1, TimeUnit.SECONDS)
        .messageInterceptor(m -> {
          sent.record(m.anonymousId(), m.userId(), m.messageId(), m.type().name());
          return m;
        })
        .callback(new com.segment.analytics.Callback() {
          @Override
          public void success(com.segment.analytics.messages.Message message) {
            sent.succeeded.incrementAndGet();
          }

          @Override
          public void failure(com.segment.analytics.messages.Message message, Throwable throwable) {
            sent.failures.add(message.messageId() + ": " + throwable);
          }
        })
        .build();
    try {
      for (int i = 0; i < EVENTS; i++) {
        String user = "sg-u" + (i % USERS);
        Map<String, Object> props = Map.of("i", i, "price", 9.99, "label", "ünïcødé ✓");
        switch (TYPES[(i / USERS) % TYPES.length]) {
          case "track" -> analytics.enqueue(com.segment.analytics.messages.TrackMessage.builder("Order Completed")
              .userId(user).properties(props));
          case "identify" -> analytics.enqueue(com.segment.analytics.messages.IdentifyMessage.builder()
              .userId(user).traits(props));
          case "page" -> analytics.enqueue(com.segment.analytics.messages.PageMessage.builder("Checkout")
              .userId(user).properties(props));
          case "group" -> analytics.enqueue(com.segment.analytics.messages.GroupMessage.builder("g-" + (i % 3))
              .userId(user).traits(props));
          default -> analytics.enqueue(com.segment.analytics.messages.AliasMessage.builder("anon-" + i)
              .userId(user));
        }
      }
      analytics.flush();
      waitUntil("the SDK reports every message", 30, () -> sent.succeeded.get() + sent.failures.size() >= EVENTS);
    } finally {
      analytics.shutdown();
    }
    assertStoredOnceInOrder("sg-", sent);
  }

  private void assertStoredOnceInOrder(String keyPrefix, Sent sent) {
    assertEquals(List.of(), sent.failures, "the SDK saw no failure");
    assertEquals(EVENTS, sent.succeeded.get());
    assertEquals(EVENTS, sent.messages.size());

    Map<String, List<String>> expected = new LinkedHashMap<>();
    Map<String, String> typeOf = new LinkedHashMap<>();
    for (String[] m : sent.messages) {
      expected.computeIfAbsent(m[0], k -> new ArrayList<>()).add(m[1]);
      typeOf.put(m[1], m[2].toLowerCase(java.util.Locale.ROOT));
    }
    List<StoredJob> stored = fx.storedWithKeyPrefix(keyPrefix);
    assertEquals(EVENTS, stored.size(), "every event stored once");
    assertEquals(EVENTS, new HashSet<>(stored.stream().map(StoredJob::messageId).toList()).size(), "no duplicates");
    Map<String, List<String>> actual = new LinkedHashMap<>();
    for (StoredJob j : stored) {
      actual.computeIfAbsent(j.routingKey(), k -> new ArrayList<>()).add(j.messageId());
      assertEquals(j.messageId(), j.json().getString("messageId"), "the SDK's messageId is kept");
      assertEquals(typeOf.get(j.messageId()), j.json().getString("type"));
      assertTrue(j.json().containsKey("receivedAt") && j.json().containsKey("timestamp"), j.payloadString());
    }
    assertEquals(USERS, actual.size());
    for (Map.Entry<String, List<String>> e : expected.entrySet()) {
      assertEquals(e.getValue(), actual.get(e.getKey()), "events of " + e.getKey() + " in the order the SDK sent them");
    }
  }
}
