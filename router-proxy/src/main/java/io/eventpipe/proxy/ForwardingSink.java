package io.eventpipe.proxy;

import io.eventpipe.control.TopologyWatcher;
import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.EventSink;
import io.eventpipe.gateway.Text;
import io.eventpipe.workspace.Source;
import io.eventpipe.wire.IngestBatch;
import io.eventpipe.wire.WireVersions;
import io.eventpipe.routing.Topology;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The proxy's sink: splits a request's events by owner node at the current topology epoch, sends the per-node
 * sub-batches concurrently over persistent connections, and succeeds only when every node committed.
 *
 * <ol>
 *   <li>Concurrent requests' shares for the same node (and source) are coalesced into one internal batch while
 *       earlier batches to that node are in flight; each caller completes when its batch committed.</li>
 *   <li>A node that answers "misdirected" (409, with its epoch) no longer owns some partition: the proxy waits for
 *       that epoch (or later) from the control store and re-routes that sub-batch, invisibly to the client.</li>
 *   <li>A node that is down or refuses fails the request retryably (503 with Retry-After at the edge); its
 *       partitions are never sent elsewhere, which would break their order. Sub-batches that other nodes
 *       committed are deduplicated by messageId when the SDK retries.</li>
 *   <li>Each batch names its wire version ({@link WireVersions#HEADER}): the newest that this proxy and the node both
 *       speak, from the node's range ({@link WireVersions#RANGE_HEADER}, on every answer), cached per node. Before the
 *       first answer the proxy sends its newest; a node that refuses the version names its range, and the proxy
 *       resends the batch at once at the newest shared version (a rolling upgrade mixes adjacent releases).</li>
 *   <li>One failure, one victim: a node that refuses one event of a batch (400 naming its index) fails only the
 *       request that sent it, with a 400 naming the event's index in that request, and the others are sent again; a
 *       node whose PostgreSQL refused the batch's data (400 without an index) gets the batch's requests apart.</li>
 * </ol>
 */
public final class ForwardingSink implements EventSink {

  private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(ForwardingSink.class);

  private static final int MAX_REROUTES = 5;
  /** Internal requests in flight per (node, source) outbox. */
  private static final int OUTBOX_IN_FLIGHT = 4;
  /** Most events in one internal batch. */
  private static final int MAX_BATCH_EVENTS = 4000;

  /** A node could not take its events; the SDK should retry. */
  public static final class NodeUnavailable extends RuntimeException {
    private static final long serialVersionUID = 1L;

    NodeUnavailable(String message) {
      super(message);
    }
  }

  private final TopologyWatcher topology;
  private final HttpClientAgent client;
  private final String token;
  private final Counter rerouted;
  private final MeterRegistry registry;
  private final Map<Integer, Timer> nodeLatency = new java.util.concurrent.ConcurrentHashMap<>();
  private final Map<String, NodeOutbox> outboxes = new java.util.concurrent.ConcurrentHashMap<>();
  private final DistributionSummary coalesced;
  /** The wire versions each node (by "id|address") accepts, from its last answer. */
  private final Map<String, WireVersions> nodeVersions = new java.util.concurrent.ConcurrentHashMap<>();
  private volatile WireVersions speaks = WireVersions.CURRENT;

  public ForwardingSink(Vertx vertx, TopologyWatcher topology, String ingestToken, MeterRegistry registry) {
    this.topology = topology;
    this.token = ingestToken;
    this.registry = registry;
    this.client = vertx.createHttpClient(new HttpClientOptions().setKeepAlive(true).setConnectTimeout(2000)
        .setIdleTimeout(60).setTcpNoDelay(true), new PoolOptions().setHttp1MaxSize(64).setMaxWaitQueueSize(10_000));
    this.rerouted = Counter.builder("proxy.rerouted.batches").description("Sub-batches re-routed after a misdirected answer")
        .register(registry);
    this.coalesced = DistributionSummary.builder("proxy.coalesced.requests").description("SDK requests per internal batch")
        .register(registry);
  }

  /**
   * The wire versions this proxy speaks ({@link WireVersions#CURRENT} by default): a test hook that makes a proxy of
   * this build behave like one of an adjacent release.
   */
  public ForwardingSink wireVersions(WireVersions versions) {
    this.speaks = versions;
    return this;
  }

  /** The wire version this proxy sends to a node whose range it knows ({@code null}: its newest), -1 if none is shared. */
  private int versionFor(WireVersions node) {
    return node == null ? speaks.newest() : speaks.newestShared(node);
  }

  @Override
  public Future<Void> accept(Source source, List<Event> events) {
    int[] indices = new int[events.size()];
    for (int i = 0; i < indices.length; i++) {
      indices[i] = i;
      try {
        // before it is coalesced with other requests: an id the wire cannot carry exactly fails this request alone
        IngestBatch.check(events.get(i).routingKey(), events.get(i).messageId(), i);
      } catch (GatewayException e) {
        return Future.failedFuture(e);
      }
    }
    return route(source.id(), events, indices, 0);
  }

  /** {@code indices}: each event's index in its SDK request, to name it if a node refuses it. */
  private Future<Void> route(String sourceId, List<Event> events, int[] indices, int attempt) {
    Topology t = topology.current();
    Map<Integer, List<Integer>> byNode = new LinkedHashMap<>();
    for (int i = 0; i < events.size(); i++) {
      int owner = t.ownerOf(t.partitioner().partition(events.get(i).routingKey()));
      byNode.computeIfAbsent(owner, k -> new ArrayList<>()).add(i);
    }
    List<Future<Void>> sends = new ArrayList<>(byNode.size());
    for (Map.Entry<Integer, List<Integer>> e : byNode.entrySet()) {
      List<Event> share = new ArrayList<>(e.getValue().size());
      int[] shareIndices = new int[e.getValue().size()];
      for (int k = 0; k < shareIndices.length; k++) {
        share.add(events.get(e.getValue().get(k)));
        shareIndices[k] = indices[e.getValue().get(k)];
      }
      sends.add(send(t, e.getKey(), sourceId, share, shareIndices, attempt));
    }
    return sends.size() == 1 ? sends.get(0) : Future.all(sends).mapEmpty();
  }

  /**
   * Queues a node's share of a request on the outbox to that node; the outbox coalesces what concurrent requests queue
   * while its internal requests are in flight into one internal batch (group commit at the edge), so single-event
   * SDK requests do not each cost an internal round trip. Each caller's events stay together and in order.
   */
  private Future<Void> send(Topology t, int node, String sourceId, List<Event> events, int[] indices, int attempt) {
    long bytes = 0;
    for (Event e : events) {
      bytes += IngestBatch.sizeOf(e.routingKey(), e.messageId(), e.payload());
    }
    if (bytes + 8 > IngestBatch.MAX_BYTES) {
      // enrichment (the envelope's context copied into every event) can grow a request past what a node takes
      return Future.failedFuture(new GatewayException(413, "the request's events take " + bytes + " bytes once enriched,"
          + " over the limit of " + IngestBatch.MAX_BYTES + " for one node; send smaller batches"));
    }
    String address = t.addressOf(node);
    NodeOutbox outbox = outboxes.computeIfAbsent(node + "|" + address + "|" + sourceId, k -> new NodeOutbox(node, address, sourceId));
    Promise<Void> promise = Promise.promise();
    outbox.enqueue(new Pending(events, indices, bytes, promise, attempt));
    return promise.future();
  }

  private record Pending(List<Event> events, int[] indices, long bytes, Promise<Void> promise, int attempt) {}

  /** The internal requests to one node for one source: at most {@link #OUTBOX_IN_FLIGHT} at once. */
  private final class NodeOutbox {
    private final int node;
    private final String address;
    private final String sourceId;
    private final ArrayDeque<Pending> queue = new ArrayDeque<>();
    private int inFlight;

    NodeOutbox(int node, String address, String sourceId) {
      this.node = node;
      this.address = address;
      this.sourceId = sourceId;
    }

    void enqueue(Pending p) {
      synchronized (this) {
        queue.add(p);
        if (inFlight >= OUTBOX_IN_FLIGHT) {
          return; // a request in flight takes it when it completes
        }
        inFlight++;
      }
      flush();
    }

    private void flush() {
      List<Pending> batch = new ArrayList<>();
      synchronized (this) {
        int events = 0;
        long bytes = 0;
        while (!queue.isEmpty() && (batch.isEmpty() || (events + queue.peek().events().size() <= MAX_BATCH_EVENTS
            && bytes + queue.peek().bytes() <= IngestBatch.COALESCE_BYTES))) {
          Pending p = queue.poll();
          batch.add(p);
          events += p.events().size();
          bytes += p.bytes();
        }
        if (batch.isEmpty()) {
          inFlight--;
          return;
        }
      }
      post(batch, false).onComplete(ar -> flush());
    }

    private Future<Void> post(List<Pending> batch, boolean versionRetried) {
      return post(batch, versionRetried, false);
    }

    private Future<Void> post(List<Pending> batch, boolean versionRetried, boolean resent) {
      String versionKey = node + "|" + address;
      WireVersions known = nodeVersions.get(versionKey);
      int version = versionFor(known);
      if (version < 0) {
        fail(batch, new NodeUnavailable("node " + node + " at " + address + " accepts wire versions " + known
            + ", this proxy speaks " + speaks + ": upgrade the proxy or the node to an adjacent release"));
        return Future.succeededFuture();
      }
      List<IngestBatch.Item> items = new ArrayList<>();
      for (Pending p : batch) {
        for (Event e : p.events()) {
          items.add(new IngestBatch.Item(e.routingKey(), e.messageId(), e.payload()));
        }
      }
      coalesced.record(batch.size());
      long epoch = topology.current().epoch();
      long started = System.nanoTime();
      RequestOptions req = new RequestOptions().setMethod(HttpMethod.POST).setAbsoluteURI("http://" + address + IngestBatch.PATH)
          .putHeader("Authorization", "Bearer " + token)
          .putHeader("Content-Type", IngestBatch.CONTENT_TYPE)
          .putHeader(IngestBatch.EPOCH_HEADER, String.valueOf(epoch))
          .putHeader(IngestBatch.SOURCE_HEADER, sourceId)
          .putHeader(WireVersions.HEADER, String.valueOf(version))
          .setIdleTimeout(30_000);
      return client.request(req)
          .compose(r -> r.send(IngestBatch.encode(items)))
          .compose(resp -> {
            // a node older than wire versions sends no range: it speaks version 1 only
            WireVersions range = WireVersions.parseRange(resp.getHeader(WireVersions.RANGE_HEADER));
            nodeVersions.put(versionKey, range == null ? new WireVersions(1, 1) : range);
            return resp.body().map(body -> new Object[] {resp.statusCode(), body});
          })
          .transform(ar -> {
            if (ar.failed()) {
              if (!resent && ar.cause() instanceof io.vertx.core.http.HttpClosedException) {
                // a kept-alive connection the node closed as idle just as this batch went out on it (the race of every
                // HTTP/1.1 keep-alive client): resend once on a fresh connection; the node dedups by messageId, so a
                // batch it did store is not stored twice
                return post(batch, versionRetried, true);
              }
              fail(batch, new NodeUnavailable("node " + node + " at " + address + " is unreachable: " + ar.cause().getMessage()));
              return Future.succeededFuture();
            }
            int status = (Integer) ar.result()[0];
            io.vertx.core.buffer.Buffer body = (io.vertx.core.buffer.Buffer) ar.result()[1];
            if (status == 200) {
              latency(node).record(System.nanoTime() - started, TimeUnit.NANOSECONDS);
              for (Pending p : batch) {
                p.promise().complete();
              }
            } else if (status == 400 && !versionRetried && !nodeVersions.get(versionKey).accepts(version)) {
              // the node does not speak the version sent (this proxy guessed before its first answer, or the node was
              // replaced by another release): resend at the newest version both speak, which its answer named
              return post(batch, true);
            } else if (status == 409) {
              // the node names the epoch to wait for (during a migration, the one that gives the partitions their new owner)
              long newer = Math.max(new JsonObject(body).getLong("epoch", epoch + 1), epoch + 1);
              rerouted.increment();
              Future<Topology> caughtUp = topology.awaitEpoch(newer, Duration.ofSeconds(5)).recover(err -> topology.refresh());
              for (Pending p : batch) {
                if (p.attempt() >= MAX_REROUTES) {
                  p.promise().fail(new NodeUnavailable("node " + node + " keeps refusing as misdirected: " + body));
                } else {
                  caughtUp.compose(x -> route(sourceId, p.events(), p.indices(), p.attempt() + 1)).onComplete(p.promise());
                }
              }
            } else if (status == 400 && refusedEvent(body) != null) {
              return refuseOne(batch, refusedEvent(body), body, versionRetried);
            } else if (status == 400 && invalidData(body)) {
              return refuseApart(batch, body, versionRetried);
            } else {
              fail(batch, new NodeUnavailable("node " + node + " answered " + status + ": " + body.toString()));
            }
            return Future.succeededFuture();
          });
    }

    /**
     * The node refused one event of the batch (a string that cannot be stored, which this proxy's edge should have
     * refused): one failure, one victim. Only the request that sent it gets a 400 naming the event's index in that
     * request; the others are sent again without it.
     */
    private Future<Void> refuseOne(List<Pending> batch, int index, io.vertx.core.buffer.Buffer body, boolean versionRetried) {
      List<Pending> rest = new ArrayList<>(batch.size());
      int offset = 0;
      for (Pending p : batch) {
        int n = p.events().size();
        if (index >= offset && index < offset + n) {
          int inRequest = p.indices()[index - offset];
          String why = error(body);
          LOG.info("node {} refused event {} of a request ({}); the {} other requests of its batch are sent again",
              node, inRequest, Text.forLog(why), batch.size() - 1);
          p.promise().fail(new GatewayException(400, "batch[" + inRequest + "]: refused by the node that stores it: "
              + why, inRequest, null));
        } else {
          rest.add(p);
        }
        offset += n;
      }
      if (rest.size() == batch.size()) { // an index outside the batch: a broken node, not a caller's fault
        fail(batch, new NodeUnavailable("node " + node + " refused event " + index + " of a batch of " + offset));
        return Future.succeededFuture();
      }
      return rest.isEmpty() ? Future.succeededFuture() : post(rest, versionRetried);
    }

    /**
     * PostgreSQL refused the batch's data without naming an event: the requests are sent apart, so that only the one
     * at fault gets the (permanent) 400 and the others are stored.
     */
    private Future<Void> refuseApart(List<Pending> batch, io.vertx.core.buffer.Buffer body, boolean versionRetried) {
      if (batch.size() == 1) {
        batch.get(0).promise().fail(new GatewayException(400, "an event of the request holds data that cannot be"
            + " stored; check its strings (" + error(body) + ")"));
        return Future.succeededFuture();
      }
      Future<Void> apart = Future.succeededFuture();
      for (Pending p : batch) {
        apart = apart.transform(x -> post(List.of(p), versionRetried));
      }
      return apart;
    }

    private void fail(List<Pending> batch, Throwable error) {
      for (Pending p : batch) {
        p.promise().fail(error);
      }
    }
  }

  /** The index a node's 400 names (the event at fault in its batch), or null. */
  private static Integer refusedEvent(io.vertx.core.buffer.Buffer body) {
    JsonObject json = json(body);
    return json != null && json.getValue(IngestBatch.ANSWER_INDEX) instanceof Number n ? n.intValue() : null;
  }

  private static boolean invalidData(io.vertx.core.buffer.Buffer body) {
    JsonObject json = json(body);
    return json != null && Boolean.TRUE.equals(json.getValue(IngestBatch.ANSWER_INVALID_DATA));
  }

  private static String error(io.vertx.core.buffer.Buffer body) {
    JsonObject json = json(body);
    return json != null && json.getValue("error") instanceof String e ? e : "no reason given";
  }

  private static JsonObject json(io.vertx.core.buffer.Buffer body) {
    try {
      return body.length() == 0 ? null : new JsonObject(body);
    } catch (RuntimeException e) {
      return null;
    }
  }

  private Timer latency(int node) {
    return nodeLatency.computeIfAbsent(node, n -> Timer.builder("proxy.forward.latency").description("Internal ingest round trip")
        .tag("node", String.valueOf(n)).publishPercentileHistogram().register(registry));
  }

  @Override
  public Future<Boolean> healthy() {
    return Future.succeededFuture(topology.current() != null);
  }

  public Future<Void> close() {
    return client.close();
  }
}
