package io.eventpipe.gateway;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.ByteArrayOutputStream;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

class EventParserTest {

  static final Instant RECEIVED = Instant.parse("2024-05-01T12:00:00.123456Z");
  static final String RECEIVED_TEXT = "2024-05-01T12:00:00.123Z";
  static final RequestContext CONTEXT = new RequestContext(RECEIVED, "203.0.113.7", "wk");
  static final Pattern UUID = Pattern.compile("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");

  /** Reads payloads back exactly, the way the parser writes them. */
  static final ObjectMapper EXACT = JsonMapper.builder()
      .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
      .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
      .build();

  final EventParser parser = EventParser.create();

  // ------------------------------------------------------------------------------------------------ helpers

  List<Event> parse(Endpoint endpoint, String json) {
    return parser.parse(endpoint, json.getBytes(StandardCharsets.UTF_8), CONTEXT);
  }

  Event one(Endpoint endpoint, String json) {
    List<Event> events = parse(endpoint, json);
    assertEquals(1, events.size());
    return events.get(0);
  }

  static JsonNode tree(Event event) {
    try {
      return EXACT.readTree(event.payload());
    } catch (Exception e) {
      throw new AssertionError("payload is not JSON: " + event.payloadString(), e);
    }
  }

  GatewayException rejected(Endpoint endpoint, String json) {
    return rejected(endpoint, json.getBytes(StandardCharsets.UTF_8));
  }

  GatewayException rejected(Endpoint endpoint, byte[] body) {
    return assertThrows(GatewayException.class, () -> parser.parse(endpoint, body, CONTEXT));
  }

  static void assertMentions(GatewayException e, String... parts) {
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "message should mention '" + part + "': " + e.getMessage());
    }
  }

  static List<String> fieldNames(JsonNode node) {
    List<String> names = new ArrayList<>();
    node.fieldNames().forEachRemaining(names::add);
    return names;
  }

  // ------------------------------------------------------------------------------------------------ single

  @Nested
  class SingleEvents {

    @Test
    void trackIsEnriched() {
      Event e = one(Endpoint.TRACK, "{\"userId\":\"u1\",\"event\":\"Signed Up\",\"properties\":{\"plan\":\"pro\"}}");
      assertEquals(EventType.TRACK, e.type());
      assertEquals("u1", e.userId());
      assertNull(e.anonymousId());
      assertEquals("u1", e.routingKey());
      assertTrue(UUID.matcher(e.messageId()).matches(), e.messageId());
      JsonNode t = tree(e);
      assertEquals("track", t.get("type").textValue());
      assertEquals(e.messageId(), t.get("messageId").textValue());
      assertEquals(RECEIVED_TEXT, t.get("receivedAt").textValue());
      assertEquals(RECEIVED_TEXT, t.get("timestamp").textValue());
      assertEquals("203.0.113.7", t.get("request_ip").textValue());
      assertEquals("203.0.113.7", t.get("context").get("ip").textValue());
      assertEquals("pro", t.get("properties").get("plan").textValue());
      assertEquals(List.of("userId", "event", "properties", "type", "messageId", "receivedAt", "request_ip",
          "context", "timestamp"), fieldNames(t));
    }

    @Test
    void endpointDecidesTheType() {
      assertEquals("track", tree(one(Endpoint.TRACK, "{\"type\":\"identify\",\"userId\":\"u\",\"event\":\"e\"}"))
          .get("type").textValue());
      Map<Endpoint, EventType> expected = Map.of(Endpoint.IDENTIFY, EventType.IDENTIFY, Endpoint.PAGE,
          EventType.PAGE, Endpoint.SCREEN, EventType.SCREEN);
      expected.forEach((endpoint, type) -> {
        Event e = one(endpoint, "{\"anonymousId\":\"a\"}");
        assertEquals(type, e.type());
        assertEquals(type.wireName(), tree(e).get("type").textValue());
      });
      assertEquals(EventType.GROUP, one(Endpoint.GROUP, "{\"userId\":\"u\",\"groupId\":\"g\"}").type());
      assertEquals(EventType.ALIAS, one(Endpoint.ALIAS, "{\"userId\":\"u\",\"previousId\":\"p\"}").type());
    }

    @Test
    void messageIdIsKeptOrGenerated() {
      assertEquals("m-1", one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":\"m-1\"}").messageId());
      Event numeric = one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":12345678901234567890123}");
      assertEquals("12345678901234567890123", numeric.messageId());
      assertEquals("12345678901234567890123", tree(numeric).get("messageId").textValue());
      Event empty = one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":\"\"}");
      assertTrue(UUID.matcher(empty.messageId()).matches());
      Event nul = one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":null}");
      assertTrue(UUID.matcher(nul.messageId()).matches());
      assertNotEquals(empty.messageId(), nul.messageId());
      GatewayException e = rejected(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":true}");
      assertEquals(400, e.status());
      assertMentions(e, "messageId", "boolean");
    }

    @Test
    void serverFieldsOverwriteClientClaims() {
      JsonNode t = tree(one(Endpoint.IDENTIFY,
          "{\"userId\":\"u\",\"receivedAt\":\"1999-01-01T00:00:00.000Z\",\"request_ip\":\"1.2.3.4\","
              + "\"context\":{\"ip\":\"10.0.0.1\",\"library\":{\"name\":\"x\"}}}"));
      assertEquals(RECEIVED_TEXT, t.get("receivedAt").textValue());
      assertEquals("203.0.113.7", t.get("request_ip").textValue());
      assertEquals("10.0.0.1", t.get("context").get("ip").textValue(), "context.ip is the client's when it set one");
      assertEquals("x", t.get("context").get("library").get("name").textValue());
      assertEquals(List.of("userId", "receivedAt", "request_ip", "context", "type", "messageId", "timestamp"),
          fieldNames(t), "fields keep their place when overwritten");
    }

    @Test
    void unknownClientIpAddsNoIpFields() {
      RequestContext noIp = new RequestContext(RECEIVED, null, null);
      Event e = parser.parse(Endpoint.IDENTIFY,
          "{\"userId\":\"u\",\"request_ip\":\"6.6.6.6\"}".getBytes(StandardCharsets.UTF_8), noIp).get(0);
      JsonNode t = tree(e);
      assertFalse(t.has("request_ip"));
      assertFalse(t.has("context"));
    }

    @Test
    void writeKeyIsRemovedAndReturned() {
      ParsedRequest r = parser.parseRequest(Endpoint.IDENTIFY,
          "{\"writeKey\":\"secret-key\",\"userId\":\"u\"}".getBytes(StandardCharsets.UTF_8), CONTEXT);
      assertEquals("secret-key", r.bodyWriteKey());
      assertFalse(tree(r.events().get(0)).has("writeKey"));
      assertFalse(r.events().get(0).payloadString().contains("secret-key"));
      assertNull(parser.parseRequest(Endpoint.IDENTIFY, "{\"userId\":\"u\"}".getBytes(StandardCharsets.UTF_8),
          CONTEXT).bodyWriteKey());
    }
  }

  // ------------------------------------------------------------------------------------------------ identity

  @Nested
  class Identity {

    @Test
    void anonymousIdIsTheRoutingKeyWhenPresent() {
      Event e = one(Endpoint.IDENTIFY, "{\"anonymousId\":\"a1\",\"userId\":\"u1\"}");
      assertEquals("a1", e.routingKey());
      assertEquals("a1", e.anonymousId());
      assertEquals("u1", e.userId());
      Event emptyAnonymous = one(Endpoint.IDENTIFY, "{\"anonymousId\":\"\",\"userId\":\"u1\"}");
      assertEquals("u1", emptyAnonymous.routingKey());
      assertNull(emptyAnonymous.anonymousId());
    }

    @Test
    void numericIdsBecomeStrings() {
      Event e = one(Endpoint.IDENTIFY, "{\"anonymousId\":123456789012345678901234567890,\"userId\":42}");
      assertEquals("123456789012345678901234567890", e.anonymousId());
      assertEquals("42", e.userId());
      assertEquals("123456789012345678901234567890", e.routingKey());
      JsonNode t = tree(e);
      assertTrue(t.get("anonymousId").isTextual());
      assertEquals("42", t.get("userId").textValue());
      assertTrue(e.payloadString().startsWith("{\"anonymousId\":\"123456789012345678901234567890\",\"userId\":\"42\""),
          e.payloadString());
      assertEquals("1.50", one(Endpoint.IDENTIFY, "{\"userId\":1.50}").userId());
    }

    @Test
    void missingIdentityIs400() {
      for (String body : new String[] {"{}", "{\"userId\":\"\",\"anonymousId\":\"\"}",
          "{\"userId\":null,\"anonymousId\":null}"}) {
        GatewayException e = rejected(Endpoint.IDENTIFY, body);
        assertEquals(400, e.status());
        assertNull(e.eventIndex());
        assertMentions(e, "userId", "anonymousId");
        assertEquals("userId", ((InvalidEventException) e).field());
      }
    }

    @Test
    void nonScalarIdsAre400NamingTheField() {
      for (String value : new String[] {"true", "{}", "[\"a\"]"}) {
        GatewayException e = rejected(Endpoint.IDENTIFY, "{\"anonymousId\":\"a\",\"userId\":" + value + "}");
        assertEquals(400, e.status());
        assertMentions(e, "userId", "must be a string or a number");
        GatewayException a = rejected(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"anonymousId\":" + value + "}");
        assertMentions(a, "anonymousId");
      }
    }

    @Test
    void typeSpecificRequirements() {
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\"}"), "event", "missing");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"\"}"), "event");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":5}"), "event", "must be a string");
      assertMentions(rejected(Endpoint.ALIAS, "{\"userId\":\"u\"}"), "previousId");
      assertMentions(rejected(Endpoint.ALIAS, "{\"userId\":\"u\",\"previousId\":false}"), "previousId");
      assertMentions(rejected(Endpoint.GROUP, "{\"userId\":\"u\"}"), "groupId");
      assertMentions(rejected(Endpoint.GROUP, "{\"userId\":\"u\",\"groupId\":\"\"}"), "groupId");
      assertEquals("7", tree(one(Endpoint.ALIAS, "{\"userId\":\"u\",\"previousId\":7}")).get("previousId").textValue());
      assertEquals("9", tree(one(Endpoint.GROUP, "{\"userId\":\"u\",\"groupId\":9}")).get("groupId").textValue());
    }

    @Test
    void contextMustBeAnObject() {
      GatewayException e = rejected(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"context\":\"x\"}");
      assertEquals(400, e.status());
      assertMentions(e, "context", "object");
    }
  }

  // ------------------------------------------------------------------------------------------------ batch

  @Nested
  class Batches {

    @Test
    void batchEventsKeepTheirTypesAndGetTheEnvelope() {
      String body = "{\"writeKey\":\"wk\",\"sentAt\":\"2024-05-01T12:00:10.000Z\","
          + "\"context\":{\"library\":{\"name\":\"analytics-java\"},\"locale\":\"en\"},"
          + "\"integrations\":{\"All\":true},\"batch\":["
          + "{\"type\":\"identify\",\"userId\":\"u1\",\"traits\":{\"n\":1}},"
          + "{\"type\":\"track\",\"anonymousId\":\"a1\",\"event\":\"e\",\"context\":{\"locale\":\"fr\"},"
          + "\"integrations\":{\"All\":false},\"sentAt\":\"2024-05-01T12:00:11.000Z\",\"writeKey\":\"x\"},"
          + "{\"type\":\"page\",\"userId\":\"u2\",\"context\":null}]}";
      for (Endpoint endpoint : new Endpoint[] {Endpoint.BATCH, Endpoint.IMPORT, Endpoint.BEACON_BATCH}) {
        ParsedRequest r = parser.parseRequest(endpoint, body.getBytes(StandardCharsets.UTF_8), CONTEXT);
        assertEquals("wk", r.bodyWriteKey());
        List<Event> events = r.events();
        assertEquals(List.of(EventType.IDENTIFY, EventType.TRACK, EventType.PAGE),
            events.stream().map(Event::type).toList());
        assertEquals(List.of("u1", "a1", "u2"), events.stream().map(Event::routingKey).toList());

        JsonNode first = tree(events.get(0));
        assertEquals("identify", first.get("type").textValue());
        assertEquals("analytics-java", first.get("context").get("library").get("name").textValue());
        assertEquals("en", first.get("context").get("locale").textValue());
        assertEquals("203.0.113.7", first.get("context").get("ip").textValue());
        assertTrue(first.get("integrations").get("All").booleanValue());
        assertEquals("2024-05-01T12:00:10.000Z", first.get("sentAt").textValue());

        JsonNode second = tree(events.get(1));
        assertEquals("fr", second.get("context").get("locale").textValue(), "the event's context keys win");
        assertEquals("analytics-java", second.get("context").get("library").get("name").textValue());
        assertFalse(second.get("integrations").get("All").booleanValue(), "the event's integrations win");
        assertEquals("2024-05-01T12:00:11.000Z", second.get("sentAt").textValue(), "the event's sentAt wins");
        assertFalse(second.has("writeKey"));

        JsonNode third = tree(events.get(2));
        assertEquals("en", third.get("context").get("locale").textValue(), "a null context takes the envelope's");

        for (Event e : events) {
          assertFalse(e.payloadString().contains("\"writeKey\""), e.payloadString());
        }
      }
    }

    @Test
    void envelopeContextIsNotSharedBetweenEvents() {
      String body = "{\"context\":{\"k\":1},\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"},"
          + "{\"type\":\"identify\",\"userId\":\"v\",\"context\":{\"ip\":\"9.9.9.9\"}}]}";
      List<Event> events = parse(Endpoint.BATCH, body);
      assertEquals("203.0.113.7", tree(events.get(0)).get("context").get("ip").textValue());
      assertEquals("9.9.9.9", tree(events.get(1)).get("context").get("ip").textValue());
    }

    @Test
    void batchShapeErrors() {
      assertMentions(rejected(Endpoint.BATCH, "{}"), "batch");
      assertMentions(rejected(Endpoint.BATCH, "{\"batch\":null}"), "batch");
      assertMentions(rejected(Endpoint.BATCH, "{\"batch\":{}}"), "batch", "array");
      assertMentions(rejected(Endpoint.BATCH, "{\"batch\":[]}"), "batch", "empty");
      assertMentions(rejected(Endpoint.BATCH, "{\"context\":[],\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"}]}"),
          "context", "object");
      assertMentions(rejected(Endpoint.BATCH, "{\"integrations\":1,\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"}]}"),
          "integrations");
    }

    @Test
    void badElementsNameTheirIndex() {
      String ok = "{\"type\":\"identify\",\"userId\":\"u\"}";
      check("{\"batch\":[" + ok + ",5]}", 1, "batch[1]", "object");
      check("{\"batch\":[" + ok + "," + ok + ",{\"userId\":\"u\"}]}", 2, "batch[2].type", "missing");
      check("{\"batch\":[{\"type\":\"Track\",\"userId\":\"u\"}]}", 0, "batch[0].type", "'Track'", "track, identify");
      check("{\"batch\":[{\"type\":1,\"userId\":\"u\"}]}", 0, "batch[0].type", "string");
      check("{\"batch\":[" + ok + "," + ok + "," + ok + ",{\"type\":\"identify\"}]}", 3, "batch[3].userId");
      check("{\"batch\":[" + ok + ",{\"type\":\"track\",\"userId\":\"u\"}]}", 1, "batch[1].event");
      check("{\"batch\":[" + ok + ",{\"type\":\"identify\",\"userId\":false}]}", 1, "batch[1].userId", "boolean");
      check("{\"batch\":[" + ok + ",{\"type\":\"alias\",\"userId\":\"u\"}]}", 1, "batch[1].previousId");
      check("{\"batch\":[" + ok + ",{\"type\":\"group\",\"userId\":\"u\"}]}", 1, "batch[1].groupId");
      check("{\"batch\":[" + ok + ",{\"type\":\"identify\",\"userId\":\"u\",\"context\":1}]}", 1, "batch[1].context");
    }

    private void check(String body, int index, String... mentions) {
      GatewayException e = rejected(Endpoint.BATCH, body);
      assertEquals(400, e.status(), e.getMessage());
      assertEquals(index, e.eventIndex());
      assertMentions(e, mentions);
    }
  }

  // ------------------------------------------------------------------------------------------------ body

  @Nested
  class Bodies {

    @Test
    void notAJsonObject() {
      assertMentions(rejected(Endpoint.TRACK, ""), "empty");
      assertMentions(rejected(Endpoint.TRACK, "  \n "), "empty");
      assertMentions(rejected(Endpoint.TRACK, "[]"), "JSON object", "array");
      assertMentions(rejected(Endpoint.TRACK, "\"x\""), "JSON object");
      assertMentions(rejected(Endpoint.TRACK, "null"), "JSON object");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\"} {}"), "after the JSON object");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\"} x"), "JSON");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":\"u\","), "not valid JSON");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":'u'}"), "not valid JSON", "line 1");
      assertMentions(rejected(Endpoint.TRACK, "{\"userId\":NaN}"), "not valid JSON");
      assertEquals(400, rejected(Endpoint.TRACK, "{\"userId\":\"u\",}").status());
    }

    @Test
    void invalidUtf8IsRejected() {
      byte[] body = bytes("{\"userId\":\"u\",\"event\":\"", new byte[] {(byte) 0xC3, 0x28}, "\"}");
      GatewayException e = rejected(Endpoint.TRACK, body);
      assertEquals(400, e.status());
      assertMentions(e, "UTF-8", "0xC3", "offset 23");
      // Jackson's own UTF-8 decoder also rejects this sequence (defence in depth).
      assertThrows(JsonProcessingException.class, () -> new ObjectMapper().readTree(body));
    }

    @Test
    void utf8FormsJacksonWouldAcceptAreRejected() {
      byte[][] sequences = {
          {(byte) 0xC0, (byte) 0x80},                      // overlong NUL
          {(byte) 0xE0, (byte) 0x80, (byte) 0xAF},         // overlong '/'
          {(byte) 0xED, (byte) 0xA0, (byte) 0x80},         // UTF-16 surrogate D800 encoded as UTF-8
          {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, // above U+10FFFF
          {(byte) 0xFF},
          {(byte) 0xE2, (byte) 0x82},                      // truncated
          {0},                                              // NUL byte
      };
      for (byte[] sequence : sequences) {
        GatewayException e = rejected(Endpoint.TRACK, bytes("{\"userId\":\"u\",\"event\":\"", sequence, "\"}"));
        assertEquals(400, e.status());
        assertMentions(e, "UTF-8");
      }
      assertEquals(400, rejected(Endpoint.TRACK, "{\"a\":1}".getBytes(StandardCharsets.UTF_16BE)).status());
      assertEquals(400, rejected(Endpoint.TRACK, "{\"a\":1}".getBytes(StandardCharsets.UTF_16)).status());
    }

    @Test
    void validMultiByteUtf8IsAccepted() {
      String text = "caf\u00e9 \u20ac \uD83D\uDE00 \u4e2d";
      Event e = one(Endpoint.TRACK, "{\"userId\":\"\u00fc\",\"event\":\"" + text + "\"}");
      assertEquals(text, tree(e).get("event").textValue());
      assertEquals("\u00fc", e.routingKey());
      // A UTF-8 byte order mark is tolerated.
      byte[] bom = bytes("", new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}, "{\"userId\":\"u\"}");
      assertEquals("u", parser.parse(Endpoint.IDENTIFY, bom, CONTEXT).get(0).userId());
    }

    @Test
    void duplicateKeysAre400() {
      GatewayException top = rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\",\"userId\":\"v\"}");
      assertEquals(400, top.status());
      assertMentions(top, "Duplicate field 'userId'");
      GatewayException nested = rejected(Endpoint.TRACK,
          "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"a\":1,\"b\":{\"c\":1,\"c\":2}}}");
      assertMentions(nested, "Duplicate field 'c'");
      GatewayException batched = rejected(Endpoint.BATCH, "{\"batch\":[],\"batch\":[]}");
      assertMentions(batched, "Duplicate field 'batch'");
    }

    @Test
    void hundredThousandOpenBracketsAre400() {
      String deep = "[".repeat(100_000);
      assertEquals(400, rejected(Endpoint.TRACK, deep).status());
      GatewayException inside = rejected(Endpoint.TRACK,
          "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"x\":" + deep);
      assertEquals(400, inside.status());
      assertMentions(inside, "nested more than 64 levels");
      GatewayException objects = rejected(Endpoint.BATCH, "{\"batch\":[" + "{\"a\":".repeat(100_000));
      assertEquals(400, objects.status());
      assertMentions(objects, "nested");
    }

    @Test
    void nestingUpToTheLimitIsAccepted() {
      // Depth counts every open object and array of the document: the event object is level 1.
      String atLimit = "{\"userId\":\"u\",\"event\":\"e\",\"properties\":" + "[".repeat(63) + "]".repeat(63) + "}";
      assertEquals("u", one(Endpoint.TRACK, atLimit).userId());
      String overLimit = "{\"userId\":\"u\",\"event\":\"e\",\"properties\":" + "[".repeat(64) + "]".repeat(64) + "}";
      assertEquals(400, rejected(Endpoint.TRACK, overLimit).status());

      EventParser shallow = EventParser.builder().maxNestingDepth(5).build();
      String five = "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"a\":{\"b\":{\"c\":[1]}}}}";
      assertEquals("u", shallow.parse(Endpoint.TRACK, five.getBytes(StandardCharsets.UTF_8), CONTEXT).get(0).userId());
      String six = "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"a\":{\"b\":{\"c\":[[1]]}}}}";
      GatewayException e = assertThrows(GatewayException.class,
          () -> shallow.parse(Endpoint.TRACK, six.getBytes(StandardCharsets.UTF_8), CONTEXT));
      assertMentions(e, "nested more than 5 levels");
    }

    @Test
    void oversizedRequestIs413() {
      EventParser small = EventParser.builder().maxRequestBytes(1000).build();
      String body = "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"p\":\"" + "x".repeat(1000) + "\"}}";
      GatewayException e = assertThrows(GatewayException.class,
          () -> small.parse(Endpoint.TRACK, body.getBytes(StandardCharsets.UTF_8), CONTEXT));
      assertEquals(413, e.status());
      assertMentions(e, "1000 bytes");
    }

    @Test
    void oversizedEventIs413WithItsIndex() {
      EventParser small = EventParser.builder().maxEventBytes(500).build();
      String big = "{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"p\":\"" + "x".repeat(500)
          + "\"}}";
      String ok = "{\"type\":\"identify\",\"userId\":\"u\"}";
      GatewayException e = assertThrows(GatewayException.class, () -> small.parse(Endpoint.BATCH,
          ("{\"batch\":[" + ok + "," + big + "]}").getBytes(StandardCharsets.UTF_8), CONTEXT));
      assertEquals(413, e.status());
      assertEquals(1, e.eventIndex());
      assertMentions(e, "batch[1]", "500 bytes");
    }

    @Test
    void absurdNumbersAre400NotServerErrors() {
      GatewayException longNumber = rejected(Endpoint.TRACK,
          "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"n\":" + "9".repeat(5000) + "}}");
      assertEquals(400, longNumber.status());
      for (String number : new String[] {"1e9999999999", "1e-9999999999", "-1e2147483648"}) {
        try {
          Event e = one(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"n\":" + number + "}}");
          assertEquals(0, new BigDecimal(number).compareTo(tree(e).get("properties").get("n").decimalValue()));
        } catch (GatewayException e) {
          assertEquals(400, e.status(), e.getMessage());
        }
      }
    }
  }

  // ------------------------------------------------------------------------------------------------ values

  @Nested
  class Faithfulness {

    static final String PROPERTIES = "{\"big\":123456789012345678901234567890,\"negbig\":-98765432109876543210,"
        + "\"dec\":1.10,\"huge\":1e400,\"tiny\":-1.5E-400,\"long\":9223372036854775807,\"zero\":0,"
        + "\"frac\":0.30000000000000000000000000000001,"
        + "\"ctrl\":\"\\u001f\\t\\n\",\"emoji\":\"\uD83D\uDE00\","
        + "\"escapedEmoji\":\"\\ud83d\\ude00\",\"quote\":\"\\\"\\\\\\/\",\"unicode\":\"\\u00e9\u00e9\","
        + "\"order\":{\"z\":1,\"a\":2,\"m\":[3,{\"y\":true,\"b\":null}]},\"empty\":{},\"list\":[]}";

    @Test
    void valuesSurviveExactly() throws Exception {
      Event e = one(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\",\"properties\":" + PROPERTIES + "}");
      JsonNode expected = EXACT.readTree(PROPERTIES);
      JsonNode actual = tree(e).get("properties");
      assertEquals(expected, actual, "same values, digits and scales");
      assertEquals(fieldNames(expected), fieldNames(actual));
      assertEquals(List.of("z", "a", "m"), fieldNames(actual.get("order")));
      assertEquals(List.of("y", "b"), fieldNames(actual.get("order").get("m").get(1)));

      String json = e.payloadString();
      assertTrue(json.contains("\"big\":123456789012345678901234567890,"), json);
      assertTrue(json.contains("\"negbig\":-98765432109876543210,"), json);
      assertTrue(json.contains("\"dec\":1.10,"), json);
      assertTrue(json.contains("\"huge\":1E+400,"), json);
      assertTrue(json.contains("\"tiny\":-1.5E-400,"), json);
      assertTrue(json.contains("\"frac\":0.30000000000000000000000000000001,"), json);
      assertTrue(json.contains("\"ctrl\":\"\\u001F\\t\\n\""), json);
      assertTrue(json.contains("\"emoji\":\"\uD83D\uDE00\""), "non-BMP as UTF-8: " + json);
      assertTrue(json.contains("\"escapedEmoji\":\"\uD83D\uDE00\""), json);
      assertTrue(json.contains("\"quote\":\"\\\"\\\\/\""), json);
      assertEquals(new BigDecimal("1.10"), actual.get("dec").decimalValue());
      assertEquals(2, actual.get("dec").decimalValue().scale());
      assertEquals(new BigDecimal("1e400"), actual.get("huge").decimalValue());
      // 4-byte UTF-8 sequence for U+1F600 in the stored bytes
      assertTrue(indexOf(e.payload(), new byte[] {(byte) 0xF0, (byte) 0x9F, (byte) 0x98, (byte) 0x80}) > 0);
    }

    @Test
    void unicodeInFieldNamesAndIdsSurvives() {
      Event e = one(Endpoint.TRACK, "{\"userId\":\"\\t\uD83D\uDE00\",\"event\":\"e\",\"properties\":"
          + "{\"\uD83D\uDE00\\nk\":1,\"pair\":\"\\ud83d\\ude00\"}}");
      assertEquals("\t\uD83D\uDE00", e.userId());
      assertEquals(1, tree(e).get("properties").get("\uD83D\uDE00\nk").intValue());
      assertEquals("\uD83D\uDE00", tree(e).get("properties").get("pair").textValue());
    }

    @Test
    void anEscapedBackslashBeforeUIsNotASurrogateEscape() {
      Event e = one(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"\\\\ud800 \uD83D\uDE00\"}");
      assertEquals("\\ud800 \uD83D\uDE00", tree(e).get("event").textValue());
      assertTrue(indexOf(e.payload(), new byte[] {(byte) 0xF0, (byte) 0x9F, (byte) 0x98, (byte) 0x80}) > 0,
          "the emoji stays raw UTF-8: " + e.payloadString());
    }

    @Test
    void payloadsAreValidUtf8Json() {
      Event e = one(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\",\"properties\":" + PROPERTIES + "}");
      assertEquals(-1, io.eventpipe.gateway.impl.Utf8.firstInvalid(e.payload()));
    }
  }

  // ------------------------------------------------------------------------------------------------ the string rule

  /**
   * Decision: a string that cannot round-trip exactly through PostgreSQL and every destination (a NUL: {@code text}
   * and {@code jsonb} reject it; a lone surrogate: UTF-8 cannot encode it, it would be stored as {@code ?}) is refused
   * with a 400 naming its path and batch index, wherever it is in the event tree, instead of failing later (a
   * retryable 503) or being stored changed.
   */
  @Nested
  class StringRule {

    @Test
    void aNulInAnIdIsRefusedNamingTheField() {
      for (String field : List.of("userId", "anonymousId", "messageId", "previousId", "groupId")) {
        String identity = field.equals("userId") ? "anonymousId" : "userId";
        GatewayException e = rejected(Endpoint.BATCH, "{\"batch\":[{\"type\":\"identify\",\"userId\":\"ok\"},"
            + "{\"type\":\"identify\",\"" + identity + "\":\"ok\",\"" + field + "\":\"a\\u0000b\"}]}");
        assertEquals(400, e.status());
        assertEquals(1, e.eventIndex());
        assertTrue(e.getMessage().startsWith("batch[1]." + field + ": has a control character (U+0000"), e.getMessage());
      }
    }

    @Test
    void aLoneSurrogateAnywhereIsRefusedNamingItsPath() {
      Map<String, String> cases = Map.of(
          "{\"userId\":\"\\ud800\"}", "userId",
          "{\"userId\":\"u\",\"messageId\":\"x\\udc00\"}", "messageId",
          "{\"userId\":\"u\",\"traits\":{\"a\":[1,{\"b\":\"\\ud800y\"}]}}", "traits.a[1].b",
          "{\"userId\":\"u\",\"traits\":{\"\\udbff\":1}}", "traits[\"\\uDBFF\"]",
          "{\"userId\":\"u\",\"context\":{\"x\":\"\\uD800\\uD800\"}}", "context.x");
      cases.forEach((body, path) -> {
        GatewayException e = rejected(Endpoint.IDENTIFY, body);
        assertEquals(400, e.status());
        assertTrue(e.getMessage().startsWith(path + ": "), body + " -> " + e.getMessage());
        assertMentions(e, "unpaired UTF-16 surrogate");
      });
    }

    @Test
    void aNulInAPropertyKeyOrValueOrTheEnvelopeIsRefused() {
      GatewayException key = rejected(Endpoint.BATCH, "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\","
          + "\"event\":\"e\"},{\"type\":\"track\",\"userId\":\"u\",\"event\":\"e\",\"properties\":"
          + "{\"list\":[\"ok\",{\"k\\u0000\":1}]}}]}");
      assertEquals(1, key.eventIndex());
      assertTrue(key.getMessage().startsWith("batch[1].properties.list[1][\"k\\u0000\"]: the field's name has a"
          + " control character (U+0000"), key.getMessage());
      GatewayException name = rejected(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"Sign\\u0000ed Up\"}");
      assertTrue(name.getMessage().startsWith("event: has a control character (U+0000, NUL) at position 4"),
          name.getMessage());
      GatewayException envelope = rejected(Endpoint.BATCH, "{\"context\":{\"app\":{\"name\":\"\\u0000\"}},"
          + "\"batch\":[{\"type\":\"identify\",\"userId\":\"u\"}]}");
      assertNull(envelope.eventIndex(), "the envelope is no event");
      assertTrue(envelope.getMessage().startsWith("context.app.name: has a control character"), envelope.getMessage());
    }

    @Test
    void whatPassesRoundTripsExactly() {
      // tab, newline, U+001F, U+FFFF, an escaped pair, a raw emoji, an escaped backslash before u0000: all kept
      String value = "\\t\\n\\u001f\uFFFF\\ud83d\\ude00\uD83D\uDE00\\\\u0000";
      Event e = one(Endpoint.TRACK, "{\"userId\":\"u\",\"event\":\"e\",\"properties\":{\"v\":\"" + value + "\"}}");
      assertEquals("\t\n\u001f\uFFFF\uD83D\uDE00\uD83D\uDE00\\u0000", tree(e).get("properties").get("v").textValue());
      assertEquals(-1, io.eventpipe.gateway.impl.Utf8.firstInvalid(e.payload()), "the payload is valid UTF-8");
    }

    @Test
    void pixelParametersFollowTheSameRule() {
      GatewayException nul = assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_TRACK,
          Map.of("userId", "u", "event", "a\u0000"), CONTEXT));
      assertMentions(nul, "query parameter 'event'", "U+0000");
      GatewayException lone = assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_TRACK,
          Map.of("userId", "u", "event", "\uD800y"), CONTEXT));
      assertMentions(lone, "unpaired UTF-16 surrogate");
    }

    @Test
    void aBodyWithoutSuspectEscapesIsNotWalked() {
      // the rule costs nothing on the common body: the UTF-8 pass decides whether the tree must be looked at
      assertEquals(io.eventpipe.gateway.impl.Utf8.VALID,
          io.eventpipe.gateway.impl.Utf8.check("{\"userId\":\"u\\u00e9\\ud83d\\ude00\"}".getBytes(StandardCharsets.UTF_8)));
    }
  }

  // ------------------------------------------------------------------------------------------------ amplification

  /** The envelope merged into every event: its cost is checked and charged before a payload is built. */
  @Nested
  class Amplification {

    String batch(int events, int contextBytes) {
      StringBuilder sb = new StringBuilder("{\"context\":{\"blob\":\"" + "x".repeat(contextBytes) + "\"},\"batch\":[");
      for (int i = 0; i < events; i++) {
        sb.append(i == 0 ? "" : ",").append("{\"type\":\"track\",\"userId\":\"u").append(i).append("\",\"event\":\"e\"}");
      }
      return sb.append("]}").toString();
    }

    @Test
    void aSmallBodyThatEnrichmentWouldMakeHugeIs413BeforeAnyPayloadIsBuilt() {
      byte[] body = batch(1500, 100_000).getBytes(StandardCharsets.UTF_8); // ~160 KB asking for ~150 MB of payloads
      List<Long> charges = new ArrayList<>();
      RequestContext budget = new RequestContext(RECEIVED, "203.0.113.7", null, n -> charges.add(n));
      com.sun.management.ThreadMXBean threads =
          (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
      long before = threads.getCurrentThreadAllocatedBytes();
      GatewayException e = assertThrows(GatewayException.class, () -> parser.parse(Endpoint.BATCH, body, budget));
      long allocated = threads.getCurrentThreadAllocatedBytes() - before;
      assertEquals(413, e.status());
      assertMentions(e, "1500 events", "--max-request-bytes", String.valueOf(EventParser.Builder.DEFAULT_MAX_REQUEST_BYTES));
      assertEquals(List.of(), charges, "refused before anything was charged");
      // parsing the tree costs a few times the body; building the payloads would have cost 150 MB
      assertTrue(allocated < 20L * body.length, "allocated " + allocated + " bytes for a body of " + body.length);
    }

    @Test
    void theEnrichedSizeIsChargedBeforeTheEventsAreBuiltAndCoversThem() {
      byte[] body = batch(50, 2_000).getBytes(StandardCharsets.UTF_8);
      List<Long> charges = new ArrayList<>();
      List<Event> events = parser.parse(Endpoint.BATCH, body, new RequestContext(RECEIVED, "203.0.113.7", null,
          n -> charges.add(n)));
      long built = events.stream().mapToLong(ev -> ev.payload().length).sum();
      assertTrue(built > 50 * 2_000, "every event carries the context: " + built);
      assertTrue(charges.get(0) >= built, "the first charge (" + charges.get(0) + ") covers what was built (" + built + ")");
      assertEquals(1, charges.size(), "the estimate was enough: " + charges);
    }

    @Test
    void aBudgetThatCannotTakeItIs503AndBuildsNothing() {
      byte[] body = batch(50, 2_000).getBytes(StandardCharsets.UTF_8);
      GatewayException e = assertThrows(GatewayException.class, () -> parser.parse(Endpoint.BATCH, body,
          new RequestContext(RECEIVED, null, null, n -> false)));
      assertEquals(503, e.status());
    }

    @Test
    void manyEventsWithoutAnEnvelopeNearTheLimitAreNotRefused() {
      // the per-event enrichment is charged, never counted against the request limit: such bodies were always fine
      EventParser small = EventParser.builder().maxRequestBytes(64 * 1024).build();
      String body = batch(1100, 1).replace("\"blob\":\"x\"", "");
      assertTrue(body.length() > 40 * 1024 && body.length() < 64 * 1024, "size " + body.length());
      assertEquals(1100, small.parse(Endpoint.BATCH, body.getBytes(StandardCharsets.UTF_8), CONTEXT).size());
    }
  }

  // ------------------------------------------------------------------------------------------------ time

  @Nested
  class Timestamps {

    JsonNode identify(String fields) {
      return tree(one(Endpoint.IDENTIFY, "{\"userId\":\"u\"" + fields + "}"));
    }

    @Test
    void clockSkewIsCorrected() {
      // The client's clock is 5 s behind the send: the event happened 5 s before receipt.
      JsonNode t = identify(",\"originalTimestamp\":\"2024-05-01T12:00:05.000Z\",\"sentAt\":\"2024-05-01T12:00:10.000Z\"");
      assertEquals("2024-05-01T11:59:55.123Z", t.get("timestamp").textValue());
      assertEquals("2024-05-01T12:00:10.000Z", t.get("sentAt").textValue(), "sentAt is kept");
      assertEquals("2024-05-01T12:00:05.000Z", t.get("originalTimestamp").textValue());
      // A client clock hours ahead, with offsets: 14:00:05+02:00 is 12:00:05Z, sent 1.5 s later by the client clock.
      JsonNode ahead = identify(",\"originalTimestamp\":\"2024-05-01T16:00:05.000+04:00\","
          + "\"sentAt\":\"2024-05-01T12:00:06.500Z\"");
      assertEquals("2024-05-01T11:59:58.623Z", ahead.get("timestamp").textValue());
    }

    @Test
    void envelopeSentAtCorrectsBatchedEvents() {
      List<Event> events = parse(Endpoint.BATCH, "{\"sentAt\":\"2030-01-01T00:01:00Z\",\"batch\":["
          + "{\"type\":\"identify\",\"userId\":\"u\",\"originalTimestamp\":\"2030-01-01T00:00:00Z\"},"
          + "{\"type\":\"identify\",\"userId\":\"u\",\"originalTimestamp\":\"2030-01-01T00:00:30.5Z\"}]}");
      assertEquals("2024-05-01T11:59:00.123Z", tree(events.get(0)).get("timestamp").textValue());
      assertEquals("2024-05-01T11:59:30.623Z", tree(events.get(1)).get("timestamp").textValue());
    }

    @Test
    void explicitTimestampIsKeptVerbatim() {
      JsonNode t = identify(",\"timestamp\":\"2020-01-01T00:00:00+01:00\",\"originalTimestamp\":"
          + "\"2024-05-01T12:00:05.000Z\",\"sentAt\":\"2024-05-01T12:00:10.000Z\"");
      assertEquals("2020-01-01T00:00:00+01:00", t.get("timestamp").textValue());
      assertEquals("not a time", identify(",\"timestamp\":\"not a time\"").get("timestamp").textValue());
    }

    @Test
    void withoutOriginalTimestampTheTimestampIsReceivedAt() {
      assertEquals(RECEIVED_TEXT, identify("").get("timestamp").textValue());
      assertEquals(RECEIVED_TEXT, identify(",\"sentAt\":\"2024-05-01T12:00:10.000Z\"").get("timestamp").textValue());
      assertEquals(RECEIVED_TEXT, identify(",\"timestamp\":null").get("timestamp").textValue());
      assertEquals(RECEIVED_TEXT, identify(",\"timestamp\":\"\"").get("timestamp").textValue());
    }

    @Test
    void withoutSentAtTheTimestampIsOriginalTimestamp() {
      JsonNode t = identify(",\"originalTimestamp\":\"2024-05-01T14:00:05.5+02:00\"");
      assertEquals("2024-05-01T14:00:05.5+02:00", t.get("timestamp").textValue());
      JsonNode badSentAt = identify(",\"originalTimestamp\":\"2024-05-01T14:00:05Z\",\"sentAt\":\"soon\"");
      assertEquals("2024-05-01T14:00:05Z", badSentAt.get("timestamp").textValue());
      assertEquals("soon", badSentAt.get("sentAt").textValue(), "unparseable values are left as given");
    }

    @Test
    void unparseableOriginalTimestampKeepsTheEvent() {
      JsonNode t = identify(",\"originalTimestamp\":\"yesterday\",\"sentAt\":\"2024-05-01T12:00:10.000Z\"");
      assertEquals(RECEIVED_TEXT, t.get("timestamp").textValue());
      assertEquals("yesterday", t.get("originalTimestamp").textValue());
      JsonNode numeric = identify(",\"originalTimestamp\":1714564805000,\"sentAt\":\"2024-05-01T12:00:10.000Z\"");
      assertEquals(RECEIVED_TEXT, numeric.get("timestamp").textValue());
      assertEquals(1714564805000L, numeric.get("originalTimestamp").longValue());
    }

    @Test
    void receivedAtIsFormattedWithMilliseconds() {
      RequestContext whole = new RequestContext(Instant.parse("2024-05-01T12:00:00Z"), "1.1.1.1", null);
      Event e = parser.parse(Endpoint.IDENTIFY, "{\"userId\":\"u\"}".getBytes(StandardCharsets.UTF_8), whole).get(0);
      assertEquals("2024-05-01T12:00:00.000Z", tree(e).get("receivedAt").textValue());
    }
  }

  // ------------------------------------------------------------------------------------------------ pixel

  @Nested
  class Pixels {

    @Test
    void pixelTrackFromQueryString() {
      Map<String, String> query = QueryStrings.parse("writeKey=abc&anonymousId=a1&event=Clicked%20Button"
          + "&properties.price=3.50&properties.name=x+y&context.page.url=http%3A%2F%2Fe.com%2F%3Fq%3D1&userId=&event=2");
      ParsedRequest r = parser.parsePixel(Endpoint.PIXEL_TRACK, query, CONTEXT);
      assertEquals("abc", r.bodyWriteKey());
      Event e = r.events().get(0);
      assertEquals(EventType.TRACK, e.type());
      assertEquals("a1", e.routingKey());
      JsonNode t = tree(e);
      assertEquals("Clicked Button", t.get("event").textValue(), "the first value of a repeated name wins");
      assertEquals("3.50", t.get("properties").get("price").textValue());
      assertEquals("x y", t.get("properties").get("name").textValue());
      assertEquals("http://e.com/?q=1", t.get("context").get("page").get("url").textValue());
      assertEquals("203.0.113.7", t.get("context").get("ip").textValue());
      assertEquals("track", t.get("type").textValue());
      assertFalse(t.has("writeKey"));
      assertEquals(RECEIVED_TEXT, t.get("timestamp").textValue());
    }

    @Test
    void pixelPage() {
      Event e = parser.parsePixel(Endpoint.PIXEL_PAGE, QueryStrings.parse("userId=42&name=Home&type=track"), CONTEXT)
          .events().get(0);
      assertEquals(EventType.PAGE, e.type());
      assertEquals("page", tree(e).get("type").textValue());
      assertEquals("42", e.userId());
    }

    @Test
    void pixelErrors() {
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_TRACK,
          QueryStrings.parse("anonymousId=a"), CONTEXT)), "event");
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_PAGE,
          QueryStrings.parse("name=x"), CONTEXT)), "userId");
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_PAGE,
          QueryStrings.parse("anonymousId=a&properties=x&properties.a=y"), CONTEXT)), "properties.a", "conflicts");
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_PAGE,
          QueryStrings.parse("anonymousId=a&properties.a.b=x&properties.a=y"), CONTEXT)), "properties.a");
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_PAGE,
          QueryStrings.parse("anonymousId=a&properties..a=y"), CONTEXT)), "empty name segment");
      assertMentions(assertThrows(GatewayException.class, () -> parser.parsePixel(Endpoint.PIXEL_PAGE,
          QueryStrings.parse("anonymousId=a&p" + ".p".repeat(200) + "=1"), CONTEXT)), "nests");
      assertEquals(400, assertThrows(GatewayException.class, () -> QueryStrings.parse("a=%zz")).status());
      assertThrows(IllegalArgumentException.class, () -> parser.parsePixel(Endpoint.TRACK, Map.of(), CONTEXT));
      assertThrows(IllegalArgumentException.class,
          () -> parser.parse(Endpoint.PIXEL_TRACK, "{}".getBytes(StandardCharsets.UTF_8), CONTEXT));
    }

    @Test
    void queryStringDecoding() {
      assertEquals(Map.of(), QueryStrings.parse(null));
      assertEquals(Map.of(), QueryStrings.parse(""));
      Map<String, String> q = QueryStrings.parse("a=1&&b&=x&c=%E2%82%AC&a=2&d=x=y");
      assertEquals(List.of("a", "b", "c", "d"), new ArrayList<>(q.keySet()));
      assertEquals("1", q.get("a"));
      assertEquals("", q.get("b"));
      assertEquals("\u20ac", q.get("c"));
      assertEquals("x=y", q.get("d"));
    }
  }

  @Test
  void eventsAreSeparateAndRecordsCompareByContent() {
    Event a = one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":\"m\"}");
    Event b = one(Endpoint.IDENTIFY, "{\"userId\":\"u\",\"messageId\":\"m\"}");
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertArrayEquals(a.payload(), b.payload());
    assertFalse(a.toString().contains("{"), "toString does not dump payloads");
    Set<String> ids = new java.util.HashSet<>();
    for (int i = 0; i < 1000; i++) {
      ids.add(one(Endpoint.IDENTIFY, "{\"userId\":\"u\"}").messageId());
    }
    assertEquals(1000, ids.size());
  }

  // ------------------------------------------------------------------------------------------------ util

  static byte[] bytes(String before, byte[] middle, String after) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(before.getBytes(StandardCharsets.UTF_8));
    out.writeBytes(middle);
    out.writeBytes(after.getBytes(StandardCharsets.UTF_8));
    return out.toByteArray();
  }

  static int indexOf(byte[] haystack, byte[] needle) {
    outer:
    for (int i = 0; i + needle.length <= haystack.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (haystack[i + j] != needle[j]) {
          continue outer;
        }
      }
      return i;
    }
    return -1;
  }

  @SuppressWarnings("unused")
  private static List<String> keys(Iterator<String> it) {
    List<String> out = new ArrayList<>();
    it.forEachRemaining(out::add);
    return out;
  }
}
