package io.eventpipe.destinations.kafka;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationTypes;
import io.eventpipe.destinations.Event;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;

/** The kafka destination without a broker: its config checks, egress, and a broker that is not there. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class KafkaDestinationTest {

  static final EgressPolicy LOOPBACK = EgressPolicy.of(List.of("127.0.0.0/8", "::1"), List.of());

  private Vertx vertx;

  @BeforeAll
  void start() {
    vertx = Vertx.vertx();
  }

  @AfterAll
  void stop() throws Exception {
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  static List<String> problems(Map<String, Object> config, EgressPolicy egress) {
    Destination d = new Destination("k", "kafka", true, List.of(), config);
    ConfigReader reader = ConfigReader.of(d);
    new KafkaDestination().validate(reader, egress);
    return reader.problems();
  }

  static Event event(long id, String user, int seq, String type) {
    String json = "{\"type\":\"" + type + "\",\"messageId\":\"" + user + "-" + seq + "\",\"anonymousId\":\"" + user
        + "\",\"properties\":{\"seq\":" + seq + "}}";
    return new Event(id, 0, user, "web", "k", user + "-" + seq, Instant.EPOCH, json.getBytes(StandardCharsets.UTF_8), 0);
  }

  @Test
  void isFoundByItsTypeName() {
    assertInstanceOf(KafkaDestination.class, DestinationTypes.installed().get("kafka").orElseThrow());
  }

  @Test
  void everyBadFieldIsNamed() {
    assertEquals(List.of(), problems(Map.of("bootstrapServers", "b1:9092, b2:9093", "topic", "events.{type}"), LOOPBACK));
    List<String> p = problems(Map.of(), LOOPBACK);
    assertEquals(List.of(
        "destinations[k].config.bootstrapServers: missing: the brokers to connect to, e.g. broker-1:9092,broker-2:9092",
        "destinations[k].config.topic: missing: a topic name, or a template with {type} (e.g. events.{type})"), p);
    p = problems(Map.of("bootstrapServers", "b1,b2:99999", "topic", "bad topic!", "timeoutMs", 5,
        "batch", Map.of("maxEvents", 0, "size", 1),
        "properties", Map.of("acks", "1", "linger.ms", "10", "no.such.setting", "x")), LOOPBACK);
    assertEquals(8, p.size(), p.toString());
    assertTrue(p.contains("destinations[k].config.bootstrapServers: 'b1' is not host:port (e.g. broker-1:9092)"), p.toString());
    assertTrue(p.contains("destinations[k].config.bootstrapServers: 'b2:99999' is not host:port (e.g. broker-1:9092)"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[k].config.topic: 'bad topic!' is not a Kafka topic name")), p.toString());
    assertTrue(p.contains("destinations[k].config.timeoutMs: must be in 1000..600000, got 5"), p.toString());
    assertTrue(p.contains("destinations[k].config.batch.maxEvents: must be in 1..10000, got 0"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[k].config.batch.size: unknown setting")), p.toString());
    assertTrue(p.contains("destinations[k].config.properties.acks: is fixed by the kafka destination and cannot be set"), p.toString());
    assertTrue(p.contains("destinations[k].config.properties.no.such.setting: is not a Kafka producer setting"), p.toString());
  }

  @Test
  void theEgressPolicyAppliesToTheBrokers() {
    List<String> p = problems(Map.of("bootstrapServers", "127.0.0.1:9092,169.254.169.254:9092", "topic", "t"),
        EgressPolicy.defaults());
    assertEquals(2, p.size(), p.toString());
    assertTrue(p.get(0).startsWith("destinations[k].config.bootstrapServers: the egress policy denies 127.0.0.1: "), p.get(0));
    assertTrue(p.get(1).startsWith("destinations[k].config.bootstrapServers: the egress policy denies 169.254.169.254: "), p.get(1));
    // a host name is checked when it is resolved, before the producer connects
    DestinationClient client = new KafkaDestination().open(new DestinationContext(vertx,
        new Destination("k", "kafka", true, List.of(), Map.of("bootstrapServers", "localhost:1", "topic", "t")), 4,
        EgressPolicy.defaults(), Clock.systemUTC(), Map.of()));
    try {
      DeliveryResult r = client.deliver(List.of(event(1, "u", 1, "track")), null).toCompletionStage().toCompletableFuture()
          .get(20, TimeUnit.SECONDS);
      DeliveryResult.Rejected rejected = assertInstanceOf(DeliveryResult.Rejected.class, r);
      assertTrue(rejected.error().startsWith("the egress policy denies localhost: "), rejected.error());
    } catch (Exception e) {
      throw new AssertionError(e);
    } finally {
      client.close();
    }
  }

  @Test
  void aBrokerThatIsDownIsRetryable() throws Exception {
    DestinationClient client = new KafkaDestination().open(new DestinationContext(vertx,
        new Destination("k", "kafka", true, List.of(), Map.of("bootstrapServers", "127.0.0.1:1", "topic", "t",
            "timeoutMs", 1000)), 4, LOOPBACK, Clock.systemUTC(), Map.of()));
    try {
      DeliveryResult r = client.deliver(List.of(event(1, "u", 1, "track")), null).toCompletionStage().toCompletableFuture()
          .get(20, TimeUnit.SECONDS);
      DeliveryResult.Retryable retry = assertInstanceOf(DeliveryResult.Retryable.class, r);
      assertTrue(retry.error().startsWith("kafka: "), retry.error());
    } finally {
      client.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  @Test
  void theTopicTemplateTakesTheEventType() {
    assertEquals("events.identify", KafkaDestination.topic("events.{type}", event(1, "u", 1, "identify").payload()));
    assertEquals("fixed", KafkaDestination.topic("fixed", event(1, "u", 1, "identify").payload()));
    assertEquals("e-unknown", KafkaDestination.topic("e-{type}", "{\"type\":\"a b\"}".getBytes(StandardCharsets.UTF_8)));
    assertEquals("e-unknown", KafkaDestination.topic("e-{type}", "[]".getBytes(StandardCharsets.UTF_8)));
  }
}
