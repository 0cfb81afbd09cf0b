package io.eventpipe.workspace;

import io.eventpipe.workspace.impl.SecretReferences;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads typed settings out of a destination's {@code config} mapping (plain Java values, as
 * {@link io.eventpipe.workspace.Destination#config()} holds them), collecting every problem with its path instead of
 * stopping at the first, so that an operator sees all mistakes of a file at once.
 *
 * <p>A reader is scoped to one mapping and a path prefix, e.g. {@code destinations[hook].config.retry}; nested
 * mappings get their own reader through {@link #child(String)} that shares the problem list.
 */
public final class ConfigReader {

  private final Map<String, Object> values;
  private final String path;
  private final List<String> problems;
  private final Map<String, String> secrets;

  private ConfigReader(Map<String, Object> values, String path, List<String> problems, Map<String, String> secrets) {
    this.values = values == null ? Map.of() : values;
    this.path = path;
    this.problems = problems;
    this.secrets = secrets;
  }

  /**
   * A reader of a destination's config; its path names the destination, e.g. {@code destinations[hook].config}. A secret
   * reference the loader could not resolve ({@code ${env:NAME}} not set, {@code ${file:/path}} unreadable) is a problem
   * naming the key and the variable or file; the problems {@link #throwIfInvalid} reports name the reference in place
   * of any secret value the loader substituted.
   */
  public static ConfigReader of(Destination destination) {
    ConfigReader reader = new ConfigReader(destination.config(), "destinations[" + destination.id() + "].config",
        new ArrayList<>(), destination.secrets());
    SecretReferences.unresolved(destination.config(), reader.path, reader.problems);
    return reader;
  }

  /** A reader of part of a destination's config that needs no secret checks (e.g. its fan-out filters). */
  public static ConfigReader of(String destinationId, Map<String, Object> config) {
    return new ConfigReader(config, "destinations[" + destinationId + "].config", new ArrayList<>(), Map.of());
  }

  public List<String> problems() {
    return problems;
  }

  public String path() {
    return path;
  }

  public boolean has(String key) {
    return values.get(key) != null;
  }

  /** Throws {@link InvalidDestinationConfigException} listing every problem found so far, if any. */
  public void throwIfInvalid(String destinationId) {
    if (!problems.isEmpty()) {
      throw new InvalidDestinationConfigException(destinationId,
          problems.stream().map(p -> SecretReferences.redact(p, secrets)).toList());
    }
  }

  /** Reports keys of this mapping that are not in {@code known}, so that a typo does not silently drop a setting. */
  public void rejectUnknownKeys(Set<String> known) {
    for (String key : values.keySet()) {
      if (!known.contains(key)) {
        problems.add(path + "." + key + ": unknown setting (known: " + String.join(", ", known.stream().sorted().toList()) + ")");
      }
    }
  }

  /** The nested mapping under {@code key}; an empty reader if absent, a problem if it is not a mapping. */
  @SuppressWarnings("unchecked")
  public ConfigReader child(String key) {
    Object v = values.get(key);
    String at = path + "." + key;
    if (v == null) {
      return new ConfigReader(Map.of(), at, problems, secrets);
    }
    if (!(v instanceof Map)) {
      problems.add(at + ": must be a mapping, got " + describe(v));
      return new ConfigReader(Map.of(), at, problems, secrets);
    }
    return new ConfigReader((Map<String, Object>) v, at, problems, secrets);
  }

  public String string(String key, String defaultValue) {
    Object v = values.get(key);
    if (v == null) {
      return defaultValue;
    }
    if (!(v instanceof String s)) {
      problems.add(path + "." + key + ": must be a string, got " + describe(v));
      return defaultValue;
    }
    return s;
  }

  /** A whole number in {@code [min, max]}, or {@code defaultValue} when absent. */
  public long integer(String key, long defaultValue, long min, long max) {
    Object v = values.get(key);
    if (v == null) {
      return defaultValue;
    }
    String at = path + "." + key;
    long n;
    if (v instanceof Integer || v instanceof Long || v instanceof Short || v instanceof Byte) {
      n = ((Number) v).longValue();
    } else if (v instanceof Number num && num.doubleValue() == Math.rint(num.doubleValue())
        && Math.abs(num.doubleValue()) < 9e15) {
      n = (long) num.doubleValue();
    } else {
      problems.add(at + ": must be a whole number in " + min + ".." + max + ", got " + describe(v));
      return defaultValue;
    }
    if (n < min || n > max) {
      problems.add(at + ": must be in " + min + ".." + max + ", got " + n);
      return defaultValue;
    }
    return n;
  }

  /** A positive finite number, or null when absent. */
  public Double positiveNumber(String key) {
    Object v = values.get(key);
    if (v == null) {
      return null;
    }
    if (!(v instanceof Number num) || !(num.doubleValue() > 0) || Double.isInfinite(num.doubleValue())) {
      problems.add(path + "." + key + ": must be a positive number, got " + describe(v));
      return null;
    }
    return num.doubleValue();
  }

  /** A list of strings, or null when absent. */
  public List<String> strings(String key) {
    Object v = values.get(key);
    if (v == null) {
      return null;
    }
    String at = path + "." + key;
    if (!(v instanceof List<?> list)) {
      problems.add(at + ": must be a list of strings, got " + describe(v));
      return null;
    }
    List<String> out = new ArrayList<>(list.size());
    for (int i = 0; i < list.size(); i++) {
      Object e = list.get(i);
      if (e instanceof String s) {
        out.add(s);
      } else {
        problems.add(at + "[" + i + "]: must be a string, got " + describe(e));
      }
    }
    return out;
  }

  /** A mapping of strings to scalars (numbers and booleans are turned into their text), or empty when absent. */
  public Map<String, String> stringMap(String key) {
    Object v = values.get(key);
    if (v == null) {
      return Map.of();
    }
    String at = path + "." + key;
    if (!(v instanceof Map<?, ?> map)) {
      problems.add(at + ": must be a mapping of names to values, got " + describe(v));
      return Map.of();
    }
    java.util.LinkedHashMap<String, String> out = new java.util.LinkedHashMap<>();
    for (Map.Entry<?, ?> e : map.entrySet()) {
      Object value = e.getValue();
      if (value instanceof String || value instanceof Number || value instanceof Boolean) {
        out.put(String.valueOf(e.getKey()), String.valueOf(value));
      } else {
        problems.add(at + "." + e.getKey() + ": must be a string, got " + describe(value));
      }
    }
    return out;
  }

  /** Records a problem found by the caller at {@code key}. */
  public void problem(String key, String message) {
    problems.add(path + "." + key + ": " + message);
  }

  static String describe(Object v) {
    if (v == null) {
      return "nothing";
    }
    if (v instanceof String s) {
      return "the string '" + (s.length() > 60 ? s.substring(0, 60) + "..." : s) + "'";
    }
    if (v instanceof Number || v instanceof Boolean) {
      return (v instanceof Number ? "the number " : "the boolean ") + v;
    }
    if (v instanceof List) {
      return "a list";
    }
    if (v instanceof Map) {
      return "a mapping";
    }
    return v.getClass().getSimpleName();
  }
}
