package io.eventpipe.loadtests.harness;

import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Clients an API on the internet gets beside its SDKs, run for a while next to the normal load: unknown write keys,
 * bodies over the size cap (plain, and gzip bombs that inflate past it), uploads that trickle a byte at a time, and
 * events with poisonous ids (NUL, an unpaired surrogate, a messageId too long or with CR/LF). Each kind loops one
 * request at a time until the end; every answer is counted by kind and status. None of them may be accepted (2xx):
 * {@link #accepted()}. Their userIds carry the run's id, so an event of theirs that reached the sink would show as
 * delivered though never sent.
 */
public final class HostileClients {

  private final Vertx vertx;
  private final URI api;
  private final String writeKey;
  private final String runId;
  private final int slowUploads;
  private final Map<String, Map<Integer, AtomicLong>> answers = new ConcurrentHashMap<>();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong slowOpened = new AtomicLong();
  private final AtomicLong slowFailed = new AtomicLong();
  private final List<String> acceptedWhat = new ArrayList<>();
  private volatile boolean stopping;
  private HttpClientAgent client;
  private Thread trickler;
  private final List<Promise<Void>> loops = new ArrayList<>();

  public HostileClients(Vertx vertx, URI api, String writeKey, String runId, int slowUploads) {
    this.vertx = vertx;
    this.api = api;
    this.writeKey = writeKey;
    this.runId = runId;
    this.slowUploads = slowUploads;
    build();
  }

  private static String basic(String key) {
    return "Basic " + Base64.getEncoder().encodeToString((key + ":").getBytes(StandardCharsets.UTF_8));
  }

  private String event(String userIdJson, String messageIdJson) {
    return "{\"batch\":[{\"type\":\"track\",\"event\":\"Hostile\",\"userId\":" + userIdJson + ",\"messageId\":"
        + messageIdJson + ",\"properties\":{\"seq\":1}}]}";
  }

  private record Kind(String name, String auth, String encoding, Buffer body) {}

  private final List<Kind> kinds = new ArrayList<>();

  private void kind(String name, String auth, String encoding, Buffer body) {
    kinds.add(new Kind(name, auth, encoding, body));
  }

  /** Builds every kind's request (megabytes: before {@link #start}, so that they all start at once). */
  private void build() {
    String u = runId + "-hostile";
    kind("unknown write key", basic("not-a-key-" + runId), null, Buffer.buffer(event("\"" + u + "\"", "\"" + u + "-k\"")));
    kind("body over the cap", basic(writeKey), null,
        Buffer.buffer(event("\"" + u + "\"", "\"" + u + "-big\"").replace("\"Hostile\"", "\"" + "x".repeat(4_200_000) + "\"")));
    kind("gzip bomb", basic(writeKey), "gzip", LoadGenerator.gzip(event("\"" + u + "\"", "\"" + u + "-bomb\"")
        .replace("\"Hostile\"", "\"" + "0".repeat(8_000_000) + "\"").getBytes(StandardCharsets.UTF_8)));
    kind("NUL in userId", basic(writeKey), null, Buffer.buffer(event("\"" + u + "\\u0000\"", "\"" + u + "-nul\"")));
    kind("unpaired surrogate", basic(writeKey), null, Buffer.buffer(event("\"" + u + "\\ud800\"", "\"" + u + "-sur\"")));
    kind("messageId too long", basic(writeKey), null, Buffer.buffer(event("\"" + u + "\"", "\"" + "m".repeat(300) + "\"")));
    kind("CR/LF in messageId", basic(writeKey), null, Buffer.buffer(event("\"" + u + "\"", "\"" + u + "\\r\\nX-Injected: 1\"")));
  }

  /** Starts every kind; they run until {@link #stop}. */
  public void start() {
    int port = api.getPort() > 0 ? api.getPort() : 80;
    client = vertx.createHttpClient(new HttpClientOptions().setDefaultHost(api.getHost()).setDefaultPort(port)
        .setKeepAlive(true).setConnectTimeout(5_000), new PoolOptions().setHttp1MaxSize(8));
    for (Kind k : kinds) {
      loop(k.name(), k.auth(), k.encoding(), k.body());
    }
    trickler = new Thread(this::trickle, "hostile-slow-uploads");
    trickler.setDaemon(true);
    trickler.start();
  }

  private void loop(String kind, String auth, String encoding, Buffer body) {
    // one request at a time per kind, at most 20 a second (a body of megabytes: 1 a second): pressure, not a flood
    long pauseMs = body.length() > 1_000_000 ? 1_000 : 50;
    Promise<Void> done = Promise.promise();
    loops.add(done);
    vertx.runOnContext(v -> once(kind, auth, encoding, body, pauseMs, done, 0));
  }

  private void once(String kind, String auth, String encoding, Buffer body, long pauseMs, Promise<Void> done, int sent) {
    if (stopping && sent > 0) { // every kind is tried at least once, however short the run
      done.tryComplete();
      return;
    }
    RequestOptions ro = new RequestOptions().setMethod(HttpMethod.POST).setURI("/v1/batch").setIdleTimeout(30_000)
        .putHeader("Authorization", auth).putHeader("Content-Type", "application/json");
    if (encoding != null) {
      ro.putHeader("Content-Encoding", encoding);
    }
    client.request(ro).compose(req -> req.send(body)).compose(r -> r.body().map(b -> r.statusCode()))
        .onComplete(ar -> {
          int status = ar.succeeded() ? ar.result() : -1; // -1: the server closed the connection
          count(kind, status);
          vertx.setTimer(pauseMs, t -> once(kind, auth, encoding, body, pauseMs, done, sent + 1));
        });
  }

  private void count(String kind, int status) {
    answers.computeIfAbsent(kind, k -> new ConcurrentHashMap<>()).computeIfAbsent(status, s -> new AtomicLong()).incrementAndGet();
    if (status >= 200 && status < 300) {
      accepted.incrementAndGet();
      synchronized (acceptedWhat) {
        if (acceptedWhat.size() < 10) {
          acceptedWhat.add(kind);
        }
      }
    }
  }

  /** {@code slowUploads} connections, each sending its headers and then one byte of its body every 500 ms. */
  private void trickle() {
    List<Socket> sockets = new ArrayList<>();
    List<OutputStream> outs = new ArrayList<>();
    try {
      String body = event("\"" + runId + "-hostile\"", "\"" + runId + "-slow\"");
      String head = "POST /v1/batch HTTP/1.1\r\nHost: " + api.getHost() + "\r\nAuthorization: " + basic(writeKey)
          + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length() + "\r\n\r\n";
      for (int i = 0; i < slowUploads && !stopping; i++) {
        Socket s = new Socket(api.getHost(), api.getPort());
        s.getOutputStream().write(head.getBytes(StandardCharsets.US_ASCII));
        sockets.add(s);
        outs.add(s.getOutputStream());
      }
      slowOpened.set(sockets.size());
      for (int pos = 0; pos < body.length() - 1 && !stopping; pos++) {
        for (OutputStream o : outs) {
          try {
            o.write(body.charAt(pos));
            o.flush();
          } catch (IOException closedByServer) {
            // the server gave up on it (body timeout): what it should do
          }
        }
        Thread.sleep(500);
      }
    } catch (IOException e) {
      slowFailed.incrementAndGet();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    } finally {
      for (Socket s : sockets) {
        try {
          s.close();
        } catch (IOException ignored) {
          // closing
        }
      }
    }
  }

  /** Stops every kind (each ends after its request in flight) and waits at most 40 s. */
  public void stop() throws Exception {
    stopping = true;
    if (trickler != null) {
      trickler.interrupt();
      trickler.join(10_000);
    }
    io.vertx.core.Future.all(loops.stream().map(Promise::future).toList()).toCompletionStage().toCompletableFuture()
        .get(40, java.util.concurrent.TimeUnit.SECONDS);
    client.close();
  }

  /** Hostile requests answered 2xx: must be 0. */
  public long accepted() {
    return accepted.get();
  }

  /** Answers by kind and status (-1: connection closed by the server). */
  public JsonObject summary() {
    JsonObject out = new JsonObject();
    new TreeMap<>(answers).forEach((kind, byStatus) -> {
      JsonObject s = new JsonObject();
      new TreeMap<>(byStatus).forEach((status, n) -> s.put(String.valueOf(status), n.get()));
      out.put(kind, s);
    });
    synchronized (acceptedWhat) {
      return new JsonObject().put("answers", out).put("slowUploadsOpened", slowOpened.get())
          .put("slowUploadConnectFailures", slowFailed.get()).put("accepted", accepted.get())
          .put("acceptedKinds", List.copyOf(acceptedWhat));
    }
  }
}
