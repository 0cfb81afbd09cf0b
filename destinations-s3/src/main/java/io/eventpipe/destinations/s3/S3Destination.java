package io.eventpipe.destinations.s3;

import io.eventpipe.destinations.DeliveryMode;
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
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.zip.GZIPOutputStream;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.PutObjectRequest;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * The {@code s3} destination type ({@link DeliveryMode#STAGED}): each request of the router becomes one gzipped
 * NDJSON object (one event per line, each user's events together and in order) in an S3-compatible bucket, under a
 * time-partitioned key {@code <prefix>/dt=YYYY-MM-DD/hour=HH/<node>-<first job>-<last job>-<events>.ndjson.gz}.
 *
 * <pre>{@code
 * config:
 *   bucket: events-lake                 # required
 *   prefix: raw/web                     # key prefix (default events)
 *   region: eu-west-1                   # default us-east-1
 *   endpoint: http://minio:9000         # optional: an S3-compatible server (path-style requests)
 *   accessKeyId: ${env:S3_KEY}          # optional, with secretAccessKey; else the AWS default credential chain
 *   secretAccessKey: ${env:S3_SECRET}
 *   timeoutMs: 30000                    # one upload's deadline
 *   batch: {maxEvents: 1000}            # events per object (default 1000)
 * }</pre>
 *
 * <h2>A batch is fixed before its upload</h2>
 * <ol>
 *   <li>The jobs of a request are looked up in the node's {@code staged_batches} table (migration V8 of jobsdb): a job
 *       already in a batch is never put in another one.</li>
 *   <li>A found batch not yet uploaded (a crash or a failure came between its record and its upload) is uploaded
 *       again from what was recorded: the same key and the same bytes, so the retry overwrites the object with
 *       itself. A found batch already uploaded needs nothing: its jobs are delivered.</li>
 *   <li>The request's other jobs become a new batch: its key and gzipped content are inserted (the batch is fixed,
 *       durably) and only then uploaded; once S3 answered 200 the row is marked uploaded and its content dropped.</li>
 * </ol>
 * So an event is in exactly one object whatever crashes or retries, and the router's at-least-once redeliveries never
 * duplicate it. Uploaded rows are deleted after an hour; a job replayed after that is uploaded in a new object.
 *
 * <p>S3 5xx, 429, {@code SlowDown} and network errors are retried by the router; 400, 403 and 404 (no such bucket) are
 * permanent. Egress: an endpoint whose host is an address literal is checked when the config loads; the endpoint's
 * host name is resolved and checked before uploads, at most every {@value #RESOLVE_TTL_MS} ms.
 */
public final class S3Destination implements DestinationType {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(S3Destination.class);

  public static final String NAME = "s3";
  static final Set<String> KEYS = Set.of("bucket", "prefix", "region", "endpoint", "accessKeyId", "secretAccessKey",
      "timeoutMs", "batch");
  /** {@link DestinationContext#services()} keys this type needs: the node's jobsdb pool and its delivery schema. */
  public static final String POOL_SERVICE = "jobsdb.pool";
  public static final String SCHEMA_SERVICE = "jobsdb.schema";
  static final long RESOLVE_TTL_MS = 5_000;
  static final Duration KEEP_UPLOADED = Duration.ofHours(1);
  static final Duration KEEP_UNUPLOADED = Duration.ofDays(7);
  private static final Pattern BUCKET = Pattern.compile("[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]");
  private static final Pattern PREFIX = Pattern.compile("[A-Za-z0-9!_.*'()/=-]*");
  private static final DateTimeFormatter PARTITION = DateTimeFormatter.ofPattern("'dt='yyyy-MM-dd'/hour='HH")
      .withZone(ZoneOffset.UTC);

  record Settings(String bucket, String prefix, String region, URI endpoint, String accessKeyId, String secretAccessKey,
      int timeoutMs, int maxEvents) {

    static Settings read(ConfigReader config, EgressPolicy egress) {
      String bucket = config.string("bucket", null);
      if (bucket == null) {
        if (!config.has("bucket")) {
          config.problem("bucket", "missing: the bucket to write objects to");
        }
      } else if (!BUCKET.matcher(bucket).matches()) {
        config.problem("bucket", "'" + bucket + "' is not an S3 bucket name (3-63 lower-case letters, digits, '.', '-')");
      }
      String prefix = config.string("prefix", "events");
      if (!PREFIX.matcher(prefix).matches() || prefix.startsWith("/") || prefix.contains("//")) {
        config.problem("prefix", "'" + prefix + "' is not a key prefix (letters, digits and !_.*'()/=-, no leading '/')");
      }
      prefix = prefix.endsWith("/") ? prefix.substring(0, prefix.length() - 1) : prefix;
      String region = config.string("region", "us-east-1");
      if (!region.matches("[a-z0-9-]{2,32}")) {
        config.problem("region", "'" + region + "' is not a region name (e.g. eu-west-1)");
      }
      URI endpoint = null;
      String rawEndpoint = config.string("endpoint", null);
      if (rawEndpoint != null) {
        try {
          endpoint = new URI(rawEndpoint);
          String scheme = endpoint.getScheme() == null ? "" : endpoint.getScheme().toLowerCase(java.util.Locale.ROOT);
          if (!(scheme.equals("http") || scheme.equals("https")) || endpoint.getHost() == null) {
            config.problem("endpoint", "must be an absolute http or https URL with a host, got '" + rawEndpoint + "'");
            endpoint = null;
          } else {
            Egress.checkLiteral(config, "endpoint", endpoint.getHost(), egress);
          }
        } catch (java.net.URISyntaxException e) {
          config.problem("endpoint", "not a valid URL: " + e.getMessage());
        }
      }
      String key = config.string("accessKeyId", null);
      String secret = config.string("secretAccessKey", null);
      if ((key == null) != (secret == null)) {
        config.problem(key == null ? "accessKeyId" : "secretAccessKey",
            "missing: accessKeyId and secretAccessKey go together (or leave both out for the default credential chain)");
      }
      int timeoutMs = (int) config.integer("timeoutMs", 30_000, 1_000, 600_000);
      ConfigReader batch = config.child("batch");
      batch.rejectUnknownKeys(Set.of("maxEvents"));
      int maxEvents = (int) batch.integer("maxEvents", 1000, 1, 100_000);
      return new Settings(bucket, prefix, region, endpoint, key, secret, timeoutMs, maxEvents);
    }

    /** The host uploads connect to. */
    String host() {
      return endpoint != null ? endpoint.getHost() : bucket + ".s3." + region + ".amazonaws.com";
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
  public DeliveryMode mode() {
    return DeliveryMode.STAGED;
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
    Object pool = context.services().get(POOL_SERVICE);
    Object schema = context.services().get(SCHEMA_SERVICE);
    return new Client(context.vertx(), settings, context.egress(), context.destination().id(),
        pool instanceof Pool p ? p : null, schema instanceof String s ? s : null, context.clock());
  }

  /** The gzipped NDJSON of {@code events}: each user's events together, in their order; a line per event. */
  static byte[] content(List<Event> events) {
    Map<String, List<Event>> byUser = new LinkedHashMap<>();
    for (Event e : events) {
      byUser.computeIfAbsent(e.routingKey(), k -> new ArrayList<>()).add(e);
    }
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
      for (List<Event> user : byUser.values()) {
        for (Event e : user) {
          gz.write(oneLine(e.payload()));
          gz.write('\n');
        }
      }
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    return bytes.toByteArray();
  }

  /** JSON may hold a line break between tokens (never inside a string): such a payload is written compact. */
  private static byte[] oneLine(byte[] payload) {
    for (byte b : payload) {
      if (b == '\n' || b == '\r') {
        try {
          return MAPPER.writeValueAsBytes(MAPPER.readTree(payload));
        } catch (IOException e) {
          return new String(payload, java.nio.charset.StandardCharsets.UTF_8).replace('\n', ' ').replace('\r', ' ')
              .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        }
      }
    }
    return payload;
  }

  private static final com.fasterxml.jackson.databind.ObjectMapper MAPPER = new com.fasterxml.jackson.databind.ObjectMapper();

  /** A failure that retrying will not fix. */
  static final class Permanent extends RuntimeException {
    private static final long serialVersionUID = 1L;

    Permanent(String message) {
      super(message, null, false, false);
    }
  }

  /** One destination's S3 client and batch records. */
  static final class Client implements DestinationClient {

    private final Vertx vertx;
    private final Settings settings;
    private final EgressPolicy egress;
    private final String destinationId;
    private final Pool pool;
    private final String table;
    private final Clock clock;
    /** Built on first use, on a worker thread: the SDK's client takes seconds to build (never on the event loop). */
    private S3Client s3;
    private boolean closed;
    private volatile long checkedAtMs;
    private volatile boolean checked;
    private long cleanedAtMs;

    Client(Vertx vertx, Settings settings, EgressPolicy egress, String destinationId, Pool pool, String schema,
        Clock clock) {
      this.vertx = vertx;
      this.settings = settings;
      this.egress = egress;
      this.destinationId = destinationId;
      this.pool = pool;
      this.table = schema == null ? "staged_batches" : schema + ".staged_batches";
      this.clock = clock;
    }

    /** The SDK client, built on first use; blocking, so only from a worker thread. */
    private synchronized S3Client s3() {
      if (closed) {
        throw new IllegalStateException("the s3 destination's client is closed");
      }
      if (s3 != null) {
        return s3;
      }
      AwsCredentialsProvider credentials = settings.accessKeyId() != null
          ? StaticCredentialsProvider.create(AwsBasicCredentials.create(settings.accessKeyId(), settings.secretAccessKey()))
          : DefaultCredentialsProvider.builder().build();
      var builder = S3Client.builder()
          .httpClient(UrlConnectionHttpClient.builder()
              .connectionTimeout(Duration.ofMillis(settings.timeoutMs()))
              .socketTimeout(Duration.ofMillis(settings.timeoutMs()))
              .build())
          .region(Region.of(settings.region()))
          .credentialsProvider(credentials)
          .requestChecksumCalculation(software.amazon.awssdk.core.checksums.RequestChecksumCalculation.WHEN_REQUIRED)
          .responseChecksumValidation(software.amazon.awssdk.core.checksums.ResponseChecksumValidation.WHEN_REQUIRED)
          .overrideConfiguration(c -> c.apiCallTimeout(Duration.ofMillis(settings.timeoutMs()))
              .retryStrategy(software.amazon.awssdk.retries.DefaultRetryStrategy.doNotRetry()));
      if (settings.endpoint() != null) {
        builder.endpointOverride(settings.endpoint()).forcePathStyle(true);
      }
      s3 = builder.build();
      return s3;
    }

    @Override
    public int maxEventsPerRequest() {
      return settings.maxEvents();
    }

    /** A recorded batch that holds some of a request's jobs. */
    private record Recorded(String key, Set<Long> jobIds, byte[] content, boolean uploaded) {}

    @Override
    public Future<DeliveryResult> deliver(List<Event> events, String node) {
      if (pool == null) {
        return Future.succeededFuture(new DeliveryResult.Retryable(
            "the s3 destination records its batches in the node's database, which this router was not given", null, false));
      }
      Long[] ids = events.stream().map(Event::jobId).toArray(Long[]::new);
      // 1. the batches that already hold some of these jobs
      return pool.preparedQuery("SELECT object_key, job_ids, content, uploaded_at IS NOT NULL AS uploaded FROM " + table
              + " WHERE destination_id = $1 AND job_ids && $2")
          .execute(Tuple.of(destinationId).addArrayOfLong(ids))
          .compose(rows -> {
            List<Recorded> found = new ArrayList<>();
            Set<Long> covered = new HashSet<>();
            for (Row r : rows) {
              Set<Long> jobIds = new HashSet<>(List.of(r.getArrayOfLongs("job_ids")));
              covered.addAll(jobIds);
              io.vertx.core.buffer.Buffer content = r.getBuffer("content");
              found.add(new Recorded(r.getString("object_key"), jobIds, content == null ? null : content.getBytes(),
                  r.getBoolean("uploaded")));
            }
            List<Event> fresh = new ArrayList<>();
            for (Event e : events) {
              if (!covered.contains(e.jobId())) {
                fresh.add(e);
              }
            }
            // 2. finish the recorded batches not yet uploaded: the same key, the same bytes
            Future<Void> chain = Future.succeededFuture();
            for (Recorded b : found) {
              if (!b.uploaded()) {
                chain = chain.compose(v -> upload(b.key(), b.content()));
              }
            }
            // 3. fix a new batch of the other jobs, then upload it
            if (!fresh.isEmpty()) {
              chain = chain.compose(v -> fix(fresh, node)).compose(b -> upload(b.key(), b.content()));
            }
            return chain;
          })
          .map(v -> (DeliveryResult) DeliveryResult.DELIVERED)
          .recover(e -> Future.succeededFuture(classify(e)))
          .onComplete(ar -> cleanUp());
    }

    /** Records a new batch (its jobs, key and content) before anything is uploaded. */
    private Future<Recorded> fix(List<Event> events, String node) {
      long first = Long.MAX_VALUE;
      long last = Long.MIN_VALUE;
      Long[] ids = new Long[events.size()];
      for (int i = 0; i < events.size(); i++) {
        long id = events.get(i).jobId();
        ids[i] = id;
        first = Math.min(first, id);
        last = Math.max(last, id);
      }
      String name = (node == null ? "node" : node.replaceAll("[^A-Za-z0-9._-]", "_")) + "-" + first + "-" + last + "-"
          + events.size();
      String key = (settings.prefix().isEmpty() ? "" : settings.prefix() + "/") + PARTITION.format(clock.instant()) + "/"
          + name + ".ndjson.gz";
      byte[] content = content(events);
      long f = first;
      long l = last;
      return pool.preparedQuery("INSERT INTO " + table + " (destination_id, object_key, job_ids, first_job_id, "
              + "last_job_id, events, content) VALUES ($1, $2, $3, $4, $5, $6, $7)")
          .execute(Tuple.of(destinationId, key).addArrayOfLong(ids).addLong(f).addLong(l).addInteger(events.size())
              .addBuffer(io.vertx.core.buffer.Buffer.buffer(content)))
          .map(r -> new Recorded(key, Set.of(ids), content, false));
    }

    /** Uploads one recorded batch (blocking S3 call on a worker thread), then marks it uploaded. */
    private Future<Void> upload(String key, byte[] content) {
      return vertx.executeBlocking(() -> {
            long now = System.currentTimeMillis();
            if (!checked || now - checkedAtMs >= RESOLVE_TTL_MS) {
              String denial = Egress.denialBlocking(settings.host(), egress);
              if (denial != null) {
                throw new Permanent(denial);
              }
              checkedAtMs = now;
              checked = true;
            }
            s3().putObject(PutObjectRequest.builder().bucket(settings.bucket()).key(key)
                .contentType("application/x-ndjson").contentEncoding("gzip").build(), RequestBody.fromBytes(content));
            return null;
          }, false)
          .compose(v -> pool.preparedQuery("UPDATE " + table + " SET uploaded_at = now(), content = NULL"
                  + " WHERE destination_id = $1 AND object_key = $2")
              .execute(Tuple.of(destinationId, key)))
          .mapEmpty();
    }

    /**
     * Deletes this destination's batches uploaded more than an hour ago and those never uploaded for a week, at most
     * every ten minutes.
     */
    private void cleanUp() {
      long now = clock.millis();
      if (now - cleanedAtMs < Duration.ofMinutes(10).toMillis()) {
        return;
      }
      cleanedAtMs = now;
      // a batch never uploaded (its jobs were aborted: no such bucket, access denied) holds its content: gone after a
      // week, when its jobs are long aborted (a replay after that makes a new batch; nothing of the old one was written)
      pool.preparedQuery("DELETE FROM " + table + " WHERE destination_id = $1 AND (uploaded_at < now() - make_interval(secs"
              + " => $2) OR uploaded_at IS NULL AND created_at < now() - make_interval(secs => $3))")
          .execute(Tuple.of(destinationId, (double) KEEP_UPLOADED.toSeconds(), (double) KEEP_UNUPLOADED.toSeconds()))
          .onFailure(e -> LOG.warn("Destination {}: deleting old batch records failed: {}", destinationId, e.toString()));
    }

    static DeliveryResult classify(Throwable e) {
      if (e instanceof Permanent || e instanceof Egress.DeniedException) {
        return new DeliveryResult.Rejected(e.getMessage());
      }
      if (e instanceof S3Exception s) {
        int status = s.statusCode();
        String code = s.awsErrorDetails() == null ? null : s.awsErrorDetails().errorCode();
        String error = "s3: HTTP " + status + (code == null ? "" : " " + code) + ": " + s.getMessage();
        if (status == 429 || status == 503 || "SlowDown".equals(code)) {
          return new DeliveryResult.Retryable(error, null, true);
        }
        if (status >= 500 || status == 408) {
          return new DeliveryResult.Retryable(error, null, false);
        }
        return new DeliveryResult.Rejected(error);
      }
      if (e instanceof SdkClientException) {
        return new DeliveryResult.Retryable("s3: " + e.getMessage(), null, false);
      }
      return new DeliveryResult.Retryable(e.getClass().getSimpleName() + ": " + e.getMessage(), null, false);
    }

    @Override
    public Future<Void> close() {
      return vertx.executeBlocking(() -> {
        synchronized (this) {
          closed = true;
          if (s3 != null) {
            s3.close();
          }
        }
        return null;
      }, false);
    }
  }
}
