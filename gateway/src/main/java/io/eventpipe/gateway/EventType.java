package io.eventpipe.gateway;

import java.util.Optional;

/**
 * The six event types of the RudderStack / Segment spec, and RudderStack's {@code merge} (identity merges, only
 * through {@code POST /v1/merge}), with their wire names.
 */
public enum EventType {
  TRACK("track"),
  IDENTIFY("identify"),
  PAGE("page"),
  SCREEN("screen"),
  GROUP("group"),
  ALIAS("alias"),
  /** RudderStack's identity merge: {@code mergeProperties} links two identities of a user. */
  MERGE("merge");

  private final String wireName;

  EventType(String wireName) {
    this.wireName = wireName;
  }

  /** The value of the {@code type} field, e.g. {@code "track"}. */
  public String wireName() {
    return wireName;
  }

  /**
   * The type whose wire name is exactly {@code name} (case-sensitive, as the SDKs send it), among the six a batch may
   * hold: {@code merge} is taken only by its own endpoint.
   */
  public static Optional<EventType> fromWireName(String name) {
    if (name == null) {
      return Optional.empty();
    }
    switch (name) {
      case "track": return Optional.of(TRACK);
      case "identify": return Optional.of(IDENTIFY);
      case "page": return Optional.of(PAGE);
      case "screen": return Optional.of(SCREEN);
      case "group": return Optional.of(GROUP);
      case "alias": return Optional.of(ALIAS);
      default: return Optional.empty();
    }
  }
}
