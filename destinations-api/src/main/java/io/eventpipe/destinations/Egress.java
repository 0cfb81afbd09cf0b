package io.eventpipe.destinations;

import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.util.List;

/**
 * The workspace's egress policy applied to an integration's endpoints, as the webhook applies it to its URL: a host
 * that is an address literal is checked when the config loads ({@link #checkLiteral}); a host name is resolved and
 * every address it resolves to is checked before connecting ({@link #resolve}), and the client connects to a checked
 * address where its library lets it.
 */
public final class Egress {

  private Egress() {}

  /** Thrown (as a failed future) when the policy denies a host: permanent, the events are aborted. */
  public static final class DeniedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public DeniedException(String message) {
      super(message, null, false, false);
    }
  }

  /** Adds a problem at {@code key} if {@code host} is an address literal the policy denies. */
  public static void checkLiteral(ConfigReader config, String key, String host, EgressPolicy egress) {
    InetAddress literal = host == null ? null : EgressPolicy.literal(host);
    String denial = literal == null ? null : egress.denial(literal);
    if (denial != null) {
      config.problem(key, "the egress policy denies " + host + ": " + denial);
    }
  }

  /** Why the policy denies {@code host} (resolving a name, blocking), or null if every address is allowed. */
  public static String denialBlocking(String host, EgressPolicy egress) throws java.net.UnknownHostException {
    InetAddress literal = EgressPolicy.literal(host);
    InetAddress[] addresses = literal != null ? new InetAddress[] {literal} : InetAddress.getAllByName(host);
    for (InetAddress a : addresses) {
      String denial = egress.denial(a);
      if (denial != null) {
        return "the egress policy denies " + host + ": " + denial;
      }
    }
    return null;
  }

  /**
   * Resolves {@code host} off the event loop and checks every address; fails with {@link DeniedException} if the
   * policy denies any, with the resolver's exception if it cannot be resolved (retryable).
   */
  public static Future<List<InetAddress>> resolve(Vertx vertx, String host, EgressPolicy egress) {
    return vertx.executeBlocking(() -> {
      InetAddress literal = EgressPolicy.literal(host);
      InetAddress[] addresses = literal != null ? new InetAddress[] {literal} : InetAddress.getAllByName(host);
      for (InetAddress a : addresses) {
        String denial = egress.denial(a);
        if (denial != null) {
          throw new DeniedException("the egress policy denies " + host + ": " + denial);
        }
      }
      return List.of(addresses);
    }, false);
  }
}
