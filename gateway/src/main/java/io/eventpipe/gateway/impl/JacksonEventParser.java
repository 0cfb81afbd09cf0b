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
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.InvalidEventException;
import io.eventpipe.gateway.InvalidRequestException;
import io.eventpipe.gateway.ParsedRequest;
import io.eventpipe.gateway.PayloadTooLargeException;
import io.eventpipe.gateway.RequestContext;
import io.eventpipe.gateway.Text;
import io.eventpipe.routing.RoutingKey;
import io.eventpipe.workspace.WebhookSource;
import java.io.IOException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * {@link EventParser} on Jackson's tree model: one shared, immutable {@link ObjectMapper}; the body is parsed once
 * into a tree, each event is edited in place and serialized once.
 *
 * <p>Exactness: floats are read as {@link java.math.BigDecimal} with trailing zeros kept and written back with
 * {@code BigDecimal.toString()}; integers of any size keep their digits; surrogate pairs are written as 4-byte
 * UTF-8 ({@link JsonWriteFeature#COMBINE_UNICODE_SURROGATES_IN_UTF8}).
 *
 * <p>Strings: every string of the body (ids, names, property keys and values, the envelope) must pass
 * {@link Text#storableProblem} (no NUL, no lone surrogate), or the request is refused with a 400 naming its path and
 * batch index. Such a string can only enter through a JSON escape (NUL bytes and encoded surrogates are invalid UTF-8
 * and rejected), so the tree is walked only when the UTF-8 check saw one ({@link Utf8#VALID_WITH_SUSPECT_ESCAPE}):
 * the common body costs one pass over its bytes. With lone surrogates refused, Jackson's surrogate combining (which
 * in 2.18 merges a lone high surrogate with the next character) never meets one.
 *
 * <p>Amplification: a batch's envelope ({@code context}, {@code integrations}, {@code sentAt}) is merged into each of
 * its events, so a small body can ask for {@code events x envelope} bytes of payloads. That size is computed from the
 * parsed tree (the envelope is measured once, written to a counter, not to memory) and checked against the request
 * limit (413) and charged to the server's budget ({@link RequestContext#charge}, 503 when it is used up) before any
 * payload is built; what is built beyond the estimate is charged too.
 *
 * Limits are enforced by {@link StreamReadConstraints} while parsing (nesting, document length, string and number
 * length), so hostile input fails early with a 400 or 413 instead of a stack overflow or a huge allocation.
 */
public final class JacksonEventParser implements EventParser {

  private static final String TYPES = "track, identify, page, screen, group, alias";

  /**
   * Bytes each event may gain besides the envelope (type, messageId, receivedAt, timestamp, request_ip and
   * context.ip, with their names and quotes): charged to the budget, not counted against the request limit.
   */
  static final int ENRICHMENT_BYTES_PER_EVENT = 256;

  private final ObjectMapper mapper;
  /** For webhook bodies: one level less deep, since the body is stored one level down, as the event's properties. */
  private final ObjectMapper webhookMapper;
  private final JsonNodeFactory nodes;
  private final int maxNestingDepth;
  private final int maxEventBytes;
  private final int maxRequestBytes;

  public JacksonEventParser(int maxNestingDepth, int maxEventBytes, int maxRequestBytes) {
    this.maxNestingDepth = maxNestingDepth;
    this.maxEventBytes = maxEventBytes;
    this.maxRequestBytes = maxRequestBytes;
    this.mapper = mapper(maxNestingDepth, maxRequestBytes);
    this.webhookMapper = mapper(maxNestingDepth - 1, maxRequestBytes);
    this.nodes = mapper.getNodeFactory();
  }

  private static ObjectMapper mapper(int maxNestingDepth, int maxRequestBytes) {
    JsonFactory factory = JsonFactory.builder()
        .streamReadConstraints(StreamReadConstraints.builder()
            .maxNestingDepth(maxNestingDepth)
            .maxDocumentLength(maxRequestBytes)
            .maxStringLength(maxRequestBytes)
            .build())
        .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
        .enable(JsonWriteFeature.COMBINE_UNICODE_SURROGATES_IN_UTF8)
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
    if (endpoint.isWebhook()) {
      throw new IllegalArgumentException(endpoint + " needs its source's configuration: call parseWebhook");
    }
    boolean suspect = checkBytes(body);
    ObjectNode root = readRoot(mapper, maxNestingDepth, body);
    if (suspect) {
      checkStrings(root, endpoint.isBatch());
    }
    String bodyWriteKey = removeWriteKey(root);
    String receivedAt = Timestamps.format(context.receivedAt());
    if (!endpoint.isBatch()) {
      root.put("type", endpoint.eventType().wireName());
      Charge charge = new Charge(context, (long) body.length + enrichmentBytes(context));
      return new ParsedRequest(List.of(charge.built(prepare(root, null, endpoint.eventType(), null, context, receivedAt))),
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
    Charge charge = chargeBatch(body.length, batch.size(), envelope, context);
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
      events.add(charge.built(prepare(event, i, type, envelope, context, receivedAt)));
    }
    return new ParsedRequest(events, bodyWriteKey);
  }

  // ---------------------------------------------------------------------------------------------------------
  // Amplification: the size of what enrichment builds, checked and charged before it exists

  /**
   * Checks what the batch's payloads will take once the envelope is merged into each event (at most the body plus
   * {@code events - 1} more copies of the envelope) against the request limit, and charges it with the other
   * enrichment to the server's budget, before any payload is built.
   */
  private Charge chargeBatch(int bodyBytes, int events, Envelope envelope, RequestContext context) {
    long envelopeBytes = writtenSize(envelope.context()) + writtenSize(envelope.integrations())
        + writtenSize(envelope.sentAt());
    long enriched = bodyBytes + (events - 1L) * envelopeBytes;
    if (enriched > maxRequestBytes) {
      throw new PayloadTooLargeException("the batch's " + events + " events take about " + enriched + " bytes once"
          + " the batch's context, integrations and sentAt (" + envelopeBytes + " bytes) are merged into each, over"
          + " the request limit of " + maxRequestBytes + " bytes (--max-request-bytes); send fewer events per batch"
          + " or a smaller shared context", maxRequestBytes, null);
    }
    return new Charge(context, enriched + events * (long) enrichmentBytes(context));
  }

  private static int enrichmentBytes(RequestContext context) {
    return ENRICHMENT_BYTES_PER_EVENT + (context.clientIp() == null ? 0 : 2 * context.clientIp().length());
  }

  /** The bytes {@code node} takes once written, counted without keeping them. */
  private long writtenSize(JsonNode node) {
    if (node == null) {
      return 0;
    }
    long[] count = {0};
    java.io.OutputStream counter = new java.io.OutputStream() {
      @Override
      public void write(int b) {
        count[0]++;
      }

      @Override
      public void write(byte[] b, int off, int len) {
        count[0] += len;
      }
    };
    try {
      mapper.writeValue(counter, node);
    } catch (IOException e) {
      throw new java.io.UncheckedIOException(e); // a counter does not fail
    }
    return count[0];
  }

  /**
   * The bytes charged to the server's budget for one request's payloads: the estimate up front (503 if the budget
   * cannot take it), then whatever the built payloads take beyond it.
   */
  private static final class Charge {
    private final RequestContext context;
    private long charged;
    private long built;

    Charge(RequestContext context, long estimate) {
      this.context = context;
      take(estimate);
    }

    Event built(Event e) {
      built += e.payload().length;
      if (built > charged) {
        take(built - charged);
      }
      return e;
    }

    private void take(long n) {
      if (!context.charge(n)) {
        throw new GatewayException(503, "the server holds as many request bytes as it may; retry shortly");
      }
      charged += n;
    }
  }

  // ---------------------------------------------------------------------------------------------------------
  // The string rule

  /**
   * Refuses the first string of the body (a value or a field name, anywhere in the tree) that breaks
   * {@link Text#storableProblem}: a 400 naming its path and, inside {@code batch}, the event's index. Linear in the
   * tree; the path is built only for the refusal.
   */
  private static void checkStrings(ObjectNode root, boolean batchEndpoint) {
    walk(root, new ArrayDeque<>(), batchEndpoint);
  }

  private static void walk(JsonNode node, Deque<Object> path, boolean batchEndpoint) {
    if (node.isTextual()) {
      String problem = Text.storableProblem(node.textValue());
      if (problem != null) {
        throw refusal(path, problem, batchEndpoint);
      }
    } else if (node.isObject()) {
      for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> field = it.next();
        path.addLast(field.getKey());
        String problem = Text.storableProblem(field.getKey());
        if (problem != null) {
          throw refusal(path, "the field's name " + problem, batchEndpoint);
        }
        walk(field.getValue(), path, batchEndpoint);
        path.removeLast();
      }
    } else if (node.isArray()) {
      for (int i = 0; i < node.size(); i++) {
        path.addLast(i);
        walk(node.get(i), path, batchEndpoint);
        path.removeLast();
      }
    }
  }

  private static GatewayException refusal(Deque<Object> path, String problem, boolean batchEndpoint) {
    List<Object> segments = new ArrayList<>(path);
    if (batchEndpoint && segments.size() >= 2 && "batch".equals(segments.get(0)) && segments.get(1) instanceof Integer i) {
      return new InvalidEventException(i, segments.size() == 2 ? null : jsonPath(segments.subList(2, segments.size())),
          problem);
    }
    return batchEndpoint ? new InvalidRequestException(jsonPath(segments) + ": " + problem)
        : new InvalidEventException(null, jsonPath(segments), problem);
  }

  /** {@code properties.items[2].name}; a name that is not a plain identifier as {@code ["..."]}, escaped. */
  static String jsonPath(List<Object> segments) {
    StringBuilder sb = new StringBuilder();
    for (Object s : segments) {
      if (s instanceof Integer i) {
        sb.append('[').append(i).append(']');
      } else if (((String) s).matches("[A-Za-z0-9_$-]{1,64}")) {
        sb.append(sb.length() == 0 ? "" : ".").append(s);
      } else {
        sb.append("[\"").append(Text.forLog(clip((String) s)).replace("\"", "\\\"")).append("\"]");
      }
    }
    return sb.toString();
  }

  // ---------------------------------------------------------------------------------------------------------
  // Webhooks

  @Override
  public ParsedRequest parseWebhook(WebhookSource webhook, byte[] body, Function<String, String> headers,
      RequestContext context) {
    boolean suspect = checkBytes(body);
    ObjectNode root = readRoot(webhookMapper, maxNestingDepth - 1, body);
    if (suspect) {
      checkStrings(root, false);
    }
    root.remove("writeKey"); // the key belongs in the query string; never stored
    String name = webhookValue(root, headers, webhook.eventName(), "eventName");
    if (name == null) {
      name = webhook.defaultEventName();
    }
    if (name == null) {
      throw new InvalidRequestException("eventName: the webhook has no event name at " + describe(webhook.eventName())
          + " (the source's webhook.eventName, " + webhook.shape().wireName() + " shape); send it there, or configure"
          + " webhook.eventName or webhook.defaultEventName");
    }
    String routingKey = null;
    for (String ref : webhook.routingKey()) {
      routingKey = webhookValue(root, headers, ref, "routingKey");
      if (routingKey != null) {
        break;
      }
    }
    if (routingKey == null && webhook.shape() == WebhookSource.Shape.STRIPE
        && webhook.routingKey().equals(WebhookSource.defaults(WebhookSource.Shape.STRIPE).routingKey())
        && "customer".equals(textAt(root, "data.object.object"))) {
      routingKey = webhookValue(root, headers, "data.object.id", "routingKey"); // customer.created and the like
    }
    if (routingKey == null) {
      List<String> places = new ArrayList<>();
      for (String ref : webhook.routingKey()) {
        places.add(describe(ref));
      }
      throw new InvalidRequestException("routingKey: the webhook has no routing key at " + String.join(" or ", places)
          + " (the source's webhook.routingKey, " + webhook.shape().wireName() + " shape); every event needs the user"
          + " it belongs to: send it there, or configure webhook.routingKey");
    }
    String problem = Event.routingKeyProblem(routingKey);
    if (problem != null) {
      throw new InvalidRequestException("routingKey: the value found at " + String.join(" or ", webhook.routingKey())
          + " " + problem);
    }
    String messageId = webhook.messageId() == null ? null : webhookValue(root, headers, webhook.messageId(), "messageId");
    if (messageId != null) {
      problem = Event.messageIdProblem(messageId);
      if (problem != null) {
        throw new InvalidRequestException("messageId: the value found at " + describe(webhook.messageId()) + " "
            + problem);
      }
    }
    ObjectNode event = nodes.objectNode();
    event.put("type", EventType.TRACK.wireName());
    event.put("event", name);
    event.put("userId", routingKey);
    if (messageId != null) {
      event.put("messageId", messageId);
    }
    event.set("properties", root);
    ObjectNode ctx = event.putObject("context");
    ctx.putObject("library").put("name", "eventpipe-webhook");
    ctx.putObject("webhook").put("shape", webhook.shape().wireName());
    Charge charge = new Charge(context, (long) body.length + 256 + enrichmentBytes(context));
    String receivedAt = Timestamps.format(context.receivedAt());
    return new ParsedRequest(List.of(charge.built(prepare(event, null, EventType.TRACK, null, context, receivedAt))),
        null);
  }

  private static String describe(String ref) {
    return ref.startsWith(WebhookSource.HEADER_PREFIX)
        ? "header " + ref.substring(WebhookSource.HEADER_PREFIX.length()) : "'" + ref + "'";
  }

  /**
   * The string at a webhook reference: a header's value, or a string or number at a dotted path of the body; null if
   * absent, null or empty. Any other kind there is a 400 naming the config key and the path.
   */
  private static String webhookValue(ObjectNode root, Function<String, String> headers, String ref, String key) {
    if (ref.startsWith(WebhookSource.HEADER_PREFIX)) {
      String v = headers.apply(ref.substring(WebhookSource.HEADER_PREFIX.length()));
      if (v != null) {
        String problem = Text.storableProblem(v);
        if (problem != null) {
          throw new InvalidRequestException(key + ": header " + ref.substring(WebhookSource.HEADER_PREFIX.length())
              + " " + problem);
        }
      }
      return v == null || v.isEmpty() ? null : v;
    }
    JsonNode node = at(root, ref);
    if (node == null || node.isNull()) {
      return null;
    }
    if (node.isTextual()) {
      return node.textValue().isEmpty() ? null : node.textValue();
    }
    if (node.isIntegralNumber() || node.isNumber()) {
      return node.asText();
    }
    throw new InvalidRequestException(key + ": the webhook's '" + clip(ref) + "' must be a string or a number, got "
        + kind(node));
  }

  private static String textAt(ObjectNode root, String path) {
    JsonNode n = at(root, path);
    return n != null && n.isTextual() ? n.textValue() : null;
  }

  private static JsonNode at(ObjectNode root, String path) {
    JsonNode node = root;
    for (String segment : path.split("\\.")) {
      if (node == null || !node.isObject()) {
        return null;
      }
      node = node.get(segment);
    }
    return node;
  }

  @Override
  public ParsedRequest parsePixel(Endpoint endpoint, Map<String, String> query, RequestContext context) {
    if (!endpoint.isPixel()) {
      throw new IllegalArgumentException(endpoint + " takes a body: call parseRequest");
    }
    ObjectNode event = nodes.objectNode();
    String writeKey = null;
    for (Map.Entry<String, String> parameter : query.entrySet()) {
      String name = parameter.getKey();
      String problem = Text.storableProblem(name);
      if (problem == null && parameter.getValue() != null) {
        problem = Text.storableProblem(parameter.getValue());
      }
      if (problem != null) {
        throw new InvalidRequestException("query parameter '" + Text.forLog(clip(name)) + "' " + problem);
      }
      if (name.equals("writeKey")) {
        writeKey = parameter.getValue();
        continue;
      }
      putDotted(event, name, parameter.getValue() == null ? "" : parameter.getValue());
    }
    EventType type = endpoint.eventType();
    event.put("type", type.wireName());
    String receivedAt = Timestamps.format(context.receivedAt());
    return new ParsedRequest(List.of(prepare(event, null, type, null, context, receivedAt)), writeKey);
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
   * @return true if the body escapes a NUL or a UTF-16 surrogate that may be lone: its strings must be checked
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
    return bad == Utf8.VALID_WITH_SUSPECT_ESCAPE;
  }

  /** Reads the body's root object; the caller has checked the body with {@link #checkBytes}. */
  private ObjectNode readRoot(ObjectMapper mapper, int maxNestingDepth, byte[] body) {
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
      throw constraintViolation(e, maxNestingDepth);
    } catch (JsonProcessingException e) {
      throw new InvalidRequestException("request body is not valid JSON: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " at " + where(e.getLocation())), e);
    } catch (JacksonException | NumberFormatException | ArithmeticException e) {
      throw new InvalidRequestException("request body is not valid JSON: " + e.getMessage(), e);
    } catch (IOException e) {
      throw new InvalidRequestException("request body could not be read: " + e.getMessage(), e);
    }
  }

  private RuntimeException constraintViolation(StreamConstraintsException e, int maxNestingDepth) {
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
      String receivedAt) {
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
    if (routingKey == null && type != EventType.MERGE) {
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
      case MERGE: {
        String first = checkMergeProperties(event, index);
        if (routingKey == null) {
          // a merge without userId or anonymousId is kept in order with the first identity's events
          checkId(first, Event::routingKeyProblem, "mergeProperties[0].value", index);
          routingKey = first;
        }
        break;
      }
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
      payload = mapper.writeValueAsBytes(event);
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
   * RudderStack's merge: {@code mergeProperties} is an array of exactly two objects, each with a non-empty string
   * {@code type} (e.g. {@code email}) and a non-empty {@code value} (a string, or a number, stored as a string), the two
   * identities not the same.
   *
   * @return the first identity's value
   */
  private static String checkMergeProperties(ObjectNode event, Integer index) {
    JsonNode props = event.get("mergeProperties");
    String example = "; send \"mergeProperties\": [{\"type\": \"email\", \"value\": \"a@example.com\"},"
        + " {\"type\": \"user_id\", \"value\": \"u1\"}]";
    if (props == null || props.isNull()) {
      throw new InvalidEventException(index, "mergeProperties", "missing; a merge call links two identities" + example);
    }
    if (!props.isArray()) {
      throw new InvalidEventException(index, "mergeProperties", "must be an array of two identities, got "
          + kind(props) + example);
    }
    if (props.size() != 2) {
      throw new InvalidEventException(index, "mergeProperties", "must hold exactly two identities, got "
          + props.size() + example);
    }
    String[] values = new String[2];
    String[] types = new String[2];
    for (int i = 0; i < 2; i++) {
      String at = "mergeProperties[" + i + "]";
      JsonNode p = props.get(i);
      if (!p.isObject()) {
        throw new InvalidEventException(index, at, "must be an object with type and value, got " + kind(p));
      }
      ObjectNode entry = (ObjectNode) p;
      JsonNode t = entry.get("type");
      if (t == null || t.isNull() || (t.isTextual() && t.textValue().isEmpty())) {
        throw new InvalidEventException(index, at + ".type", "missing; name the kind of identity (e.g. email, user_id)");
      }
      if (!t.isTextual()) {
        throw new InvalidEventException(index, at + ".type", "must be a string, got " + kind(t));
      }
      String v;
      try {
        v = idField(entry, "value", index);
      } catch (InvalidEventException e) {
        throw new InvalidEventException(index, at + ".value", "must be a string or a number, got "
            + kind(entry.get("value")));
      }
      if (v == null) {
        throw new InvalidEventException(index, at + ".value", "missing; the identity's value is needed");
      }
      String problem = Event.routingKeyProblem(v);
      if (problem != null) {
        throw new InvalidEventException(index, at + ".value", problem);
      }
      types[i] = t.textValue();
      values[i] = v;
    }
    if (types[0].equals(types[1]) && values[0].equals(values[1])) {
      throw new InvalidEventException(index, "mergeProperties", "both entries are the same identity ("
          + clip(types[0]) + "); a merge links two different ones");
    }
    return values[0];
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
