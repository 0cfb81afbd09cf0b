package io.eventpipe.destinations;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.eventpipe.workspace.ConfigReader;
import io.vertx.core.Future;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A destination's mapping without code: its {@code config.mapping}, applied by the router to each event before the
 * integration sees it (as RudderStack's destination config filters and maps events). The steps run in this order:
 *
 * <pre>{@code
 * mapping:
 *   events: {allow: [Order Completed, page], deny: [Debug]}  # 1. filter by event name (a track's event, else its type)
 *   eventNames: {Order Completed: purchase}                    # 2. rename track events (the event field)
 *   rename: {properties.price: properties.revenue}             # 3. move a field (dot paths into objects)
 *   drop: [context.ip, properties.email]                       # 4. remove fields
 *   set: {context.app.name: shop, properties.currency: EUR}    # 5. set fields to constants (any YAML scalar or tree)
 * }</pre>
 *
 * <p>An event the filter drops counts as delivered (nothing to send); an event whose payload is not a JSON object is
 * rejected. Paths are dot-separated names of object fields; a path through something that is not an object does
 * nothing (rename, drop) or replaces it with an object (set).
 */
public final class Mapping {

  /** The config keys under {@code mapping}. */
  public static final Set<String> KEYS = Set.of("events", "eventNames", "rename", "drop", "set");

  private static final ObjectMapper JSON = new ObjectMapper();

  /** The identity: no mapping configured. */
  public static final Mapping NONE = new Mapping(null, null, Map.of(), Map.of(), List.of(), Map.of());

  private final Set<String> allow;
  private final Set<String> deny;
  private final Map<String, String> eventNames;
  private final Map<List<String>, List<String>> rename;
  private final List<List<String>> drop;
  private final Map<List<String>, JsonNode> set;

  private Mapping(Set<String> allow, Set<String> deny, Map<String, String> eventNames,
      Map<List<String>, List<String>> rename, List<List<String>> drop, Map<List<String>, JsonNode> set) {
    this.allow = allow;
    this.deny = deny;
    this.eventNames = eventNames;
    this.rename = rename;
    this.drop = drop;
    this.set = set;
  }

  /**
   * Reads a destination's {@code mapping} ({@code config} reads the destination's whole config), adding every problem
   * with its key; {@link #NONE} if it has none.
   */
  public static Mapping read(io.eventpipe.workspace.Destination destination, ConfigReader config) {
    if (!config.has("mapping")) {
      return NONE;
    }
    ConfigReader m = config.child("mapping");
    m.rejectUnknownKeys(KEYS);
    ConfigReader events = m.child("events");
    events.rejectUnknownKeys(Set.of("allow", "deny"));
    List<String> allow = events.strings("allow");
    List<String> deny = events.strings("deny");
    Map<String, String> names = m.stringMap("eventNames");
    for (Map.Entry<String, String> e : names.entrySet()) {
      if (e.getValue().isEmpty()) {
        m.problem("eventNames." + e.getKey(), "must be a non-empty event name");
      }
    }
    Map<List<String>, List<String>> rename = new LinkedHashMap<>();
    m.stringMap("rename").forEach((from, to) -> {
      List<String> f = path(m, "rename", from);
      List<String> t = path(m, "rename." + from, to);
      if (f != null && t != null) {
        rename.put(f, t);
      }
    });
    List<List<String>> drop = new ArrayList<>();
    List<String> dropped = m.strings("drop");
    if (dropped != null) {
      for (String d : dropped) {
        List<String> p = path(m, "drop", d);
        if (p != null) {
          drop.add(p);
        }
      }
    }
    Map<List<String>, JsonNode> set = new LinkedHashMap<>();
    Object rawSet = configValue(destination, "set");
    if (rawSet != null && !(rawSet instanceof Map)) {
      m.problem("set", "must be a mapping of field paths to values");
    } else if (rawSet instanceof Map<?, ?> values) {
      for (Map.Entry<?, ?> e : values.entrySet()) {
        List<String> p = path(m, "set", String.valueOf(e.getKey()));
        if (p != null) {
          set.put(p, JSON.valueToTree(e.getValue()));
        }
      }
    }
    return new Mapping(allow == null ? null : Set.copyOf(allow), deny == null ? null : Set.copyOf(deny),
        Map.copyOf(names), rename, List.copyOf(drop), set);
  }

  @SuppressWarnings("unchecked")
  private static Object configValue(io.eventpipe.workspace.Destination destination, String key) {
    // the reader has typed getters only; a set value may be any tree
    Object mapping = destination.config().get("mapping");
    return mapping instanceof Map ? ((Map<String, Object>) mapping).get(key) : null;
  }

  private static List<String> path(ConfigReader m, String key, String path) {
    List<String> parts = List.of(path.split("\\.", -1));
    if (path.isEmpty() || parts.stream().anyMatch(String::isEmpty)) {
      m.problem(key, "'" + path + "' is not a field path (names separated by single dots, e.g. properties.price)");
      return null;
    }
    return parts;
  }

  /** True if this mapping changes nothing. */
  public boolean isNone() {
    return allow == null && deny == null && eventNames.isEmpty() && rename.isEmpty() && drop.isEmpty() && set.isEmpty();
  }

  /** Thrown for an event this mapping cannot apply to (its payload is not a JSON object). */
  public static final class UnmappableException extends Exception {
    private static final long serialVersionUID = 1L;

    UnmappableException(String message) {
      super(message, null, false, false);
    }
  }

  /**
   * The event as the destination receives it, or null if the filter drops it.
   *
   * @throws UnmappableException if its payload is not a JSON object
   */
  public Event apply(Event event) throws UnmappableException {
    if (isNone()) {
      return event;
    }
    JsonNode tree;
    try {
      tree = JSON.readTree(event.payload());
    } catch (java.io.IOException e) {
      throw new UnmappableException("the event is not valid JSON: " + e.getMessage());
    }
    if (!(tree instanceof ObjectNode root)) {
      throw new UnmappableException("the event is not a JSON object");
    }
    String name = eventName(root);
    if (allow != null && !allow.contains(name) || deny != null && deny.contains(name)) {
      return null;
    }
    if ("track".equals(text(root.get("type"))) && name != null && eventNames.containsKey(name)) {
      root.put("event", eventNames.get(name));
    }
    for (Map.Entry<List<String>, List<String>> r : rename.entrySet()) {
      JsonNode v = remove(root, r.getKey());
      if (v != null) {
        put(root, r.getValue(), v);
      }
    }
    for (List<String> p : drop) {
      remove(root, p);
    }
    for (Map.Entry<List<String>, JsonNode> s : set.entrySet()) {
      put(root, s.getKey(), s.getValue().deepCopy());
    }
    try {
      return event.withPayload(JSON.writeValueAsBytes(root));
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new UnmappableException("the mapped event cannot be written: " + e.getMessage());
    }
  }

  /** A track event's {@code event}, else its {@code type} ({@code page}, {@code identify}, ...). */
  static String eventName(ObjectNode root) {
    String type = text(root.get("type"));
    if (type == null || "track".equals(type)) {
      String event = text(root.get("event"));
      return event != null ? event : type;
    }
    return type;
  }

  private static String text(JsonNode n) {
    return n != null && n.isTextual() ? n.asText() : null;
  }

  private static JsonNode remove(ObjectNode root, List<String> path) {
    ObjectNode at = root;
    for (int i = 0; i < path.size() - 1; i++) {
      if (!(at.get(path.get(i)) instanceof ObjectNode next)) {
        return null;
      }
      at = next;
    }
    return at.remove(path.get(path.size() - 1));
  }

  private static void put(ObjectNode root, List<String> path, JsonNode value) {
    ObjectNode at = root;
    for (int i = 0; i < path.size() - 1; i++) {
      at = at.get(path.get(i)) instanceof ObjectNode o ? o : at.putObject(path.get(i));
    }
    at.set(path.get(path.size() - 1), value);
  }

  /**
   * {@code client} behind this mapping: each call maps the events, sends the kept ones, and answers for all of them
   * (a dropped event is delivered; an unmappable one rejected). {@code client} itself if this mapping is
   * {@link #NONE}.
   */
  public DestinationClient wrap(DestinationClient client) {
    if (isNone()) {
      return client;
    }
    return new DestinationClient() {
      @Override
      public int maxEventsPerRequest() {
        return client.maxEventsPerRequest();
      }

      @Override
      public Future<DeliveryResult> deliver(List<Event> events, String node) {
        List<Event> kept = new ArrayList<>(events.size());
        Map<Long, String> unmappable = new HashMap<>();
        for (Event e : events) {
          try {
            Event mapped = apply(e);
            if (mapped != null) {
              kept.add(mapped);
            }
          } catch (UnmappableException x) {
            unmappable.put(e.jobId(), "mapping: " + x.getMessage());
          }
        }
        if (kept.isEmpty()) {
          return Future.succeededFuture(unmappable.isEmpty() ? DeliveryResult.DELIVERED
              : unmappable.size() == events.size() ? new DeliveryResult.Rejected(unmappable.values().iterator().next())
              : new DeliveryResult.Partial(unmappable));
        }
        Future<DeliveryResult> sent = client.deliver(kept, node);
        if (unmappable.isEmpty()) {
          return sent;
        }
        return sent.map(r -> {
          if (r instanceof DeliveryResult.Delivered) {
            return new DeliveryResult.Partial(unmappable);
          }
          if (r instanceof DeliveryResult.Partial p) {
            Map<Long, String> all = new HashMap<>(p.rejected());
            all.putAll(unmappable);
            return new DeliveryResult.Partial(all);
          }
          return r;
        });
      }

      @Override
      public Future<Void> close() {
        return client.close();
      }
    };
  }
}
