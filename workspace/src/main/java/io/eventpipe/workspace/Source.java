package io.eventpipe.workspace;

import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * A source of the workspace: an SDK installation that sends events with its write key.
 *
 * @param id stable identifier, referenced by destinations
 * @param name display name (defaults to the id)
 * @param writeKey the secret the SDK authenticates with (HTTP Basic username); never logged by {@link #toString()}
 * @param enabled a disabled source's requests are answered 404
 * @param rateLimit the optional {@code rateLimit} of the source, or null for none
 * @param extra every other key of the source's YAML entry, for features that come later (unmodifiable)
 */
public record Source(String id, String name, String writeKey, boolean enabled, RateLimit rateLimit,
    Map<String, Object> extra) {

  public Source {
    Objects.requireNonNull(id, "id");
    Objects.requireNonNull(writeKey, "writeKey");
    if (id.isEmpty() || writeKey.isEmpty()) {
      throw new IllegalArgumentException("a source needs a non-empty id and writeKey");
    }
    name = name == null ? id : name;
    extra = extra == null ? Map.of() : extra;
  }

  /** An enabled source without rate limit or extra fields. */
  public static Source of(String id, String writeKey) {
    return new Source(id, id, writeKey, true, null, Map.of());
  }

  public Optional<RateLimit> rateLimitIfAny() {
    return Optional.ofNullable(rateLimit);
  }

  @Override
  public String toString() {
    return "Source[id=" + id + ", name=" + name + ", writeKey=" + WriteKeys.mask(writeKey) + ", enabled=" + enabled
        + (rateLimit == null ? "" : ", rateLimit=" + rateLimit) + (extra.isEmpty() ? "" : ", extra=" + extra.keySet())
        + "]";
  }
}
