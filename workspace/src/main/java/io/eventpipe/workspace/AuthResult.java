package io.eventpipe.workspace;

import java.util.List;
import java.util.Objects;

/**
 * The source a write key belongs to, in the snapshot that answered ({@link WorkspaceConfigStore#findByWriteKey}).
 *
 * @param source the source
 * @param config the snapshot the source was found in; use it for the source's destinations so that both come
 *     from the same version of the file
 */
public record AuthResult(Source source, WorkspaceConfig config) {
  public AuthResult {
    Objects.requireNonNull(source, "source");
    Objects.requireNonNull(config, "config");
  }

  public String sourceId() {
    return source.id();
  }

  /** The enabled destinations of the source, from the same snapshot. */
  public List<Destination> destinations() {
    return config.destinationsFor(source.id());
  }
}
