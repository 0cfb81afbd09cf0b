package io.eventpipe.gateway;

import io.eventpipe.gateway.impl.JacksonEventParser;
import java.util.List;
import java.util.Map;

/**
 * Parses, validates and enriches the events of one request, following the RudderStack HTTP API and the Segment
 * HTTP Tracking API. Thread-safe; create one and share it.
 *
 * <h2>Rules</h2>
 * <ol>
 *   <li>The body must be valid UTF-8 (strictly: no overlong forms, no encoded surrogates, no NUL byte) and one
 *       JSON object, without duplicate keys, nested at most {@link Builder#maxNestingDepth} levels deep (counted
 *       over the whole document, so a batched event gets two levels fewer than a single one).</li>
 *   <li>Single-event endpoints take the type from the endpoint (overwriting any {@code type} in the body).
 *       Batch endpoints need a non-empty {@code batch} array of objects, each with a {@code type} among
 *       {@code track, identify, page, screen, group, alias}. The envelope's {@code context} is shallow-merged
 *       into each event's (the event's keys win); its {@code integrations} and {@code sentAt} are copied into
 *       events that lack them. Other envelope fields are ignored.</li>
 *   <li>{@code writeKey} is removed from the body and from every event; {@link ParsedRequest#bodyWriteKey()}
 *       returns it.</li>
 *   <li>Every event needs a non-empty {@code userId} or {@code anonymousId}; {@code track} needs a non-empty
 *       string {@code event}, {@code alias} a {@code previousId}, {@code group} a {@code groupId}. Id fields
 *       ({@code userId, anonymousId, messageId, previousId, groupId}) may be strings or numbers; numbers are
 *       stored as JSON strings (integers in plain digits, decimals as {@link java.math.BigDecimal#toString()}).
 *       {@code context}, when present, must be an object. One invalid event rejects the whole request (400,
 *       naming the batch index and field).</li>
 *   <li>Enrichment: {@code messageId} (a random UUID when absent or empty), {@code receivedAt} (ISO-8601 UTC with
 *       milliseconds, always the server's), {@code request_ip} (always the server's) and {@code context.ip}
 *       (only when absent), and {@code timestamp}: kept when present (even if unparseable); otherwise
 *       {@code receivedAt - (sentAt - originalTimestamp)} when both parse, {@code originalTimestamp} when it
 *       parses but {@code sentAt} is absent or unparseable, and {@code receivedAt} when {@code originalTimestamp}
 *       is absent or unparseable. Unparseable values are never rewritten.</li>
 *   <li>Values are re-serialized exactly: big integers and decimals keep their digits ({@code 1.10} stays
 *       {@code 1.10}; {@code 1e400} becomes {@code 1E+400}, the same value; {@code -0.0} becomes {@code 0.0}),
 *       field order is kept, control characters are written as <code>&#92;u00XX</code> escapes, non-BMP characters as
 *       UTF-8. A lone surrogate escape such as <code>"&#92;ud800"</code> is preserved as the same escape: it is valid
 *       JSON and rejecting it would drop events that RudderStack accepts.</li>
 *   <li>Each stored event is at most {@link Builder#maxEventBytes} bytes (413 naming its index).</li>
 * </ol>
 */
public interface EventParser {

  /**
   * Parses a request body of a single-event or batch endpoint.
   *
   * @param endpoint a non-pixel endpoint
   * @param body the decoded body (see {@link BodyDecoder}); not modified, not retained
   * @throws GatewayException 400 for invalid input, 413 for an oversized body or event
   */
  ParsedRequest parseRequest(Endpoint endpoint, byte[] body, RequestContext context);

  /**
   * Parses the body of {@code POST /v1/webhook} into one track event of a source: the body (one JSON object, under the
   * same rules of encoding, nesting (one level less: it is stored under {@code properties}), strings and size as any
   * other) becomes the event's {@code properties}; its name, routing key (stored as {@code userId}) and messageId are
   * read where {@code webhook} says. A routing key or name that is not found is a 400 naming the field looked for.
   *
   * @param headers the request's headers by name (case-insensitive), for {@code header:NAME} references
   * @throws GatewayException 400 for invalid input, 413 for an oversized body or event
   */
  ParsedRequest parseWebhook(io.eventpipe.workspace.WebhookSource webhook, byte[] body,
      java.util.function.Function<String, String> headers, RequestContext context);

  /** {@link #parseRequest} without the body's write key. */
  default List<Event> parse(Endpoint endpoint, byte[] body, RequestContext context) {
    return parseRequest(endpoint, body, context).events();
  }

  /**
   * Builds the event of a pixel endpoint from its query parameters (see {@link QueryStrings#parse}).
   *
   * <p>Every parameter becomes a string field of the event; a dotted name nests, so {@code properties.price=3}
   * becomes {@code "properties":{"price":"3"}} and {@code context.page.url=...} a nested context. A name that is
   * both a value and a prefix ({@code properties=x&properties.a=y}) is rejected. {@code writeKey} is dropped.
   * The event then goes through the same validation and enrichment as a body event.
   *
   * @param endpoint {@link Endpoint#PIXEL_TRACK} or {@link Endpoint#PIXEL_PAGE}
   * @param query decoded query parameters, first value per name, in request order
   */
  ParsedRequest parsePixel(Endpoint endpoint, Map<String, String> query, RequestContext context);

  /** A parser with the default limits. */
  static EventParser create() {
    return builder().build();
  }

  static Builder builder() {
    return new Builder();
  }

  /** Limits of an {@link EventParser}. */
  final class Builder {
    /** Default nesting limit of a request document. */
    public static final int DEFAULT_MAX_NESTING_DEPTH = 64;
    /** Default largest stored event: 1 MiB. Segment documents 32 KB; RudderStack only bounds the request. */
    public static final int DEFAULT_MAX_EVENT_BYTES = 1024 * 1024;
    /** Default largest request body after decompression: RudderStack's {@code maxReqSizeInKB} of 4000 KB. */
    public static final int DEFAULT_MAX_REQUEST_BYTES = 4000 * 1024;

    private int maxNestingDepth = DEFAULT_MAX_NESTING_DEPTH;
    private int maxEventBytes = DEFAULT_MAX_EVENT_BYTES;
    private int maxRequestBytes = DEFAULT_MAX_REQUEST_BYTES;

    private Builder() {}

    /** How deeply arrays and objects may nest in a request document (default 64). */
    public Builder maxNestingDepth(int depth) {
      if (depth < 3) {
        throw new IllegalArgumentException("maxNestingDepth must be >= 3 (a batch needs 3 levels), got " + depth);
      }
      this.maxNestingDepth = depth;
      return this;
    }

    /** The largest stored event, after enrichment, in bytes (default 1 MiB). */
    public Builder maxEventBytes(int bytes) {
      if (bytes < 64) {
        throw new IllegalArgumentException("maxEventBytes must be >= 64, got " + bytes);
      }
      this.maxEventBytes = bytes;
      return this;
    }

    /** The largest request body, after decompression, in bytes (default 4000 KiB). */
    public Builder maxRequestBytes(int bytes) {
      if (bytes < 64) {
        throw new IllegalArgumentException("maxRequestBytes must be >= 64, got " + bytes);
      }
      this.maxRequestBytes = bytes;
      return this;
    }

    public int maxNestingDepth() {
      return maxNestingDepth;
    }

    public int maxEventBytes() {
      return maxEventBytes;
    }

    public int maxRequestBytes() {
      return maxRequestBytes;
    }

    public EventParser build() {
      return new JacksonEventParser(maxNestingDepth, maxEventBytes, maxRequestBytes);
    }
  }
}
