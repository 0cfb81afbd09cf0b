package io.eventpipe.gateway.http;

import static io.eventpipe.testing.Waiting.await;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.workspace.RateLimit;
import io.eventpipe.workspace.Source;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.workspace.WriteKeys;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Partitioner;
import io.eventpipe.testing.PgDatabase;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.zip.GZIPOutputStream;

/**
 * Real {@link GatewayServer}s on 127.0.0.1 (port 0) storing into jobsdb on a test database through
 * {@link JobsDbTestSink}, with an HTTP client, a reader of the stored jobs, and bounded waits.
 */
final class GatewayFixture implements AutoCloseable {

  static final String WEB_KEY = "wk-web-2x9Lk7Qp";
  static final String OFF_KEY = "wk-off-8Hn3Ra1c";
  static final String LIMITED_KEY = "wk-lim-5Tz0Wm4e";
  static final String PER_KEY_KEY = "wk-key-3Jd8Vb2n";
  /** Webhook sources: Stripe's and GitHub's shapes, and a generic one with configured fields. */
  static final String STRIPE_KEY = "wk-stripe-7Yc2Pd9s";
  static final String GITHUB_KEY = "wk-github-4Fh6Lq1x";
  static final String HOOK_KEY = "wk-hook-9Rb5Ne3k";
  /** Webhook sources that verify signatures, with their signing secrets. */
  static final String STRIPE_SIGNED_KEY = "wk-stripe-s-2Kq7Wd4m";
  static final String STRIPE_SECRET = "whsec_test_5Ybq0kV3f8Jd2Lw9";
  static final String GITHUB_SIGNED_KEY = "wk-github-s-8Tn3Rx6p";
  static final String GITHUB_SECRET = "It's a Secret to Everybody";
  /** Every request's receivedAt: the servers run on a fixed clock, so enriched payloads are exact. */
  static final Instant RECEIVED = Instant.parse("2026-03-01T10:00:00.250Z");
  static final String RECEIVED_TEXT = "2026-03-01T10:00:00.250Z";
  static final Partitioner PARTITIONER = Partitioner.of(1024);

  /**
   * web (enabled), off (disabled), limited (3 events, then about one per 1000 s), perkey (no source limit to speak of,
   * one event per key, then about one per 1000 s).
   */
  static final WorkspaceConfig WORKSPACE = WorkspaceConfig.of(List.of(
      Source.of("web", WEB_KEY),
      new Source("off", "Disabled", OFF_KEY, false, null, null),
      new Source("limited", "Limited", LIMITED_KEY, true, new RateLimit(0.001, 3), null),
      new Source("perkey", "Per key", PER_KEY_KEY, true, new RateLimit(1e6, 1e6, 0.001), null),
      new Source("stripe", "Stripe", STRIPE_KEY, true, null, Map.of("webhook", Map.of("shape", "stripe"))),
      new Source("github", "GitHub", GITHUB_KEY, true, null, Map.of("webhook", Map.of("shape", "github"))),
      new Source("hooks", "Generic webhook", HOOK_KEY, true, null, Map.of("webhook", Map.of(
          "eventName", "action", "routingKey", List.of("account.id", "header:X-Account"), "messageId", "delivery"))),
      new Source("stripe-signed", "Stripe, signed", STRIPE_SIGNED_KEY, true, null, Map.of("webhook", Map.of("shape",
          "stripe", "signingSecret", STRIPE_SECRET, "toleranceSeconds", 300))),
      new Source("github-signed", "GitHub, signed", GITHUB_SIGNED_KEY, true, null, Map.of("webhook", Map.of("shape",
          "github", "signingSecret", GITHUB_SECRET)))),
      List.of());

  /** One stored job, read back with JDBC. */
  record StoredJob(long jobId, int partitionId, String routingKey, String sourceId, String messageId, byte[] payload) {
    String payloadString() {
      return new String(payload, StandardCharsets.UTF_8);
    }

    JsonObject json() {
      return new JsonObject(payloadString());
    }
  }

  /** An HTTP answer. */
  /** Fails naming the status and the body when {@code r} did not answer {@code status}. */
  static void assertStatus(int status, Reply r) {
    org.junit.jupiter.api.Assertions.assertEquals(status, r.status(),
        () -> "expected " + status + ", got " + r.status() + ": " + r.text());
  }

  record Reply(int status, MultiMap headers, Buffer body) {
    String header(String name) {
      return headers.get(name);
    }

    JsonObject json() {
      return body.toJsonObject();
    }

    String text() {
      return body.toString(StandardCharsets.UTF_8);
    }
  }

  final Vertx vertx = Vertx.vertx();
  final PgDatabase db;
  final Pool pool;
  final JobsDb queue;
  final WorkspaceConfigStore config = WorkspaceConfigStore.fixed(WORKSPACE);
  final HttpClient http;
  private final List<GatewayServer> servers = new ArrayList<>();

  GatewayFixture(PgDatabase db) {
    this.db = db;
    PgConfig pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    this.pool = pg.createPool(vertx, 8);
    this.queue = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults("gw"), new SimpleMeterRegistry()));
    this.http = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true), new PoolOptions().setHttp1MaxSize(32));
  }

  static GatewayOptions options() {
    return GatewayOptions.defaults(0).withHost("127.0.0.1");
  }

  JobsDbTestSink sink() {
    return new JobsDbTestSink(vertx, queue, PARTITIONER);
  }

  /** Starts a server; returns its port. */
  int start(GatewayOptions options, JobsDbTestSink sink, MeterRegistry registry) {
    GatewayServer server = new GatewayServer(vertx, options, config,
        EventParser.builder().maxRequestBytes(options.maxRequestBytes()).build(), sink,
        Clock.fixed(RECEIVED, ZoneOffset.UTC), registry);
    int port = await(server.start());
    servers.add(server);
    return port;
  }

  // ------------------------------------------------------------------------------------------------ HTTP

  Reply send(int port, HttpMethod method, String uri, Map<String, String> headers, Buffer body) {
    return await(sendAsync(port, method, uri, headers, body));
  }

  Future<Reply> sendAsync(int port, HttpMethod method, String uri, Map<String, String> headers, Buffer body) {
    RequestOptions ro = new RequestOptions().setMethod(method).setHost("127.0.0.1").setPort(port).setURI(uri);
    // the body handler must be set in the same callback that gets the response, or a small body can be missed
    return http.request(ro).compose(req -> {
      headers.forEach(req::putHeader);
      return (body == null ? req.send() : req.send(body))
          .compose(res -> res.body().map(b -> new Reply(res.statusCode(), res.headers(), b)));
    });
  }

  /** POST with the write key as HTTP Basic username, as the SDKs send it. */
  Reply post(int port, String path, String json) {
    return send(port, HttpMethod.POST, path, Map.of("Authorization", WriteKeys.basicAuthHeader(WEB_KEY),
        "Content-Type", "application/json"), Buffer.buffer(json));
  }

  Future<Reply> postAsync(int port, String path, String json) {
    return sendAsync(port, HttpMethod.POST, path, Map.of("Authorization", WriteKeys.basicAuthHeader(WEB_KEY),
        "Content-Type", "application/json"), Buffer.buffer(json));
  }

  Reply get(int port, String uri) {
    return send(port, HttpMethod.GET, uri, Map.of(), null);
  }

  /** Reads one HTTP/1.1 response with a Content-Length body from a raw socket. */
  static String readResponse(InputStream in) throws IOException {
    return io.eventpipe.testing.RawHttp.readResponse(in);
  }

  static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(data);
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return out.toByteArray();
  }

  // ------------------------------------------------------------------------------------------------ storage

  /** Jobs whose routing key starts with {@code prefix}, in job id (store) order. */
  List<StoredJob> storedWithKeyPrefix(String prefix) {
    return query("WHERE routing_key LIKE ? ORDER BY job_id", prefix.replace("_", "\\_") + "%");
  }

  /** Jobs with this messageId, in job id order. */
  List<StoredJob> storedWithMessageId(String messageId) {
    return query("WHERE message_id = ? ORDER BY job_id", messageId);
  }

  private List<StoredJob> query(String where, String arg) {
    try (Connection c = db.connect();
         PreparedStatement ps = c.prepareStatement("SELECT job_id, partition_id, routing_key, source_id, message_id,"
             + " payload FROM jobs_gw.jobs " + where)) {
      ps.setString(1, arg);
      List<StoredJob> out = new ArrayList<>();
      try (ResultSet rs = ps.executeQuery()) {
        while (rs.next()) {
          out.add(new StoredJob(rs.getLong(1), rs.getInt(2), rs.getString(3), rs.getString(4), rs.getString(5),
              rs.getBytes(6)));
        }
      }
      return out;
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  // ------------------------------------------------------------------------------------------------ waiting

  /** Polls {@code condition} every 20 ms for at most {@code seconds}; fails with {@code what} otherwise. */
  static void waitUntil(String what, int seconds, BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out after " + seconds + " s waiting for: " + what);
      }
      Thread.sleep(20);
    }
  }

  @Override
  public void close() {
    for (GatewayServer s : servers) {
      await(s.stop(1000));
    }
    await(http.close());
    await(queue.shutdown());
    await(pool.close());
    await(vertx.close());
  }
}
