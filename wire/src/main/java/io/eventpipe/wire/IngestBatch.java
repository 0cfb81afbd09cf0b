package io.eventpipe.wire;

import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.GatewayException;
import io.eventpipe.gateway.Text;
import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The internal ingest wire format between a proxy and a node: events already validated and enriched at the
 * edge, so the node stores their bytes as they are. Binary and length-prefixed, so neither side parses JSON:
 * <pre>
 *   "EPB1"  u32 count  { u16 keyLen key  u16 messageIdLen messageId  u32 payloadLen payload }*count
 * </pre>
 * The source id and the sender's topology epoch travel in the {@link #SOURCE_HEADER} and {@link #EPOCH_HEADER}
 * headers, the nodes' ingest token in {@code Authorization: Bearer}.
 *
 * <p>Routing keys and messageIds obey the limits of {@link Event} ({@link Event#MAX_ROUTING_KEY_CHARS},
 * {@link Event#MAX_MESSAGE_ID_CHARS}, no control characters in a messageId, {@link Text#storableProblem}) on both
 * sides, and the decoder refuses ids that are not strict UTF-8 and payloads that break {@link Text#payloadProblem}
 * (the gateway's parser refuses all of these at the edge): a batch that breaks them comes from a broken sender and is
 * a 400 naming the event's index in the batch, never a retryable failure, never stored changed.
 */
public final class IngestBatch {

  public static final String PATH = "/internal/v1/ingest";
  public static final String CONTENT_TYPE = "application/x-eventpipe-batch";
  public static final String EPOCH_HEADER = "X-Eventpipe-Epoch";
  public static final String SOURCE_HEADER = "X-Eventpipe-Source";
  /**
   * The field of a node's 400 answer (JSON) that names the index, in the batch, of the event at fault: the proxy
   * fails only the SDK request that sent it and resends the others.
   */
  public static final String ANSWER_INDEX = "index";
  /**
   * The field of a node's 400 answer that says PostgreSQL refused the batch's data (without naming an event): the
   * proxy sends the batch's requests apart, so only the one at fault is refused.
   */
  public static final String ANSWER_INVALID_DATA = "invalidData";
  private static final int MAGIC = 0x45504231; // "EPB1"
  /**
   * The largest batch a node takes (413 above it). A proxy coalesces requests into batches of at most
   * {@link #COALESCE_BYTES} and refuses, at the edge, a single request whose events would encode larger than this.
   */
  public static final int MAX_BYTES = 64 << 20;
  /** A proxy stops adding requests to an internal batch at this many bytes (a single request may exceed it). */
  public static final int COALESCE_BYTES = 8 << 20;

  /** One event on the wire. */
  public record Item(String routingKey, String messageId, byte[] payload) {}

  private IngestBatch() {}

  /** An upper bound of the encoded size of these items (ids counted at 3 bytes a character), for caps and buffers. */
  public static long sizeOf(List<Item> items) {
    long size = 8;
    for (Item i : items) {
      size += sizeOf(i.routingKey(), i.messageId(), i.payload());
    }
    return size;
  }

  /** An upper bound of the encoded size of one event. */
  public static long sizeOf(String routingKey, String messageId, byte[] payload) {
    return 8L + payload.length + routingKey.length() * 3L + messageId.length() * 3L;
  }

  public static Buffer encode(List<Item> items) {
    Buffer b = Buffer.buffer((int) Math.min(Integer.MAX_VALUE - 8, sizeOf(items)));
    b.appendInt(MAGIC).appendInt(items.size());
    for (int n = 0; n < items.size(); n++) {
      Item i = items.get(n);
      check(i.routingKey(), i.messageId(), n);
      byte[] key = i.routingKey().getBytes(StandardCharsets.UTF_8);
      byte[] msg = i.messageId().getBytes(StandardCharsets.UTF_8);
      b.appendUnsignedShort(key.length).appendBytes(key)
          .appendUnsignedShort(msg.length).appendBytes(msg)
          .appendInt(i.payload().length).appendBytes(i.payload());
    }
    return b;
  }

  /**
   * The limits of {@link Event}, which the edge enforced: a 400 naming the event ({@code n}) otherwise. A sender checks
   * each request's events before it coalesces them with others', so a bad one fails only its own request.
   */
  public static void check(String routingKey, String messageId, int n) {
    String problem = Event.routingKeyProblem(routingKey);
    String field = "routing key";
    if (problem == null) {
      problem = Event.messageIdProblem(messageId);
      field = "messageId";
    }
    if (problem != null) {
      throw new GatewayException(400, "event " + n + ": " + field + " " + problem, n, null);
    }
  }

  /** A strict UTF-8 id: invalid UTF-8 (or a NUL byte) would be decoded changed. */
  private static String utf8(Buffer b, int from, int length, String field, int n) {
    byte[] bytes = b.getBytes(from, from + length);
    String problem = Text.utf8Problem(bytes);
    if (problem != null) {
      throw new GatewayException(400, "event " + n + ": " + field + " " + problem, n, null);
    }
    return new String(bytes, StandardCharsets.UTF_8);
  }

  /** Decodes a batch; a malformed one is a 400 (it came from a broken or hostile sender). */
  public static List<Item> decode(Buffer b) {
    try {
      if (b.length() < 8 || b.getInt(0) != MAGIC) {
        throw new GatewayException(400, "not an internal ingest batch (bad magic)");
      }
      int count = b.getInt(4);
      if (count < 0 || count > b.length()) {
        throw new GatewayException(400, "bad event count " + count);
      }
      List<Item> out = new ArrayList<>(count);
      int pos = 8;
      for (int n = 0; n < count; n++) {
        int keyLen = b.getUnsignedShort(pos);
        String key = utf8(b, pos + 2, keyLen, "routing key", n);
        pos += 2 + keyLen;
        int msgLen = b.getUnsignedShort(pos);
        String msg = utf8(b, pos + 2, msgLen, "messageId", n);
        pos += 2 + msgLen;
        int payloadLen = b.getInt(pos);
        if (payloadLen < 0 || pos + 4 + payloadLen > b.length()) {
          throw new GatewayException(400, "truncated batch at event " + n);
        }
        byte[] payload = b.getBytes(pos + 4, pos + 4 + payloadLen);
        pos += 4 + payloadLen;
        if (key.isEmpty() || msg.isEmpty()) {
          throw new GatewayException(400, "event " + n + " has an empty routing key or messageId", n, null);
        }
        check(key, msg, n);
        String problem = Text.payloadProblem(payload);
        if (problem != null) {
          throw new GatewayException(400, "event " + n + ": payload " + problem, n, null);
        }
        out.add(new Item(key, msg, payload));
      }
      if (pos != b.length()) {
        throw new GatewayException(400, "trailing bytes after " + count + " events");
      }
      return out;
    } catch (IndexOutOfBoundsException e) {
      throw new GatewayException(400, "truncated internal ingest batch");
    }
  }
}
