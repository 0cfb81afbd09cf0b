package io.eventpipe.workspace.impl;

import io.eventpipe.workspace.SecretPolicy;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Secret references in a destination's {@code config}: {@code ${env:NAME}} (an environment variable of the process) or
 * {@code ${file:/path}} (a file's content, one trailing newline dropped, as a mounted Kubernetes Secret holds it),
 * anywhere in a string value, substituted when the workspace loads. A reference that cannot be resolved stays in the
 * value as written (no escape: a literal {@code ${env:...}} in a value is a reference), and {@link #unresolved} makes it a problem of the destination (invalid, its jobs wait); the
 * resolved values are remembered only so that problems can name the reference instead ({@link #redact}). Only what the
 * process's {@link SecretPolicy} allows is read; a reference it refuses stays as written too, and its problem says why.
 */
public final class SecretReferences {

  private static final Pattern REFERENCE = Pattern.compile("\\$\\{(env|file):([^}]+)}");

  private final Function<String, String> env;
  /** Resolved value → the reference text it came from. */
  private final Map<String, String> resolved = new LinkedHashMap<>();

  public SecretReferences(Function<String, String> env) {
    this.env = env;
  }

  /** What was resolved: value → reference text (never print the keys). */
  public Map<String, String> resolved() {
    return Collections.unmodifiableMap(resolved);
  }

  /** The config with every resolvable reference substituted (maps and lists rebuilt, unmodifiable). */
  @SuppressWarnings("unchecked")
  public Object resolve(Object value) {
    if (value instanceof String s) {
      return resolveString(s);
    }
    if (value instanceof Map<?, ?> m) {
      Map<String, Object> out = new LinkedHashMap<>();
      for (Map.Entry<String, Object> e : ((Map<String, Object>) m).entrySet()) {
        out.put(e.getKey(), resolve(e.getValue()));
      }
      return Collections.unmodifiableMap(out);
    }
    if (value instanceof List<?> l) {
      List<Object> out = new ArrayList<>(l.size());
      for (Object o : l) {
        out.add(resolve(o));
      }
      return Collections.unmodifiableList(out);
    }
    return value;
  }

  private String resolveString(String s) {
    Matcher m = REFERENCE.matcher(s);
    if (!m.find()) {
      return s;
    }
    StringBuilder out = new StringBuilder();
    m.reset();
    boolean allResolved = true;
    while (m.find()) {
      String value = lookup(m.group(1), m.group(2));
      if (value == null) {
        allResolved = false;
        value = m.group();
      } else if (!value.isEmpty()) {
        resolved.putIfAbsent(value, m.group());
      }
      m.appendReplacement(out, Matcher.quoteReplacement(value));
    }
    m.appendTail(out);
    // a reference left as written is a problem of the destination (see unresolved), which is then not used
    String result = out.toString();
    if (allResolved && !result.equals(s)) {
      resolved.putIfAbsent(result, s);
    }
    return result;
  }

  private String lookup(String kind, String name) {
    if (SecretPolicy.current().refusal(kind, name) != null) {
      return null;
    }
    if (kind.equals("env")) {
      return env.apply(name);
    }
    try {
      String content = Files.readString(Path.of(name), StandardCharsets.UTF_8);
      if (content.endsWith("\r\n")) {
        return content.substring(0, content.length() - 2);
      }
      return content.endsWith("\n") ? content.substring(0, content.length() - 1) : content;
    } catch (IOException | RuntimeException e) {
      return null;
    }
  }

  /**
   * One problem per reference left in the config ({@code path} names the destination's config, e.g.
   * {@code destinations[hook].config}): each names the key and the variable or file.
   */
  public static void unresolved(Object value, String path, List<String> problems) {
    if (value instanceof String s) {
      Matcher m = REFERENCE.matcher(s);
      while (m.find()) {
        String refused = SecretPolicy.current().refusal(m.group(1), m.group(2));
        problems.add(path + ": " + m.group() + " cannot be resolved: " + (refused != null ? refused : m.group(1).equals("env")
            ? "the environment variable " + m.group(2) + " is not set"
            : "the file " + m.group(2) + " is missing or unreadable") + " (a secret reference)");
      }
    } else if (value instanceof Map<?, ?> map) {
      for (Map.Entry<?, ?> e : map.entrySet()) {
        unresolved(e.getValue(), path + "." + e.getKey(), problems);
      }
    } else if (value instanceof List<?> l) {
      for (int i = 0; i < l.size(); i++) {
        unresolved(l.get(i), path + "[" + i + "]", problems);
      }
    }
  }

  /** {@code message} with every resolved secret value replaced by the reference it came from (longest first). */
  public static String redact(String message, Map<String, String> secrets) {
    String out = message;
    List<Map.Entry<String, String>> bySize = new ArrayList<>(secrets.entrySet());
    bySize.sort((a, b) -> Integer.compare(b.getKey().length(), a.getKey().length()));
    for (Map.Entry<String, String> e : bySize) {
      out = out.replace(e.getKey(), e.getValue());
      if (e.getKey().length() > 60) {
        out = out.replace(e.getKey().substring(0, 60), e.getValue()); // ConfigReader.describe cuts strings at 60
      }
    }
    return out;
  }
}
