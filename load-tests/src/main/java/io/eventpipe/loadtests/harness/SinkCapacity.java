package io.eventpipe.loadtests.harness;

import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A sink's own capacity: webhook-shaped requests (one event, or a JSON array of {@code batch}) sent straight to it by
 * a plain client, {@code inFlight} at a time, for {@code seconds}; events per second answered. What the pipeline
 * delivers is only meaningful beside it: a sink slower than the pipeline would measure itself.
 */
public final class SinkCapacity {

  private SinkCapacity() {}

  /** Events per second {@code host:port} answered at {@code path}, {@code inFlight} requests at a time. */
  public static double measure(Vertx vertx, String host, int port, String path, int batch, int inFlight, double seconds)
      throws Exception {
    HttpClientAgent client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true),
        new PoolOptions().setHttp1MaxSize(inFlight));
    String one = "{\"type\":\"track\",\"event\":\"Capacity\",\"userId\":\"capacity\",\"messageId\":\"m\",\"properties\":{\"seq\":1,"
        + "\"pad\":\"" + "x".repeat(500) + "\"}}";
    String[] parts = new String[batch];
    Arrays.fill(parts, one);
    Buffer body = Buffer.buffer(batch == 1 ? one : "[" + String.join(",", parts) + "]");
    AtomicLong done = new AtomicLong();
    long start = System.nanoTime();
    long deadline = start + (long) (seconds * 1e9);
    List<Future<Void>> loops = new ArrayList<>();
    for (int i = 0; i < inFlight; i++) {
      Promise<Void> p = Promise.promise();
      loop(client, host, port, path, body, deadline, done, batch, p);
      loops.add(p.future());
    }
    Future.all(loops).toCompletionStage().toCompletableFuture().get((long) seconds + 60, TimeUnit.SECONDS);
    double rate = done.get() / ((System.nanoTime() - start) / 1e9);
    client.close();
    return rate;
  }

  private static void loop(HttpClientAgent client, String host, int port, String path, Buffer body, long deadline,
      AtomicLong done, int batch, Promise<Void> p) {
    if (System.nanoTime() > deadline) {
      p.complete();
      return;
    }
    client.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(host).setPort(port).setURI(path))
        .compose(r -> r.send(body)).compose(r -> r.body())
        .onComplete(ar -> {
          if (ar.succeeded()) {
            done.addAndGet(batch);
          }
          loop(client, host, port, path, body, deadline, done, batch, p);
        });
  }
}
