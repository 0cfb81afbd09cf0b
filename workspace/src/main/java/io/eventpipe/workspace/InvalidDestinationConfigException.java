package io.eventpipe.workspace;

import java.util.List;

/**
 * A destination's {@code config} cannot be used: every problem, each with its path. The router does not deliver
 * to such a destination (its jobs stay pending) until the workspace file is fixed.
 */
public final class InvalidDestinationConfigException extends IllegalArgumentException {

  private static final long serialVersionUID = 1L;

  private final String destinationId;
  private final List<String> problems;

  public InvalidDestinationConfigException(String destinationId, List<String> problems) {
    super("destination " + destinationId + " has an invalid configuration: " + String.join("; ", problems));
    this.destinationId = destinationId;
    this.problems = List.copyOf(problems);
  }

  public String destinationId() {
    return destinationId;
  }

  public List<String> problems() {
    return problems;
  }
}
