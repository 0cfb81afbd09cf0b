package io.eventpipe.destinations.vendors;

import static io.eventpipe.destinations.vendors.AmplitudeDestination.millis;
import static io.eventpipe.destinations.vendors.AmplitudeDestination.object;
import static io.eventpipe.destinations.vendors.AmplitudeDestination.string;

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
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * The {@code mixpanel} destination type: events to Mixpanel's Import API ({@code POST /import?strict=1}).
 *
 * <pre>{@code
 * config:
 *   token: ...                          # the project token: the Basic auth username (or serviceAccount below)
 *   serviceAccount: {username: ..., secret: ...}   # instead of the token; then projectId is required
 *   projectId: "123"                    # sent as project_id
 *   url: https://api.mixpanel.com/import   # default; https://api-eu.mixpanel.com/import for EU residency
 *   groupKey: company                   # the property that carries a group call's groupId (default company)
 *   timeoutMs: 10000
 *   batch: {maxEvents: 1000}            # events per request, at most 2000 (default 1000)
 * }</pre>
 *
 * <p>Mapping: {@code {"event": name, "properties": {...}}} with {@code time} (the timestamp, else the receivedAt, ms), {@code distinct_id}
 * (userId, else anonymousId), {@code $user_id}, {@code $device_id}, {@code ip} and {@code $insert_id}: the messageId
 * when it is at most 36 letters, digits and dashes (Mixpanel's rule), else a UUID derived from it (the same for every
 * retry, so Mixpanel still drops repeats). track: the event name and its properties. page: {@code Loaded a Page};
 * screen: {@code Loaded a Screen} (with {@code name}). identify: {@code $identify} with {@code $identified_id} and
 * {@code $anon_id} (Original ID Merge) and the traits. alias: {@code $create_alias} with {@code distinct_id} the
 * previousId and {@code alias} the userId. group: {@code $group} with {@code <groupKey>: groupId} and the traits (profile
 * updates, /engage and /groups, are not sent). Other types (merge) are rejected.
 *
 * <p>Limits and answers: at most 2,000 events and 10 MB per request (cut here before sending), 1 MB per event; 200
 * delivered; 400 with {@code failed_records} (strict mode): those events are rejected, the others were imported; a 400
 * without them rejects the request; 401 and 403 are permanent (a bad token or service account); 413 split in halves
 * and resent; 429 retried after Retry-After (the router backs off; a request of one user is throttled, one of several
 * is retried user by user); 5xx and network errors retried.
 */
public final class MixpanelDestination implements DestinationType {

  public static final String NAME = "mixpanel";
  public static final String DEFAULT_URL = "https://api.mixpanel.com/import";
  public static final int MAX_EVENTS = 2000;
  public static final int MAX_BYTES = 10 * 1024 * 1024;
  public static final int MAX_EVENT_BYTES = 1024 * 1024;
  static final Pattern INSERT_ID = Pattern.compile("[A-Za-z0-9-]{1,36}");
  static final Set<String> KEYS = Set.of("token", "serviceAccount", "projectId", "url", "groupKey", "timeoutMs",
      "batch");

  record Settings(String authorization, String projectId, URI url, String groupKey, int timeoutMs, int maxEvents) {
    static Settings read(ConfigReader config, EgressPolicy egress) {
      String token = config.string("token", null);
      ConfigReader account = config.child("serviceAccount");
      account.rejectUnknownKeys(Set.of("username", "secret"));
      String username = account.string("username", null);
      String secret = account.string("secret", null);
      String projectId = config.string("projectId", null);
      String auth = null;
      if (config.has("serviceAccount")) {
        if (username == null || secret == null || username.isBlank() || secret.isBlank()) {
          config.problem("serviceAccount", "needs username and secret");
        } else {
          auth = basic(username, secret);
        }
        if (projectId == null && !config.has("projectId")) {
          config.problem("projectId", "missing: a service account needs the project's id");
        } else if (projectId != null && projectId.isBlank()) {
          config.problem("projectId", "must not be empty: the project's id, e.g. \"4242\"");
        }
        if (token != null) {
          config.problem("token", "give either token or serviceAccount, not both");
        }
      } else if (token == null || token.isBlank()) {
        config.problem("token", "missing: the Mixpanel project token (or a serviceAccount with projectId)");
      } else {
        auth = basic(token, "");
      }
      URI url = VendorHttp.url(config, "url", DEFAULT_URL, egress);
      String groupKey = config.string("groupKey", "company");
      if (groupKey.isBlank()) {
        config.problem("groupKey", "must not be empty: the property that carries a group call's groupId, e.g. company");
      }
      int timeoutMs = (int) config.integer("timeoutMs", 10_000, 1, 600_000);
      ConfigReader batch = config.child("batch");
      batch.rejectUnknownKeys(Set.of("maxEvents"));
      int maxEvents = (int) batch.integer("maxEvents", 1000, 1, MAX_EVENTS);
      return new Settings(auth, projectId, url, groupKey, timeoutMs, maxEvents);
    }
  }

  static String basic(String user, String password) {
    return "Basic " + Base64.getEncoder().encodeToString((user + ":" + password).getBytes(StandardCharsets.UTF_8));
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

  /** Mixpanel's {@code $insert_id} for a messageId (see the class comment). */
  public static String insertId(String messageId) {
    return INSERT_ID.matcher(messageId).matches() ? messageId
        : UUID.nameUUIDFromBytes(messageId.getBytes(StandardCharsets.UTF_8)).toString();
  }

  /** The Mixpanel event of one of our events (see the class comment). */
  public static JsonObject map(JsonObject e, String messageId, String groupKey, Instant receivedAt) {
    String type = e.getString("type", "track");
    String userId = string(e, "userId");
    String anonymousId = string(e, "anonymousId");
    JsonObject props = object(e, "properties");
    JsonObject traits = object(e, "traits");
    JsonObject context = object(e, "context");
    if (traits == null && context != null) {
      traits = object(context, "traits");
    }
    JsonObject p = new JsonObject();
    String name;
    switch (type) {
      case "track" -> {
        name = e.getString("event");
        if (props != null) {
          p.mergeIn(props);
        }
      }
      case "page", "screen" -> {
        name = type.equals("page") ? "Loaded a Page" : "Loaded a Screen";
        if (props != null) {
          p.mergeIn(props);
        }
        String n = string(e, "name");
        if (n != null) {
          p.put("name", n);
        }
      }
      case "identify" -> {
        name = "$identify";
        if (traits != null) {
          p.mergeIn(traits);
        }
        if (userId == null) {
          throw new IllegalArgumentException("an identify needs a userId for Mixpanel's $identify");
        }
        p.put("$identified_id", userId);
        if (anonymousId != null) {
          p.put("$anon_id", anonymousId);
        }
      }
      case "alias" -> {
        if (userId == null) {
          throw new IllegalArgumentException("an alias needs the new userId for Mixpanel's $create_alias");
        }
        name = "$create_alias";
        p.put("alias", userId);
      }
      case "group" -> {
        name = "$group";
        if (traits != null) {
          p.mergeIn(traits);
        }
        p.put(groupKey, string(e, "groupId"));
      }
      default -> throw new IllegalArgumentException("Mixpanel takes track, identify, page, screen, group and alias;"
          + " not '" + type + "'");
    }
    String distinct = type.equals("alias") ? string(e, "previousId") : userId != null ? userId : anonymousId;
    if (distinct == null) {
      throw new IllegalArgumentException("the event has neither userId nor anonymousId; Mixpanel needs a distinct_id");
    }
    p.put("distinct_id", distinct);
    if (userId != null && !type.equals("alias")) {
      p.put("$user_id", userId);
    }
    if (anonymousId != null) {
      p.put("$device_id", anonymousId);
    }
    Long time = millis(string(e, "timestamp"));
    if (time == null) {
      time = millis(string(e, "receivedAt"));
    }
    if (time == null && receivedAt != null) {
      time = receivedAt.toEpochMilli(); // the job's own receivedAt
    }
    if (time == null) {
      throw new IllegalArgumentException("the event has no readable timestamp; Mixpanel's import needs its time");
    }
    p.put("time", time);
    String ip = context == null ? null : string(context, "ip");
    if (ip != null) {
      p.put("ip", ip);
    }
    p.put("$insert_id", insertId(messageId));
    return new JsonObject().put("event", name).put("properties", p);
  }

  static final class Client extends BatchClient {
    private final Settings settings;
    private final String query;

    Client(VendorHttp http, Settings settings) {
      super(http, settings.maxEvents(), MAX_BYTES, MAX_EVENT_BYTES, "1 MB");
      this.settings = settings;
      this.query = "strict=1" + (settings.projectId() == null ? ""
          : "&project_id=" + URLEncoder.encode(settings.projectId(), StandardCharsets.UTF_8));
    }

    @Override
    JsonObject map(Event event, JsonObject payload) {
      return MixpanelDestination.map(payload, event.messageId(), settings.groupKey(), event.receivedAt());
    }

    @Override
    int envelopeBytes(int events) {
      return 2 + events;
    }

    @Override
    Future<VendorHttp.Answer> send(VendorHttp http, List<Item> items) {
      JsonArray events = new JsonArray();
      items.forEach(i -> events.add(i.json()));
      MultiMap headers = HttpHeaders.headers().set(HttpHeaders.CONTENT_TYPE, "application/json")
          .set(HttpHeaders.ACCEPT, "application/json").set(HttpHeaders.AUTHORIZATION, settings.authorization());
      return http.post(query, headers, Buffer.buffer(events.encode()));
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
        return new Retry(new DeliveryResult.Retryable(a.error(),
            RetryAfter.parse(a.headers().get(HttpHeaders.RETRY_AFTER), Instant.now()), users(items) == 1));
      }
      if (status == 408 || status >= 500) {
        return new Retry(new DeliveryResult.Retryable(a.error(),
            RetryAfter.parse(a.headers().get(HttpHeaders.RETRY_AFTER), Instant.now()), false));
      }
      if (status == 400) {
        return new Invalid(failedRecords(a, items.size()), false, a.error());
      }
      return new Refused(a.error()); // 401, 403 and the rest: permanent
    }

    /** {@code failed_records} of a strict-mode 400: index &rarr; field and message. */
    static Map<Integer, String> failedRecords(VendorHttp.Answer a, int size) {
      Map<Integer, String> out = new LinkedHashMap<>();
      try {
        JsonArray failed = new JsonObject(a.body()).getJsonArray("failed_records");
        if (failed == null) {
          return out;
        }
        for (Object o : failed) {
          if (o instanceof JsonObject r && r.getValue("index") instanceof Number n && n.intValue() >= 0
              && n.intValue() < size) {
            out.put(n.intValue(), "Mixpanel: " + r.getString("field", "record") + ": " + r.getString("message", "invalid"));
          }
        }
      } catch (RuntimeException e) {
        return out;
      }
      return out;
    }
  }
}
