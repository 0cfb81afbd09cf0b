package io.eventpipe.loadtests.harness;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.zip.GZIPOutputStream;

/**
 * An open-model load of SDK-shaped requests ({@code POST /v1/batch}, the write key as the Basic user, optionally
 * gzipped) to the public API: the {@link RateSchedule} says when each request is meant to go, whatever the system
 * does; request {@code i} belongs to user {@code i mod users} and carries the next {@code eventsPerRequest} events of
 * that user, numbered 1, 2, 3, ... in {@code properties.seq}.
 *
 * <p>Each user is one SDK: its requests go one at a time, in order, and a refused or failed attempt (503, 429, a
 * connection refused while the cluster restarts) is retried with the same messageIds after a backoff, as the SDKs do,
 * until {@link #retryUntilNanos}; a request of a user that gave up or whose queue is full is not made ("omitted",
 * counted), so every user's acknowledged events are always 1..n. Latency is taken from the intended time: a request
 * queued behind its user's slow one, or retried, counts all of that wait.
 *
 * <p>It writes what it sent and what was acknowledged into the run's {@link HistoryChecker} and {@link Timeline},
 * and keeps the log of every acknowledged event ({@link #acks()}). Runs on one Vert.x context: no locks.
 */
public final class LoadGenerator {

  /**
   * @param users SDK instances, each with its own userId
   * @param eventsPerSecond the base arrival rate of events (requests per second = this / eventsPerRequest)
   * @param maxQueuedPerUser requests a user may have waiting before new ones are omitted (bounds the memory)
   */
  public record Options(int users, double eventsPerSecond, int eventsPerRequest, int payloadBytes, boolean gzip,
      int maxQueuedPerUser) {
    public Options {
      if (users < 1 || eventsPerRequest < 1 || !(eventsPerSecond > 0) || payloadBytes < 0 || maxQueuedPerUser < 1) {
        throw new IllegalArgumentException("load options out of range: " + users + " users, " + eventsPerSecond
            + " events/s, " + eventsPerRequest + " per request, " + payloadBytes + " bytes, queue " + maxQueuedPerUser);
      }
    }

    public double requestsPerSecond() {
      return eventsPerSecond / eventsPerRequest;
    }
  }

  /** An acknowledged event: times are nanoseconds of the run. */
  public record Ack(String messageId, String user, long seq, long intendedNanos, long sentNanos, long ackNanos) {}

  private static final class Request {
    final long seqFrom;
    final int count;
    final long intendedNanos;
    Buffer body;
    int attempts;
    long firstSentNanos = -1;

    Request(long seqFrom, int count, long intendedNanos) {
      this.seqFrom = seqFrom;
      this.count = count;
      this.intendedNanos = intendedNanos;
    }
  }

  private static final class User {
    final String id;
    long nextSeq = 1;
    boolean inFlight;
    boolean gaveUp;
    final ArrayDeque<Request> queue = new ArrayDeque<>();

    User(String id) {
      this.id = id;
    }
  }

  private final Vertx vertx;
  private final URI api;
  private final String auth;
  private final String runId;
  private final Options options;
  private final RateSchedule schedule;
  private final RunClock clock;
  private final HistoryChecker history;
  private final Timeline timeline;
  private final String pad;
  private final User[] users;
  private final List<Ack> acks = new ArrayList<>();
  private final Promise<Void> finished = Promise.promise();
  private HttpClientAgent client;
  private Context context;
  private long next;
  private boolean scheduleDone;
  private long timer = -1;
  private volatile long retryUntilNanos = Long.MAX_VALUE;
  private long omitted;
  private long gaveUpRequests;
  private long attemptsFailed;
  private String firstRefusal;
  private boolean timed = true;

  public LoadGenerator(Vertx vertx, URI api, String writeKey, String runId, Options options, RateSchedule schedule,
      RunClock clock, HistoryChecker history, Timeline timeline) {
    this.vertx = vertx;
    this.api = api;
    this.auth = "Basic " + Base64.getEncoder().encodeToString((writeKey + ":").getBytes(StandardCharsets.UTF_8));
    this.runId = runId;
    this.options = options;
    this.schedule = schedule;
    this.clock = clock;
    this.history = history;
    this.timeline = timeline;
    this.pad = "x".repeat(Math.max(0, options.payloadBytes() - 160));
    this.users = new User[options.users()];
    for (int i = 0; i < users.length; i++) {
      users[i] = new User(userId(runId, i));
    }
  }

  /** User {@code i}'s id in run {@code runId}: the sink tells a run's events from others' by this prefix. */
  public static String userId(String runId, int i) {
    return runId + "-u" + i;
  }

  /** Starts the schedule; the future completes when it has ended and every user's requests are acknowledged or given up. */
  public Future<Void> start() {
    context = vertx.getOrCreateContext();
    context.runOnContext(v -> {
      int port = api.getPort() > 0 ? api.getPort() : 80;
      client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setDefaultHost(api.getHost())
          .setDefaultPort(port).setConnectTimeout(5_000), new PoolOptions().setHttp1MaxSize(Math.min(users.length, 256)));
      timer = vertx.setPeriodic(1, 1, t -> tick());
    });
    return finished.future();
  }

  /**
   * Its events carry no intended time ({@code properties.t}), so the sink leaves them out of the delivery lag: a
   * side load (a failing user's backlog) whose lag is not the figure.
   */
  public LoadGenerator untimed() {
    timed = false;
    return this;
  }

  /** From now on a failed attempt is not retried after {@code nanos} of the run: the user gives up. */
  public void retryUntil(long nanos) {
    retryUntilNanos = nanos;
  }

  private void tick() {
    long now = clock.nanos();
    long t;
    int emitted = 0;
    while ((t = schedule.intendedNanos(next)) >= 0 && t <= now && emitted < 100_000) {
      emit(next, t);
      next++;
      emitted++;
    }
    if (t < 0) {
      scheduleDone = true;
      vertx.cancelTimer(timer);
      checkFinished();
    }
  }

  private void emit(long i, long intendedNanos) {
    timeline.intended(intendedNanos);
    User u = users[(int) (i % users.length)];
    if (u.gaveUp || u.queue.size() >= options.maxQueuedPerUser()) {
      omitted++;
      return;
    }
    u.queue.add(new Request(u.nextSeq, options.eventsPerRequest(), intendedNanos));
    u.nextSeq += options.eventsPerRequest();
    pump(u);
  }

  private void pump(User u) {
    if (u.inFlight || u.queue.isEmpty()) {
      return;
    }
    u.inFlight = true;
    send(u, u.queue.peek());
  }

  private String messageId(User u, long seq) {
    return u.id + "-" + seq;
  }

  private Buffer body(User u, Request r) {
    JsonArray batch = new JsonArray();
    for (int k = 0; k < r.count; k++) {
      long seq = r.seqFrom + k;
      batch.add(new JsonObject().put("type", "track").put("event", "Load").put("userId", u.id)
          .put("messageId", messageId(u, seq))
          .put("properties", new JsonObject().put("seq", seq).put("t", timed ? r.intendedNanos : -1).put("pad", pad)));
    }
    byte[] json = new JsonObject().put("batch", batch).put("sentAt", java.time.Instant.now().toString()).encode()
        .getBytes(StandardCharsets.UTF_8);
    return options.gzip() ? gzip(json) : Buffer.buffer(json);
  }

  /** {@code raw} gzipped, as an SDK compresses a body it sends with {@code Content-Encoding: gzip}. */
  static Buffer gzip(byte[] raw) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length / 4 + 64);
    try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
      gz.write(raw);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return Buffer.buffer(out.toByteArray());
  }

  private void send(User u, Request r) {
    if (r.body == null) {
      r.body = body(u, r);
      r.firstSentNanos = clock.nanos();
      for (int k = 0; k < r.count; k++) {
        history.sent(u.id, r.seqFrom + k, messageId(u, r.seqFrom + k), "request intended at " + r.intendedNanos / 1_000_000 + " ms");
      }
    }
    r.attempts++;
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI("/v1/batch").setIdleTimeout(30_000)
        .putHeader("Authorization", auth).putHeader("Content-Type", "application/json");
    if (options.gzip()) {
      ro.putHeader("Content-Encoding", "gzip");
    }
    client.request(ro).compose(req -> req.send(r.body)).compose(resp -> resp.body().map(b -> {
      if (resp.statusCode() != 200 && firstRefusal == null) {
        firstRefusal = resp.statusCode() + " " + b.toString(StandardCharsets.UTF_8);
      }
      return resp.statusCode();
    })).onComplete(ar -> {
      long now = clock.nanos();
      int status = ar.succeeded() ? ar.result() : -1;
      if (status == 200) {
        acked(u, r, now);
        return;
      }
      attemptsFailed++;
      timeline.failedAttempt(now);
      if (firstRefusal == null && ar.failed()) {
        firstRefusal = String.valueOf(ar.cause());
      }
      boolean permanent = status == 400 || status == 401 || status == 404 || status == 413;
      if (permanent || now > retryUntilNanos) {
        giveUp(u);
        return;
      }
      long backoffMs = Math.min(1_000, 50L << Math.min(5, r.attempts - 1));
      vertx.setTimer(backoffMs, t -> send(u, r));
    });
  }

  private void acked(User u, Request r, long now) {
    u.queue.poll();
    u.inFlight = false;
    timeline.acked(r.intendedNanos, now, r.count);
    for (int k = 0; k < r.count; k++) {
      long seq = r.seqFrom + k;
      String id = messageId(u, seq);
      history.acked(u.id, seq, id, "request intended at " + r.intendedNanos / 1_000_000 + " ms, attempt " + r.attempts);
      acks.add(new Ack(id, u.id, seq, r.intendedNanos, r.firstSentNanos, now));
    }
    r.body = null;
    pump(u);
    checkFinished();
  }

  private void giveUp(User u) {
    u.gaveUp = true;
    u.inFlight = false;
    gaveUpRequests += u.queue.size();
    u.queue.clear();
    checkFinished();
  }

  private void checkFinished() {
    if (!scheduleDone || finished.future().isComplete()) {
      return;
    }
    for (User u : users) {
      if (u.inFlight || !u.queue.isEmpty()) {
        return;
      }
    }
    client.close();
    finished.complete();
  }

  /** What the load did, once finished: counts, and the first refusal it got (null: none). */
  public Future<JsonObject> summary() {
    Promise<JsonObject> p = Promise.promise();
    context.runOnContext(v -> {
      long acked = acks.size();
      long gave = 0;
      for (User u : users) {
        gave += u.gaveUp ? 1 : 0;
      }
      p.complete(new JsonObject().put("requestsIntended", next).put("requestsOmitted", omitted)
          .put("requestsGivenUp", gaveUpRequests).put("usersGaveUp", gave).put("failedAttempts", attemptsFailed)
          .put("eventsAcked", acked).put("firstRefusal", firstRefusal));
    });
    return p.future();
  }

  /** The log of every acknowledged event, in order of acknowledgement (read it once the load has finished). */
  public List<Ack> acks() {
    return acks;
  }
}
