package io.eventpipe.node.processor;

import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.InvalidDestinationConfigException;
import java.util.List;
import java.util.Set;

/**
 * Which events a destination receives, from the optional lists of its config:
 *
 * <pre>{@code
 * config:
 *   eventTypes: {allow: [track, identify], deny: [page]}   # by the event's type
 *   eventNames: {allow: [Order Completed], deny: [...]}     # by the event name of track events
 * }</pre>
 *
 * An event passes when its type is in {@code eventTypes.allow} (if given) and not in {@code eventTypes.deny}, and,
 * for a track event, its name is in {@code eventNames.allow} (if given) and not in {@code eventNames.deny}. Name
 * lists do not apply to other types. Matching is exact and case-sensitive, as the SDKs send the values. An empty
 * {@code allow} list lets nothing through.
 */
public final class EventFilter {

  /** Lets everything through. */
  public static final EventFilter ALL = new EventFilter(null, Set.of(), null, Set.of());

  private static final Set<String> LIST_KEYS = Set.of("allow", "deny");

  private final Set<String> allowTypes;
  private final Set<String> denyTypes;
  private final Set<String> allowNames;
  private final Set<String> denyNames;

  private EventFilter(Set<String> allowTypes, Set<String> denyTypes, Set<String> allowNames, Set<String> denyNames) {
    this.allowTypes = allowTypes;
    this.denyTypes = denyTypes;
    this.allowNames = allowNames;
    this.denyNames = denyNames;
  }

  /**
   * The filter of a destination.
   *
   * @throws InvalidDestinationConfigException if {@code eventTypes} or {@code eventNames} is malformed
   */
  public static EventFilter of(Destination destination) {
    ConfigReader config = ConfigReader.of(destination.id(), destination.config());
    ConfigReader types = config.child("eventTypes");
    types.rejectUnknownKeys(LIST_KEYS);
    ConfigReader names = config.child("eventNames");
    names.rejectUnknownKeys(LIST_KEYS);
    List<String> allowTypes = types.strings("allow");
    List<String> denyTypes = types.strings("deny");
    List<String> allowNames = names.strings("allow");
    List<String> denyNames = names.strings("deny");
    config.throwIfInvalid(destination.id());
    if (allowTypes == null && denyTypes == null && allowNames == null && denyNames == null) {
      return ALL;
    }
    return new EventFilter(allowTypes == null ? null : Set.copyOf(allowTypes), denyTypes == null ? Set.of() : Set.copyOf(denyTypes),
        allowNames == null ? null : Set.copyOf(allowNames), denyNames == null ? Set.of() : Set.copyOf(denyNames));
  }

  /** True if this filter lets everything through, so the payload need not be parsed. */
  public boolean passesAll() {
    return this == ALL;
  }

  /**
   * Whether an event passes.
   *
   * @param type the event's {@code type}, or null if it has none
   * @param name the event's {@code event} field, or null
   */
  public boolean test(String type, String name) {
    if (allowTypes != null && (type == null || !allowTypes.contains(type))) {
      return false;
    }
    if (type != null && denyTypes.contains(type)) {
      return false;
    }
    if ("track".equals(type)) {
      if (allowNames != null && (name == null || !allowNames.contains(name))) {
        return false;
      }
      return name == null || !denyNames.contains(name);
    }
    return true;
  }
}
