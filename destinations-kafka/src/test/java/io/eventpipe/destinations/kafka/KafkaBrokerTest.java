package io.eventpipe.destinations.kafka;

import static io.eventpipe.destinations.kafka.KafkaDestinationTest.LOOPBACK;
import static io.eventpipe.destinations.kafka.KafkaDestinationTest.event;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.Event;
import io.eventpipe.workspace.Destination;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/**
 * The kafka destination against a real KRaft broker in this JVM: {@link KRaftBroker#shared()}, started once for every
 * test class of the module (about 10 s) and read without consumer groups.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KafkaBrokerTest {

  private KRaftBroker broker;
  private Vertx vertx;

  @BeforeAll
  void start() throws Exception {
    broker = KRaftBroker.shared();
    vertx = Vertx.vertx();
  }

  @AfterAll
  void stop() throws Exception {
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private DestinationClient client(String topic) {
    return new KafkaDestination().open(new DestinationContext(vertx, new Destination("k", "kafka", true, List.of(),
        Map.of("bootstrapServers", broker.bootstrapServers(), "topic", topic, "batch", Map.of("maxEvents", 100))), 8,
        LOOPBACK, Clock.systemUTC(), Map.of()));
  }

  private List<ConsumerRecord<String, byte[]>> consume(String topic, int expected) {
    return broker.readAll(topic, expected, Duration.ofSeconds(30));
  }

  private static DeliveryResult await(io.vertx.core.Future<DeliveryResult> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  @Test
  void eachUsersEventsArriveKeyedAndInOrderOnceTheBrokerAcknowledged() throws Exception {
    DestinationClient client = client("orders");
    try {
      int users = 10;
      int perUser = 30;
      long id = 0;
      // requests as the router makes them: several users' next events per request, each user's in order
      for (int s = 1; s <= perUser; s += 10) {
        List<Event> batch = new ArrayList<>();
        for (int u = 0; u < users; u++) {
          for (int k = s; k < s + 10; k++) {
            batch.add(event(++id, "u" + u, k, "track"));
          }
        }
        assertSame(DeliveryResult.DELIVERED, await(client.deliver(batch, "node-0")));
      }
      List<ConsumerRecord<String, byte[]>> got = consume("orders", users * perUser);
      assertEquals(users * perUser, got.size());
      Map<String, Integer> last = new HashMap<>();
      Map<String, Integer> partitionOf = new HashMap<>();
      for (ConsumerRecord<String, byte[]> r : got) {
        String json = new String(r.value(), StandardCharsets.UTF_8);
        int seq = Integer.parseInt(json.replaceAll(".*\"seq\":(\\d+).*", "$1"));
        String user = r.key();
        assertEquals(partitionOf.computeIfAbsent(user, x -> r.partition()), r.partition(), "one partition per user");
        assertEquals(last.getOrDefault(user, 0) + 1, seq, "in order: " + user);
        last.put(user, seq);
        assertEquals(user + "-" + seq, new String(r.headers().lastHeader("messageId").value(), StandardCharsets.UTF_8));
      }
    } finally {
      await(client.close().map(v -> DeliveryResult.DELIVERED));
    }
  }

  @Test
  void theTopicFollowsTheEventType() throws Exception {
    DestinationClient client = client("typed.{type}");
    try {
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(List.of(event(1, "a", 1, "track"),
          event(2, "a", 2, "identify"), event(3, "b", 1, "track")), null)));
      assertEquals(2, consume("typed.track", 2).size());
      assertEquals(1, consume("typed.identify", 1).size());
    } finally {
      await(client.close().map(v -> DeliveryResult.DELIVERED));
    }
  }

  @Test
  void aRecordTooLargeIsRejectedAloneAndTheOthersDelivered() throws Exception {
    DestinationClient client = client("sizes");
    try {
      String big = "{\"type\":\"track\",\"pad\":\"" + "x".repeat(2_000_000) + "\"}";
      Event huge = new Event(2, 0, "a", "web", "k", "a-2", java.time.Instant.EPOCH, big.getBytes(StandardCharsets.UTF_8), 0);
      DeliveryResult r = await(client.deliver(List.of(event(1, "a", 1, "track"), huge, event(3, "b", 1, "track")), null));
      DeliveryResult.Partial partial = org.junit.jupiter.api.Assertions.assertInstanceOf(DeliveryResult.Partial.class, r);
      assertEquals(java.util.Set.of(2L), partial.rejected().keySet());
      assertEquals(2, consume("sizes", 2).size());
    } finally {
      await(client.close().map(v -> DeliveryResult.DELIVERED));
    }
  }
}
