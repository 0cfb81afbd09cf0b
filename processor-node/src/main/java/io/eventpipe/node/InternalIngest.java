package io.eventpipe.node;

import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.Text;
import io.eventpipe.gateway.http.BodyReader;
import io.eventpipe.wire.IngestBatch;
import io.eventpipe.wire.WireVersions;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.node.admin.InternalHttp;
import io.eventpipe.jobsdb.JobsDbException;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.routing.Topology;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The node's internal ingest endpoint, called by proxies with events validated and enriched at the edge.
 *
 * <p>Only the owner of a partition at the current epoch may accept writes for it. If any event's partition is
 * not this node's, the whole batch is refused as misdirected (409 with this node's epoch), and the proxy refreshes
 * its topology and re-routes; a sender with a newer epoch than ours makes us catch up first.
 *
 * <p>Bodies are read by the gateway's {@link BodyReader}: at most {@link IngestBatch#MAX_BYTES} each (413 above it,
 * answered from the declared length before reading when there is one), every chunk charged to the node's budget of
 * body bytes in flight (503 with Retry-After when it is used up), within the body deadline (408). After a refused body
 * the connection is closed after a bounded rest of it is swallowed.
 *
 * <p>A batch names its wire version in {@link WireVersions#HEADER} (none: version 1); one outside this node's
 * {@link WireVersions} is refused with a 400 naming the version and the range, which the node sends with every answer
 * ({@link WireVersions#RANGE_HEADER}), so the proxy resends at the newest version both speak.
 */
final class InternalIngest {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(InternalIngest.class);
  /** A 400's field: the index in the internal batch of the event at fault. */
  static final String INDEX = IngestBatch.ANSWER_INDEX;
  /** A 400's field: PostgreSQL refused the batch's data (no event named). */
  static final String INVALID_DATA = IngestBatch.ANSWER_INVALID_DATA;

  private final int nodeId;
  private final TopologyWatcher topology;
  private final JobsDb ingest;
  private final Counter misdirected;
  private final Runnable stored;
  private final Vertx vertx;
  private final BodyReader.Budget budget;
  private final long bodyTimeoutMs;
  private final Clock clock;
  private final Counter ingested;
  private final java.util.function.Supplier<WireVersions> versions;

  InternalIngest(Vertx vertx, int nodeId, TopologyWatcher topology, JobsDb ingest, MeterRegistry registry, Runnable stored,
      BodyReader.Budget budget, long bodyTimeoutMs, Clock clock, java.util.function.Supplier<WireVersions> versions) {
    this.vertx = vertx;
    this.versions = versions;
    this.clock = clock;
    this.budget = budget;
    this.bodyTimeoutMs = bodyTimeoutMs;
    this.stored = stored;
    this.nodeId = nodeId;
    this.topology = topology;
    this.ingest = ingest;
    this.misdirected = Counter.builder("node.ingest.misdirected").description("Internal ingest batches refused as misdirected")
        .register(registry);
    this.ingested = Counter.builder("node.ingested.events").description("Events stored by internal ingest (duplicates not"
        + " counted): the ingest rate the autoscaler reads").register(registry);
  }

  void handle(HttpServerRequest req) {
    String asked = req.getHeader(WireVersions.HEADER);
    int version = WireVersions.ofRequest(asked);
    WireVersions accepted = versions.get();
    // a batch of another version is read (within the usual limits) before the 400, so the connection stays usable for
    // the resend at the version the answer names
    GatewayException unsupported = accepted.accepts(version) ? null
        : new GatewayException(400, accepted.refusal(asked == null ? "(none: 1)" : asked));
    String source = req.getHeader(IngestBatch.SOURCE_HEADER);
    long senderEpoch = 0;
    if (unsupported == null) { // another version may name these otherwise
      try {
        senderEpoch = Long.parseLong(req.getHeader(IngestBatch.EPOCH_HEADER));
      } catch (NumberFormatException e) {
        InternalHttp.error(req.response(), 400, "missing or invalid " + IngestBatch.EPOCH_HEADER + " header");
        return;
      }
      if (source == null || source.isEmpty()) {
        InternalHttp.error(req.response(), 400, "missing " + IngestBatch.SOURCE_HEADER + " header");
        return;
      }
    }
    String declared = req.getHeader("Content-Length");
    if (declared != null && declared.trim().matches("[0-9]{1,18}") && Long.parseLong(declared.trim()) > IngestBatch.MAX_BYTES) {
      refuse(req, new GatewayException(413, "internal batch of " + declared.trim() + " bytes is over the limit of "
          + IngestBatch.MAX_BYTES + " bytes"));
      return;
    }
    long epoch = senderEpoch;
    BodyReader reader = new BodyReader(vertx, req, IngestBatch.MAX_BYTES, bodyTimeoutMs, budget);
    Future<io.vertx.core.buffer.Buffer> read = reader.read();
    read.onFailure(err -> refuse(req, err));
    read
        .compose(body -> {
          if (unsupported != null) {
            return Future.failedFuture(unsupported);
          }
          List<IngestBatch.Item> items = IngestBatch.decode(body);
          Topology known = topology.current();
          Future<Topology> t = known.epoch() >= epoch ? Future.succeededFuture(known)
              : topology.awaitEpoch(epoch, Duration.ofSeconds(2)).otherwise(topology.current());
          return t.compose(current -> store(req, current, source, items));
        })
        .onComplete(ar -> reader.release())
        .onFailure(err -> {
          if (read.succeeded()) {
            answer(req, err);
          }
        });
  }

  /**
   * The body was not read whole (too large, over the budget, too slow): answer with {@code Connection: close}, then
   * swallow a bounded rest so the sender reads the answer before the connection closes (a 408 closes at once).
   */
  private void refuse(HttpServerRequest req, Throwable err) {
    InternalHttp.refuseBody(vertx, req, err, IngestBatch.MAX_BYTES, bodyTimeoutMs, e -> answer(req, e));
  }

  private void answer(HttpServerRequest req, Throwable err) {
    if (req.response().ended()) {
      return;
    }
    if (err instanceof GatewayException g) {
      if (g.status() == 503) {
        req.response().putHeader("Retry-After", "1");
      }
      JsonObject body = new JsonObject().put("error", g.getMessage());
      if (g.eventIndex() != null) {
        body.put(INDEX, g.eventIndex()); // the event at fault: the proxy fails only the request that sent it
      }
      InternalHttp.json(req.response(), g.status(), body);
    } else if (err instanceof JobsDbException.InvalidData invalid) {
      // PostgreSQL refused the batch's data (which the edge should have refused): permanent, so a 400; the proxy
      // splits the batch by request to find the one at fault
      LOG.warn("internal batch refused by PostgreSQL (SQLSTATE {}): {}", invalid.sqlState(),
          Text.forLog(invalid.getCause() == null ? "" : invalid.getCause().getMessage()));
      InternalHttp.json(req.response(), 400, new JsonObject().put("error", "the batch holds data that cannot be stored"
          + " (SQLSTATE " + invalid.sqlState() + "); the edge should have refused it").put(INVALID_DATA, true));
    } else {
      InternalHttp.internalError(req.response(), 503, "not stored on node " + nodeId + "; retry", LOG,
          "internal ingest not stored, answering 503", err);
    }
  }

  private volatile java.util.function.Predicate<IngestBatch.Item> suppressed = i -> false;

  /** Items of suppressed users ({@code RegulationApplier}): acknowledged and dropped, never stored. */
  void suppress(java.util.function.Predicate<IngestBatch.Item> suppressed) {
    this.suppressed = suppressed;
  }

  private Future<Void> store(HttpServerRequest req, Topology current, String source, List<IngestBatch.Item> all) {
    List<IngestBatch.Item> items = all;
    java.util.function.Predicate<IngestBatch.Item> drop = suppressed;
    for (int k = 0; k < all.size(); k++) {
      if (drop.test(all.get(k))) {
        items = new ArrayList<>(all.subList(0, k));
        for (int m = k + 1; m < all.size(); m++) {
          if (!drop.test(all.get(m))) {
            items.add(all.get(m));
          }
        }
        break;
      }
    }
    Set<Integer> notMine = new TreeSet<>();
    List<NewJob> jobs = new ArrayList<>(items.size());
    Instant now = clock.instant();
    for (IngestBatch.Item i : items) {
      int partition = current.partitioner().partition(i.routingKey());
      if (!current.owns(nodeId, partition)) {
        notMine.add(partition);
      }
      jobs.add(new NewJob(partition, i.routingKey(), source, "", i.messageId(), now, i.payload()));
    }
    if (!notMine.isEmpty()) {
      misdirected(req, current, notMine, false);
      return Future.succeededFuture();
    }
    return ingest.store(jobs, current.epoch()).transform(ar -> {
      if (ar.succeeded()) {
        stored.run();
        ingested.increment(ar.result().stored());
        req.response().setStatusCode(200).putHeader("Content-Type", "application/json")
            .end(new JsonObject().put("stored", ar.result().stored()).put("duplicates", ar.result().duplicates())
                .put("epoch", current.epoch()).encode());
        return Future.succeededFuture();
      }
      if (ar.cause() instanceof JobsDbException.Fenced f) {
        // this node's database fenced the partitions (checked where the write commits): a migration moves them; the
        // next epoch gives them to their new owner, and the proxy waits for it
        misdirected(req, topology.current(), f.partitions(), true);
        return Future.succeededFuture();
      }
      return Future.failedFuture(ar.cause());
    });
  }

  /**
   * 409: some partitions are not this node's. {@code epoch} is the epoch the sender must wait for: this node's, or, for
   * partitions its database fenced while its topology still gives them to it (the switch has not reached it yet), the
   * next one, which gives them to their new owner.
   */
  private void misdirected(HttpServerRequest req, Topology current, Set<Integer> partitions, boolean fenced) {
    misdirected.increment();
    boolean switchAhead = fenced && partitions.stream().anyMatch(p -> current.owns(nodeId, p));
    long waitFor = switchAhead ? current.epoch() + 1 : current.epoch();
    req.response().setStatusCode(409).putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("error", "misdirected").put("epoch", waitFor).put("node", nodeId)
            .put("fenced", fenced).put("partitions", new JsonArray(new ArrayList<>(new TreeSet<>(partitions)))).encode());
  }
}
