package io.eventpipe.workspace;

import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A destination of the workspace and the sources connected to it.
 *
 * @param id stable identifier
 * @param type the destination type, e.g. {@code webhook}
 * @param enabled a disabled destination receives nothing
 * @param sources ids of the sources whose events it receives (unmodifiable)
 * @param config type-specific settings as plain Java values (maps, lists, strings, numbers, booleans, null;
 *     unmodifiable); may hold secrets, so {@link #toString()} prints only its keys
 * @param secrets the secret values the workspace file referenced ({@code ${env:NAME}}, {@code ${file:/path}}) and the
 *     loader substituted into {@code config}, each mapped to the reference it came from, so that problems name the
 *     reference instead of the value ({@link ConfigReader#of(Destination)}); never print it
 */
public record Destination(String id, String type, boolean enabled, List<String> sources, Map<String, Object> config,
    Map<String, String> secrets) {

  /** A destination whose config references no secrets. */
  public Destination(String id, String type, boolean enabled, List<String> sources, Map<String, Object> config) {
    this(id, type, enabled, sources, config, Map.of());
  }

  public Destination {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(type, "type");
    if (id.isEmpty() || type.isEmpty()) {
      throw new IllegalArgumentException("a destination needs a non-empty id and type");
    }
    sources = sources == null ? List.of() : List.copyOf(sources);
    config = config == null ? Map.of() : config;
    secrets = secrets == null ? Map.of() : Map.copyOf(secrets);
  }

  @Override
  public String toString() {
    return "Destination[id=" + id + ", type=" + type + ", enabled=" + enabled + ", sources=" + sources
        + ", config=" + config.keySet() + "]";
  }
}
