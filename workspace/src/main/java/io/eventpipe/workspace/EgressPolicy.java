package io.eventpipe.workspace;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.regex.Pattern;

/**
 * Which addresses destinations may send to: the workspace's {@code egress} section.
 *
 * <pre>{@code
 * egress:
 *   allow: [127.0.0.0/8]      # lift a default denial (here: webhooks on this machine)
 *   deny: [10.0.0.0/8]        # deny more
 * }</pre>
 *
 * <p>By default ({@link #DEFAULT_DENY}) loopback, link-local (169.254.0.0/16 with the cloud metadata address
 * 169.254.169.254, fe80::/10) and unspecified addresses are denied: a workspace must not point a webhook at the
 * node's own admin port or at the metadata service of its host. Everything else is allowed.
 *
 * <p>Decision: the rule with the longest matching prefix wins; on a tie an explicit rule beats a default one, and
 * {@code deny} beats {@code allow}. So {@code allow: [127.0.0.0/8]} lifts the default loopback denial, and
 * {@code deny: [0.0.0.0/0, "::/0"], allow: [203.0.113.0/24]} turns the policy into an allow-list. A rule is a CIDR
 * block or a single address (IPv4 or IPv6 literal, never a host name). IPv4-mapped IPv6 addresses are judged as
 * their IPv4 address.
 *
 * <p>The router checks a URL whose host is an address literal when it loads the configuration (an invalid
 * destination otherwise), and checks what a host name resolves to before each connection, connecting to the
 * address it checked (so a name that later resolves elsewhere cannot slip past).
 */
public final class EgressPolicy {

  /** Denied unless allowed: loopback, link-local (with 169.254.169.254), unspecified ("this network"). */
  public static final List<String> DEFAULT_DENY = List.of(
      "127.0.0.0/8", "::1/128", "169.254.0.0/16", "fe80::/10", "0.0.0.0/8", "::/128");

  private static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
  // after IPV4, which its construction uses
  private static final EgressPolicy DEFAULTS = new EgressPolicy(List.of(), List.of());

  private final List<String> allow;
  private final List<String> deny;
  private final List<Rule> rules = new ArrayList<>();

  private record Rule(Cidr cidr, boolean deny, boolean explicit) {}

  private EgressPolicy(List<String> allow, List<String> deny) {
    this.allow = List.copyOf(allow);
    this.deny = List.copyOf(deny);
    for (String c : DEFAULT_DENY) {
      rules.add(new Rule(Cidr.parse(c), true, false));
    }
    for (String c : this.allow) {
      rules.add(new Rule(Cidr.parse(c), false, true));
    }
    for (String c : this.deny) {
      rules.add(new Rule(Cidr.parse(c), true, true));
    }
  }

  /** Only {@link #DEFAULT_DENY}. */
  public static EgressPolicy defaults() {
    return DEFAULTS;
  }

  /**
   * A policy with these explicit rules on top of the defaults.
   *
   * @throws IllegalArgumentException naming the first rule that is not a CIDR block or an address literal
   */
  public static EgressPolicy of(List<String> allow, List<String> deny) {
    return allow.isEmpty() && deny.isEmpty() ? DEFAULTS : new EgressPolicy(allow, deny);
  }

  /** Why {@code rule} is not a CIDR block or address literal, or null if it is one. */
  public static String ruleProblem(String rule) {
    try {
      Cidr.parse(rule);
      return null;
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
  }

  public List<String> allow() {
    return allow;
  }

  public List<String> deny() {
    return deny;
  }

  /**
   * Why the policy denies sending to {@code address} (e.g. {@code "127.0.0.1 is in 127.0.0.0/8 (denied by
   * default)"}), or null if it allows it.
   */
  public String denial(InetAddress address) {
    byte[] bytes = address.getAddress();
    Rule best = null;
    for (Rule r : rules) {
      if (r.cidr().contains(bytes) && (best == null || better(r, best))) {
        best = r;
      }
    }
    if (best == null || !best.deny()) {
      return null;
    }
    return address.getHostAddress() + " is in " + best.cidr() + (best.explicit()
        ? " (denied by egress.deny)"
        : " (" + kind(best.cidr()) + ", denied by default; list it under the workspace's egress.allow to send there)");
  }

  private static boolean better(Rule r, Rule than) {
    if (r.cidr().prefix() != than.cidr().prefix()) {
      return r.cidr().prefix() > than.cidr().prefix();
    }
    if (r.explicit() != than.explicit()) {
      return r.explicit();
    }
    return r.deny() && !than.deny();
  }

  private static String kind(Cidr c) {
    String s = c.toString();
    if (s.startsWith("127.") || s.equals("::1/128")) {
      return "loopback";
    }
    if (s.startsWith("169.254.") || s.startsWith("fe80:")) {
      return "link-local, with the cloud metadata address 169.254.169.254";
    }
    return "unspecified";
  }

  /**
   * The address of an IP literal ({@code 10.0.0.1}, {@code ::1}, {@code [::1]}), or null for anything else (a host
   * name). Never resolves a name.
   */
  public static InetAddress literal(String host) {
    String h = host.startsWith("[") && host.endsWith("]") ? host.substring(1, host.length() - 1) : host;
    if (!IPV4.matcher(h).matches() && !(h.indexOf(':') >= 0 && h.matches("[0-9A-Fa-f:.]+"))) {
      return null;
    }
    try {
      return InetAddress.getByName(h); // a literal: parsed, not looked up
    } catch (UnknownHostException e) {
      return null;
    }
  }

  @Override
  public boolean equals(Object o) {
    return o instanceof EgressPolicy p && allow.equals(p.allow) && deny.equals(p.deny);
  }

  @Override
  public int hashCode() {
    return Objects.hash(allow, deny);
  }

  @Override
  public String toString() {
    return "EgressPolicy[allow=" + allow + ", deny=" + deny + "]";
  }

  /** An address block. */
  private record Cidr(byte[] network, int prefix, String text) {

    static Cidr parse(String text) {
      String t = text == null ? "" : text.trim();
      int slash = t.indexOf('/');
      InetAddress a = literal(slash < 0 ? t : t.substring(0, slash));
      if (a == null) {
        throw new IllegalArgumentException("'" + text + "' is not an IP address or CIDR block (e.g. 10.0.0.0/8, fd00::/8)");
      }
      int max = a instanceof Inet4Address ? 32 : 128;
      int prefix = max;
      if (slash >= 0) {
        try {
          prefix = Integer.parseInt(t.substring(slash + 1));
        } catch (NumberFormatException e) {
          prefix = -1;
        }
        if (prefix < 0 || prefix > max) {
          throw new IllegalArgumentException("'" + text + "' has a prefix length outside 0.." + max);
        }
      }
      byte[] network = a.getAddress();
      for (int bit = prefix; bit < max; bit++) {
        network[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
      }
      return new Cidr(network, prefix, slash < 0 ? t + "/" + prefix : t);
    }

    boolean contains(byte[] address) {
      if (address.length != network.length) {
        return false;
      }
      int full = prefix / 8;
      for (int i = 0; i < full; i++) {
        if (address[i] != network[i]) {
          return false;
        }
      }
      int rest = prefix % 8;
      if (rest == 0) {
        return true;
      }
      int mask = (0xFF << (8 - rest)) & 0xFF;
      return (address[full] & mask) == (network[full] & mask);
    }

    @Override
    public String toString() {
      return text;
    }
  }
}
