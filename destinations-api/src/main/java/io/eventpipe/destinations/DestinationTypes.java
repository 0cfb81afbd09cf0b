package io.eventpipe.destinations;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;

/** The destination types a router knows, by name. Immutable; {@link #with} returns a copy. */
public final class DestinationTypes {

  private final Map<String, DestinationType> types;

  private DestinationTypes(Map<String, DestinationType> types) {
    this.types = java.util.Collections.unmodifiableMap(new TreeMap<>(types));
  }

  /** No types. */
  public static DestinationTypes none() {
    return new DestinationTypes(Map.of());
  }

  /**
   * Every type on the classpath, found through {@link ServiceLoader} (each integration module lists its types in
   * {@code META-INF/services/io.eventpipe.destinations.DestinationType}).
   *
   * @throws IllegalStateException if two types have the same name
   */
  public static DestinationTypes installed() {
    return installed(DestinationTypes.class.getClassLoader());
  }

  /** {@link #installed()} from {@code loader}. */
  public static DestinationTypes installed(ClassLoader loader) {
    Map<String, DestinationType> found = new LinkedHashMap<>();
    for (DestinationType t : ServiceLoader.load(DestinationType.class, loader)) {
      DestinationType before = found.putIfAbsent(t.name(), t);
      if (before != null && before.getClass() != t.getClass()) {
        throw new IllegalStateException("two destination types are named '" + t.name() + "': "
            + before.getClass().getName() + " and " + t.getClass().getName());
      }
    }
    return new DestinationTypes(found);
  }

  /** A copy that also knows {@code type} (replacing a type of the same name). */
  public DestinationTypes with(DestinationType type) {
    Map<String, DestinationType> next = new LinkedHashMap<>(types);
    next.put(type.name(), type);
    return new DestinationTypes(next);
  }

  public Optional<DestinationType> get(String name) {
    return Optional.ofNullable(types.get(name));
  }

  public Set<String> names() {
    return types.keySet();
  }
}
