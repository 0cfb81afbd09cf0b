package io.eventpipe.destinations.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.test.KafkaClusterTestKit;
import org.apache.kafka.common.test.TestKitNodes;

/**
 * One real KRaft broker for a whole test JVM ({@link #shared()}), started with Kafka's own test kit
 * ({@link KafkaClusterTestKit}) on the cheapest configuration that is still a real broker: one process-local node that
 * is broker and controller at once, one partition for each internal topic, no initial rebalance delay, few threads and
 * small index files. It starts once (about 10 s on the shared two-core machine, most of it the controller's and the
 * broker's own start) and is closed when the JVM exits, so every test class of a module shares its cost. Tests use
 * their own topic names. Readers here never join a consumer group (they assign partitions), so no group coordinator
 * round trip or rebalance is paid per check.
 *
 * <p>Used by this module's {@code KafkaBrokerTest} and, through this module's test jar, by the launcher's
 * {@code DestinationKillTest}.
 */
public final class KRaftBroker implements AutoCloseable {

  private static KRaftBroker shared;

  private final KafkaClusterTestKit cluster;
  private final double startSeconds;

  private KRaftBroker(int brokers) throws Exception {
    long t0 = System.nanoTime();
    cluster = new KafkaClusterTestKit.Builder(new TestKitNodes.Builder().setCombined(brokers == 1)
        .setNumBrokerNodes(brokers).setNumControllerNodes(1).build())
        .setConfigProp("auto.create.topics.enable", "true")
        .setConfigProp("num.partitions", "4")
        .setConfigProp("offsets.topic.replication.factor", "1")
        .setConfigProp("offsets.topic.num.partitions", "1")
        .setConfigProp("transaction.state.log.replication.factor", "1")
        .setConfigProp("transaction.state.log.num.partitions", "1")
        .setConfigProp("share.coordinator.state.topic.replication.factor", "1")
        .setConfigProp("share.coordinator.state.topic.num.partitions", "1")
        .setConfigProp("group.initial.rebalance.delay.ms", "0")
        .setConfigProp("broker.heartbeat.interval.ms", "500")
        .setConfigProp("num.network.threads", "1")
        .setConfigProp("num.io.threads", "2")
        .setConfigProp("background.threads", "2")
        .setConfigProp("num.replica.fetchers", "1")
        .setConfigProp("num.recovery.threads.per.data.dir", "1")
        .setConfigProp("group.coordinator.threads", "1")
        .setConfigProp("share.coordinator.threads", "1")
        .setConfigProp("log.index.size.max.bytes", "1048576")
        .build();
    cluster.format();
    cluster.startup();
    cluster.waitForReadyBrokers();
    startSeconds = (System.nanoTime() - t0) / 1e9;
    System.out.printf("KRaft cluster of %d broker(s) ready in %.1f s at %s%n", brokers, startSeconds,
        cluster.bootstrapServers());
  }

  /**
   * A cluster of its own (not shared), of {@code brokers} brokers beside one controller (one node that is both when
   * {@code brokers} is 1), with the same small settings; the caller closes it.
   */
  public static KRaftBroker start(int brokers) throws Exception {
    return new KRaftBroker(brokers);
  }

  /** The test kit's cluster, for tests that stop a broker ({@code brokers().get(id).shutdown()}). */
  public KafkaClusterTestKit cluster() {
    return cluster;
  }

  @Override
  public void close() throws Exception {
    cluster.close();
  }

  /** The JVM's broker, started on first use, closed when the JVM exits. */
  public static synchronized KRaftBroker shared() throws Exception {
    if (shared == null) {
      KRaftBroker broker = new KRaftBroker(1);
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        try {
          broker.cluster.close();
        } catch (Exception e) {
          // the JVM is exiting; its temporary directories go with the test kit's own hooks
        }
      }, "kraft-broker-close"));
      shared = broker;
    }
    return shared;
  }

  public String bootstrapServers() {
    return cluster.bootstrapServers();
  }

  /** How long this broker took to start, in seconds (printed by tests that report their costs). */
  public double startSeconds() {
    return startSeconds;
  }

  /** The next offset of each partition of {@code topic} (what has been appended so far), or empty before it exists. */
  public Map<TopicPartition, Long> endOffsets(String topic) {
    try (KafkaConsumer<String, byte[]> c = consumer()) {
      List<TopicPartition> partitions = partitions(c, topic);
      return partitions.isEmpty() ? Map.of() : c.endOffsets(partitions);
    }
  }

  /**
   * Every record of {@code topic}, partition by partition, each partition's in offset order: waits up to {@code wait}
   * for at least {@code atLeast} records, then reads to the end offsets of that moment (so a repeat shows).
   */
  public List<ConsumerRecord<String, byte[]>> readAll(String topic, int atLeast, Duration wait) {
    long deadline = System.nanoTime() + wait.toNanos();
    try (KafkaConsumer<String, byte[]> c = consumer()) {
      List<TopicPartition> partitions = partitions(c, topic);
      while (partitions.isEmpty() && System.nanoTime() < deadline) {
        sleep(100);
        partitions = partitions(c, topic);
      }
      if (partitions.isEmpty()) {
        return List.of();
      }
      c.assign(partitions);
      c.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = c.endOffsets(partitions);
      while (end.values().stream().mapToLong(Long::longValue).sum() < atLeast && System.nanoTime() < deadline) {
        sleep(100);
        end = c.endOffsets(partitions);
      }
      List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
      for (TopicPartition p : partitions) {
        while (c.position(p) < end.get(p)) {
          c.poll(Duration.ofMillis(100)).forEach(out::add);
        }
      }
      // by partition, then offset: the order a consumer of each partition sees
      out.sort(Comparator.comparing((ConsumerRecord<String, byte[]> r) -> r.partition()).thenComparingLong(ConsumerRecord::offset));
      return out;
    }
  }

  private static List<TopicPartition> partitions(KafkaConsumer<String, byte[]> c, String topic) {
    List<PartitionInfo> infos = c.listTopics(Duration.ofSeconds(10)).get(topic);
    return infos == null ? List.of() : infos.stream().map(i -> new TopicPartition(topic, i.partition())).toList();
  }

  private KafkaConsumer<String, byte[]> consumer() {
    Properties p = new Properties();
    p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrapServers());
    p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
    p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "5000");
    return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
  }

  private static void sleep(long ms) {
    try {
      TimeUnit.MILLISECONDS.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }
}
