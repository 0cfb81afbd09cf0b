package io.eventpipe.node.router;

/**
 * Builds workspace YAML for tests: two sources ({@code web}, {@code app}), the given destinations, and an egress
 * policy that allows loopback ({@link #LOOPBACK_ALLOWED}), where the test sinks listen.
 */
public final class Workspaces {

  /** Lifts the default denial of loopback addresses: test sinks listen on 127.0.0.1. */
  public static final String LOOPBACK_ALLOWED = "egress: {allow: [127.0.0.0/8]}\n";

  private Workspaces() {}

  public static String of(String... destinations) {
    StringBuilder sb = new StringBuilder(LOOPBACK_ALLOWED + "sources:\n"
        + "  - {id: web, writeKey: wk-web-000000000001}\n"
        + "  - {id: app, writeKey: wk-app-000000000001}\n"
        + "destinations:\n");
    if (destinations.length == 0) {
      sb.setLength(sb.length() - 1);
      sb.append(" []\n");
    }
    for (String d : destinations) {
      sb.append(d).append('\n');
    }
    return sb.toString();
  }

  /** A destination line; {@code config} is a JSON object (valid YAML flow). */
  public static String webhook(String id, String sources, boolean enabled, String config) {
    return "  - {id: " + id + ", type: webhook, enabled: " + enabled + ", sources: [" + sources + "], config: " + config + "}";
  }

  public static String webhook(String id, String config) {
    return webhook(id, "web", true, config);
  }
}
