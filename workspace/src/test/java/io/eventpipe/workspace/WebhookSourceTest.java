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
        "sources[0].webhook.colour: unknown key (known: defaultEventName, eventName, messageId, routingKey, shape)",
        "sources[0].webhook.shape: 'zapier' is not a webhook shape (known: generic, stripe, github)",
        "sources[0].webhook.eventName: 'a..b' has an empty segment; write fields like data.object.customer",
        "sources[0].webhook.routingKey: must name at least one field",
        "sources[0].webhook.messageId: must be a dotted field path like data.object.customer or header:NAME, got a number",
        "sources[0].webhook.defaultEventName: must be a non-empty string, got a string",
        "sources[1].webhook: must be a mapping like {shape: stripe}, got a string",
        "sources[2].webhook.routingKey[0]: 'header:bad header' names no valid HTTP header"), problems);
  }
}
