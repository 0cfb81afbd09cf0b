package io.eventpipe.destinations.kafka;

import static io.eventpipe.destinations.kafka.KafkaDestinationTest.LOOPBACK;
import static io.eventpipe.destinations.kafka.KafkaDestinationTest.event;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * The heavy Kafka case, behind {@code -Ddestinations.kafka=true}: three brokers and a controller of their own (not the
 * shared broker), a topic replicated three times with {@code min.insync.replicas=2}, and the leader of a partition
 * stopped while requests are delivered, as the router delivers them (each user's next request only once the previous
 * one was delivered; a retryable answer is sent again). Every event arrives, each user's first copies in order in one
 * partition, and a request the failover failed is answered retryable (never rejected) and succeeds when sent again
 * (the idempotent producer usually absorbs the failover itself: it prints how many were sent again). About 10-60 s on
 * the shared machine (four servers' start).
 */
@EnabledIfSystemProperty(named = "destinations.kafka", matches = "true")
@Order(Integer.MAX_VALUE) // after the classes on the shared broker (the class order is set in the pom)
class KafkaFailoverTest {

  @Test
  void aLeaderStoppedMidStreamCostsRetriesNotEvents() throws Exception {
    Vertx vertx = Vertx.vertx();
    try (KRaftBroker cluster = KRaftBroker.start(3)) {
      String topic = "failover";
      try (Admin admin = cluster.cluster().admin()) {
        admin.createTopics(List.of(new NewTopic(topic, 4, (short) 3).configs(Map.of("min.insync.replicas", "2"))))
            .all().get(60, TimeUnit.SECONDS);
      }
      DestinationClient client = new KafkaDestination().open(new DestinationContext(vertx, new Destination("k", "kafka",
          true, List.of(), Map.of("bootstrapServers", cluster.bootstrapServers(), "topic", topic, "timeoutMs", 5000,
          "batch", Map.of("maxEvents", 50))), 8, LOOPBACK, Clock.systemUTC(), Map.of()));
      int users = 10;
      int rounds = 30;
      long id = 0;
      int retries = 0;
      try {
        for (int round = 1; round <= rounds; round++) {
          if (round == rounds / 2) {
            // the broker that leads partition 0 stops, mid-stream
            int leader;
            try (Admin admin = cluster.cluster().admin()) {
              leader = admin.describeTopics(List.of(topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(topic)
                  .partitions().get(0).leader().id();
            }
            cluster.cluster().brokers().get(leader).shutdown();
            System.out.println("broker " + leader + " stopped at round " + round);
          }
          List<Event> batch = new ArrayList<>();
          for (int u = 0; u < users; u++) {
            batch.add(event(++id, "u" + u, round, "track"));
          }
          for (int attempt = 1; ; attempt++) {
            DeliveryResult r = client.deliver(batch, "node-0").toCompletionStage().toCompletableFuture()
                .get(60, TimeUnit.SECONDS);
            if (r == DeliveryResult.DELIVERED) {
              break;
            }
            assertTrue(r instanceof DeliveryResult.Retryable, "a failover is retryable, never a rejection: " + r);
            assertTrue(attempt < 30, "delivered again within 30 attempts: " + r);
            retries++;
            Thread.sleep(200);
          }
        }
      } finally {
        client.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      }
      List<ConsumerRecord<String, byte[]>> got = cluster.readAll(topic, users * rounds, Duration.ofSeconds(60));
      Map<String, Integer> partitionOf = new HashMap<>();
      Map<String, Integer> lastFirst = new HashMap<>();
      Map<String, java.util.Set<Integer>> seen = new HashMap<>();
      for (ConsumerRecord<String, byte[]> r : got) {
        String json = new String(r.value(), StandardCharsets.UTF_8);
        int seq = Integer.parseInt(json.replaceAll(".*\"seq\":(\\d+).*", "$1"));
        assertEquals(partitionOf.computeIfAbsent(r.key(), k -> r.partition()), r.partition(), "one partition per user");
        if (seen.computeIfAbsent(r.key(), k -> new java.util.HashSet<>()).add(seq)) {
          int before = lastFirst.getOrDefault(r.key(), 0);
          assertTrue(seq > before, r.key() + " #" + seq + " first seen after #" + before);
          lastFirst.put(r.key(), seq);
        }
      }
      for (int u = 0; u < users; u++) {
        assertEquals(rounds, seen.getOrDefault("u" + u, java.util.Set.of()).size(), "every event of u" + u);
      }
      System.out.printf("%d records for %d events, %d requests sent again%n", got.size(), users * rounds, retries);
    } finally {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }
}
