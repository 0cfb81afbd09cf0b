package io.eventpipe.gateway.impl;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.core.json.JsonWriteFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.JsonNodeFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.eventpipe.gateway.Endpoint;
import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.EventParser;
import io.eventpipe.gateway.EventType;
import io.eventpipe.gateway.InvalidEventException;
import io.eventpipe.gateway.InvalidRequestException;
import io.eventpipe.gateway.ParsedRequest;
import io.eventpipe.gateway.PayloadTooLargeException;
import io.eventpipe.gateway.RequestContext;
import io.eventpipe.routing.RoutingKey;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * {@link EventParser} on Jackson's tree model: one shared, immutable {@link ObjectMapper}; the body is parsed once
 * into a tree, each event is edited in place and serialized once.
 *
 * <p>Exactness: floats are read as {@link java.math.BigDecimal} with trailing zeros kept and written back with
 * {@code BigDecimal.toString()}; integers of any size keep their digits; surrogate pairs are written as 4-byte
 * UTF-8 ({@link JsonWriteFeature#COMBINE_UNICODE_SURROGATES_IN_UTF8}).
 *
 * <p>Lone surrogates: with that feature on, Jackson 2.18 writes a high surrogate followed by a non-surrogate
 * ({@code "x\\ud800y"}) as one bogus 4-byte character, corrupting the value. A lone surrogate can only enter
 * through a JSON escape (encoded surrogates are invalid UTF-8 and rejected), so the UTF-8 check also looks for
 * surrogate escapes; events of a body that has one are written by a second mapper without the feature, which
 * escapes every surrogate ({@code \\uD800}, an emoji as an escaped pair): the same values, in more bytes.
 * Limits are enforced by {@link StreamReadConstraints} while parsing (nesting, document length, string and number
 * length), so hostile input fails early with a 400 or 413 instead of a stack overflow or a huge allocation.
 */
public final class JacksonEventParser implements EventParser {

  private static final String TYPES = "track, identify, page, screen, group, alias";

  private final ObjectMapper mapper;
  private final ObjectMapper escapingMapper;
  private final JsonNodeFactory nodes;
  private final int maxNestingDepth;
  private final int maxEventBytes;
  private final int maxRequestBytes;

  public JacksonEventParser(int maxNestingDepth, int maxEventBytes, int maxRequestBytes) {
    this.maxNestingDepth = maxNestingDepth;
    this.maxEventBytes = maxEventBytes;
    this.maxRequestBytes = maxRequestBytes;
    this.mapper = mapper(maxNestingDepth, maxRequestBytes, true);
    this.escapingMapper = mapper(maxNestingDepth, maxRequestBytes, false);
    this.nodes = mapper.getNodeFactory();
  }

  private static ObjectMapper mapper(int maxNestingDepth, int maxRequestBytes, boolean combineSurrogates) {
    JsonFactory factory = JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder()
            .maxNestingDepth(maxNestingDepth)
            .maxDocumentLength(maxRequestBytes)
            .maxStringLength(maxRequestBytes)
            .build())
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .configure(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8, combineSurrogates)
        .build();
    return JsonMapper.builder(factory)
        .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
        .disable(JsonNodeFeature.STRIP_TRAILING_BIGDECIMAL_ZEROES)
        .build();
  }

  @Override
  public ParsedRequest parseRequest(Endpoint endpoint, byte[] body, RequestContext context) {
    if (endpoint.isPixel()) {
      throw new IllegalArgumentException(endpoint + " takes query parameters: call parsePixel");
    }
    ObjectMapper writer = checkBytes(body) ? escapingMapper : mapper;
    ObjectNode root = readRoot(body);
    String bodyWriteKey = removeWriteKey(root);
    String receivedAt = Timestamps.format(context.receivedAt());
    if (!endpoint.isBatch()) {
      root.put("type", endpoint.eventType().wireName());
      return new ParsedRequest(List.of(prepare(root, null, endpoint.eventType(), null, context, receivedAt, writer)),
          bodyWriteKey);
    }

    JsonNode batch = root.get("batch");
    if (batch == null || batch.isNull()) {
      throw new InvalidRequestException("request body has no 'batch' field; send {\"batch\": [event, ...]}");
    }
    if (!batch.isArray()) {
      throw new InvalidRequestException("'batch' must be an array of events, got " + kind(batch));
    }
    if (batch.isEmpty()) {
      throw new InvalidRequestException("'batch' is empty; send at least one event");
    }
    Envelope envelope = new Envelope(
        envelopeObject(root, "context"), envelopeObject(root, "integrations"), present(root.get("sentAt")));
    List<Event> events = new ArrayList<>(batch.size());
    for (int i = 0; i < batch.size(); i++) {
      JsonNode element = batch.get(i);
      if (!element.isObject()) {
        throw new InvalidEventException(i, null, "must be a JSON object, got " + kind(element));
      }
      ObjectNode event = (ObjectNode) element;
      JsonNode typeNode = event.get("type");
      if (typeNode == null || typeNode.isNull()) {
        throw new InvalidEventException(i, "type", "missing; set it to one of " + TYPES);
      }
      if (!typeNode.isTextual()) {
        throw new InvalidEventException(i, "type", "must be a string (one of " + TYPES + "), got " + kind(typeNode));
      }
      EventType type = EventType.fromWireName(typeNode.textValue()).orElse(null);
      if (type == null) {
        throw new InvalidEventException(i, "type",
            "'" + clip(typeNode.textValue()) + "' is not an event type; use one of " + TYPES);
      }
      events.add(prepare(event, i, type, envelope, context, receivedAt, writer));
    }
    return new ParsedRequest(events, bodyWriteKey);
  }

  @Override
  public ParsedRequest parsePixel(Endpoint endpoint, Map<String, String> query, RequestContext context) {
    if (!endpoint.isPixel()) {
      throw new IllegalArgumentException(endpoint + " takes a body: call parseRequest");
    }
    ObjectNode event = nodes.objectNode();
    String writeKey = null;
    boolean surrogates = false;
    for (Map.Entry<String, String> parameter : query.entrySet()) {
      String name = parameter.getKey();
      surrogates |= hasSurrogate(name) || hasSurrogate(parameter.getValue());
      if (name.equals("writeKey")) {
        writeKey = parameter.getValue();
        continue;
      }
      putDotted(event, name, parameter.getValue() == null ? "" : parameter.getValue());
    }
    EventType type = endpoint.eventType();
    event.put("type", type.wireName());
    String receivedAt = Timestamps.format(context.receivedAt());
    ObjectMapper writer = surrogates ? escapingMapper : mapper;
    return new ParsedRequest(List.of(prepare(event, null, type, null, context, receivedAt, writer)), writeKey);
  }

  private void putDotted(ObjectNode event, String name, String value) {
    ObjectNode target = event;
    int start = 0;
    int depth = 1;
    while (true) {
      int dot = name.indexOf('.', start);
      String segment = dot < 0 ? name.substring(start) : name.substring(start, dot);
      if (segment.isEmpty()) {
        throw new InvalidRequestException("query parameter '" + clip(name)
            + "' has an empty name segment; use names like properties.price");
      }
      if (dot < 0) {
        if (target.has(segment)) {
          throw conflict(name);
        }
        target.put(segment, value);
        return;
      }
      if (++depth >= maxNestingDepth) {
        throw new InvalidRequestException("query parameter '" + clip(name) + "' nests more than "
            + maxNestingDepth + " levels deep");
      }
      JsonNode child = target.get(segment);
      if (child == null) {
        target = target.putObject(segment);
      } else if (child.isObject()) {
        target = (ObjectNode) child;
      } else {
        throw conflict(name);
      }
      start = dot + 1;
    }
  }

  private static InvalidRequestException conflict(String name) {
    return new InvalidRequestException("query parameter '" + clip(name)
        + "' conflicts with another parameter that is both a value and a prefix of it; send one or the other");
  }

  // ---------------------------------------------------------------------------------------------------------
  // Reading

  /**
   * Checks size and encoding.
   *
   * @return true if the body escapes a UTF-16 surrogate, which may be lone
   */
  private boolean checkBytes(byte[] body) {
    if (body == null || body.length == 0) {
      throw new InvalidRequestException("request body is empty; send a JSON object");
    }
    if (body.length > maxRequestBytes) {
      throw new PayloadTooLargeException("request body is " + body.length + " bytes, over the limit of "
          + maxRequestBytes + " bytes; send smaller batches", maxRequestBytes, null);
    }
    int bad = Utf8.check(body);
    if (bad >= 0) {
      throw new InvalidRequestException(String.format(
          "request body is not valid UTF-8: byte 0x%02X at offset %d%s; encode the body as UTF-8",
          body[bad] & 0xFF, bad, body[bad] == 0 ? " (NUL bytes are not allowed in JSON)" : ""));
    }
    return bad == Utf8.VALID_WITH_SURROGATE_ESCAPE;
  }

  /** Reads the body's root object; the caller has checked the body with {@link #checkBytes}. */
  private ObjectNode readRoot(byte[] body) {
    try (JsonParser parser = mapper.createParser(body)) {
      JsonToken first = parser.nextToken();
      if (first == null) {
        throw new InvalidRequestException("request body is empty; send a JSON object");
      }
      if (first != JsonToken.START_OBJECT) {
        throw new InvalidRequestException("request body must be a JSON object, got " + kind(first));
      }
      ObjectNode root = mapper.readTree(parser);
      if (parser.nextToken() != null) {
        throw new InvalidRequestException("request body has data after the JSON object at "
            + where(parser.currentTokenLocation()) + "; send exactly one JSON object");
      }
      return root;
    } catch (StreamConstraintsException e) {
      throw constraintViolation(e);
    } catch (JsonProcessingException e) {
      throw new InvalidRequestException("request body is not valid JSON: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " at " + where(e.getLocation())), e);
    } catch (JacksonException | NumberFormatException | ArithmeticException e) {
      throw new InvalidRequestException("request body is not valid JSON: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new InvalidRequestException("request body could not be read: " + e.getMessage(), e);
    }
  }

  private RuntimeException constraintViolation(StreamConstraintsException e) {
    String message = e.getOriginalMessage();
    if (message.contains("nesting depth")) {
      return new InvalidRequestException("JSON is nested more than " + maxNestingDepth
          + " levels deep; flatten the event's properties", e);
    }
    if (message.contains("Document length")) {
      return new PayloadTooLargeException("request body exceeds the limit of " + maxRequestBytes
          + " bytes; send smaller batches", maxRequestBytes, null);
    }
    // String, number or name length: an absurd token rather than a big request.
    return new InvalidRequestException("request body has a value over the parser's limits: " + message, e);
  }

  private static String where(JsonLocation location) {
    return "line " + location.getLineNr() + ", column " + location.getColumnNr()
        + " (byte offset " + location.getByteOffset() + ")";
  }

  private static String removeWriteKey(ObjectNode root) {
    JsonNode writeKey = root.remove("writeKey");
    return writeKey != null && writeKey.isTextual() ? writeKey.textValue() : null;
  }

  private static ObjectNode envelopeObject(ObjectNode root, String field) {
    JsonNode node = root.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (!node.isObject()) {
      throw new InvalidRequestException("the batch's '" + field + "' must be a JSON object, got " + kind(node));
    }
    return (ObjectNode) node;
  }

  /** Fields of a batch body that apply to every event of the batch. */
  private record Envelope(ObjectNode context, ObjectNode integrations, JsonNode sentAt) {}

  // ---------------------------------------------------------------------------------------------------------
  // Validation and enrichment of one event

  private Event prepare(ObjectNode event, Integer index, EventType type, Envelope envelope, RequestContext request,
      String receivedAt, ObjectMapper writer) {
    event.remove("writeKey");

    // 1. Merge the batch envelope: the event's own fields win; context is merged key by key.
    JsonNode context = event.get("context");
    if (context != null && !context.isNull() && !context.isObject()) {
      throw new InvalidEventException(index, "context", "must be a JSON object, got " + kind(context));
    }
    if (envelope != null) {
      if (envelope.context() != null) {
        if (context == null || context.isNull()) {
          ObjectNode copy = nodes.objectNode();
          copy.setAll(envelope.context());
          event.set("context", copy);
        } else {
          ObjectNode own = (ObjectNode) context;
          for (Iterator<Map.Entry<String, JsonNode>> it = envelope.context().fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            own.putIfAbsent(field.getKey(), field.getValue());
          }
        }
      }
      if (envelope.integrations() != null && absent(event.get("integrations"))) {
        event.set("integrations", envelope.integrations());
      }
      if (envelope.sentAt() != null && absent(event.get("sentAt"))) {
        event.set("sentAt", envelope.sentAt());
      }
    }

    // 2. Identity: the routing key needs anonymousId or userId.
    String anonymousId = idField(event, "anonymousId", index);
    String userId = idField(event, "userId", index);
    checkId(anonymousId, Event::routingKeyProblem, "anonymousId", index);
    checkId(userId, Event::routingKeyProblem, "userId", index);
    String routingKey = RoutingKey.of(anonymousId, userId);
    if (routingKey == null) {
      throw new InvalidEventException(index, "userId",
          "neither userId nor anonymousId is set; every event needs a non-empty userId or anonymousId");
    }

    // 3. Type-specific requirements (Segment's spec).
    switch (type) {
      case TRACK: {
        JsonNode name = event.get("event");
        if (name == null || name.isNull() || (name.isTextual() && name.textValue().isEmpty())) {
          throw new InvalidEventException(index, "event", "missing; a track call needs the event name");
        }
        if (!name.isTextual()) {
          throw new InvalidEventException(index, "event", "must be a string, got " + kind(name));
        }
        break;
      }
      case ALIAS:
        if (idField(event, "previousId", index) == null) {
          throw new InvalidEventException(index, "previousId",
              "missing; an alias call needs the previous id of the user");
        }
        break;
      case GROUP:
        if (idField(event, "groupId", index) == null) {
          throw new InvalidEventException(index, "groupId", "missing; a group call needs the id of the group");
        }
        break;
      default:
        break;
    }

    // 4. Enrichment.
    String messageId = idField(event, "messageId", index);
    if (messageId == null) {
      messageId = MessageIds.next();
      event.put("messageId", messageId);
    } else {
      checkId(messageId, Event::messageIdProblem, "messageId", index);
    }
    event.put("receivedAt", receivedAt);
    String clientIp = request.clientIp();
    if (clientIp != null) {
      event.put("request_ip", clientIp);
      JsonNode ctx = event.get("context");
      ObjectNode ownContext = ctx == null || ctx.isNull() ? event.putObject("context") : (ObjectNode) ctx;
      if (absent(ownContext.get("ip"))) {
        ownContext.put("ip", clientIp);
      }
    } else {
      event.remove("request_ip"); // server-owned: never keep a client's claim
    }
    correctTimestamp(event, request.receivedAt(), receivedAt);

    // 5. Serialize once; this is the stored payload.
    byte[] payload;
    try {
      payload = writer.writeValueAsBytes(event);
    } catch (JsonProcessingException e) {
      throw new InvalidEventException(index, null, "cannot be serialized: " + e.getOriginalMessage());
    }
    if (payload.length > maxEventBytes) {
      throw new PayloadTooLargeException((index == null ? "event" : "batch[" + index + "]") + " is "
          + payload.length + " bytes once enriched, over the limit of " + maxEventBytes
          + " bytes; send fewer properties", maxEventBytes, index);
    }
    return new Event(messageId, type, anonymousId, userId, routingKey, payload);
  }

  /**
   * Sets {@code timestamp} when the event has none, correcting the client's clock skew (Segment's rule):
   * {@code timestamp = receivedAt - (sentAt - originalTimestamp)}.
   */
  private static void correctTimestamp(ObjectNode event, Instant receivedAt, String receivedAtText) {
    if (!absent(event.get("timestamp"))) {
      return;
    }
    JsonNode original = event.get("originalTimestamp");
    Instant originalAt = original != null && original.isTextual() ? Timestamps.parse(original.textValue()) : null;
    if (originalAt == null) {
      event.put("timestamp", receivedAtText);
      return;
    }
    JsonNode sent = event.get("sentAt");
    Instant sentAt = sent != null && sent.isTextual() ? Timestamps.parse(sent.textValue()) : null;
    if (sentAt == null) {
      event.set("timestamp", original);
      return;
    }
    event.put("timestamp", Timestamps.format(receivedAt.minus(Duration.between(originalAt, sentAt))));
  }

  /**
   * Reads an id-like field: a string, or a number rewritten in place as its string form.
   *
   * @return the value, or null if absent, null or empty
   */
  private static String idField(ObjectNode event, String field, Integer index) {
    JsonNode node = event.get(field);
    if (node == null || node.isNull()) {
      return null;
    }
    if (node.isTextual()) {
      String value = node.textValue();
      return value.isEmpty() ? null : value;
    }
    if (node.isNumber()) {
      String value = node.asText();
      event.put(field, value);
      return value;
    }
    throw new InvalidEventException(index, field, "must be a string or a number, got " + kind(node));
  }

  /** Rejects an id that one of {@link Event}'s rules refuses; an absent id (null) passes. */
  private static void checkId(String value, java.util.function.Function<String, String> rule, String field, Integer index) {
    String problem = value == null ? null : rule.apply(value);
    if (problem != null) {
      throw new InvalidEventException(index, field, problem);
    }
  }

  private static boolean hasSurrogate(String s) {
    if (s == null) {
      return false;
    }
    for (int i = 0; i < s.length(); i++) {
      if (Character.isSurrogate(s.charAt(i))) {
        return true;
      }
    }
    return false;
  }

  /** Missing, null, or the empty string. */
  private static boolean absent(JsonNode node) {
    return node == null || node.isNull() || (node.isTextual() && node.textValue().isEmpty());
  }

  private static JsonNode present(JsonNode node) {
    return node == null || node.isNull() ? null : node;
  }

  private static String kind(JsonNode node) {
    switch (node.getNodeType()) {
      case STRING: return "a string";
      case NUMBER: return "a number";
      case BOOLEAN: return "a boolean";
      case ARRAY: return "an array";
      case OBJECT: return "an object";
      case NULL: return "null";
      default: return node.getNodeType().toString().toLowerCase(java.util.Locale.ROOT);
    }
  }

  private static String kind(JsonToken token) {
    switch (token) {
      case START_ARRAY: return "an array";
      case VALUE_STRING: return "a string";
      case VALUE_NUMBER_INT:
      case VALUE_NUMBER_FLOAT: return "a number";
      case VALUE_TRUE:
      case VALUE_FALSE: return "a boolean";
      case VALUE_NULL: return "null";
      default: return token.toString();
    }
  }

  /** A client-supplied value cut to a length that is safe to echo in an error message. */
  static String clip(String value) {
    return value.length() <= 40 ? value : value.substring(0, 40) + "...";
  }
}
