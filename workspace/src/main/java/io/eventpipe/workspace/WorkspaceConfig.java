package io.eventpipe.workspace;

import io.eventpipe.workspace.impl.WorkspaceChecks;
import io.eventpipe.workspace.impl.WorkspaceConfigReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An immutable snapshot of the workspace: its sources (with write keys) and destinations (with the sources
 * connected to them). Read from YAML of this shape:
 *
 * <pre>{@code
 * sources:
 *   - id: web
 *     name: Website
 *     writeKey: 2x9Lk...
 *     enabled: true                  # optional, default true
 *     rateLimit: {eventsPerSecond: 500, burst: 1000, perKeyEventsPerSecond: 50}   # optional; burst defaults to
 *                                    # one second's worth; perKeyEventsPerSecond limits each user (KeyRateLimiter)
 * destinations:
 *   - id: hook
 *     type: webhook
 *     enabled: true                  # optional, default true
 *     sources: [web]
 *     config:
 *       url: http://127.0.0.1:9000/events
 *       headers: {X-Api-Key: secret}
 * egress:                            # optional, see EgressPolicy: loopback is denied unless allowed
 *   allow: [127.0.0.0/8]
 * }</pre>
 *
 * <p>{@code sources} is required (it may be {@code []}), so that an empty or truncated file is an error rather than
 * a workspace without sources. Ids and write keys are strings without whitespace (quote numeric ones); write keys
 * also without {@code :}, which HTTP Basic auth could not carry. Unknown keys of a source are kept in
 * {@link Source#extra()}; unknown keys elsewhere are errors, so that a typo does not silently drop a setting.
 * Every problem is reported at once, each with its path, e.g. {@code destinations[0].sources[1]: unknown source
 * 'mobile' (known: web)}. Write keys are never echoed in full.
 */
public final class WorkspaceConfig {

  private static final WorkspaceConfig EMPTY = new WorkspaceConfig(List.of(), List.of(), EgressPolicy.defaults());

  private final List<Source> sources;
  private final List<Destination> destinations;
  private final Map<String, Source> sourcesById;
  private final Map<String, Source> sourcesByWriteKey;
  private final Map<String, List<Destination>> enabledDestinationsBySource;
  private final EgressPolicy egress;

  private WorkspaceConfig(List<Source> sources, List<Destination> destinations, EgressPolicy egress) {
    this.egress = egress;
    this.sources = List.copyOf(sources);
    this.destinations = List.copyOf(destinations);
    Map<String, Source> byId = new HashMap<>();
    Map<String, Source> byKey = new HashMap<>();
    for (Source s : this.sources) {
      byId.put(s.id(), s);
      byKey.put(s.writeKey(), s);
    }
    Map<String, List<Destination>> bySource = new HashMap<>();
    for (Destination d : this.destinations) {
      if (d.enabled()) {
        for (String sourceId : d.sources()) {
          bySource.computeIfAbsent(sourceId, k -> new ArrayList<>()).add(d);
        }
      }
    }
    bySource.replaceAll((k, v) -> List.copyOf(v));
    this.sourcesById = Collections.unmodifiableMap(byId);
    this.sourcesByWriteKey = Collections.unmodifiableMap(byKey);
    this.enabledDestinationsBySource = Collections.unmodifiableMap(bySource);
  }

  /** A workspace without sources or destinations. */
  public static WorkspaceConfig empty() {
    return EMPTY;
  }

  /**
   * A workspace from already-built parts, validated like a file (unique ids and write keys, known sources).
   *
   * @throws InvalidWorkspaceConfigException listing every problem
   */
  public static WorkspaceConfig of(List<Source> sources, List<Destination> destinations) {
    List<String> problems = new ArrayList<>();
    WorkspaceChecks.crossCheck(sources, destinations, problems);
    if (!problems.isEmpty()) {
      throw new InvalidWorkspaceConfigException("(built in code)", problems, null);
    }
    return new WorkspaceConfig(sources, destinations, EgressPolicy.defaults());
  }

  /** This workspace with another egress policy (built in code, as tests do). */
  public WorkspaceConfig withEgress(EgressPolicy policy) {
    return new WorkspaceConfig(sources, destinations, java.util.Objects.requireNonNull(policy, "policy"));
  }

  /** Where destinations may send: the {@code egress} section ({@link EgressPolicy#defaults()} when absent). */
  public EgressPolicy egress() {
    return egress;
  }

  /**
   * Parses YAML text.
   *
   * @param origin where the text comes from, for messages (e.g. the file name)
   * @throws InvalidWorkspaceConfigException listing every problem
   */
  public static WorkspaceConfig parse(byte[] yaml, String origin) {
    WorkspaceConfigReader.Parts parts = WorkspaceConfigReader.read(yaml, origin);
    return new WorkspaceConfig(parts.sources(), parts.destinations(), parts.egress());
  }

  /** Parses YAML text. */
  public static WorkspaceConfig parse(String yaml) {
    return parse(yaml.getBytes(StandardCharsets.UTF_8), "(string)");
  }

  /**
   * Reads and parses a YAML file. Blocking I/O: call it off the event loop.
   *
   * @throws InvalidWorkspaceConfigException if the file cannot be read or is invalid
   */
  public static WorkspaceConfig load(Path file) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(file);
    } catch (NoSuchFileException e) {
      throw new InvalidWorkspaceConfigException(file.toString(), List.of("file not found"), e);
    } catch (IOException e) {
      throw new InvalidWorkspaceConfigException(file.toString(), List.of("cannot read the file: " + e), e);
    }
    return parse(bytes, file.toString());
  }

  /** All sources, in file order. */
  public List<Source> sources() {
    return sources;
  }

  /** All destinations, enabled or not, in file order. */
  public List<Destination> destinations() {
    return destinations;
  }

  public Optional<Source> sourceById(String id) {
    return Optional.ofNullable(sourcesById.get(id));
  }

  /** The source with this write key, enabled or not. */
  public Optional<Source> sourceByWriteKey(String writeKey) {
    return writeKey == null ? Optional.empty() : Optional.ofNullable(sourcesByWriteKey.get(writeKey));
  }

  /** The enabled destinations connected to a source, in file order; empty for an unknown source. */
  public List<Destination> destinationsFor(String sourceId) {
    return enabledDestinationsBySource.getOrDefault(sourceId, List.of());
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof WorkspaceConfig w && sources.equals(w.sources) && destinations.equals(w.destinations)
        && egress.equals(w.egress);
  }

  @Override
  public int hashCode() {
    return (sources.hashCode() * 31 + destinations.hashCode()) * 31 + egress.hashCode();
  }

  @Override
  public String toString() {
    return "WorkspaceConfig[sources=" + sources + ", destinations=" + destinations + ", egress=" + egress + "]";
  }
}
