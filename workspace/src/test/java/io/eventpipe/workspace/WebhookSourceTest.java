package io.eventpipe.workspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

/** A source's {@code webhook} key (issue 18): read from the workspace file, every bad field named at load. */
class WebhookSourceTest {

  @Test
  void theShapesDefaultsAndConfiguredFieldsAreRead() {
    WorkspaceConfig c = WorkspaceConfig.parse("""
        sources:
          - id: plain
            writeKey: plainWriteKey1234
          - id: billing
            writeKey: billingWriteKey12
            webhook: {shape: stripe}
          - id: code
            writeKey: codeWriteKey12345
            webhook: {shape: github, routingKey: [sender.login, header:X-User], defaultEventName: GitHub}
          - id: crm
            writeKey: crmWriteKey123456
            webhook: {eventName: action, routingKey: account.id, messageId: header:X-Delivery}
        """);
    assertEquals(WebhookSource.defaults(WebhookSource.Shape.GENERIC), WebhookSource.of(c.sourceById("plain").orElseThrow()));
    assertEquals(new WebhookSource(WebhookSource.Shape.STRIPE, "type", List.of("data.object.customer"), "id", null),
        WebhookSource.of(c.sourceById("billing").orElseThrow()));
    assertEquals(new WebhookSource(WebhookSource.Shape.GITHUB, "header:X-GitHub-Event",
        List.of("sender.login", "header:X-User"), "header:X-GitHub-Delivery", "GitHub"),
        WebhookSource.of(c.sourceById("code").orElseThrow()));
    assertEquals(new WebhookSource(WebhookSource.Shape.GENERIC, "action", List.of("account.id"), "header:X-Delivery",
        null), WebhookSource.of(c.sourceById("crm").orElseThrow()));
  }

  /** Reads with {@code env} as the environment, every variable allowed as a secret reference (--secret-env-allow). */
  private static List<Source> read(java.util.function.Function<String, String> env, String yaml) {
    SecretPolicy.install(new SecretPolicy(List.of("*"), List.of(), List.of()));
    try {
      return io.eventpipe.workspace.impl.WorkspaceConfigReader.read(
          yaml.getBytes(java.nio.charset.StandardCharsets.UTF_8), "(test)", env).sources();
    } finally {
      SecretPolicy.install(new SecretPolicy(List.of(), List.of(), List.of()));
    }
  }

  @Test
  void aSigningSecretIsReadResolvedFromTheEnvironmentAndNeverPrinted() {
    List<Source> c = read(name -> name.equals("STRIPE_WEBHOOK_SECRET") ? "whsec_from_env" : null, """
        sources:
          - id: billing
            writeKey: billingWriteKey12
            webhook: {shape: stripe, signingSecret: "${env:STRIPE_WEBHOOK_SECRET}", toleranceSeconds: 60}
          - id: code
            writeKey: codeWriteKey12345
            webhook: {shape: github, signingSecret: gh-literal-secret}
        """);
    WebhookSource billing = WebhookSource.of(c.get(0));
    assertEquals("whsec_from_env", billing.signingSecret());
    assertEquals(60, billing.toleranceSeconds());
    assertEquals("gh-literal-secret", WebhookSource.of(c.get(1)).signingSecret());
    assertEquals(WebhookSource.DEFAULT_TOLERANCE_SECONDS, WebhookSource.of(c.get(1)).toleranceSeconds());
    org.junit.jupiter.api.Assertions.assertFalse(billing.toString().contains("whsec_from_env"), billing.toString());
  }

  @Test
  void aBadSigningSecretOrToleranceIsNamedWithItsPath() {
    List<String> problems = assertThrows(InvalidWorkspaceConfigException.class,
        () -> read(name -> null, """
        sources:
          - id: a
            writeKey: aWriteKey12345678
            webhook: {shape: stripe, signingSecret: "", toleranceSeconds: 0}
          - id: b
            writeKey: bWriteKey12345678
            webhook: {signingSecret: s3cret}
          - id: c
            writeKey: cWriteKey12345678
            webhook: {shape: github, signingSecret: 42, toleranceSeconds: 60}
          - id: d
            writeKey: dWriteKey12345678
            webhook: {shape: stripe, signingSecret: "${env:NOT_SET_ANYWHERE}", toleranceSeconds: ten}
        """)).problems();
    assertEquals(List.of(
        "sources[0].webhook.signingSecret: must be a non-empty string (the tool's webhook signing secret, e.g."
            + " ${env:STRIPE_WEBHOOK_SECRET}), got a string",
        "sources[0].webhook.toleranceSeconds: must be a whole number of seconds in 1..86400, got 0",
        "sources[1].webhook.signingSecret: the generic shape has no signature to verify; only the stripe"
            + " (Stripe-Signature) and github (X-Hub-Signature-256) shapes are signed",
        "sources[2].webhook.signingSecret: must be a non-empty string (the tool's webhook signing secret, e.g."
            + " ${env:STRIPE_WEBHOOK_SECRET}), got a number",
        "sources[2].webhook.toleranceSeconds: only the stripe shape signs a timestamp",
        "sources[3].webhook.signingSecret: ${env:NOT_SET_ANYWHERE} cannot be resolved: the environment variable"
            + " NOT_SET_ANYWHERE is not set (a secret reference)",
        "sources[3].webhook.toleranceSeconds: must be a whole number of seconds in 1..86400, got a string"), problems);
  }

  @Test
  void everyBadFieldIsNamedWithItsPath() {
    List<String> problems = assertThrows(InvalidWorkspaceConfigException.class, () -> WorkspaceConfig.parse("""
        sources:
          - id: a
            writeKey: aWriteKey12345678
            webhook: {shape: zapier, eventName: "a..b", routingKey: [], messageId: 3, defaultEventName: "", colour: red}
          - id: b
            writeKey: bWriteKey12345678
            webhook: stripe
          - id: c
            writeKey: cWriteKey12345678
            webhook: {routingKey: ["header:bad header"]}
        """)).problems();
    assertEquals(List.of(
        "sources[0].webhook.colour: unknown key (known: defaultEventName, eventName, messageId, routingKey, shape,"
            + " signingSecret, toleranceSeconds)",
        "sources[0].webhook.shape: 'zapier' is not a webhook shape (known: generic, stripe, github)",
        "sources[0].webhook.eventName: 'a..b' has an empty segment; write fields like data.object.customer",
        "sources[0].webhook.routingKey: must name at least one field",
        "sources[0].webhook.messageId: must be a dotted field path like data.object.customer or header:NAME, got a number",
        "sources[0].webhook.defaultEventName: must be a non-empty string, got a string",
        "sources[1].webhook: must be a mapping like {shape: stripe}, got a string",
        "sources[2].webhook.routingKey[0]: 'header:bad header' names no valid HTTP header"), problems);
  }
}
