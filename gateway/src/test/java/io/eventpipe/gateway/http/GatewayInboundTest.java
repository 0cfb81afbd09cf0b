package io.eventpipe.gateway.http;

import static io.eventpipe.gateway.http.GatewayFixture.GITHUB_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.GITHUB_SECRET;
import static io.eventpipe.gateway.http.GatewayFixture.GITHUB_SIGNED_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.HOOK_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.OFF_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.RECEIVED;
import static io.eventpipe.gateway.http.GatewayFixture.RECEIVED_TEXT;
import static io.eventpipe.gateway.http.GatewayFixture.STRIPE_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.STRIPE_SECRET;
import static io.eventpipe.gateway.http.GatewayFixture.STRIPE_SIGNED_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.WEB_KEY;
import static io.eventpipe.gateway.http.GatewayFixture.assertStatus;
import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.http.GatewayFixture.Reply;
import io.eventpipe.gateway.http.GatewayFixture.StoredJob;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.workspace.WriteKeys;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.net.URLEncoder;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Issue 18, inbound sources: {@code POST /v1/webhook} (generic, Stripe and GitHub shapes, as the source's
 * {@code webhook} configuration says, with its signature verified where it has a signing secret) and
 * {@code POST /v1/merge}, through a real server on loopback storing into jobsdb
 * on a real PostgreSQL. Every test uses its own routing keys and messageIds.
 */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class GatewayInboundTest {

  GatewayFixture fx;
  int port;

  @BeforeAll
  void start(PgDatabase db) {
    fx = new GatewayFixture(db);
    port = fx.start(GatewayFixture.options(), fx.sink(), new SimpleMeterRegistry());
  }

  @AfterAll
  void stop() {
    fx.close();
  }

  private Reply hook(String key, Map<String, String> headers, String body) {
    Map<String, String> h = new LinkedHashMap<>(headers);
    h.putIfAbsent("Content-Type", "application/json");
    return fx.send(port, HttpMethod.POST, "/v1/webhook" + (key == null ? "" : "?writeKey=" + key), h,
        Buffer.buffer(body));
  }

  private static String error(Reply r) {
    return r.json().getString("error");
  }

  private StoredJob onlyJob(String routingKey) {
    List<StoredJob> jobs = fx.storedWithKeyPrefix(routingKey);
    assertEquals(1, jobs.size(), () -> "jobs of " + routingKey + ": " + jobs);
    assertEquals(routingKey, jobs.get(0).routingKey());
    return jobs.get(0);
  }

  // ============================================================================================ webhook

  @Test
  void aStripeEventBecomesATrackEventNamedByItsTypeForItsCustomerAndItsRetryIsStoredOnce() {
    JsonObject body = new JsonObject().put("id", "evt_1QxStripe01").put("object", "event").put("api_version", "2024-06-20")
        .put("created", 1717000000).put("livemode", false).put("type", "invoice.paid")
        .put("data", new JsonObject().put("object", new JsonObject().put("id", "in_1Qx").put("object", "invoice")
            .put("customer", "cus_inb_stripe1").put("amount_paid", 2000).put("currency", "usd")));
    Reply r = hook(STRIPE_KEY, Map.of("Stripe-Signature", "t=1,v1=abc"), body.encode());
    assertStatus(200, r);
    StoredJob job = onlyJob("cus_inb_stripe1");
    assertEquals("stripe", job.sourceId());
    assertEquals("evt_1QxStripe01", job.messageId());
    JsonObject e = job.json();
    assertEquals("track", e.getString("type"));
    assertEquals("invoice.paid", e.getString("event"));
    assertEquals("cus_inb_stripe1", e.getString("userId"));
    assertEquals("evt_1QxStripe01", e.getString("messageId"));
    assertEquals(body, e.getJsonObject("properties"), "the whole webhook body is the event's properties");
    assertEquals("stripe", e.getJsonObject("context").getJsonObject("webhook").getString("shape"));
    assertEquals(RECEIVED_TEXT, e.getString("receivedAt"));
    assertEquals("127.0.0.1", e.getString("request_ip"));

    // Stripe retries a delivery with the same event id: acknowledged, not stored twice
    assertStatus(200, hook(STRIPE_KEY, Map.of(), body.encode()));
    assertEquals(1, fx.storedWithMessageId("evt_1QxStripe01").size());
  }

  @Test
  void aStripeEventAboutACustomerIsRoutedOnTheCustomersId() {
    String body = "{\"id\":\"evt_inb_cust\",\"type\":\"customer.created\",\"data\":{\"object\":{\"id\":\"cus_inb_new\","
        + "\"object\":\"customer\",\"email\":\"a@example.com\"}}}";
    assertStatus(200, hook(STRIPE_KEY, Map.of(), body));
    assertEquals("customer.created", onlyJob("cus_inb_new").json().getString("event"));
  }

  @Test
  void aGithubDeliveryIsNamedByItsEventHeaderForItsSenderAndDedupedByItsDeliveryId() {
    String body = "{\"ref\":\"refs/heads/main\",\"repository\":{\"full_name\":\"o/r\"},\"sender\":{\"login\":\"inb-octo\","
        + "\"id\":1}}";
    Map<String, String> headers = Map.of("X-GitHub-Event", "push", "X-GitHub-Delivery",
        "72d3162e-cc78-11e3-81ab-4c9367dc0958", "User-Agent", "GitHub-Hookshot/044aadd");
    assertStatus(200, hook(GITHUB_KEY, headers, body));
    assertStatus(200, hook(GITHUB_KEY, headers, body)); // GitHub's redelivery keeps the delivery id
    StoredJob job = onlyJob("inb-octo");
    assertEquals("github", job.sourceId());
    assertEquals("72d3162e-cc78-11e3-81ab-4c9367dc0958", job.messageId());
    assertEquals("push", job.json().getString("event"));
    assertEquals("refs/heads/main", job.json().getJsonObject("properties").getString("ref"));

    // GitHub's other content type: the JSON form-encoded in 'payload'
    String form = "payload=" + java.net.URLEncoder.encode("{\"action\":\"opened\",\"sender\":{\"login\":\"inb-octo-form\"}}",
        StandardCharsets.UTF_8);
    assertStatus(200, hook(GITHUB_KEY, Map.of("Content-Type", "application/x-www-form-urlencoded", "X-GitHub-Event",
        "issues", "X-GitHub-Delivery", "d-inb-form"), form));
    assertEquals("opened", onlyJob("inb-octo-form").json().getJsonObject("properties").getString("action"));
    Reply noPayload = hook(GITHUB_KEY, Map.of("Content-Type", "application/x-www-form-urlencoded"), "other=1");
    assertStatus(400, noPayload);
    assertTrue(error(noPayload).contains("'payload'"), error(noPayload));

    Reply noEvent = hook(GITHUB_KEY, Map.of(), "{\"sender\":{\"login\":\"inb-octo-2\"}}");
    assertStatus(400, noEvent);
    assertTrue(error(noEvent).startsWith("eventName: ") && error(noEvent).contains("header X-GitHub-Event"),
        error(noEvent));
    assertEquals(List.of(), fx.storedWithKeyPrefix("inb-octo-2"));
  }

  @Test
  void aGenericSourceReadsTheConfiguredFieldsTheFirstRoutingKeyFoundWinning() {
    assertStatus(200, hook(HOOK_KEY, Map.of(), "{\"action\":\"ticket.opened\",\"delivery\":\"d-inb-1\","
        + "\"account\":{\"id\":\"inb-acct-1\"},\"n\":1.10}"));
    StoredJob job = onlyJob("inb-acct-1");
    assertEquals("d-inb-1", job.messageId());
    assertEquals("ticket.opened", job.json().getString("event"));
    assertTrue(job.payloadString().contains("\"n\":1.10"), "numbers keep their digits: " + job.payloadString());

    // the body has no account.id: the header named second is taken; no delivery: a fresh messageId
    assertStatus(200, hook(HOOK_KEY, Map.of("X-Account", "inb-acct-2"), "{\"action\":\"ticket.closed\"}"));
    StoredJob second = onlyJob("inb-acct-2");
    assertEquals(36, second.messageId().length(), second.messageId());

    // a numeric id is a string in the event
    assertStatus(200, hook(HOOK_KEY, Map.of(), "{\"action\":\"a\",\"account\":{\"id\":770012}}"));
    assertEquals("770012", onlyJob("770012").json().getString("userId"));
  }

  @Test
  void aSourceWithoutWebhookConfigurationTakesTheGenericShape() {
    assertStatus(200, hook(WEB_KEY, Map.of(), "{\"event\":\"Form Sent\",\"userId\":\"inb-generic-1\",\"form\":\"f\"}"));
    assertEquals("Form Sent", onlyJob("inb-generic-1").json().getString("event"));
  }

  @Test
  void aMissingRoutingKeyOrEventNameIs400NamingTheFieldLookedFor() {
    Reply r = hook(STRIPE_KEY, Map.of(), "{\"id\":\"evt_inb_nokey\",\"type\":\"balance.available\","
        + "\"data\":{\"object\":{\"object\":\"balance\"}}}");
    assertStatus(400, r);
    assertTrue(error(r).startsWith("routingKey: ") && error(r).contains("'data.object.customer'"), error(r));
    assertEquals(List.of(), fx.storedWithMessageId("evt_inb_nokey"));

    r = hook(HOOK_KEY, Map.of(), "{\"action\":\"x\",\"delivery\":\"d-inb-nokey\",\"account\":{}}");
    assertStatus(400, r);
    assertTrue(error(r).contains("'account.id' or header X-Account"), error(r));

    r = hook(HOOK_KEY, Map.of(), "{\"account\":{\"id\":\"inb-noname\"}}");
    assertStatus(400, r);
    assertTrue(error(r).startsWith("eventName: ") && error(r).contains("'action'"), error(r));

    r = hook(HOOK_KEY, Map.of(), "{\"action\":\"x\",\"account\":{\"id\":{\"deep\":1}}}");
    assertStatus(400, r);
    assertTrue(error(r).startsWith("routingKey: ") && error(r).contains("must be a string or a number"), error(r));

    r = hook(HOOK_KEY, Map.of(), "{\"action\":\"x\",\"account\":{\"id\":\"" + "k".repeat(600) + "\"}}");
    assertStatus(400, r);
    assertTrue(error(r).startsWith("routingKey: ") && error(r).contains("512"), error(r));
    assertEquals(List.of(), fx.storedWithKeyPrefix("inb-noname"));
  }

  @Test
  void webhookAuthIsTheQueryKeyOrBasicAuthCheckedAsElsewhere() throws Exception {
    String body = "{\"event\":\"E\",\"userId\":\"inb-auth-1\"}";
    assertStatus(401, hook(null, Map.of(), body));
    assertStatus(401, hook("wk-unknown-000000", Map.of(), body));
    assertStatus(401, hook("k".repeat(300), Map.of(), body));
    assertStatus(404, hook(OFF_KEY, Map.of(), body));
    assertStatus(400, hook("%ZZ", Map.of(), body));
    assertEquals(List.of(), fx.storedWithKeyPrefix("inb-auth-"));
    assertStatus(200, hook(null, Map.of("Authorization", WriteKeys.basicAuthHeader(WEB_KEY)), body));
    onlyJob("inb-auth-1");

    // an unknown key is answered before the body is read: the headers promise a megabyte that never comes
    try (Socket s = new Socket("127.0.0.1", port)) {
      s.setSoTimeout(5000);
      OutputStream out = s.getOutputStream();
      out.write(("POST /v1/webhook?writeKey=wk-unknown-111111 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          + "Content-Length: 1000000\r\n\r\n{").getBytes(StandardCharsets.US_ASCII));
      out.flush();
      String answer = GatewayFixture.readResponse(s.getInputStream());
      assertTrue(answer.startsWith("HTTP/1.1 401"), answer);
    }
  }

  @Test
  void hostileWebhookBodiesAre4xxAndDoNotDisturbOtherRequests() {
    String deep = "{\"event\":\"E\",\"userId\":\"inb-deep\",\"p\":" + "[".repeat(70) + "]".repeat(70) + "}";
    String huge = "{\"event\":\"E\",\"userId\":\"inb-huge\",\"p\":\"" + "x".repeat(4_200_000) + "\"}";
    List<String> hostile = List.of(deep, huge, "{\"event\":", "[{\"event\":\"E\",\"userId\":\"inb-arr\"}]", "",
        "{\"event\":\"E\",\"userId\":\"inb-dup\",\"userId\":\"inb-dup2\"}",
        "{\"event\":\"E\",\"userId\":\"inb-sur\",\"p\":{\"k\":\"\\ud800\"}}",
        "{\"event\":\"E\",\"userId\":\"inb-nul\",\"p\":\"\\u0000\"}");
    List<Future<Reply>> bad = new ArrayList<>();
    List<Future<Reply>> good = new ArrayList<>();
    for (int round = 0; round < 3; round++) {
      for (String h : hostile) {
        bad.add(fx.sendAsync(port, HttpMethod.POST, "/v1/webhook?writeKey=" + WEB_KEY, Map.of(), Buffer.buffer(h)));
      }
      for (int i = 0; i < 5; i++) {
        good.add(fx.sendAsync(port, HttpMethod.POST, "/v1/webhook?writeKey=" + WEB_KEY, Map.of(),
            Buffer.buffer("{\"event\":\"E\",\"userId\":\"inb-good-" + round + "-" + i + "\"}")));
      }
    }
    byte[] notUtf8 = "{\"event\":\"E\",\"userId\":\"inb-utf\",\"p\":\"\u00ff\"}".getBytes(StandardCharsets.ISO_8859_1);
    bad.add(fx.sendAsync(port, HttpMethod.POST, "/v1/webhook?writeKey=" + WEB_KEY, Map.of(), Buffer.buffer(notUtf8)));
    for (int i = 0; i < bad.size(); i++) {
      Reply r = await(bad.get(i));
      String input = i < hostile.size() * 3 ? hostile.get(i % hostile.size()) : "not UTF-8";
      String shown = input.length() > 80 ? input.substring(0, 80) : input;
      assertTrue(r.status() == 400 || r.status() == 413, () -> shown + " -> " + r.status() + " " + r.text());
      if (input == deep) {
        assertTrue(r.text().contains("nested more than 63"), r.text());
      }
      if (input.contains("inb-sur")) {
        assertTrue(r.text().contains("p.k: "), r.text());
      }
    }
    for (Future<Reply> f : good) {
      assertStatus(200, await(f));
    }
    assertEquals(15, fx.storedWithKeyPrefix("inb-good-").size());
    for (String k : List.of("inb-deep", "inb-huge", "inb-arr", "inb-dup", "inb-sur", "inb-nul", "inb-utf")) {
      assertEquals(List.of(), fx.storedWithKeyPrefix(k), k);
    }
  }

  // ============================================================================================ merge

  @Test
  void aMergeIsStoredWithItsTypeAndPropertiesRoutedOnItsUserAndDedupedByMessageId() {
    String body = "{\"userId\":\"inb-merge-1\",\"messageId\":\"m-inb-merge-1\",\"mergeProperties\":["
        + "{\"type\":\"email\",\"value\":\"alex@example.com\"},{\"type\":\"phone\",\"value\":15550100}]}";
    assertStatus(200, fx.post(port, "/v1/merge", body));
    assertStatus(200, fx.post(port, "/v1/merge", body));
    StoredJob job = onlyJob("inb-merge-1");
    assertEquals("m-inb-merge-1", job.messageId());
    JsonObject e = job.json();
    assertEquals("merge", e.getString("type"));
    JsonArray props = e.getJsonArray("mergeProperties");
    assertEquals(new JsonObject().put("type", "email").put("value", "alex@example.com"), props.getJsonObject(0));
    assertEquals("15550100", props.getJsonObject(1).getString("value"), "a numeric value is stored as a string");
    assertEquals(RECEIVED_TEXT, e.getString("receivedAt"));
  }

  @Test
  void aMergeWithoutUserIdOrAnonymousIdIsRoutedOnItsFirstIdentity() {
    assertStatus(200, fx.post(port, "/v1/merge", "{\"mergeProperties\":[{\"type\":\"user_id\",\"value\":\"inb-merge-2\"},"
        + "{\"type\":\"email\",\"value\":\"b@example.com\"}]}"));
    assertNull(onlyJob("inb-merge-2").json().getString("userId"));
  }

  @Test
  void anInvalidMergeIs400NamingTheField() {
    String two = "{\"type\":\"email\",\"value\":\"a@example.com\"},{\"type\":\"phone\",\"value\":\"1\"}";
    Map<String, String> cases = new LinkedHashMap<>();
    cases.put("{\"userId\":\"inb-badmerge\"}", "mergeProperties: missing");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":{}}", "mergeProperties: must be an array");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"type\":\"email\",\"value\":\"a\"}]}",
        "mergeProperties: must hold exactly two identities, got 1");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[" + two + ",{\"type\":\"x\",\"value\":\"y\"}]}",
        "mergeProperties: must hold exactly two identities, got 3");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[\"a\",\"b\"]}", "mergeProperties[0]: must be an object");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"value\":\"a\"},{\"type\":\"t\",\"value\":\"b\"}]}",
        "mergeProperties[0].type: missing");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"type\":\"e\",\"value\":\"a\"},{\"type\":\"t\"}]}",
        "mergeProperties[1].value: missing");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"type\":\"e\",\"value\":\"a\"},{\"type\":\"t\","
        + "\"value\":{\"x\":1}}]}", "mergeProperties[1].value: must be a string or a number");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"type\":1,\"value\":\"a\"},{\"type\":\"t\","
        + "\"value\":\"b\"}]}", "mergeProperties[0].type: must be a string");
    cases.put("{\"userId\":\"inb-badmerge\",\"mergeProperties\":[{\"type\":\"e\",\"value\":\"a\"},{\"type\":\"e\","
        + "\"value\":\"a\"}]}", "mergeProperties: both entries are the same identity");
    cases.put("{\"mergeProperties\":[{\"type\":\"e\",\"value\":\"" + "v".repeat(600) + "\"},{\"type\":\"t\","
        + "\"value\":\"b\"}]}", "mergeProperties[0].value: is 600 characters long");
    cases.forEach((body, expected) -> {
      Reply r = fx.post(port, "/v1/merge", body);
      assertStatus(400, r);
      assertTrue(error(r).startsWith(expected), () -> body + " -> " + error(r));
    });
    assertEquals(List.of(), fx.storedWithKeyPrefix("inb-badmerge"));

    // merge is its own endpoint's type: a batch does not take it
    Reply r = fx.post(port, "/v1/batch", "{\"batch\":[{\"type\":\"merge\",\"userId\":\"inb-badmerge\",\"mergeProperties\":["
        + two + "]}]}");
    assertStatus(400, r);
    assertTrue(error(r).startsWith("batch[0].type: "), error(r));
  }

  // ============================================================================================ signatures

  /**
   * Webhook sources with a {@code signingSecret}: Stripe's {@code Stripe-Signature} and GitHub's
   * {@code X-Hub-Signature-256}, computed here as the tools document them. A good signature is stored; a missing,
   * malformed, wrong, tampered or (Stripe) stale one is 401 naming what failed, and nothing is stored. The server's
   * clock is fixed at {@link GatewayFixture#RECEIVED}.
   */
  @Nested
  class Signatures {

    static String hmacHex(String secret, String data) throws Exception {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(secret.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return HexFormat.of().formatHex(mac.doFinal(data.getBytes(StandardCharsets.UTF_8)));
    }

    /** Stripe's header for {@code body} signed at {@code t} with {@code secret}. */
    static String stripeHeader(String secret, long t, String body) throws Exception {
      return "t=" + t + ",v1=" + hmacHex(secret, t + "." + body);
    }

    private static String stripeEvent(String id, String customer) {
      return "{\"id\":\"" + id + "\",\"object\":\"event\",\"type\":\"invoice.paid\",\"data\":{\"object\":{\"id\":\"in_1\","
          + "\"object\":\"invoice\",\"customer\":\"" + customer + "\"}}}";
    }

    private void assertRefused(Reply r, String says, String routingKey) {
      assertStatus(401, r);
      String error = r.json().getString("error");
      assertTrue(error.startsWith("webhook signature: ") && error.contains(says), error);
      assertEquals(List.of(), fx.storedWithKeyPrefix(routingKey), "nothing stored for " + routingKey);
    }

    @Test
    void aStripeEventSignedWithTheSecretWithinTheToleranceIsStored() throws Exception {
      long now = RECEIVED.getEpochSecond();
      String body = stripeEvent("evt_sig_ok", "cus_sig_ok");
      assertStatus(200, hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", stripeHeader(STRIPE_SECRET, now - 12, body)), body));
      assertEquals(1, fx.storedWithKeyPrefix("cus_sig_ok").size());

      // while a secret is rolled Stripe sends a v1 per secret, and a v0 (test mode): any matching v1 will do
      String rolled = stripeEvent("evt_sig_roll", "cus_sig_roll");
      String header = "t=" + now + ",v1=" + hmacHex("whsec_old_secret", now + "." + rolled) + ",v1="
          + hmacHex(STRIPE_SECRET, now + "." + rolled) + ",v0=" + "0".repeat(64);
      assertStatus(200, hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", header), rolled));
      assertEquals(1, fx.storedWithKeyPrefix("cus_sig_roll").size());
    }

    @Test
    void aStripeRequestWithoutAGoodSignatureIs401NamingWhatFailed() throws Exception {
      long now = RECEIVED.getEpochSecond();
      String body = stripeEvent("evt_sig_bad", "cus_sig_bad");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of(), body), "no Stripe-Signature header", "cus_sig_bad");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", "sha256=abc"), body), "must hold t=", "cus_sig_bad");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", "t=yesterday,v1=" + "a".repeat(64)), body),
          "is not a Unix time", "cus_sig_bad");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", stripeHeader("whsec_someone_else", now, body)), body),
          "no v1 signature matches", "cus_sig_bad");
      // signed, then changed on the way
      String tampered = body.replace("cus_sig_bad", "cus_sig_bad2");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", stripeHeader(STRIPE_SECRET, now, body)), tampered),
          "no v1 signature matches", "cus_sig_bad2");
      // a good signature of long ago (a replay), or from a clock far ahead
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", stripeHeader(STRIPE_SECRET, now - 301, body)), body),
          "301 s from the server's clock, over the tolerance of 300 s", "cus_sig_bad");
      assertRefused(hook(STRIPE_SIGNED_KEY, Map.of("Stripe-Signature", stripeHeader(STRIPE_SECRET, now + 400, body)), body),
          "over the tolerance", "cus_sig_bad");
    }

    @Test
    void aGithubDeliverySignedWithTheSecretIsStoredAndOneWithoutIs401() throws Exception {
      // the example of GitHub's "Validating webhook deliveries": this helper signs as GitHub does
      assertEquals("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
          hmacHex(GITHUB_SECRET, "Hello, World!"));
      String body = "{\"action\":\"opened\",\"sender\":{\"login\":\"sig-octo\"}}";
      Map<String, String> headers = new LinkedHashMap<>(Map.of("X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-sig-1"));
      headers.put("X-Hub-Signature-256", "sha256=" + hmacHex(GITHUB_SECRET, body));
      assertStatus(200, hook(GITHUB_SIGNED_KEY, headers, body));
      assertEquals(1, fx.storedWithKeyPrefix("sig-octo").size());

      // the form content type: GitHub signs the form body as sent
      String form = "payload=" + URLEncoder.encode("{\"action\":\"closed\",\"sender\":{\"login\":\"sig-octo-form\"}}",
          StandardCharsets.UTF_8);
      assertStatus(200, hook(GITHUB_SIGNED_KEY, Map.of("Content-Type", "application/x-www-form-urlencoded",
          "X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-sig-2", "X-Hub-Signature-256",
          "sha256=" + hmacHex(GITHUB_SECRET, form)), form));
      assertEquals(1, fx.storedWithKeyPrefix("sig-octo-form").size());

      String other = "{\"action\":\"opened\",\"sender\":{\"login\":\"sig-octo-bad\"}}";
      Map<String, String> base = Map.of("X-GitHub-Event", "issues", "X-GitHub-Delivery", "d-sig-3");
      assertRefused(hook(GITHUB_SIGNED_KEY, base, other), "no X-Hub-Signature-256 header", "sig-octo-bad");
      Map<String, String> sha1 = new LinkedHashMap<>(base);
      sha1.put("X-Hub-Signature-256", "sha1=" + "a".repeat(40));
      assertRefused(hook(GITHUB_SIGNED_KEY, sha1, other), "must be sha256=<hex signature>", "sig-octo-bad");
      Map<String, String> wrong = new LinkedHashMap<>(base);
      wrong.put("X-Hub-Signature-256", "sha256=" + hmacHex("not the secret", other));
      assertRefused(hook(GITHUB_SIGNED_KEY, wrong, other), "does not match the body", "sig-octo-bad");
      Map<String, String> tampered = new LinkedHashMap<>(base);
      tampered.put("X-Hub-Signature-256", "sha256=" + hmacHex(GITHUB_SECRET, body));
      assertRefused(hook(GITHUB_SIGNED_KEY, tampered, other), "does not match the body", "sig-octo-bad");
    }

    @Test
    void theSignatureIsCheckedOnlyWhereTheSourceHasASecret() {
      // the unsigned Stripe source of GatewayInboundTest takes any Stripe-Signature, or none
      String body = stripeEvent("evt_sig_unsigned", "cus_sig_unsigned");
      assertStatus(200, hook(STRIPE_KEY, Map.of("Stripe-Signature", "t=1,v1=abc"), body));
      assertEquals(1, fx.storedWithKeyPrefix("cus_sig_unsigned").size());
    }
  }
}
