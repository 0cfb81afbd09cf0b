package io.eventpipe.workspace.impl;

import io.eventpipe.workspace.WriteKeys;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.EgressPolicy;
import io.eventpipe.workspace.InvalidWorkspaceConfigException;
import io.eventpipe.workspace.RateLimit;
import io.eventpipe.workspace.Source;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/** Reads {@link io.eventpipe.workspace.WorkspaceConfig} YAML, collecting every problem with its path. */
public final class WorkspaceConfigReader {

  private static final YAMLMapper YAML = new YAMLMapper(
      YAMLFactory.builder().enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build());

  private static final Set<String> TOP_LEVEL = Set.of("sources", "destinations", "egress");
  private static final Set<String> EGRESS_KEYS = Set.of("allow", "deny");
  private static final Set<String> SOURCE_KEYS = Set.of("id", "name", "writeKey", "enabled", "rateLimit");
  private static final Set<String> DESTINATION_KEYS = Set.of("id", "type", "enabled", "sources", "config");
  private static final Set<String> RATE_LIMIT_KEYS = Set.of("eventsPerSecond", "burst", "perKeyEventsPerSecond");

  private final List<String> problems = new ArrayList<>();
  private final Function<String, String> env;

  private WorkspaceConfigReader(Function<String, String> env) {
    this.env = env;
  }

  /**
   * Parses and validates YAML.
   *
   * @throws InvalidWorkspaceConfigException listing every problem
   */
  public static Parts read(byte[] yaml, String origin) {
    return read(yaml, origin, System::getenv);
  }

  /**
   * Parses and validates YAML, resolving the secret references of destination configs ({@link SecretReferences})
   * with {@code env} as the environment.
   *
   * @throws InvalidWorkspaceConfigException listing every problem
   */
  public static Parts read(byte[] yaml, String origin, Function<String, String> env) {
    JsonNode root;
    try {
      root = YAML.readTree(yaml);
    } catch (JacksonException e) {
      JsonLocation at = e.getLocation();
      String where = at == null ? "" : "line " + at.getLineNr() + ", column " + at.getColumnNr() + ": ";
      throw new InvalidWorkspaceConfigException(origin, List.of(where + "not valid YAML: " + e.getOriginalMessage()), e);
    } catch (IOException e) {
      throw new InvalidWorkspaceConfigException(origin, List.of("cannot read: " + e.getMessage()), e);
    }
    WorkspaceConfigReader reader = new WorkspaceConfigReader(env);
    Parts parts = reader.root(root);
    if (!reader.problems.isEmpty()) {
      throw new InvalidWorkspaceConfigException(origin, reader.problems, null);
    }
    return parts;
  }

  /** The validated sources, destinations and egress policy of a file. */
  public record Parts(List<Source> sources, List<Destination> destinations, EgressPolicy egress) {}

  private Parts root(JsonNode root) {
    if (root == null || root.isMissingNode() || root.isNull()) {
      problems.add("the file is empty; it needs at least 'sources:' (an empty list [] is allowed)");
      return null;
    }
    if (!root.isObject()) {
      problems.add("the top level must be a mapping with 'sources' and 'destinations', got " + kind(root));
      return null;
    }
    unknownKeys(root, TOP_LEVEL, "");
    JsonNode sourcesNode = root.get("sources");
    List<Source> sources = new ArrayList<>();
    if (sourcesNode == null) {
      problems.add("sources: missing; list the sources (an empty list [] is allowed)");
    } else if (!sourcesNode.isArray()) {
      problems.add("sources: must be a list, got " + kind(sourcesNode));
    } else {
      for (int i = 0; i < sourcesNode.size(); i++) {
        sources.add(source(sourcesNode.get(i), "sources[" + i + "]"));
      }
    }
    JsonNode destinationsNode = root.get("destinations");
    List<Destination> destinations = new ArrayList<>();
    if (destinationsNode != null && !destinationsNode.isNull()) {
      if (!destinationsNode.isArray()) {
        problems.add("destinations: must be a list, got " + kind(destinationsNode));
      } else {
        for (int i = 0; i < destinationsNode.size(); i++) {
          destinations.add(destination(destinationsNode.get(i), "destinations[" + i + "]"));
        }
      }
    }
    EgressPolicy egress = egress(root.get("egress"));
    WorkspaceChecks.crossCheck(sources, destinations, problems);
    return problems.isEmpty() ? new Parts(sources, destinations, egress) : null;
  }

  /** {@code egress: {allow: [cidr...], deny: [cidr...]}}; absent means {@link EgressPolicy#defaults()}. */
  private EgressPolicy egress(JsonNode node) {
    if (node == null || node.isNull()) {
      return EgressPolicy.defaults();
    }
    if (!node.isObject()) {
      problems.add("egress: must be a mapping like {allow: [127.0.0.0/8], deny: [10.0.0.0/8]}, got " + kind(node));
      return EgressPolicy.defaults();
    }
    unknownKeys(node, EGRESS_KEYS, "egress.");
    List<String> allow = cidrs(node.get("allow"), "egress.allow");
    List<String> deny = cidrs(node.get("deny"), "egress.deny");
    return EgressPolicy.of(allow, deny); // bad entries were reported: the file is rejected as a whole
  }

  private List<String> cidrs(JsonNode node, String path) {
    List<String> out = new ArrayList<>();
    if (node == null || node.isNull()) {
      return out;
    }
    if (!node.isArray()) {
      problems.add(path + ": must be a list of CIDR blocks or addresses, got " + kind(node));
      return out;
    }
    for (int i = 0; i < node.size(); i++) {
      JsonNode e = node.get(i);
      String problem = e.isTextual() ? EgressPolicy.ruleProblem(e.textValue()) : "must be a string, got " + kind(e);
      if (problem == null) {
        out.add(e.textValue().trim());
      } else {
        problems.add(path + "[" + i + "]: " + problem);
      }
    }
    return out;
  }

  private Source source(JsonNode node, String path) {
    if (!node.isObject()) {
      problems.add(path + ": must be a mapping with id and writeKey, got " + kind(node));
      return null;
    }
    String id = identifier(node, "id", path, 128);
    JsonNode nameNode = node.get("name");
    String name = null;
    if (nameNode != null && !nameNode.isNull()) {
      if (nameNode.isTextual()) {
        name = nameNode.textValue();
      } else {
        problems.add(path + ".name: must be a string, got " + kind(nameNode) + " (quote it)");
      }
    }
    String writeKey = writeKey(node, path);
    boolean enabled = enabled(node, path);
    RateLimit rateLimit = rateLimit(node.get("rateLimit"), path + ".rateLimit");
    Map<String, Object> extra = new LinkedHashMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> field = it.next();
      if (!SOURCE_KEYS.contains(field.getKey())) {
        extra.put(field.getKey(), toJava(field.getValue()));
      }
    }
    if (extra.containsKey(io.eventpipe.workspace.WebhookSource.KEY)) {
      // a signing secret may be a reference (${env:NAME}, ${file:/path}), resolved here as a destination's config is
      Object webhook = new SecretReferences(env).resolve(extra.get(io.eventpipe.workspace.WebhookSource.KEY));
      extra.put(io.eventpipe.workspace.WebhookSource.KEY, webhook);
      SecretReferences.unresolved(webhook, path + "." + io.eventpipe.workspace.WebhookSource.KEY, problems);
      problems.addAll(io.eventpipe.workspace.WebhookSource.problems(extra.get(io.eventpipe.workspace.WebhookSource.KEY),
          path + "." + io.eventpipe.workspace.WebhookSource.KEY));
    }
    if (id == null || writeKey == null) {
      return null;
    }
    return new Source(id, name, writeKey, enabled, rateLimit, Collections.unmodifiableMap(extra));
  }

  private Destination destination(JsonNode node, String path) {
    if (!node.isObject()) {
      problems.add(path + ": must be a mapping with id, type and sources, got " + kind(node));
      return null;
    }
    unknownKeys(node, DESTINATION_KEYS, path + ".");
    String id = identifier(node, "id", path, 128);
    String type = identifier(node, "type", path, 128);
    boolean enabled = enabled(node, path);
    List<String> sources = new ArrayList<>();
    JsonNode sourcesNode = node.get("sources");
    if (sourcesNode != null && !sourcesNode.isNull()) {
      if (!sourcesNode.isArray()) {
        problems.add(path + ".sources: must be a list of source ids, got " + kind(sourcesNode));
      } else {
        for (int j = 0; j < sourcesNode.size(); j++) {
          JsonNode ref = sourcesNode.get(j);
          if (ref.isTextual() && !ref.textValue().isEmpty()) {
            sources.add(ref.textValue());
          } else {
            problems.add(path + ".sources[" + j + "]: must be a source id (a non-empty string), got " + kind(ref));
          }
        }
      }
    }
    Map<String, Object> config = Map.of();
    SecretReferences secrets = new SecretReferences(env);
    JsonNode configNode = node.get("config");
    if (configNode != null && !configNode.isNull()) {
      if (!configNode.isObject()) {
        problems.add(path + ".config: must be a mapping, got " + kind(configNode));
      } else {
        @SuppressWarnings("unchecked")
        Map<String, Object> converted = (Map<String, Object>) secrets.resolve(toJava(configNode));
        config = converted;
      }
    }
    if (id == null || type == null) {
      return null;
    }
    return new Destination(id, type, enabled, sources, config, secrets.resolved());
  }

  private String identifier(JsonNode parent, String field, String path, int maxLength) {
    JsonNode node = parent.get(field);
    String at = path + "." + field;
    if (node == null || node.isNull()) {
      problems.add(at + ": missing");
      return null;
    }
    if (!node.isTextual()) {
      problems.add(at + ": must be a string, got " + kind(node) + " " + node.asText()
          + (node.isBoolean() ? " (YAML reads yes/no/on/off as booleans; quote it)" : " (quote it)"));
      return null;
    }
    String value = node.textValue();
    if (value.isEmpty()) {
      problems.add(at + ": must not be empty");
      return null;
    }
    if (value.length() > maxLength) {
      problems.add(at + ": longer than " + maxLength + " characters");
      return null;
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (Character.isWhitespace(c) || Character.isISOControl(c)) {
        problems.add(at + ": '" + value + "' contains whitespace or a control character");
        return null;
      }
    }
    return value;
  }

  private String writeKey(JsonNode parent, String path) {
    JsonNode node = parent.get("writeKey");
    String at = path + ".writeKey";
    if (node == null || node.isNull()) {
      problems.add(at + ": missing; every source needs the write key its SDK sends");
      return null;
    }
    if (!node.isTextual()) {
      problems.add(at + ": must be a string, got " + kind(node) + " (quote it)");
      return null;
    }
    String value = node.textValue();
    if (value.isEmpty()) {
      problems.add(at + ": must not be empty");
      return null;
    }
    if (WriteKeys.tooLong(value)) {
      problems.add(at + ": is " + value.length() + " characters long, over the limit of " + WriteKeys.MAX_CHARS
          + " (the gateway refuses longer keys before looking them up)");
      return null;
    }
    for (int i = 0; i < value.length(); i++) {
      char c = value.charAt(i);
      if (c == ':' || Character.isWhitespace(c) || Character.isISOControl(c)) {
        problems.add(at + ": must not contain ':', whitespace or control characters "
            + "(HTTP Basic auth cannot carry them)");
        return null;
      }
    }
    return value;
  }

  private boolean enabled(JsonNode parent, String path) {
    JsonNode node = parent.get("enabled");
    if (node == null) {
      return true;
    }
    if (!node.isBoolean()) {
      problems.add(path + ".enabled: must be true or false, got " + kind(node) + " '" + node.asText() + "'");
      return true;
    }
    return node.booleanValue();
  }

  private RateLimit rateLimit(JsonNode node, String path) {
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isObject()) {
      problems.add(path + ": must be a mapping like {eventsPerSecond: 100}, got " + kind(node));
      return null;
    }
    unknownKeys(node, RATE_LIMIT_KEYS, path + ".");
    JsonNode rate = node.get("eventsPerSecond");
    if (rate == null || !rate.isNumber() || !(rate.doubleValue() > 0) || Double.isInfinite(rate.doubleValue())) {
      problems.add(path + ".eventsPerSecond: must be a positive number, got "
          + (rate == null ? "nothing" : kind(rate) + " '" + rate.asText() + "'"));
      return null;
    }
    JsonNode perKey = node.get("perKeyEventsPerSecond");
    double perKeyRate = 0;
    if (perKey != null && !perKey.isNull()) {
      if (!perKey.isNumber() || !(perKey.doubleValue() > 0) || Double.isInfinite(perKey.doubleValue())) {
        problems.add(path + ".perKeyEventsPerSecond: must be a positive number, got " + kind(perKey) + " '"
            + perKey.asText() + "'");
        return null;
      }
      perKeyRate = perKey.doubleValue();
    }
    JsonNode burst = node.get("burst");
    if (burst == null || burst.isNull()) {
      return RateLimit.perSecond(rate.doubleValue()).withPerKey(perKeyRate);
    }
    if (!burst.isNumber() || !(burst.doubleValue() >= 1) || Double.isInfinite(burst.doubleValue())) {
      problems.add(path + ".burst: must be a number >= 1, got " + kind(burst) + " '" + burst.asText() + "'");
      return null;
    }
    return new RateLimit(rate.doubleValue(), burst.doubleValue(), perKeyRate);
  }

  private void unknownKeys(JsonNode node, Set<String> known, String prefix) {
    for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
      String key = it.next();
      if (!known.contains(key)) {
        problems.add(prefix + key + ": unknown key (known: " + String.join(", ", known.stream().sorted().toList())
            + ")");
      }
    }
  }

  /** Converts a YAML tree to unmodifiable maps and lists of plain Java values. */
  static Object toJava(JsonNode node) {
    switch (node.getNodeType()) {
      case OBJECT: {
        Map<String, Object> map = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = ((ObjectNode) node).fields(); it.hasNext(); ) {
          Map.Entry<String, JsonNode> field = it.next();
          map.put(field.getKey(), toJava(field.getValue()));
        }
        return Collections.unmodifiableMap(map);
      }
      case ARRAY: {
        List<Object> list = new ArrayList<>(node.size());
        for (JsonNode element : node) {
          list.add(toJava(element));
        }
        return Collections.unmodifiableList(list);
      }
      case STRING:
        return node.textValue();
      case NUMBER:
        return node.numberValue();
      case BOOLEAN:
        return node.booleanValue();
      case BINARY:
        try {
          return node.binaryValue();
        } catch (IOException e) {
          return node.asText();
        }
      default:
        return null;
    }
  }

  private static String kind(JsonNode node) {
    switch (node.getNodeType()) {
      case STRING: return "a string";
      case NUMBER: return "a number";
      case BOOLEAN: return "a boolean";
      case ARRAY: return "a list";
      case OBJECT: return "a mapping";
      case NULL: return "null";
      default: return node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }
  }
}
