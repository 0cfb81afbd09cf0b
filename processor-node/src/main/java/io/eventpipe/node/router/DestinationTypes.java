package io.eventpipe.node.router;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/** The destination types a router knows, by name. Immutable; {@link #with} returns a copy. */
public final class DestinationTypes {

  private final Map<String, DestinationType> types;

  private DestinationTypes(Map<String, DestinationType> types) {
    this.types = Map.copyOf(types);
  }

  /** The built-in types: {@code webhook}. */
  public static DestinationTypes defaults() {
    return new DestinationTypes(Map.of()).with(new WebhookDestination());
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
