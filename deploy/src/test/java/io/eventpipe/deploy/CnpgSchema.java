package io.eventpipe.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import org.yaml.snakeyaml.Yaml;

/**
 * Checks a rendered CloudNativePG {@code Cluster} against the operator's CRD schema (the subset committed in
 * {@code src/test/resources/cnpg/cluster-v1-schema.yaml}): unknown fields, wrong types, missing required fields and
 * enum/pattern violations, each named by its path. fabric8 has no model of the Cluster, so this stands in for the
 * unknown-field check of {@link RenderedChart#typed}.
 */
final class CnpgSchema {

  private static final Map<String, Object> SCHEMA = load();

  private CnpgSchema() {}

  @SuppressWarnings("unchecked")
  private static Map<String, Object> load() {
    try (InputStream in = CnpgSchema.class.getResourceAsStream("/cnpg/cluster-v1-schema.yaml")) {
      return (Map<String, Object>) new Yaml().load(in);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static List<String> check(Map<String, Object> cluster) {
    List<String> out = new ArrayList<>();
    check(cluster, SCHEMA, "", out);
    return out;
  }

  @SuppressWarnings("unchecked")
  private static void check(Object value, Map<String, Object> schema, String path, List<String> out) {
    if (Boolean.TRUE.equals(schema.get("x-kubernetes-int-or-string"))) {
      if (!(value instanceof String || value instanceof Integer || value instanceof Long)) {
        out.add(path + ": not an int-or-string: " + value);
      }
      return;
    }
    String type = (String) schema.get("type");
    boolean ok = switch (type == null ? "" : type) {
      case "object" -> value instanceof Map;
      case "array" -> value instanceof List;
      case "string" -> value instanceof String;
      case "integer" -> value instanceof Integer || value instanceof Long;
      case "boolean" -> value instanceof Boolean;
      default -> true;
    };
    if (!ok) {
      out.add(path + ": not a " + type + ": " + value);
      return;
    }
    if (schema.get("enum") instanceof List<?> e && !e.contains(value)) {
      out.add(path + ": " + value + " is none of " + e);
    }
    if (schema.get("pattern") instanceof String p && !Pattern.compile(p).matcher((String) value).find()) {
      out.add(path + ": " + value + " does not match " + p);
    }
    if (schema.get("minimum") instanceof Integer min && ((Number) value).longValue() < min) {
      out.add(path + ": " + value + " is below " + min);
    }
    if (value instanceof Map<?, ?> m && !Boolean.TRUE.equals(schema.get("x-kubernetes-preserve-unknown-fields"))) {
      Map<String, Object> props = (Map<String, Object>) schema.get("properties");
      Map<String, Object> additional = (Map<String, Object>) schema.get("additionalProperties");
      for (Object r : (List<Object>) schema.getOrDefault("required", List.of())) {
        if (!m.containsKey(r)) {
          out.add(path + "." + r + ": required");
        }
      }
      m.forEach((k, v) -> {
        Map<String, Object> sub = props == null ? null : (Map<String, Object>) props.get(k);
        if (sub == null) {
          sub = additional;
        }
        if (sub == null) {
          out.add(path + "." + k + ": no such field");
        } else {
          check(v, sub, path + "." + k, out);
        }
      });
    }
    if (value instanceof List<?> l && schema.get("items") instanceof Map<?, ?> items) {
      for (int i = 0; i < l.size(); i++) {
        check(l.get(i), (Map<String, Object>) items, path + "[" + i + "]", out);
      }
    }
  }
}
