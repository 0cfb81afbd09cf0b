package io.eventpipe.node;

import io.eventpipe.control.ControlStore;
import io.eventpipe.control.Regulations;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.http.BodyReader;
import io.eventpipe.jobsdb.UserData;
import io.eventpipe.node.admin.InternalHttp;
import io.eventpipe.node.router.Router;
import io.eventpipe.wire.IngestBatch;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Pool;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A node's part of the privacy regulations (issue 20):
 * <ol>
 *   <li>follows the requests in the control store ({@link Regulations.Watcher}, every second);</li>
 *   <li>suppression: internal ingest drops a suppressed user's events and acknowledges them (the proxies do it first,
 *       at the edge; this covers a proxy that has not seen the request yet);</li>
 *   <li>delete: removes what this node's database holds of the user ({@link UserData#delete}) in every partition,
 *       owned, fenced or held (a migration in progress has the user's data on its source, its target or both: each
 *       node deletes its own, and the migrator deletes again on targets before their release), then makes the
 *       router drop what it queued in memory and read again; a second pass a moment later catches a fan-out that
 *       read the user's ingest jobs before the first; then records its status in the control store. A restarted
 *       node skips the requests it recorded as applied.</li>
 * </ol>
 * The admin API ({@code /admin/v1/regulations}) is served by every node: {@code POST} records a request
 * ({@code {"kind": "suppress"|"delete"|"suppress_delete", "userId": "...", "requestedBy": "..."}}; 201 when new, 200
 * with the existing record when it was requested before), {@code GET} lists them with each node's status and whether
 * every node of the current topology applied it.
 */
final class RegulationApplier {

  private static final Logger LOG = LoggerFactory.getLogger(RegulationApplier.class);
  static final String PATH = "/admin/v1/regulations";
  private static final int MAX_BODY = 64 * 1024;
  /** The second pass of a delete, after fan-outs in flight have committed. */
  static final Duration SECOND_PASS = Duration.ofSeconds(1);

  private final Vertx vertx;
  private final ControlStore control;
  private final Pool pool;
  private final Router router;
  private final int nodeId;
  private final Counter suppressedCounter;
  private final Counter deletedCounter;
  private Regulations.Watcher watcher;
  private Future<Void> queue = Future.succeededFuture();
  private volatile boolean closed;

  RegulationApplier(Vertx vertx, ControlStore control, Pool pool, Router router, int nodeId, MeterRegistry registry) {
    this.vertx = vertx;
    this.control = control;
    this.pool = pool;
    this.router = router;
    this.nodeId = nodeId;
    this.suppressedCounter = Counter.builder("node.events.suppressed")
        .description("Events of suppressed users acknowledged and dropped by internal ingest").register(registry);
    this.deletedCounter = Counter.builder("node.regulation.rows.deleted")
        .description("Jobs, dead letters and dedup entries removed by delete regulations").register(registry);
  }

  Future<Void> start() {
    return Regulations.appliedBy(control, nodeId).recover(e -> {
      LOG.warn("node {}: cannot read the regulations it applied ({}); applying them all again", nodeId, e.toString());
      return Future.succeededFuture(Set.of());
    }).compose(done -> Regulations.Watcher.start(vertx, control, Duration.ofSeconds(1)).map(w -> {
      watcher = w;
      w.onRequest(r -> {
        if (r.kind().deletes() && !done.contains(r.id())) {
          queue = queue.transform(ar -> closed ? Future.succeededFuture() : apply(r));
        } else if (!r.kind().deletes() && !done.contains(r.id())) {
          queue = queue.transform(ar -> Regulations.recordApplied(control, r.id(), nodeId, 0, new Integer[0], new String[0])
              .recover(e -> Future.succeededFuture()));
        }
      });
      return null;
    }));
  }

  /** Whether internal ingest drops this item: its routing key, userId or anonymousId is suppressed. */
  boolean suppressed(IngestBatch.Item item) {
    if (watcher == null || !watcher.anySuppressed()) {
      return false;
    }
    boolean hit = watcher.suppressed(item.routingKey());
    if (!hit) {
      try {
        JsonObject e = new JsonObject(new String(item.payload(), StandardCharsets.UTF_8));
        hit = watcher.suppressed(e.getString("userId")) || watcher.suppressed(e.getString("anonymousId"));
      } catch (RuntimeException notJson) {
        hit = false;
      }
    }
    if (hit) {
      suppressedCounter.increment();
    }
    return hit;
  }

  private Future<Void> apply(Regulations.Regulation r) {
    long started = System.nanoTime();
    return UserData.delete(pool, r.userId(), null)
        .compose(first -> {
          router.rereadAll();
          Promise<Void> later = Promise.promise();
          vertx.setTimer(SECOND_PASS.toMillis(), t -> later.complete());
          return later.future().compose(v -> UserData.delete(pool, r.userId(), null))
              .map(second -> new UserData.Removed(first.jobs() + second.jobs(), first.deadLetters() + second.deadLetters(),
                  first.dedupEntries() + second.dedupEntries(), concat(first.partitions(), second.partitions()),
                  concat(first.messageIds(), second.messageIds())));
        })
        .compose(gone -> {
          long removed = gone.total();
          router.rereadAll();
          deletedCounter.increment(removed);
          LOG.info("node {}: regulation {} ({} of user {}, requested by {}) applied: {} rows removed in {} ms", nodeId, r.id(),
              r.kind().sql(), io.eventpipe.gateway.Text.forLog(r.userId()), io.eventpipe.gateway.Text.forLog(r.requestedBy()),
              removed, (System.nanoTime() - started) / 1_000_000);
          return Regulations.recordApplied(control, r.id(), nodeId, removed, gone.partitions(), gone.messageIds());
        })
        .recover(e -> {
          LOG.error("node {}: regulation {} (delete of user {}) failed, retrying in 5 s: {}", nodeId, r.id(),
              io.eventpipe.gateway.Text.forLog(r.userId()), e.toString());
          if (closed) {
            return Future.succeededFuture();
          }
          Promise<Void> later = Promise.promise();
          vertx.setTimer(5000, t -> later.complete());
          return later.future().compose(v -> closed ? Future.succeededFuture() : apply(r));
        });
  }

  private static <T> T[] concat(T[] a, T[] b) {
    T[] out = java.util.Arrays.copyOf(a, a.length + b.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  /** {@code GET} and {@code POST /admin/v1/regulations} (the admin token is checked by the caller). */
  void handle(HttpServerRequest req, BodyReader.Budget budget, long bodyTimeoutMs, java.util.function.Supplier<Set<Integer>> nodes) {
    if (req.method() == HttpMethod.GET) {
      Regulations.list(control).onSuccess(list -> {
        Set<Integer> expected = nodes.get();
        JsonArray out = new JsonArray();
        for (Regulations.Regulation r : list) {
          boolean complete = r.nodes().keySet().containsAll(expected);
          out.add(r.toJson().put("complete", complete));
        }
        InternalHttp.json(req.response(), 200, new JsonObject().put("regulations", out).put("nodes", new JsonArray(expected.stream().sorted().toList())));
      }).onFailure(e -> InternalHttp.internalError(req.response(), 503, "cannot read the control store", LOG,
          "regulations: listing failed", e));
      return;
    }
    if (req.method() != HttpMethod.POST) {
      InternalHttp.error(req.response(), 405, "use GET or POST on " + PATH);
      return;
    }
    BodyReader reader = new BodyReader(vertx, req, MAX_BODY, bodyTimeoutMs, budget);
    reader.read().onComplete(ar -> reader.release()).onFailure(err -> InternalHttp.refuseBody(vertx, req, err, MAX_BODY, bodyTimeoutMs,
        e -> InternalHttp.error(req.response(), e instanceof GatewayException g ? g.status() : 400, "the request body could not be read")))
        .onSuccess(body -> {
          Regulations.Kind kind;
          String user;
          String by;
          try {
            JsonObject json = new JsonObject(body.toString(StandardCharsets.UTF_8));
            kind = Regulations.Kind.parse(json.getString("kind"));
            user = json.getString("userId");
            by = json.getString("requestedBy", "admin API");
            if (user == null || user.isEmpty() || user.length() > 512) {
              throw new IllegalArgumentException("userId is required (1 to 512 characters)");
            }
            if (by.length() > 512) {
              throw new IllegalArgumentException("requestedBy is longer than 512 characters");
            }
          } catch (RuntimeException e) {
            InternalHttp.error(req.response(), 400, e.getMessage() + ": expected {\"kind\": \"suppress\"|\"delete\"|\"suppress_delete\","
                + " \"userId\": \"...\", \"requestedBy\": \"...\"}");
            return;
          }
          Regulations.request(control, kind, user, by).onSuccess(done -> {
            if (done.created()) {
              LOG.info("node {}: regulation {} recorded: {} of user {}, requested by {}", nodeId, done.regulation().id(), kind.sql(),
                  io.eventpipe.gateway.Text.forLog(user), io.eventpipe.gateway.Text.forLog(by));
            }
            InternalHttp.json(req.response(), done.created() ? 201 : 200, done.regulation().toJson().put("created", done.created()));
          }).onFailure(e -> InternalHttp.internalError(req.response(), 503, "cannot record the regulation", LOG,
              "regulations: recording failed", e));
        });
  }

  void close() {
    closed = true;
    if (watcher != null) {
      watcher.close();
    }
  }
}
