package io.eventpipe.launcher;

import io.eventpipe.gateway.Text;
import io.eventpipe.gateway.http.ConnectionGuard;
import io.eventpipe.gateway.http.ConnectionLimits;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The demo workspace's destination: a webhook endpoint that logs every delivery, so a newcomer sees them. */
final class DemoSink {

  private static final Logger LOG = LoggerFactory.getLogger("demo-sink");

  private final AtomicLong received = new AtomicLong();
  private HttpServer server;

  Future<Integer> start(Vertx vertx, int port) {
    server = new ConnectionGuard(vertx, "demo-sink", ConnectionLimits.internalDefaults(), new SimpleMeterRegistry())
        .createServer(new HttpServerOptions().setHost("127.0.0.1").setPort(port), req -> req.body().onComplete(ar -> {
      if (ar.succeeded()) {
        long n = received.incrementAndGet();
        String body = ar.result().toString(StandardCharsets.UTF_8);
        LOG.info("delivery #{} ({}): {}", n, Text.forLog(req.getHeader("X-Message-Id")), Text.forLog(body, 2000));
      }
      req.response().setStatusCode(200).end("ok");
    }));
    return server.listen().map(HttpServer::actualPort);
  }

  Future<Void> stop() {
    return server == null ? Future.succeededFuture() : server.close();
  }
}
