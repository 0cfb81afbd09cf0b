package io.eventpipe.destinations.vendors;

import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Event;
import io.eventpipe.destinations.RetryAfter;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.MultiMap;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The {@code amplitude} destination type: events to Amplitude's HTTP V2 API ({@code POST /2/httpapi}, or the Batch
 * Event Upload API {@code /batch}, which takes the same body).
 *
 * <pre>{@code
 * config:
 *   apiKey: ...                                   # required: the project's API key
 *   url: https://api2.amplitude.com/2/httpapi     # default; https://api.eu.amplitude.com/2/httpapi for EU residency,
 *                                                 # https://api2.amplitude.com/batch for the batch API
 *   groupType: company                            # the group type of group calls (default: company)
 *   timeoutMs: 10000
 *   batch: {maxEvents: 1000}                      # events per request, at most 2000 (default 1000)
 * }</pre>
 *
 * <p>Mapping: every event gets {@code user_id} (userId) and/or {@code device_id} (anonymousId), {@code insert_id} (the
 * messageId: Amplitude drops a repeat within 7 days), {@code time} (the timestamp, else the receivedAt, ms), {@code ip} and a
 * {@code library}. track: {@code event_type} is the event name, {@code event_properties} its properties. page and
 * screen: {@code Viewed <name> Page} / {@code Viewed <name> Screen} (or {@code Viewed Page}), with the properties.
 * identify: {@code $identify} with {@code user_properties: {$set: traits}}. group: {@code $identify} with
 * {@code groups: {<groupType>: groupId}} and {@code user_properties: {$set: {<groupType>: groupId}}}. alias:
 * {@code $identify} of the new userId with {@code user_properties: {$set: {previous_id: previousId}}} (the HTTP API has
 * no alias call; Amplitude's user mapping is a separate, paid API not used here). Other types (merge) are rejected.
 * Requests carry {@code options.min_id_length: 1}, since our ids may be shorter than Amplitude's default of 5.
 *
 * <p>Limits and answers: at most 2,000 events and 1 MB per request (cut here before sending); 200 delivered; 413
 * split in halves and resent; 400 with {@code events_with_invalid_fields}, {@code events_with_missing_fields},
 * {@code events_with_invalid_id_lengths} or {@code silenced_events}: those events are rejected and the rest resent
 * (Amplitude takes none of a request it answers 400); another 400 rejects the request; 429 is retried after
 * {@code Retry-After} (30 s when absent, as Amplitude asks): a request of one user is throttled (the router slows
 * down); a request of several is retried user by user by the router, so only the throttled users wait; 5xx and
 * network errors are retried; other statuses are permanent.
 */
public final class AmplitudeDestination implements DestinationType {

  public static final String NAME = "amplitude";
  public static final String DEFAULT_URL = "https://api2.amplitude.com/2/httpapi";
  /** Amplitude's limits per request. */
  public static final int MAX_EVENTS = 2000;
  public static final int MAX_BYTES = 1024 * 1024;
  static final Duration DEFAULT_429_WAIT = Duration.ofSeconds(30);
  static final Set<String> KEYS = Set.of("apiKey", "url", "groupType", "timeoutMs", "batch");

  record Settings(String apiKey, URI url, String groupType, int timeoutMs, int maxEvents) {
    static Settings read(ConfigReader config, EgressPolicy egress) {
      String apiKey = config.string("apiKey", null);
      if (apiKey == null && !config.has("apiKey")) {
        config.problem("apiKey", "missing: the Amplitude project's API key");
      } else if (apiKey != null && apiKey.isBlank()) {
        config.problem("apiKey", "must not be empty");
      }
      URI url = VendorHttp.url(config, "url", DEFAULT_URL, egress);
      String groupType = config.string("groupType", "company");
      if (groupType.isBlank()) {
        config.problem("groupType", "must not be empty: the group type of group calls, e.g. company");
      }
      int timeoutMs = (int) config.integer("timeoutMs", 10_000, 1, 600_000);
      ConfigReader batch = config.child("batch");
      batch.rejectUnknownKeys(Set.of("maxEvents"));
      int maxEvents = (int) batch.integer("maxEvents", 1000, 1, MAX_EVENTS);
      return new Settings(apiKey, url, groupType, timeoutMs, maxEvents);
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
  public void validate(ConfigReader config, EgressPolicy egress) {
    Settings.read(config, egress);
  }

  @Override
  public DestinationClient open(DestinationContext context) {
    ConfigReader config = context.config();
    Settings s = Settings.read(config, context.egress());
    config.throwIfInvalid(context.destination().id());
    return new Client(new VendorHttp(context.vertx(), s.url(), s.timeoutMs(), context.maxInFlight(), context.egress()),
        s);
  }

  /** The Amplitude event of one of our events (see the class comment); public for tests and docs. */
  public static JsonObject map(JsonObject e, String messageId, String groupType, Instant receivedAt) {
    String type = e.getString("type", "track");
    JsonObject out = new JsonObject();
    String userId = string(e, "userId");
    String anonymousId = string(e, "anonymousId");
    if (userId != null) {
      out.put("user_id", userId);
    }
    if (anonymousId != null) {
      out.put("device_id", anonymousId);
    }
    JsonObject props = object(e, "properties");
    JsonObject traits = object(e, "traits");
    JsonObject context = object(e, "context");
    if (traits == null && context != null) {
      traits = object(context, "traits");
    }
    switch (type) {
      case "track" -> {
        out.put("event_type", e.getString("event"));
        if (props != null) {
          out.put("event_properties", props);
        }
      }
      case "page", "screen" -> {
        String name = string(e, "name");
        if (name == null && props != null) {
          name = string(props, "name");
        }
        String kind = type.equals("page") ? "Page" : "Screen";
        out.put("event_type", name == null ? "Viewed " + kind : "Viewed " + name + " " + kind);
        if (props != null) {
          out.put("event_properties", props);
        }
      }
      case "identify" -> {
        out.put("event_type", "$identify");
        out.put("user_properties", new JsonObject().put("$set", traits == null ? new JsonObject() : traits));
      }
      case "group" -> {
        String groupId = string(e, "groupId");
        out.put("event_type", "$identify");
        out.put("groups", new JsonObject().put(groupType, groupId));
        out.put("user_properties", new JsonObject().put("$set", new JsonObject().put(groupType, groupId)));
        if (traits != null) {
          out.put("group_properties", traits);
        }
      }
      case "alias" -> {
        if (userId == null) {
          throw new IllegalArgumentException("an alias needs the new userId for Amplitude");
        }
        out.put("event_type", "$identify");
        out.put("user_properties", new JsonObject().put("$set",
            new JsonObject().put("previous_id", string(e, "previousId"))));
      }
      default -> throw new IllegalArgumentException("Amplitude takes track, identify, page, screen, group and alias;"
          + " not '" + type + "'");
    }
    if (!out.containsKey("user_id") && !out.containsKey("device_id")) {
      throw new IllegalArgumentException("the event has neither userId nor anonymousId; Amplitude needs one");
    }
    out.put("insert_id", messageId);
    Long time = millis(string(e, "timestamp"));
    if (time == null) {
      time = millis(string(e, "receivedAt"));
    }
    if (time == null && receivedAt != null) {
      time = receivedAt.toEpochMilli();
    }
    if (time != null) {
      out.put("time", time);
    }
    String ip = context == null ? null : string(context, "ip");
    if (ip == null) {
      ip = string(e, "request_ip");
    }
    if (ip != null) {
      out.put("ip", ip);
    }
    out.put("library", "eventpipe");
    return out;
  }

  static String string(JsonObject o, String key) {
    Object v = o.getValue(key);
    if (v == null) {
      return null;
    }
    String s = v.toString();
    return s.isEmpty() ? null : s;
  }

  static JsonObject object(JsonObject o, String key) {
    Object v = o.getValue(key);
    return v instanceof JsonObject j ? j : null;
  }

  static Long millis(String iso) {
    if (iso == null) {
      return null;
    }
    try {
      return Instant.parse(iso).toEpochMilli();
    } catch (DateTimeParseException e) {
      return null;
    }
  }

  static final class Client extends BatchClient {
    private final Settings settings;
    private final JsonObject envelope;
    private final int envelopeBytes;

    Client(VendorHttp http, Settings settings) {
      super(http, settings.maxEvents(), MAX_BYTES, 0, null);
      this.settings = settings;
      this.envelope = new JsonObject().put("api_key", settings.apiKey())
          .put("options", new JsonObject().put("min_id_length", 1));
      this.envelopeBytes = envelope.encode().length() + 16;
    }

    @Override
    JsonObject map(Event event, JsonObject payload) {
      return AmplitudeDestination.map(payload, event.messageId(), settings.groupType(), event.receivedAt());
    }

    @Override
    int envelopeBytes(int events) {
      return envelopeBytes + events;
    }

    @Override
    Future<VendorHttp.Answer> send(VendorHttp http, List<Item> items) {
      JsonArray events = new JsonArray();
      items.forEach(i -> events.add(i.json()));
      JsonObject body = envelope.copy().put("events", events);
      MultiMap headers = HttpHeaders.headers().set(HttpHeaders.CONTENT_TYPE, "application/json")
          .set(HttpHeaders.ACCEPT, "*/*");
      return http.post(null, headers, Buffer.buffer(body.encode()));
    }

    @Override
    Verdict classify(VendorHttp.Answer a, List<Item> items) {
      int status = a.status();
      if (status >= 200 && status < 300) {
        return new Accepted();
      }
      if (status == 413) {
        return new TooLarge(a.error());
      }
      if (status == 429) {
        Duration wait = RetryAfter.parse(a.headers().get(HttpHeaders.RETRY_AFTER), Instant.now());
        return new Retry(new DeliveryResult.Retryable(a.error(), wait == null ? DEFAULT_429_WAIT : wait,
            users(items) == 1));
      }
      if (status == 408 || status >= 500) {
        return new Retry(new DeliveryResult.Retryable(a.error(), RetryAfter.parse(
            a.headers().get(HttpHeaders.RETRY_AFTER), Instant.now()), false));
      }
      if (status == 400) {
        return new Invalid(invalidEvents(a, items.size()), true, a.error());
      }
      return new Refused(a.error());
    }

    /** The indexes a 400 names, each with why. */
    static Map<Integer, String> invalidEvents(VendorHttp.Answer a, int size) {
      Map<Integer, String> out = new LinkedHashMap<>();
      JsonObject body;
      try {
        body = new JsonObject(a.body());
      } catch (RuntimeException e) {
        return out;
      }
      for (String list : List.of("events_with_invalid_fields", "events_with_missing_fields",
          "events_with_invalid_id_lengths")) {
        JsonObject byField = object(body, list);
        if (byField == null) {
          continue;
        }
        for (String field : byField.fieldNames()) {
          Object v = byField.getValue(field);
          if (v instanceof JsonArray indexes) {
            for (Object i : indexes) {
              if (i instanceof Number n && n.intValue() >= 0 && n.intValue() < size) {
                out.putIfAbsent(n.intValue(), "Amplitude: " + list.replace('_', ' ') + ": " + field
                    + " (" + body.getString("error", "invalid") + ")");
              }
            }
          }
        }
      }
      Object silenced = body.getValue("silenced_events");
      if (silenced instanceof JsonArray indexes) {
        for (Object i : indexes) {
          if (i instanceof Number n && n.intValue() >= 0 && n.intValue() < size) {
            out.putIfAbsent(n.intValue(), "Amplitude: silenced event (its device is silenced)");
          }
        }
      }
      return out;
    }
  }
}
