package io.eventpipe.launcher;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.adobe.testing.s3mock.S3MockApplication;
import io.eventpipe.destinations.kafka.KRaftBroker;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.CleanupMode;
import org.junit.jupiter.api.io.TempDir;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * Every integration but the webhook through a real node process ({@code pipeline node}) killed with SIGKILL while it delivers
 * batches, then restarted on the same database (issue 18: "no duplicate after a kill -9 mid-batch beyond
 * at-least-once"):
 * <ul>
 *   <li>{@code postgres} (a fresh warehouse database of the fixture): every acknowledged event is a row exactly once
 *       (the table's key is the messageId, inserts are {@code ON CONFLICT DO NOTHING}), with its seq;</li>
 *   <li>{@code s3} (S3Mock in this JVM): every acknowledged event is in an object, in exactly one object, and each
 *       object holds each user's events in order. The design promises exactly one object, not only at-least-once,
 *       on one node: a batch is recorded (jobs, key, bytes) in the node's database before its upload, so the upload
 *       retried after the crash writes the same key with the same bytes, and jobs of a batch marked uploaded are not
 *       uploaded again. The one documented exception (a partition moved to another node by a migration after such a
 *       crash) has no migration here, so a job in two objects fails this test.</li>
 *   <li>{@code kafka} (a KRaft broker in this JVM, destinations-kafka's {@code KRaftBroker}): every event is a record,
 *       each user's records in one partition (keyed by the user), the first copy of each in the user's order, and a
 *       record twice only across the kill (the copy the killed node produced and did not record, produced again by the
 *       restarted node): at-least-once, nothing more;</li>
 *   <li>{@code amplitude} and {@code mixpanel} (local endpoints in this JVM, {@link VendorRecorder}): the same, by
 *       arrival, and a repeat carries the insert id of its first copy, so the vendor drops it.</li>
 * </ul>
 */
class DestinationKillTest {

  private static final String WRITE_KEY = "kill9-test-write-key";
  private static final String TOKEN = "kill9-test-token-0123456789abcdef";
  private static final int USERS = 50;
  private static final int PER_USER = 60;
  private static final int PER_REQUEST = 5;
  private static final String PREFIX = "kill";
  private static final String TOPIC = "kill.events";
  private static final int WARM_UP = 10;

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
  private S3MockApplication s3mock;
  private S3Client s3;
  private Process process;
  private VendorRecorder amplitude;
  private VendorRecorder mixpanel;

  @AfterEach
  void stop() throws Exception {
    if (process != null && process.isAlive()) {
      process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    }
    if (s3 != null) {
      s3.close();
    }
    if (s3mock != null) {
      s3mock.stop();
    }
    for (VendorRecorder v : new VendorRecorder[] {amplitude, mixpanel}) {
      if (v != null) {
        v.close();
      }
    }
  }

  @Test
  void killNineWhileBatchesAreDeliveredLosesNothingAndRepeatsOnlyWhatWasInFlight(
      @TempDir(cleanup = CleanupMode.ON_SUCCESS) Path dir) throws Exception {
    long t0 = System.nanoTime();
    System.out.println("node logs (kept when the test fails): " + dir);
    amplitude = new VendorRecorder(true);
    mixpanel = new VendorRecorder(false);
    PgDatabase nodeDb = PgServer.get().createDatabase("kill9_node");
    PgDatabase warehouse = PgServer.get().createDatabase("kill9_wh");
    int s3Port = freePort();
    String endpoint = "http://127.0.0.1:" + s3Port;
    int port = freePort();
    int adminPort = freePort();

    // S3Mock (Spring Boot, slow to start) starts beside the broker, then beside the node process (which needs the
    // broker's address); nothing is sent before all are up
    Path s3Root = Files.createDirectories(dir.resolve("s3mock"));
    CompletableFuture<S3MockApplication> s3mockStart = CompletableFuture.supplyAsync(() -> S3MockApplication.start(
        new HashMap<>(Map.of(S3MockApplication.PROP_HTTP_PORT, s3Port,
            S3MockApplication.PROP_HTTPS_PORT, S3MockApplication.RANDOM_PORT,
            S3MockApplication.PROP_INITIAL_BUCKETS, "lake",
            S3MockApplication.PROP_ROOT_DIRECTORY, s3Root.toString(),
            S3MockApplication.PROP_SILENT, true))));
    KRaftBroker broker = KRaftBroker.shared();
    Path workspace = workspace(dir, warehouse, endpoint, broker.bootstrapServers());
    process = startNode(nodeDb, workspace, port, adminPort, dir.resolve("node-1.log"));
    s3mock = s3mockStart.get(120, TimeUnit.SECONDS);
    s3 = S3Client.builder().httpClient(UrlConnectionHttpClient.create()).region(Region.US_EAST_1)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("k", "s")))
        .endpointOverride(URI.create(endpoint)).forcePathStyle(true).build();
    s3.listObjectsV2(b -> b.bucket("lake")); // S3Mock answers its first request slowly
    System.out.printf("S3Mock ready after %.1f s%n", (System.nanoTime() - t0) / 1e9);
    eventually("the node is up", () -> healthy(port), () -> tail(dir.resolve("node-1.log")));
    System.out.printf("node process ready after %.1f s%n", (System.nanoTime() - t0) / 1e9);

    // 50 users send concurrently, each user's events one after another (seq 1..60 in properties): first a wave of
    // WARM_UP events each, which every destination takes whole (its client open, kafka's topic created), then the rest
    Map<String, Integer> acked = new ConcurrentHashMap<>();
    ExecutorService threads = Executors.newFixedThreadPool(USERS);
    List<CompletableFuture<Void>> senders = new ArrayList<>();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      senders.add(CompletableFuture.runAsync(() -> sendFrom(port, user, 1, WARM_UP, acked), threads));
    }
    CompletableFuture.allOf(senders.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    long warm = (long) USERS * WARM_UP;
    assertEquals(warm, acked.values().stream().mapToInt(Integer::intValue).sum(), "the first wave acknowledged");
    eventually("every destination took the first wave", () -> counts(warehouse, broker).values().stream().allMatch(n -> n >= warm),
        () -> counts(warehouse, broker) + "\n" + tail(dir.resolve("node-1.log")));
    System.out.printf("the first wave everywhere after %.1f s%n", (System.nanoTime() - t0) / 1e9);
    senders.clear();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      senders.add(CompletableFuture.runAsync(() -> sendFrom(port, user, WARM_UP + 1, PER_USER, acked), threads));
    }
    // kill -9 once every destination holds batches of the second wave
    eventually("every destination received batches of the second wave",
        () -> counts(warehouse, broker).values().stream().allMatch(n -> n > warm));
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
    amplitude.phase = 1;
    mixpanel.phase = 1;
    Thread.sleep(300); // a produce request the broker had read whole before the kill is appended by now
    Map<TopicPartition, Long> kafkaAtKill = broker.endOffsets(TOPIC);
    long rowsAtKill = warehouseRows(warehouse);
    long objectEventsAtKill = objectEvents();
    CompletableFuture.allOf(senders.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    int ackedAtKill = acked.values().stream().mapToInt(Integer::intValue).sum();
    Map<String, Boolean> batchesAtKill = recordedBatches(nodeDb);
    Set<String> keysAtKill = objects().stream().map(S3Object::key).collect(java.util.stream.Collectors.toSet());
    // the crash windows the batch record exists for: recorded and not uploaded, uploaded and not marked
    System.out.printf("kill -9 with %d events acknowledged, %d rows in the warehouse, %d events in objects, %d records in"
            + " kafka, %d and %d events at amplitude and mixpanel, %d s3 batches recorded, %d of them not marked uploaded, %d"
            + " of those already in the bucket%n", ackedAtKill, rowsAtKill, objectEventsAtKill,
        kafkaAtKill.values().stream().mapToLong(Long::longValue).sum(), amplitude.copies().size(), mixpanel.copies().size(), batchesAtKill.size(), batchesAtKill.values().stream().filter(u -> !u).count(),
        batchesAtKill.entrySet().stream().filter(e -> !e.getValue() && keysAtKill.contains(e.getKey())).count());
    assertTrue(rowsAtKill < ackedAtKill && objectEventsAtKill < ackedAtKill,
        "the kill came while batches were still to deliver: acknowledged " + ackedAtKill + ", rows " + rowsAtKill
            + ", in objects " + objectEventsAtKill);

    long t2 = System.nanoTime();
    process = startNode(nodeDb, workspace, port, adminPort, dir.resolve("node-2.log"));
    eventually("the node is up again", () -> healthy(port), () -> tail(dir.resolve("node-2.log")));
    System.out.printf("node process ready again in %.1f s%n", (System.nanoTime() - t2) / 1e9);
    long t3 = System.nanoTime();
    // what the first run did not acknowledge, an SDK sends again, with the same messageIds
    senders.clear();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      int from = acked.getOrDefault(user, 0) + 1;
      senders.add(CompletableFuture.runAsync(() -> sendFrom(port, user, from, PER_USER, acked), threads));
    }
    CompletableFuture.allOf(senders.toArray(CompletableFuture[]::new)).get(120, TimeUnit.SECONDS);
    threads.shutdown();
    for (int u = 0; u < USERS; u++) {
      assertEquals(PER_USER, acked.getOrDefault("user-" + u, 0), "the restarted node acknowledged every event of user-" + u);
    }
    long total = (long) USERS * PER_USER;
    eventually("every event reached every destination",
        () -> warehouseRows(warehouse) >= total && objectEvents() >= total && amplitude.distinctInsertIds() >= total
            && mixpanel.distinctInsertIds() >= total
            && broker.endOffsets(TOPIC).values().stream().mapToLong(Long::longValue).sum() >= total,
        () -> "rows " + warehouseRows(warehouse) + ", in objects " + objectEvents() + ", kafka " + broker.endOffsets(TOPIC)
            + ", amplitude " + amplitude.distinctInsertIds() + ", mixpanel " + mixpanel.distinctInsertIds() + " of " + total + "\n"
            + tail(dir.resolve("node-1.log")) + "\n---\n" + tail(dir.resolve("node-2.log")));

    System.out.printf("the rest sent and everything delivered in %.1f s%n", (System.nanoTime() - t3) / 1e9);
    assertWarehouse(warehouse);
    assertObjects();
    assertKafka(broker, kafkaAtKill);
    for (VendorRecorder v : List.of(amplitude, mixpanel)) {
      assertEquals(List.of(), v.anomalies(USERS, PER_USER), v.name() + ": every event, in order, repeated only across the kill");
      assertEquals(total, v.distinctInsertIds(), v.name() + ": one insert id per event, the same on a redelivery");
      System.out.printf("%s: %d copies, %d of them repeats across the kill%n", v.name(), v.copies().size(), v.repeats());
    }
    // each object is a batch the node recorded before uploading it, and every recorded batch was uploaded once
    Map<String, Boolean> batches = recordedBatches(nodeDb);
    assertEquals(batches.keySet(), objects().stream().map(S3Object::key).collect(java.util.stream.Collectors.toSet()),
        "the objects are exactly the recorded batches");
    assertTrue(batches.values().stream().allMatch(u -> u), "every recorded batch is marked uploaded: " + batches);
    System.out.printf("the whole test took %.1f s%n", (System.nanoTime() - t0) / 1e9);
  }

  // ------------------------------------------------------------------ assertions

  /** Every event exactly once by messageId, with the seq of its messageId. */
  private static void assertWarehouse(PgDatabase warehouse) throws SQLException {
    Map<String, Long> seqs = new HashMap<>();
    try (Connection c = warehouse.connect(); Statement s = c.createStatement();
         ResultSet r = s.executeQuery("SELECT message_id, user_id, seq FROM events.track")) {
      while (r.next()) {
        String id = r.getString(1);
        assertTrue(seqs.put(id, r.getLong(3)) == null, "a messageId once in the warehouse: " + id);
        assertEquals(id, r.getString(2) + "-" + r.getLong(3), "the row of " + id + " holds its user and seq");
      }
    }
    assertEquals(expectedIds(), seqs.keySet(), "every event is in the warehouse exactly once");
  }

  /** Every event in exactly one object; each object has each user's events in order; the key's count is its lines. */
  private void assertObjects() throws IOException {
    Map<String, String> objectOf = new HashMap<>();
    List<String> twice = new ArrayList<>();
    List<String> disorder = new ArrayList<>();
    for (S3Object o : objects()) {
      List<String> lines = lines(s3.getObjectAsBytes(b -> b.bucket("lake").key(o.key())).asByteArray());
      assertEquals(countInKey(o.key()), lines.size(), "the key of " + o.key() + " names its number of events");
      Map<String, Long> last = new HashMap<>();
      for (String line : lines) {
        JsonObject e = new JsonObject(line);
        String id = e.getString("messageId");
        String user = e.getString("userId");
        long seq = e.getJsonObject("properties").getLong("seq");
        String before = objectOf.put(id, o.key());
        if (before != null) {
          twice.add(id + " in " + before + " and " + o.key());
        }
        Long previous = last.put(user, seq);
        if (previous != null && previous >= seq) {
          disorder.add(user + " #" + seq + " after #" + previous + " in " + o.key());
        }
      }
    }
    assertEquals(List.of(), twice, "no event in two objects (each batch is recorded before its upload)");
    assertEquals(List.of(), disorder, "each user's events in order within each object");
    assertEquals(expectedIds(), objectOf.keySet(), "every event is in an object");
  }

  /**
   * Kafka, partition by partition in offset order: each user's records in one partition; each event there; each user's
   * first copies in order; a record twice only where the killed node had produced it (an offset below the partition's
   * end at the kill) and the restarted node produced it again (an offset at or past it).
   */
  private static void assertKafka(KRaftBroker broker, Map<TopicPartition, Long> atKill) {
    List<ConsumerRecord<String, byte[]>> records = broker.readAll(TOPIC, USERS * PER_USER, Duration.ofSeconds(30));
    Map<String, Integer> partitionOf = new HashMap<>();
    Map<String, Map<Long, Long>> firstOffset = new HashMap<>();
    Map<String, Long> lastFirst = new HashMap<>();
    List<String> anomalies = new ArrayList<>();
    long repeats = 0;
    for (ConsumerRecord<String, byte[]> r : records) {
      String user = r.key();
      JsonObject e = new JsonObject(new String(r.value(), StandardCharsets.UTF_8));
      long seq = e.getJsonObject("properties").getLong("seq");
      String header = new String(r.headers().lastHeader("messageId").value(), StandardCharsets.UTF_8);
      if (!header.equals(user + "-" + seq) || !user.equals(e.getString("userId"))) {
        anomalies.add("record " + r.partition() + "@" + r.offset() + " keyed " + user + " carries " + header);
      }
      if (partitionOf.computeIfAbsent(user, u -> r.partition()) != r.partition()) {
        anomalies.add(user + " in partitions " + partitionOf.get(user) + " and " + r.partition());
      }
      long killOffset = atKill.getOrDefault(new TopicPartition(TOPIC, r.partition()), 0L);
      Long before = firstOffset.computeIfAbsent(user, u -> new HashMap<>()).putIfAbsent(seq, r.offset());
      if (before == null) {
        Long last = lastFirst.put(user, seq);
        if (last != null && last > seq) {
          anomalies.add(user + " #" + seq + " first at offset " + r.offset() + ", after #" + last);
        }
      } else {
        repeats++;
        if (before >= killOffset || r.offset() < killOffset) {
          anomalies.add(user + " #" + seq + " at offsets " + before + " and " + r.offset() + ", not across the kill (end"
              + " offset " + killOffset + ")");
        }
      }
    }
    for (int u = 0; u < USERS; u++) {
      for (long seq = 1; seq <= PER_USER; seq++) {
        if (!firstOffset.getOrDefault("user-" + u, Map.of()).containsKey(seq)) {
          anomalies.add("user-" + u + " #" + seq + " not in kafka");
        }
      }
    }
    assertEquals(List.of(), anomalies, "kafka: every event keyed by its user, in order, repeated only across the kill");
    System.out.printf("kafka: %d records, %d of them repeats across the kill%n", records.size(), repeats);
  }

  private static Set<String> expectedIds() {
    Set<String> ids = new HashSet<>();
    for (int u = 0; u < USERS; u++) {
      for (int seq = 1; seq <= PER_USER; seq++) {
        ids.add("user-" + u + "-" + seq);
      }
    }
    return ids;
  }

  // ------------------------------------------------------------------ destinations

  private static long warehouseRows(PgDatabase warehouse) {
    try (Connection c = warehouse.connect(); Statement s = c.createStatement();
         ResultSet r = s.executeQuery("SELECT count(*) FROM events.track")) {
      r.next();
      return r.getLong(1);
    } catch (SQLException e) {
      return 0; // the table is created with the first batch
    }
  }

  /** The events each destination holds (kafka: records; the vendors: distinct insert ids). */
  private Map<String, Long> counts(PgDatabase warehouse, KRaftBroker broker) {
    return Map.of("postgres", warehouseRows(warehouse), "s3", objectEvents(),
        "kafka", broker.endOffsets(TOPIC).values().stream().mapToLong(Long::longValue).sum(),
        "amplitude", amplitude.distinctInsertIds(), "mixpanel", mixpanel.distinctInsertIds());
  }

  /** The s3 destination's batch records in the node's database (jobsdb V8): object key -> marked uploaded. */
  private static Map<String, Boolean> recordedBatches(PgDatabase nodeDb) throws SQLException {
    Map<String, Boolean> batches = new HashMap<>();
    try (Connection c = nodeDb.connect(); Statement s = c.createStatement()) {
      List<String> tables = new ArrayList<>();
      try (ResultSet r = s.executeQuery("SELECT quote_ident(table_schema) || '.staged_batches' FROM information_schema.tables"
          + " WHERE table_name = 'staged_batches'")) {
        while (r.next()) {
          tables.add(r.getString(1));
        }
      }
      for (String table : tables) {
        try (ResultSet r = s.executeQuery("SELECT object_key, uploaded_at IS NOT NULL FROM " + table
            + " WHERE destination_id = 'lake'")) {
          while (r.next()) {
            batches.put(r.getString(1), r.getBoolean(2));
          }
        }
      }
    }
    return batches;
  }

  private List<S3Object> objects() {
    List<S3Object> all = new ArrayList<>();
    s3.listObjectsV2Paginator(b -> b.bucket("lake").prefix(PREFIX + "/")).contents().forEach(all::add);
    return all;
  }

  /** The events of every object, as their keys count them ({@code <node>-<first>-<last>-<count>.ndjson.gz}). */
  private long objectEvents() {
    return objects().stream().mapToLong(o -> countInKey(o.key())).sum();
  }

  private static int countInKey(String key) {
    String name = key.substring(key.lastIndexOf('-') + 1);
    return Integer.parseInt(name.substring(0, name.indexOf('.')));
  }

  private static List<String> lines(byte[] gz) throws IOException {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
      return new String(in.readAllBytes(), StandardCharsets.UTF_8).lines().filter(l -> !l.isBlank()).toList();
    }
  }

  // ------------------------------------------------------------------ the node

  private Path workspace(Path dir, PgDatabase warehouse, String s3Endpoint, String kafka) throws IOException {
    Path ws = dir.resolve("workspace.yaml");
    Files.writeString(ws, """
        egress: {allow: [127.0.0.0/8, "::1/128"]}
        sources:
          - id: app
            writeKey: %s
        destinations:
          - id: warehouse
            type: postgres
            sources: [app]
            config:
              url: postgresql://%s@%s:%d/%s
              password: %s
              schema: events
              batch: {maxEvents: 100}
          - id: lake
            type: s3
            sources: [app]
            config:
              bucket: lake
              prefix: %s
              endpoint: %s
              accessKeyId: k
              secretAccessKey: s
              batch: {maxEvents: 100}
          - id: stream
            type: kafka
            sources: [app]
            config:
              bootstrapServers: %s
              topic: %s
              batch: {maxEvents: 100}
          - id: product
            type: amplitude
            sources: [app]
            config:
              apiKey: kill-amp-key
              url: %s
              batch: {maxEvents: 100}
          - id: analytics
            type: mixpanel
            sources: [app]
            config:
              token: kill-mp-token
              url: %s
              batch: {maxEvents: 100}
        """.formatted(WRITE_KEY, warehouse.user(), warehouse.host(), warehouse.port(), warehouse.database(),
        warehouse.password(), PREFIX, s3Endpoint, kafka, TOPIC, amplitude.url(), mixpanel.url()));
    return ws;
  }

  private static Process startNode(PgDatabase db, Path workspace, int port, int adminPort, Path log) throws IOException {
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    ProcessBuilder pb = new ProcessBuilder(java, "-Xmx512m", "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"),
        "io.eventpipe.launcher.Main", "node", "--node-id", "0", "--pg-url", db.uri(), "--config", workspace.toString(),
        "--port", String.valueOf(port), "--host", "127.0.0.1", "--admin-port", String.valueOf(adminPort),
        "--admin-host", "127.0.0.1", "--admin-token", TOKEN, "--allow-non-durable-database");
    pb.redirectErrorStream(true).redirectOutput(log.toFile());
    return pb.start();
  }

  /** Sends {@code user}'s events {@code seq} to {@code upTo}, {@value #PER_REQUEST} a request, until one is not acknowledged. */
  private void sendFrom(int port, String user, int seq, int upTo, Map<String, Integer> acked) {
    for (int first = seq; first <= upTo; first += PER_REQUEST) {
      int last = Math.min(upTo, first + PER_REQUEST - 1);
      if (!send(port, user, first, last)) {
        return; // the node died under this request: what was acknowledged stands
      }
      acked.put(user, last);
    }
  }

  private boolean send(int port, String user, int first, int last) {
    StringBuilder body = new StringBuilder("{\"batch\":[");
    for (int seq = first; seq <= last; seq++) {
      body.append(seq == first ? "" : ",").append("{\"type\":\"track\",\"userId\":\"").append(user)
          .append("\",\"event\":\"Step\",\"messageId\":\"").append(user).append('-').append(seq)
          .append("\",\"properties\":{\"seq\":").append(seq).append("}}");
    }
    body.append("]}");
    HttpRequest req = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/batch"))
        .header("Authorization", "Basic " + Base64.getEncoder().encodeToString((WRITE_KEY + ":").getBytes(StandardCharsets.UTF_8)))
        .timeout(Duration.ofSeconds(20))
        .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build();
    try {
      return http.send(req, HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }

  private boolean healthy(int port) {
    try {
      return http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
          HttpResponse.BodyHandlers.ofString()).statusCode() == 200;
    } catch (Exception e) {
      return false;
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return e.toString();
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }
}
