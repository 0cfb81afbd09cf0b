package io.eventpipe.workspace;

import java.util.List;

/**
 * The workspace configuration file is invalid. Lists every problem found, each naming its path in the file
 * (e.g. {@code destinations[1].sources[0]}) and the bad value. It is the operator's mistake, never the SDK's.
 */
public class InvalidWorkspaceConfigException extends IllegalArgumentException {

  private static final long serialVersionUID = 1L;

  private final transient List<String> problems;

  public InvalidWorkspaceConfigException(String origin, List<String> problems, Throwable cause) {
    super("invalid workspace configuration " + origin + ": " + String.join("; ", problems), cause);
    this.problems = List.copyOf(problems);
  }

  /** Each problem, naming its path and the bad value. */
  public List<String> problems() {
    return problems;
  }
}
