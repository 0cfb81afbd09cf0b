package io.eventpipe.destinations.vendors;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.Event;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the vendors' batch APIs share: each event is mapped to the vendor's JSON (or rejected by the mapping), the
 * router's batch is cut into requests within the vendor's limits of events and bytes, the requests are sent one after
 * the other (so a user's events keep their order), and each answer is classified by the vendor: accepted; too large
 * (413: split in halves and resent; a single event that is too large is rejected); some events invalid (dropped, the
 * rest resent if the vendor took none of the request, or counted delivered if it took them); all refused (permanent);
 * or retry. A retry ends the whole call with {@link DeliveryResult.Retryable}: the router retries every event of it,
 * and the vendor drops the copies it already took by their insert id.
 */
abstract class BatchClient implements DestinationClient {

  /** How many times a request whose invalid events were dropped is resent before the rest are rejected too. */
  static final int MAX_RESENDS = 3;

  /** One mapped event: the event and its vendor JSON. */
  record Item(Event event, JsonObject json, int bytes) {}

  /** A vendor's verdict on one request. */
  sealed interface Verdict {}

  /** Every event accepted. */
  record Accepted() implements Verdict {}

  /** 413: split the request. */
  record TooLarge(String error) implements Verdict {}

  /**
   * Some events refused, by index in the request; {@code resendRest}: the vendor took none of the request (Amplitude),
   * so the others are sent again; false: it took the others (Mixpanel's strict mode).
   */
  record Invalid(Map<Integer, String> rejected, boolean resendRest, String error) implements Verdict {}

  /** Everything refused, permanently (a bad key, a malformed request). */
  record Refused(String error) implements Verdict {}

  /** Try again later. */
  record Retry(DeliveryResult.Retryable result) implements Verdict {}

  private final VendorHttp http;
  private final int maxEvents;
  private final int maxBytes;
  private final int maxEventBytes;
  private final String maxEventText;

  /**
   * @param maxEventBytes the vendor's limit of one event's JSON, or 0 for none besides the request's
   * @param maxEventText how the vendor states that limit, for the rejection
   */
  BatchClient(VendorHttp http, int maxEvents, int maxBytes, int maxEventBytes, String maxEventText) {
    this.http = http;
    this.maxEvents = maxEvents;
    this.maxBytes = maxBytes;
    this.maxEventBytes = maxEventBytes;
    this.maxEventText = maxEventText;
  }

  /** The vendor's JSON for an event; throws {@link IllegalArgumentException} with the reason to reject it. */
  abstract JsonObject map(Event event, JsonObject payload);

  /** The bytes a request takes besides its events (the envelope, the commas). */
  abstract int envelopeBytes(int events);

  /** Sends the request holding {@code items}. */
  abstract Future<VendorHttp.Answer> send(VendorHttp http, List<Item> items);

  /** The vendor's verdict on the answer to the request of {@code items}. */
  abstract Verdict classify(VendorHttp.Answer answer, List<Item> items);

  @Override
  public int maxEventsPerRequest() {
    return maxEvents;
  }

  @Override
  public Future<DeliveryResult> deliver(List<Event> events, String node) {
    Map<Long, String> rejected = new LinkedHashMap<>();
    List<Item> items = new ArrayList<>(events.size());
    for (Event e : events) {
      try {
        JsonObject payload = new JsonObject(Buffer.buffer(e.payload()));
        JsonObject json = map(e, payload);
        int bytes = json.encode().getBytes(StandardCharsets.UTF_8).length;
        if (maxEventBytes > 0 && bytes > maxEventBytes) {
          rejected.put(e.jobId(), "the event takes " + bytes + " bytes as the vendor's JSON, over its limit of "
              + maxEventText + " per event");
        } else if (bytes + envelopeBytes(1) > maxBytes) {
          rejected.put(e.jobId(), "the event takes " + bytes + " bytes as the vendor's JSON, over its limit of "
              + maxBytes + " bytes per request");
        } else {
          items.add(new Item(e, json, bytes));
        }
      } catch (DecodeException | ClassCastException ex) {
        rejected.put(e.jobId(), "the event's payload is not a JSON object: " + ex.getMessage());
      } catch (IllegalArgumentException ex) {
        rejected.put(e.jobId(), ex.getMessage());
      }
    }
    List<List<Item>> chunks = chunks(items);
    Future<DeliveryResult> done = Future.succeededFuture(null);
    for (List<Item> chunk : chunks) {
      done = done.compose(r -> r instanceof DeliveryResult.Retryable ? Future.succeededFuture(r)
          : sendChunk(chunk, rejected, 0));
    }
    return done.map(r -> r instanceof DeliveryResult.Retryable ? r : result(events.size(), rejected));
  }

  private static DeliveryResult result(int events, Map<Long, String> rejected) {
    if (rejected.isEmpty()) {
      return DeliveryResult.DELIVERED;
    }
    if (rejected.size() == events && new HashSet<>(rejected.values()).size() == 1) {
      return new DeliveryResult.Rejected(rejected.values().iterator().next());
    }
    return new DeliveryResult.Partial(rejected);
  }

  /** Requests of at most {@link #maxEvents} events and {@link #maxBytes} bytes, in order. */
  List<List<Item>> chunks(List<Item> items) {
    List<List<Item>> out = new ArrayList<>();
    List<Item> current = new ArrayList<>();
    long bytes = 0;
    for (Item i : items) {
      if (!current.isEmpty() && (current.size() == maxEvents
          || bytes + i.bytes() + envelopeBytes(current.size() + 1) > maxBytes)) {
        out.add(current);
        current = new ArrayList<>();
        bytes = 0;
      }
      current.add(i);
      bytes += i.bytes();
    }
    if (!current.isEmpty()) {
      out.add(current);
    }
    return out;
  }

  /** Sends one request; null when it ended (its rejections in {@code rejected}), or the Retryable that stops the call. */
  private Future<DeliveryResult> sendChunk(List<Item> items, Map<Long, String> rejected, int resends) {
    return send(http, items).transform(ar -> {
      if (ar.failed()) {
        DeliveryResult r = ar.cause() instanceof VendorHttp.NoAnswer n ? n.result()
            : new DeliveryResult.Retryable("network error: " + ar.cause(), null, false);
        if (r instanceof DeliveryResult.Rejected rej) {
          items.forEach(i -> rejected.put(i.event().jobId(), rej.error()));
          return Future.succeededFuture(null);
        }
        return Future.succeededFuture(r);
      }
      Verdict v = classify(ar.result(), items);
      if (v instanceof Accepted) {
        return Future.succeededFuture(null);
      }
      if (v instanceof Retry retry) {
        return Future.succeededFuture(retry.result());
      }
      if (v instanceof Refused refused) {
        items.forEach(i -> rejected.put(i.event().jobId(), refused.error()));
        return Future.succeededFuture(null);
      }
      if (v instanceof TooLarge tooLarge) {
        if (items.size() == 1) {
          rejected.put(items.get(0).event().jobId(), tooLarge.error());
          return Future.succeededFuture(null);
        }
        List<Item> first = new ArrayList<>(items.subList(0, items.size() / 2));
        List<Item> second = new ArrayList<>(items.subList(items.size() / 2, items.size()));
        return sendChunk(first, rejected, resends).compose(r -> r != null ? Future.succeededFuture(r)
            : sendChunk(second, rejected, resends));
      }
      Invalid invalid = (Invalid) v;
      if (invalid.rejected().isEmpty()) {
        items.forEach(i -> rejected.put(i.event().jobId(), invalid.error()));
        return Future.succeededFuture(null);
      }
      List<Item> rest = new ArrayList<>();
      Set<Integer> bad = invalid.rejected().keySet();
      for (int n = 0; n < items.size(); n++) {
        if (bad.contains(n)) {
          rejected.put(items.get(n).event().jobId(), invalid.rejected().get(n));
        } else {
          rest.add(items.get(n));
        }
      }
      if (!invalid.resendRest() || rest.isEmpty()) {
        return Future.succeededFuture(null);
      }
      if (resends >= MAX_RESENDS) {
        rest.forEach(i -> rejected.put(i.event().jobId(), invalid.error()));
        return Future.succeededFuture(null);
      }
      return sendChunk(rest, rejected, resends + 1);
    });
  }

  /** Distinct routing keys of a request: a 429 for one user pauses that user only. */
  static int users(List<Item> items) {
    Set<String> keys = new HashSet<>();
    items.forEach(i -> keys.add(i.event().routingKey()));
    return keys.size();
  }

  @Override
  public Future<Void> close() {
    return http.close();
  }
}
