package io.eventpipe.gateway.http;

import io.eventpipe.gateway.GatewayException;
import io.eventpipe.workspace.WebhookSource;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Function;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The signatures of {@code POST /v1/webhook} requests from a source with a {@code signingSecret}, checked on the body
 * exactly as it arrived, before it is parsed. A request whose signature is missing, malformed, wrong or (Stripe) too old
 * is refused with 401 and a message that says which; nothing of it is stored.
 *
 * <ul>
 *   <li>Stripe (<a href="https://docs.stripe.com/webhooks#verify-manually">verify manually</a>): header
 *       {@code Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=...]}; the expected {@code v1} is
 *       HMAC-SHA256 under the endpoint secret of {@code <t> + "." + <body>}; any {@code v1} may match (Stripe sends
 *       one per active secret while a secret is rolled); {@code t} must be within the tolerance of the server's clock,
 *       either way, so a captured request cannot be replayed later.</li>
 *   <li>GitHub (<a href="https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries">validating
 *       deliveries</a>): header {@code X-Hub-Signature-256: sha256=<hex>}, HMAC-SHA256 of the body under the webhook's
 *       secret. (The older SHA-1 {@code X-Hub-Signature} is not accepted.)</li>
 * </ul>
 *
 * Comparisons are constant-time ({@link MessageDigest#isEqual}).
 */
final class WebhookSignatures {

  static final String STRIPE_HEADER = "Stripe-Signature";
  static final String GITHUB_HEADER = "X-Hub-Signature-256";

  private WebhookSignatures() {}

  /**
   * Checks {@code body} against the signature the source's shape defines, if the source has a signing secret.
   *
   * @throws GatewayException 401 when the signature is missing, malformed, does not match, or is outside the tolerance
   */
  static void verify(WebhookSource config, byte[] body, Function<String, String> header, Instant now) {
    String secret = config.signingSecret();
    if (secret == null) {
      return;
    }
    switch (config.shape()) {
      case STRIPE -> verifyStripe(secret, config.toleranceSeconds(), body, header.apply(STRIPE_HEADER), now);
      case GITHUB -> verifyGithub(secret, body, header.apply(GITHUB_HEADER));
      case GENERIC -> throw new IllegalStateException("the generic shape has no signature (refused at load)");
    }
  }

  private static void verifyStripe(String secret, int tolerance, byte[] body, String value, Instant now) {
    if (value == null || value.isBlank()) {
      throw refused("no " + STRIPE_HEADER + " header: this source verifies Stripe's signature (its signingSecret is"
          + " the endpoint's whsec_... secret)");
    }
    Long t = null;
    List<byte[]> v1 = new ArrayList<>();
    for (String part : value.split(",")) {
      int eq = part.indexOf('=');
      if (eq <= 0) {
        continue;
      }
      String k = part.substring(0, eq).strip();
      String v = part.substring(eq + 1).strip();
      if (k.equals("t")) {
        try {
          t = Long.parseLong(v);
        } catch (NumberFormatException e) {
          throw refused(STRIPE_HEADER + ": t=" + abbreviate(v) + " is not a Unix time in seconds");
        }
      } else if (k.equals("v1")) {
        byte[] sig = hex(v);
        if (sig != null) {
          v1.add(sig);
        }
      }
    }
    if (t == null || v1.isEmpty()) {
      throw refused(STRIPE_HEADER + " must hold t=<timestamp> and at least one v1=<hex signature>");
    }
    long skew = Math.abs(now.getEpochSecond() - t);
    if (skew > tolerance) {
      throw refused(STRIPE_HEADER + ": its timestamp is " + skew + " s from the server's clock, over the tolerance of "
          + tolerance + " s (a replayed request, or a clock that is off)");
    }
    byte[] expected = hmac(secret, concat((t + ".").getBytes(StandardCharsets.US_ASCII), body));
    for (byte[] sig : v1) {
      if (MessageDigest.isEqual(expected, sig)) {
        return;
      }
    }
    throw refused(STRIPE_HEADER + ": no v1 signature matches the body under the source's signing secret (the wrong"
        + " secret, or a body changed on the way)");
  }

  private static void verifyGithub(String secret, byte[] body, String value) {
    if (value == null || value.isBlank()) {
      throw refused("no " + GITHUB_HEADER + " header: this source verifies GitHub's signature (set the same secret in"
          + " the webhook's settings)");
    }
    String v = value.strip();
    byte[] sig = v.startsWith("sha256=") ? hex(v.substring("sha256=".length())) : null;
    if (sig == null) {
      throw refused(GITHUB_HEADER + " must be sha256=<hex signature>");
    }
    if (!MessageDigest.isEqual(hmac(secret, body), sig)) {
      throw refused(GITHUB_HEADER + ": the signature does not match the body under the source's signing secret (the"
          + " wrong secret, or a body changed on the way)");
    }
  }

  private static GatewayException refused(String message) {
    return new GatewayException(401, "webhook signature: " + message);
  }

  private static byte[] hmac(String secret, byte[] data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return mac.doFinal(data);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HmacSHA256 is part of every JDK", e);
    }
  }

  private static byte[] hex(String s) {
    if (s.length() != 64) {
      return null; // a SHA-256 HMAC, hex-encoded
    }
    try {
      return HexFormat.of().parseHex(s);
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  private static byte[] concat(byte[] a, byte[] b) {
    byte[] out = new byte[a.length + b.length];
    System.arraycopy(a, 0, out, 0, a.length);
    System.arraycopy(b, 0, out, a.length, b.length);
    return out;
  }

  private static String abbreviate(String s) {
    return s.length() <= 20 ? "'" + s + "'" : "'" + s.substring(0, 20) + "...'";
  }
}
