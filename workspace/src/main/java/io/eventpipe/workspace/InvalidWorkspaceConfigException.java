package io.eventpipe.gateway;

import java.util.List;

/**
 * The workspace configuration file is invalid. Lists every problem found, each naming its path in the file
 * (e.g. {@code destinations[1].sources[0]}) and the bad value. Status 500 if it ever reaches a client: it is the
 * operator's mistake, not the SDK's.
 */
public class InvalidWorkspaceConfigException extends GatewayException {

  private static final long serialVersionUID = 1L;

  private final transient List<String> problems;

  public InvalidWorkspaceConfigException(String origin, List<String> problems, Throwable cause) {
    super(500, "invalid workspace configuration " + origin + ": " + String.join("; ", problems), null, cause);
    this.problems = List.copyOf(problems);
  }

  /** Each problem, naming its path and the bad value. */
  public List<String> problems() {
    return problems;
  }
}
