package io.eventpipe.destinations.s3;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.adobe.testing.s3mock.S3MockApplication;
import io.eventpipe.destinations.DeliveryMode;
import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationTypes;
import io.eventpipe.destinations.Event;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.sql.Connection;
import java.sql.Statement;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.S3Object;

/**
 * The s3 destination against S3Mock in this JVM, with its batches recorded in a real PostgreSQL (the jobsdb schema,
 * migration V8).
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class S3DestinationTest {

  static final EgressPolicy LOOPBACK = EgressPolicy.of(List.of("127.0.0.0/8"), List.of());
  static final Clock CLOCK = Clock.fixed(Instant.parse("2026-12-02T13:45:00Z"), ZoneOffset.UTC);

  private S3MockApplication s3mock;
  private S3Client s3;
  private Vertx vertx;
  private Pool pool;
  private PgDatabase db;
  private String schema;
  private String endpoint;

  @BeforeAll
  void start(PgDatabase db) throws Exception {
    this.db = db;
    long t0 = System.nanoTime();
    s3mock = S3MockApplication.start(new HashMap<>(Map.of(S3MockApplication.PROP_HTTP_PORT, S3MockApplication.RANDOM_PORT,
        S3MockApplication.PROP_HTTPS_PORT, S3MockApplication.RANDOM_PORT,
        S3MockApplication.PROP_INITIAL_BUCKETS, "lake",
        S3MockApplication.PROP_ROOT_DIRECTORY, Files.createTempDirectory("s3mock").toString(),
        S3MockApplication.PROP_SILENT, true)));
    endpoint = "http://127.0.0.1:" + s3mock.getHttpPort();
    System.out.printf("S3Mock ready in %.1f s at %s%n", (System.nanoTime() - t0) / 1e9, endpoint);
    s3 = S3Client.builder().httpClient(UrlConnectionHttpClient.create()).region(Region.US_EAST_1)
        .credentialsProvider(StaticCredentialsProvider.create(AwsBasicCredentials.create("k", "s")))
        .endpointOverride(URI.create(endpoint)).forcePathStyle(true).build();
    s3.listObjectsV2(b -> b.bucket("lake")); // S3Mock answers its first request slowly (Spring's lazy start)
    vertx = Vertx.vertx();
    PgConfig pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    pool = pg.createPool(vertx, 4);
    JobsDbOptions options = JobsDbOptions.defaults("s3test_rt");
    schema = options.schema();
    JobsDb rt = JobsDb.open(vertx, pg, pool, options, new SimpleMeterRegistry()).toCompletionStage()
        .toCompletableFuture().get(60, TimeUnit.SECONDS);
    rt.close();
  }

  @AfterAll
  void stop() throws Exception {
    if (s3 != null) {
      s3.close();
    }
    if (s3mock != null) {
      s3mock.stop();
    }
    if (vertx != null) {
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private Map<String, Object> config(String prefix) {
    return Map.of("bucket", "lake", "prefix", prefix, "endpoint", endpoint, "accessKeyId", "k", "secretAccessKey", "s",
        "timeoutMs", 30000);
  }

  private DestinationClient client(String id, Map<String, Object> config) {
    return new S3Destination().open(new DestinationContext(vertx, new Destination(id, "s3", true, List.of(), config), 4,
        LOOPBACK, CLOCK, Map.of(S3Destination.POOL_SERVICE, pool, S3Destination.SCHEMA_SERVICE, schema)));
  }

  static Event event(long id, String user, int seq) {
    String json = "{\"type\":\"track\",\"messageId\":\"" + user + "-" + seq + "\",\"anonymousId\":\"" + user
        + "\",\"properties\":{\"seq\":" + seq + "}}";
    return new Event(id, 0, user, "web", "d", user + "-" + seq, Instant.EPOCH, json.getBytes(StandardCharsets.UTF_8), 0);
  }

  private static <T> T await(Future<T> f) throws Exception {
    return f.toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
  }

  private List<S3Object> objects(String prefix) {
    return s3.listObjectsV2(b -> b.bucket("lake").prefix(prefix)).contents();
  }

  private byte[] raw(String key) {
    return s3.getObjectAsBytes(b -> b.bucket("lake").key(key)).asByteArray();
  }

  private static List<String> lines(byte[] gz) throws IOException {
    try (GZIPInputStream in = new GZIPInputStream(new ByteArrayInputStream(gz))) {
      String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
      return text.isEmpty() ? List.of() : List.of(text.split("\n"));
    }
  }

  /** Every event in every object under {@code prefix}: messageId -> how many times. */
  private Map<String, Integer> counts(String prefix) throws IOException {
    Map<String, Integer> n = new HashMap<>();
    for (S3Object o : objects(prefix)) {
      for (String line : lines(raw(o.key()))) {
        n.merge(line.replaceAll(".*\"messageId\":\"([^\"]+)\".*", "$1"), 1, Integer::sum);
      }
    }
    return n;
  }

  private void sql(String statement) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement()) {
      s.execute(statement);
    }
  }

  @Test
  void isAStagedTypeFoundByName() {
    assertEquals(DeliveryMode.STAGED, DestinationTypes.installed().get("s3").orElseThrow().mode());
  }

  @Test
  void aBatchIsOneGzippedNdjsonObjectUnderATimePartitionWithEachUsersEventsInOrder() throws Exception {
    DestinationClient client = client("lake1", config("p1"));
    try {
      List<Event> batch = new ArrayList<>();
      long id = 100;
      for (int s = 1; s <= 3; s++) {
        for (String u : List.of("a", "b", "c")) {
          batch.add(event(++id, u, s));
        }
      }
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(batch, "node-1")));
      List<S3Object> objects = objects("p1/");
      assertEquals(1, objects.size());
      assertEquals("p1/dt=2026-12-02/hour=13/node-1-101-109-9.ndjson.gz", objects.get(0).key());
      List<String> lines = lines(raw(objects.get(0).key()));
      assertEquals(9, lines.size());
      List<String> ids = lines.stream().map(l -> l.replaceAll(".*\"messageId\":\"([^\"]+)\".*", "$1")).toList();
      assertEquals(List.of("a-1", "a-2", "a-3", "b-1", "b-2", "b-3", "c-1", "c-2", "c-3"), ids);
    } finally {
      await(client.close());
    }
  }

  @Test
  void aCrashBetweenRecordAndUploadLeavesNoDuplicateAndNoLoss() throws Exception {
    // 1. S3 refuses (the endpoint is unreachable): the batch is recorded, its upload fails, the client is thrown away
    //    as a crashed process would be (it kept nothing in memory that matters)
    Map<String, Object> down = new HashMap<>(config("p2"));
    down.put("endpoint", "http://127.0.0.1:1");
    down.put("timeoutMs", 2000);
    DestinationClient crashed = client("lake2", down);
    List<Event> first = List.of(event(1, "a", 1), event(2, "b", 1), event(3, "a", 2), event(4, "b", 2));
    DeliveryResult r = await(crashed.deliver(first, "node-1"));
    assertInstanceOf(DeliveryResult.Retryable.class, r, r.toString());
    await(crashed.close());
    assertEquals(0, objects("p2/").size());

    // 2. the restarted node reads the jobs again, grouped differently, with new ones: the recorded batch is uploaded
    //    as it was fixed (its key, its bytes), the new jobs go into a batch of their own
    DestinationClient restarted = client("lake2", config("p2"));
    try {
      assertSame(DeliveryResult.DELIVERED, await(restarted.deliver(List.of(event(1, "a", 1), event(3, "a", 2),
          event(5, "a", 3)), "node-1")));
      assertSame(DeliveryResult.DELIVERED, await(restarted.deliver(List.of(event(2, "b", 1), event(4, "b", 2),
          event(6, "b", 3)), "node-1")));
      List<String> keys = objects("p2/").stream().map(S3Object::key).sorted().toList();
      assertEquals(List.of("p2/dt=2026-12-02/hour=13/node-1-1-4-4.ndjson.gz", "p2/dt=2026-12-02/hour=13/node-1-5-5-1.ndjson.gz",
          "p2/dt=2026-12-02/hour=13/node-1-6-6-1.ndjson.gz"), keys);
      assertArrayEquals(S3Destination.content(first), raw(keys.get(0)), "the recorded content, byte for byte");
      Map<String, Integer> expected = new HashMap<>();
      for (String m : List.of("a-1", "a-2", "a-3", "b-1", "b-2", "b-3")) {
        expected.put(m, 1);
      }
      assertEquals(expected, counts("p2/"), "every event exactly once");

      // 3. a crash after the upload but before it was marked: the retry writes the same object with the same content
      sql("UPDATE " + schema + ".staged_batches SET uploaded_at = NULL, content = '"
          + "\\x" + hex(S3Destination.content(first)) + "' WHERE destination_id = 'lake2' AND first_job_id = 1");
      assertSame(DeliveryResult.DELIVERED, await(restarted.deliver(first, "node-1")));
      assertEquals(keys, objects("p2/").stream().map(S3Object::key).sorted().toList());
      assertEquals(expected, counts("p2/"), "still every event exactly once");
      // and jobs of an uploaded batch that come again are delivered without another object
      assertSame(DeliveryResult.DELIVERED, await(restarted.deliver(List.of(event(5, "a", 3)), "node-1")));
      assertEquals(3, objects("p2/").size());
    } finally {
      await(restarted.close());
    }
  }

  @Test
  void oldBatchRecordsAreDeleted() throws Exception {
    sql("INSERT INTO " + schema + ".staged_batches (destination_id, object_key, job_ids, first_job_id, last_job_id, events,"
        + " created_at, uploaded_at) VALUES"
        + " ('lake4', 'old', '{900}', 900, 900, 1, now() - interval '2 hours', now() - interval '2 hours'),"
        + " ('lake4', 'stuck', '{901}', 901, 901, 1, now() - interval '8 days', NULL),"
        + " ('lake4', 'recent', '{902}', 902, 902, 1, now() - interval '10 minutes', now() - interval '10 minutes'),"
        + " ('lake4', 'waiting', '{904}', 904, 904, 1, now() - interval '1 day', NULL)");
    DestinationClient client = client("lake4", config("p4"));
    try {
      assertSame(DeliveryResult.DELIVERED, await(client.deliver(List.of(event(903, "a", 1)), null)));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
      List<String> keys;
      do {
        keys = new ArrayList<>();
        try (Connection c = db.connect(); Statement s = c.createStatement();
            java.sql.ResultSet rs = s.executeQuery("SELECT object_key FROM " + schema
                + ".staged_batches WHERE destination_id = 'lake4' ORDER BY object_key")) {
          while (rs.next()) {
            keys.add(rs.getString(1));
          }
        }
      } while (keys.size() != 3 && System.nanoTime() < deadline && sleep());
      assertEquals(3, keys.size(), keys.toString());
      assertTrue(keys.contains("recent") && keys.contains("waiting"), keys.toString());
    } finally {
      await(client.close());
    }
  }

  private static boolean sleep() throws InterruptedException {
    Thread.sleep(50);
    return true;
  }

  @Test
  void aMissingBucketIsPermanent() throws Exception {
    Map<String, Object> noBucket = new HashMap<>(config("p3"));
    noBucket.put("bucket", "no-such-bucket");
    DestinationClient client = client("lake3", noBucket);
    try {
      DeliveryResult r = await(client.deliver(List.of(event(50, "a", 1)), null));
      DeliveryResult.Rejected rejected = assertInstanceOf(DeliveryResult.Rejected.class, r);
      assertTrue(rejected.error().startsWith("s3: HTTP 404"), rejected.error());
    } finally {
      await(client.close());
    }
  }

  @Test
  void everyBadFieldIsNamedAndTheEgressPolicyAppliesToTheEndpoint() {
    Destination d = new Destination("lake", "s3", true, List.of(), Map.of("bucket", "Bad_Bucket", "prefix", "/abs",
        "region", "EU WEST", "endpoint", "ftp://x", "accessKeyId", "k", "timeoutMs", 1, "batch", Map.of("maxEvents", 0)));
    ConfigReader reader = ConfigReader.of(d);
    new S3Destination().validate(reader, LOOPBACK);
    List<String> p = reader.problems();
    assertEquals(7, p.size(), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[lake].config.bucket: 'Bad_Bucket' is not an S3 bucket name")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[lake].config.prefix: '/abs' is not a key prefix")), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[lake].config.region: 'EU WEST' is not a region name")), p.toString());
    assertTrue(p.contains("destinations[lake].config.endpoint: must be an absolute http or https URL with a host, got 'ftp://x'"), p.toString());
    assertTrue(p.stream().anyMatch(s -> s.startsWith("destinations[lake].config.secretAccessKey: missing")), p.toString());
    assertTrue(p.contains("destinations[lake].config.timeoutMs: must be in 1000..600000, got 1"), p.toString());
    assertTrue(p.contains("destinations[lake].config.batch.maxEvents: must be in 1..100000, got 0"), p.toString());

    ConfigReader denied = ConfigReader.of(new Destination("lake", "s3", true, List.of(),
        Map.of("bucket", "lake", "endpoint", "http://169.254.169.254/")));
    new S3Destination().validate(denied, EgressPolicy.defaults());
    assertEquals(1, denied.problems().size(), denied.problems().toString());
    assertTrue(denied.problems().get(0).startsWith("destinations[lake].config.endpoint: the egress policy denies 169.254.169.254"));
  }

  private static String hex(byte[] b) {
    StringBuilder sb = new StringBuilder();
    for (byte x : b) {
      sb.append(String.format("%02x", x));
    }
    return sb.toString();
  }
}
