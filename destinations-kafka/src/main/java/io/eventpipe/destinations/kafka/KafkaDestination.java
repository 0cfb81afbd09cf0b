package io.eventpipe.destinations.kafka;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Egress;
import io.eventpipe.destinations.Event;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.errors.AuthenticationException;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * The {@code kafka} destination type: each event is produced as one record whose key is the event's routing key (so
 * Kafka keeps each user's events in order, in one partition) and whose value is the event's JSON.
 *
 * <pre>{@code
 * config:
 *   bootstrapServers: broker-1:9092,broker-2:9092   # required
 *   topic: events                                   # required: a fixed topic, or a template with {type}:
 *                                                   #   events.{type} -> events.track, events.identify, ...
 *   timeoutMs: 30000                                # a request's whole deadline (delivery.timeout.ms, max.block.ms)
 *   batch: {maxEvents: 500}                         # events per request (default 500)
 *   properties: {security.protocol: SASL_SSL}       # further producer settings (not those fixed below)
 * }</pre>
 *
 * <p>The producer is idempotent with {@code acks=all} (fixed: {@code enable.idempotence}, {@code acks},
 * {@code max.in.flight.requests.per.connection}, the serializers and {@code bootstrap.servers} cannot be set under
 * {@code properties}); a request counts as delivered only once the broker acknowledged every record. Each record
 * carries the event's messageId in the header {@code messageId}, for consumers that drop redeliveries (delivery is
 * at-least-once: a retried request sends its records again). A retriable Kafka error (not enough replicas, a leader
 * moving, a timeout) is retried by the router; a record too large is rejected alone; an authorization or
 * authentication failure rejects the request.
 *
 * <p>Egress: a bootstrap address literal is checked when the config loads; bootstrap host names are resolved and
 * checked before the producer opens and every {@value #RESOLVE_TTL_MS} ms, and so is every broker the cluster's
 * metadata names as a partition leader, before records go to it.
 */
public final class KafkaDestination implements DestinationType {

  public static final String NAME = "kafka";
  static final Set<String> KEYS = Set.of("bootstrapServers", "topic", "timeoutMs", "batch", "properties");
  static final Set<String> FIXED = Set.of(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, ProducerConfig.ACKS_CONFIG,
      ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
      ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ProducerConfig.BOOTSTRAP_SERVERS_CONFIG);
  static final int DEFAULT_TIMEOUT_MS = 30_000;
  static final long RESOLVE_TTL_MS = 5_000;
  /** A topic after {type} is substituted: Kafka's legal characters, at most 249 of them. */
  private static final Pattern TOPIC = Pattern.compile("[a-zA-Z0-9._-]{1,249}");
  private static final Pattern TYPE = Pattern.compile("[a-zA-Z0-9_-]+");

  /** The parsed settings of one kafka destination. */
  record Settings(List<String> hosts, String bootstrap, String topic, int timeoutMs, int maxEvents,
      Map<String, String> properties) {

    static Settings read(ConfigReader config, EgressPolicy egress) {
      String bootstrap = config.string("bootstrapServers", null);
      List<String> hosts = new ArrayList<>();
      if (bootstrap == null) {
        if (!config.has("bootstrapServers")) {
          config.problem("bootstrapServers", "missing: the brokers to connect to, e.g. broker-1:9092,broker-2:9092");
        }
      } else {
        for (String server : bootstrap.split(",", -1)) {
          String s = server.strip();
          int colon = s.lastIndexOf(':');
          String host = colon > 0 ? s.substring(0, colon) : "";
          String port = colon > 0 ? s.substring(colon + 1) : "";
          if (host.isEmpty() || !port.matches("[0-9]{1,5}") || Integer.parseInt(port) < 1 || Integer.parseInt(port) > 65535) {
            config.problem("bootstrapServers", "'" + s + "' is not host:port (e.g. broker-1:9092)");
            continue;
          }
          hosts.add(host);
          Egress.checkLiteral(config, "bootstrapServers", host, egress);
        }
      }
      String topic = config.string("topic", null);
      if (topic == null) {
        if (!config.has("topic")) {
          config.problem("topic", "missing: a topic name, or a template with {type} (e.g. events.{type})");
        }
      } else if (!TOPIC.matcher(topic.replace("{type}", "track")).matches()) {
        config.problem("topic", "'" + topic + "' is not a Kafka topic name (letters, digits, '.', '_', '-', at most "
            + "249), with {type} standing for the event type");
      }
      int timeoutMs = (int) config.integer("timeoutMs", DEFAULT_TIMEOUT_MS, 1_000, 600_000);
      ConfigReader batch = config.child("batch");
      batch.rejectUnknownKeys(Set.of("maxEvents"));
      int maxEvents = (int) batch.integer("maxEvents", 500, 1, 10_000);
      Map<String, String> properties = config.stringMap("properties");
      Set<String> known = ProducerConfig.configNames();
      for (String key : properties.keySet()) {
        if (FIXED.contains(key)) {
          config.problem("properties." + key, "is fixed by the kafka destination and cannot be set");
        } else if (!known.contains(key)) {
          config.problem("properties." + key, "is not a Kafka producer setting");
        }
      }
      return new Settings(hosts, bootstrap, topic, timeoutMs, maxEvents, properties);
    }
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> configKeys() {
    return KEYS;
  }

  @Override
  public void validate(ConfigReader config, EgressPolicy egress) {
    Settings.read(config, egress);
  }

  @Override
  public DestinationClient open(DestinationContext context) {
    ConfigReader config = context.config();
    Settings settings = Settings.read(config, context.egress());
    config.throwIfInvalid(context.destination().id());
    return new Client(context.vertx(), settings, context.egress(), context.destination().id());
  }

  /** The topic of an event: the template with {type} replaced by the event's type ("track" when it has none). */
  static String topic(String template, byte[] payload) {
    if (!template.contains("{type}")) {
      return template;
    }
    String type = typeOf(payload);
    return template.replace("{type}", type == null || !TYPE.matcher(type).matches() ? "unknown" : type);
  }

  /** The value of the top-level "type" field, read without parsing the whole event. */
  static String typeOf(byte[] payload) {
    try {
      com.fasterxml.jackson.core.JsonParser p = JSON.createParser(payload);
      if (p.nextToken() != com.fasterxml.jackson.core.JsonToken.START_OBJECT) {
        return null;
      }
      while (p.nextToken() == com.fasterxml.jackson.core.JsonToken.FIELD_NAME) {
        String name = p.currentName();
        com.fasterxml.jackson.core.JsonToken v = p.nextToken();
        if (name.equals("type")) {
          return v == com.fasterxml.jackson.core.JsonToken.VALUE_STRING ? p.getText() : null;
        }
        p.skipChildren();
      }
      return null;
    } catch (java.io.IOException e) {
      return null;
    }
  }

  private static final com.fasterxml.jackson.core.JsonFactory JSON = new com.fasterxml.jackson.core.JsonFactory();

  /** One destination's producer. Sends run on worker threads: the producer may block for metadata. */
  static final class Client implements DestinationClient {

    private final Vertx vertx;
    private final Settings settings;
    private final EgressPolicy egress;
    private final String destinationId;
    private KafkaProducer<String, byte[]> producer;
    private volatile long checkedAtMs;
    private volatile boolean checked;
    private final Map<String, Long> checkedBrokers = new java.util.concurrent.ConcurrentHashMap<>();

    Client(Vertx vertx, Settings settings, EgressPolicy egress, String destinationId) {
      this.vertx = vertx;
      this.settings = settings;
      this.egress = egress;
      this.destinationId = destinationId;
    }

    @Override
    public int maxEventsPerRequest() {
      return settings.maxEvents();
    }

    private synchronized KafkaProducer<String, byte[]> producer() {
      if (producer == null) {
        Properties p = new Properties();
        p.putAll(settings.properties());
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, settings.bootstrap());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, "5");
        p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, String.valueOf(settings.timeoutMs()));
        int request = Math.max(500, settings.timeoutMs() / 2);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, String.valueOf(request));
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(settings.timeoutMs()));
        p.putIfAbsent(ProducerConfig.CLIENT_ID_CONFIG, "eventpipe-" + destinationId);
        producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
      }
      return producer;
    }

    /** Checks the bootstrap hosts, at most every RESOLVE_TTL_MS; blocking. Before the producer connects to them. */
    private String bootstrapDenial() throws Exception {
      long now = System.currentTimeMillis();
      if (!checked || now - checkedAtMs >= RESOLVE_TTL_MS) {
        for (String host : settings.hosts()) {
          String denial = Egress.denialBlocking(host, egress);
          if (denial != null) {
            return denial;
          }
        }
        checkedAtMs = now;
        checked = true;
      }
      return null;
    }

    /** Checks the leaders of {@code topics} as the cluster's metadata names them; blocking. */
    private String egressDenial(KafkaProducer<String, byte[]> p, Set<String> topics) throws Exception {
      long now = System.currentTimeMillis();
      for (String topic : topics) {
        for (PartitionInfo info : p.partitionsFor(topic)) {
          Node leader = info.leader();
          if (leader == null || leader.isEmpty()) {
            continue;
          }
          Long at = checkedBrokers.get(leader.host());
          if (at == null || now - at >= RESOLVE_TTL_MS) {
            String denial = Egress.denialBlocking(leader.host(), egress);
            if (denial != null) {
              return denial + " (a broker of the cluster)";
            }
            checkedBrokers.put(leader.host(), now);
          }
        }
      }
      return null;
    }

    @Override
    public Future<DeliveryResult> deliver(List<Event> events, String node) {
      return vertx.executeBlocking(() -> send(events), false);
    }

    private DeliveryResult send(List<Event> events) {
      KafkaProducer<String, byte[]> p;
      List<String> topics = new ArrayList<>(events.size());
      for (Event e : events) {
        topics.add(topic(settings.topic(), e.payload()));
      }
      try {
        String denial = bootstrapDenial();
        if (denial != null) {
          return new DeliveryResult.Rejected(denial);
        }
        p = producer();
        denial = egressDenial(p, new java.util.HashSet<>(topics));
        if (denial != null) {
          return new DeliveryResult.Rejected(denial);
        }
      } catch (Exception e) {
        return classify(e, events.size());
      }
      // 1. hand every record to the producer in order (records of one key go to one partition, in this order)
      Map<Long, CompletableFuture<Void>> acks = new LinkedHashMap<>();
      for (int i = 0; i < events.size(); i++) {
        Event e = events.get(i);
        ProducerRecord<String, byte[]> record = new ProducerRecord<>(topics.get(i), e.routingKey(), e.payload());
        record.headers().add("messageId", e.messageId().getBytes(StandardCharsets.UTF_8));
        CompletableFuture<Void> ack = new CompletableFuture<>();
        acks.put(e.jobId(), ack);
        try {
          p.send(record, (meta, error) -> {
            if (error == null) {
              ack.complete(null);
            } else {
              ack.completeExceptionally(error);
            }
          });
        } catch (KafkaException x) {
          ack.completeExceptionally(x);
        }
      }
      p.flush();
      // 2. wait for the broker's acknowledgements (acks=all) and classify what failed
      Map<Long, String> rejected = new HashMap<>();
      DeliveryResult retry = null;
      for (Map.Entry<Long, CompletableFuture<Void>> a : acks.entrySet()) {
        try {
          a.getValue().get(settings.timeoutMs() + 5_000L, TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.ExecutionException x) {
          Throwable cause = x.getCause();
          if (cause instanceof RecordTooLargeException) {
            rejected.put(a.getKey(), "kafka: " + cause.getMessage());
          } else {
            DeliveryResult r = classify(cause, events.size());
            if (r instanceof DeliveryResult.Rejected && !(cause instanceof AuthorizationException
                || cause instanceof AuthenticationException)) {
              rejected.put(a.getKey(), ((DeliveryResult.Rejected) r).error());
            } else if (retry == null || r instanceof DeliveryResult.Rejected) {
              retry = r;
            }
          }
        } catch (java.util.concurrent.TimeoutException x) {
          retry = retry != null ? retry : new DeliveryResult.Retryable("kafka: no acknowledgement within "
              + settings.timeoutMs() + " ms", null, false);
        } catch (InterruptedException x) {
          Thread.currentThread().interrupt();
          retry = new DeliveryResult.Retryable("kafka: interrupted", null, false);
        }
      }
      if (retry != null) {
        return retry; // a retriable error (or an authorization failure) is the whole request's
      }
      if (rejected.isEmpty()) {
        return DeliveryResult.DELIVERED;
      }
      return rejected.size() == events.size() ? new DeliveryResult.Rejected(rejected.values().iterator().next())
          : new DeliveryResult.Partial(rejected);
    }

    /** A Kafka failure: retriable errors and timeouts are retried, anything else is permanent. */
    static DeliveryResult classify(Throwable e, int events) {
      if (e instanceof java.util.concurrent.ExecutionException && e.getCause() != null) {
        e = e.getCause();
      }
      String error = "kafka: " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage());
      if (e instanceof RetriableException || e instanceof org.apache.kafka.common.errors.TimeoutException
          || e instanceof java.net.UnknownHostException || e instanceof org.apache.kafka.common.errors.DisconnectException) {
        return new DeliveryResult.Retryable(error, null, false);
      }
      if (e instanceof AuthorizationException || e instanceof AuthenticationException
          || e instanceof RecordTooLargeException || e instanceof org.apache.kafka.common.errors.InvalidTopicException
          || e instanceof org.apache.kafka.common.errors.SerializationException) {
        return new DeliveryResult.Rejected(error);
      }
      // unknown: retried (the router aborts after maxAttempts and maxWindowSeconds)
      return new DeliveryResult.Retryable(error, null, false);
    }

    @Override
    public Future<Void> close() {
      KafkaProducer<String, byte[]> p;
      synchronized (this) {
        p = producer;
        producer = null;
      }
      if (p == null) {
        return Future.succeededFuture();
      }
      return vertx.executeBlocking(() -> {
        p.close(java.time.Duration.ofSeconds(5));
        return null;
      }, false);
    }
  }
}
