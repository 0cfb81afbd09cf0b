package io.eventpipe.workspace;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * How {@code POST /v1/webhook} turns a SaaS tool's webhook body into a track event of a source: the {@code webhook}
 * key of the source's entry (kept in {@link Source#extra()}, checked at load by {@link #problems}).
 *
 * <pre>{@code
 * sources:
 *   - id: billing
 *     writeKey: wk-billing-...
 *     webhook:
 *       shape: stripe                 # generic (default), stripe or github: the defaults below
 *       eventName: type               # where the event name is: a dotted path into the body, or header:NAME
 *       routingKey: [data.object.customer]   # where the user is: one path (or header:NAME) or a list, first found wins
 *       messageId: id                 # where the delivery's unique id is (dedup); absent: a new UUID per request
 *       defaultEventName: Webhook     # optional: the name when eventName finds nothing (else 400 naming the field)
 *       signingSecret: ${env:STRIPE_WEBHOOK_SECRET}   # stripe and github: verify the tool's signature (else 401)
 *       toleranceSeconds: 300         # stripe: how far the signed timestamp may be from now (default 300)
 * }</pre>
 *
 * <p>Defaults per shape: {@code generic}: eventName {@code event}, routingKey {@code userId} then {@code anonymousId},
 * messageId {@code messageId}. {@code stripe}: eventName {@code type}, routingKey {@code data.object.customer} (and, for
 * an event about a customer object, {@code data.object.id}), messageId {@code id} (Stripe's {@code evt_...}, the same
 * on its retries). {@code github}: eventName {@code header:X-GitHub-Event}, routingKey {@code sender.login}, messageId
 * {@code header:X-GitHub-Delivery}.
 *
 * <p>Signatures: with a {@code signingSecret}, a Stripe request must carry a {@code Stripe-Signature} header whose
 * {@code v1} is the HMAC-SHA256 of {@code <t>.<body>} under the secret (the endpoint's {@code whsec_...}) and whose
 * {@code t} is within {@code toleranceSeconds} of the server's clock; a GitHub request must carry
 * {@code X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>} under the webhook's secret. The secret may be a
 * {@code ${env:NAME}} or {@code ${file:/path}} reference, resolved at load. The generic shape has no signature scheme.
 *
 * @param shape the tool whose defaults apply
 * @param eventName where the event name is read
 * @param routingKey where the routing key (stored as {@code userId}) is read, in order
 * @param messageId where the messageId is read, or null for a new one per request
 * @param defaultEventName the event name when none is found, or null (then the request is refused)
 * @param signingSecret the secret the tool signs its requests with, or null (requests are not verified)
 * @param toleranceSeconds Stripe: how far a signature's timestamp may be from the server's clock
 */
public record WebhookSource(Shape shape, String eventName, List<String> routingKey, String messageId,
    String defaultEventName, String signingSecret, int toleranceSeconds) {

  /** The key of a source entry that holds this configuration. */
  public static final String KEY = "webhook";
  /** A field reference that reads a request header instead of the body. */
  public static final String HEADER_PREFIX = "header:";
  private static final Set<String> KEYS = Set.of("shape", "eventName", "routingKey", "messageId", "defaultEventName",
      "signingSecret", "toleranceSeconds");
  /** Stripe's own libraries' default tolerance. */
  public static final int DEFAULT_TOLERANCE_SECONDS = 300;

  /** The tools whose webhook bodies have known defaults. */
  public enum Shape {
    GENERIC, STRIPE, GITHUB;

    public String wireName() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  public WebhookSource {
    routingKey = List.copyOf(routingKey);
  }

  /** Without a signing secret. */
  public WebhookSource(Shape shape, String eventName, List<String> routingKey, String messageId, String defaultEventName) {
    this(shape, eventName, routingKey, messageId, defaultEventName, null, DEFAULT_TOLERANCE_SECONDS);
  }

  /** This configuration with {@code signingSecret} (and {@code toleranceSeconds}). */
  public WebhookSource signedWith(String secret, int tolerance) {
    return new WebhookSource(shape, eventName, routingKey, messageId, defaultEventName, secret, tolerance);
  }

  /** Never prints the secret. */
  @Override
  public String toString() {
    return "WebhookSource[shape=" + shape.wireName() + ", eventName=" + eventName + ", routingKey=" + routingKey
        + ", messageId=" + messageId + ", defaultEventName=" + defaultEventName + ", signingSecret="
        + (signingSecret == null ? "none" : "(set)") + ", toleranceSeconds=" + toleranceSeconds + "]";
  }

  /** The configuration of a source: its {@code webhook} key, or the generic defaults when it has none. */
  public static WebhookSource of(Source source) {
    Object node = source.extra().get(KEY);
    List<String> problems = new ArrayList<>();
    WebhookSource parsed = parse(node, KEY, problems);
    if (!problems.isEmpty()) {
      // the workspace reader refuses such a file; a source built in code can still carry one
      throw new IllegalArgumentException("source " + source.id() + ": " + String.join("; ", problems));
    }
    return parsed;
  }

  /** The defaults of {@code shape}. */
  public static WebhookSource defaults(Shape shape) {
    return switch (shape) {
      case GENERIC -> new WebhookSource(shape, "event", List.of("userId", "anonymousId"), "messageId", null);
      case STRIPE -> new WebhookSource(shape, "type", List.of("data.object.customer"), "id", null);
      case GITHUB -> new WebhookSource(shape, HEADER_PREFIX + "X-GitHub-Event", List.of("sender.login"),
          HEADER_PREFIX + "X-GitHub-Delivery", null);
    };
  }

  /** The problems of a source's {@code webhook} value (as read from YAML), each prefixed with {@code path}. */
  public static List<String> problems(Object node, String path) {
    List<String> problems = new ArrayList<>();
    parse(node, path, problems);
    return problems;
  }

  private static WebhookSource parse(Object node, String path, List<String> problems) {
    if (node == null) {
      return defaults(Shape.GENERIC);
    }
    if (!(node instanceof Map<?, ?> map)) {
      problems.add(path + ": must be a mapping like {shape: stripe}, got " + kind(node));
      return null;
    }
    for (Object k : map.keySet()) {
      if (!KEYS.contains(String.valueOf(k))) {
        problems.add(path + "." + k + ": unknown key (known: defaultEventName, eventName, messageId, routingKey, shape,"
            + " signingSecret, toleranceSeconds)");
      }
    }
    Shape shape = Shape.GENERIC;
    Object shapeNode = map.get("shape");
    if (shapeNode != null) {
      try {
        shape = Shape.valueOf(String.valueOf(shapeNode).toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        problems.add(path + ".shape: '" + shapeNode + "' is not a webhook shape (known: generic, stripe, github)");
      }
    }
    WebhookSource d = defaults(shape);
    String eventName = reference(map.get("eventName"), path + ".eventName", problems, d.eventName());
    List<String> routingKey = d.routingKey();
    Object rk = map.get("routingKey");
    if (rk instanceof List<?> list) {
      if (list.isEmpty()) {
        problems.add(path + ".routingKey: must name at least one field");
      }
      routingKey = new ArrayList<>();
      for (int i = 0; i < list.size(); i++) {
        routingKey.add(reference(list.get(i), path + ".routingKey[" + i + "]", problems, null));
      }
    } else if (rk != null) {
      routingKey = List.of(reference(rk, path + ".routingKey", problems, null));
    }
    String messageId = reference(map.get("messageId"), path + ".messageId", problems, d.messageId());
    Object def = map.get("defaultEventName");
    String defaultEventName = null;
    if (def != null) {
      if (def instanceof String s && !s.isEmpty()) {
        defaultEventName = s;
      } else {
        problems.add(path + ".defaultEventName: must be a non-empty string, got " + kind(def));
      }
    }
    Object secretNode = map.get("signingSecret");
    String secret = null;
    if (secretNode != null) {
      if (!(secretNode instanceof String s) || s.isBlank()) {
        problems.add(path + ".signingSecret: must be a non-empty string (the tool's webhook signing secret, e.g."
            + " ${env:STRIPE_WEBHOOK_SECRET}), got " + kind(secretNode));
      } else if (shape == Shape.GENERIC) {
        problems.add(path + ".signingSecret: the generic shape has no signature to verify; only the stripe"
            + " (Stripe-Signature) and github (X-Hub-Signature-256) shapes are signed");
      } else {
        secret = s;
      }
    }
    Object toleranceNode = map.get("toleranceSeconds");
    int tolerance = DEFAULT_TOLERANCE_SECONDS;
    if (toleranceNode != null) {
      if (shape != Shape.STRIPE) {
        problems.add(path + ".toleranceSeconds: only the stripe shape signs a timestamp");
      } else if (!(toleranceNode instanceof Integer n) || n < 1 || n > 86_400) {
        problems.add(path + ".toleranceSeconds: must be a whole number of seconds in 1..86400, got "
            + (toleranceNode instanceof Number ? toleranceNode : kind(toleranceNode)));
      } else {
        tolerance = n;
      }
    }
    return problems.isEmpty()
        ? new WebhookSource(shape, eventName, routingKey, messageId, defaultEventName, secret, tolerance) : null;
  }

  /** A field reference: {@code a.b.c} (dotted path into the body) or {@code header:Name}. */
  private static String reference(Object value, String path, List<String> problems, String fallback) {
    if (value == null) {
      return fallback;
    }
    if (!(value instanceof String s)) {
      problems.add(path + ": must be a dotted field path like data.object.customer or header:NAME, got " + kind(value));
      return fallback;
    }
    String problem = referenceProblem(s);
    if (problem != null) {
      problems.add(path + ": '" + s + "' " + problem);
      return fallback;
    }
    return s;
  }

  static String referenceProblem(String s) {
    if (s.startsWith(HEADER_PREFIX)) {
      String header = s.substring(HEADER_PREFIX.length());
      return header.matches("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}") ? null : "names no valid HTTP header";
    }
    if (s.isEmpty() || s.length() > 256) {
      return "must be a dotted field path of 1 to 256 characters";
    }
    for (String segment : s.split("\\.", -1)) {
      if (segment.isEmpty()) {
        return "has an empty segment; write fields like data.object.customer";
      }
    }
    return null;
  }

  private static String kind(Object o) {
    if (o instanceof Map) {
      return "a mapping";
    }
    if (o instanceof List) {
      return "a list";
    }
    if (o instanceof String) {
      return "a string";
    }
    if (o instanceof Number) {
      return "a number";
    }
    if (o instanceof Boolean) {
      return "a boolean";
    }
    return "null";
  }
}
