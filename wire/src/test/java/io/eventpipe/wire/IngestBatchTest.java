package io.eventpipe.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.Event;
import io.eventpipe.gateway.GatewayException;
import io.vertx.core.buffer.Buffer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class IngestBatchTest {

  @Test
  void roundTripsKeysMessageIdsAndPayloadBytesExactly() {
    List<IngestBatch.Item> items = List.of(
        new IngestBatch.Item("user-1", "m-1", "{\"a\":\"\\u0001\\t\\uD83D\\uDE00\"}".getBytes(StandardCharsets.UTF_8)),
        new IngestBatch.Item("ünïcödé-😀", "m-2", new byte[0]),
        new IngestBatch.Item("k\t?", "m-3", "{\"a\":\"😀\"}".getBytes(StandardCharsets.UTF_8)));
    List<IngestBatch.Item> back = IngestBatch.decode(IngestBatch.encode(items));
    assertEquals(3, back.size());
    for (int i = 0; i < items.size(); i++) {
      assertEquals(items.get(i).routingKey(), back.get(i).routingKey());
      assertEquals(items.get(i).messageId(), back.get(i).messageId());
      assertArrayEquals(items.get(i).payload(), back.get(i).payload());
    }
  }

  @Test
  void malformedBatchesAreA400NeverAnotherException() {
    Buffer good = IngestBatch.encode(List.of(new IngestBatch.Item("user", "msg", "{}".getBytes(StandardCharsets.UTF_8))));
    assertEquals(400, assertThrows(GatewayException.class, () -> IngestBatch.decode(Buffer.buffer("nope"))).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> IngestBatch.decode(Buffer.buffer().appendInt(0x45504231).appendInt(-1))).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> IngestBatch.decode(good.getBuffer(0, good.length() - 1))).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> IngestBatch.decode(good.copy().appendByte((byte) 1))).status());
    assertEquals(400, assertThrows(GatewayException.class, () -> IngestBatch.decode(
        IngestBatch.encode(List.of(new IngestBatch.Item("", "m", new byte[0]))))).status(), "an empty routing key");
    // random corruption of a valid batch: decoded or refused with 400, nothing else
    Random random = new Random(42);
    for (int i = 0; i < 2000; i++) {
      Buffer b = good.copy();
      b.setByte(random.nextInt(b.length()), (byte) random.nextInt(256));
      try {
        IngestBatch.decode(b);
      } catch (GatewayException e) {
        assertEquals(400, e.status());
      }
    }
  }

  @Test
  void idsOverTheEdgeLimitsAreA400OnBothSidesNamingTheLimit() {
    String longKey = "k".repeat(Event.MAX_ROUTING_KEY_CHARS + 1);
    String longId = "m".repeat(Event.MAX_MESSAGE_ID_CHARS + 1);
    GatewayException e = assertThrows(GatewayException.class,
        () -> IngestBatch.encode(List.of(new IngestBatch.Item(longKey, "m", new byte[0]))));
    assertEquals(400, e.status());
    assertTrue(e.getMessage().contains(String.valueOf(Event.MAX_ROUTING_KEY_CHARS)), e.getMessage());

    // a sender that skips the check: the node refuses with 400, naming the event
    for (String[] ids : new String[][] {{longKey, "m"}, {"k", longId}, {"k", "a\r\nb"}}) {
      byte[] key = ids[0].getBytes(StandardCharsets.UTF_8);
      byte[] msg = ids[1].getBytes(StandardCharsets.UTF_8);
      Buffer raw = Buffer.buffer().appendInt(0x45504231).appendInt(1)
          .appendUnsignedShort(key.length).appendBytes(key).appendUnsignedShort(msg.length).appendBytes(msg).appendInt(0);
      GatewayException d = assertThrows(GatewayException.class, () -> IngestBatch.decode(raw));
      assertEquals(400, d.status());
      assertEquals(0, d.eventIndex());
    }
  }

  /** Issue 14: what the edge refuses is refused where the node decodes a batch, naming the event, never changed. */
  @Test
  void stringsThatCannotBeStoredExactlyAreA400NamingTheEvent() {
    byte[] ok = "{}".getBytes(StandardCharsets.UTF_8);
    byte[][] keys = {
        "nul\0".getBytes(StandardCharsets.UTF_8),       // a NUL byte: PostgreSQL's text refuses it
        {'k', (byte) 0xC3},                                // truncated UTF-8: would be decoded as U+FFFD
        {'k', (byte) 0xED, (byte) 0xA0, (byte) 0x80},      // an encoded surrogate
    };
    for (byte[] key : keys) {
      GatewayException e = assertThrows(GatewayException.class, () -> IngestBatch.decode(raw(
          "fine".getBytes(StandardCharsets.UTF_8), "m0".getBytes(StandardCharsets.UTF_8), ok, key, "m1".getBytes(StandardCharsets.UTF_8), ok)));
      assertEquals(400, e.status());
      assertEquals(1, e.eventIndex(), e.getMessage());
      assertTrue(e.getMessage().startsWith("event 1: routing key is not valid UTF-8"), e.getMessage());
    }
    for (String payload : List.of("{\"a\":\"\\u0000\"}", "{\"a\":\"\\ud800\"}", "{\"\\udc00\":1}")) {
      GatewayException e = assertThrows(GatewayException.class, () -> IngestBatch.decode(raw(
          "k".getBytes(StandardCharsets.UTF_8), "m".getBytes(StandardCharsets.UTF_8), payload.getBytes(StandardCharsets.UTF_8))));
      assertEquals(0, e.eventIndex());
      assertTrue(e.getMessage().startsWith("event 0: payload escapes a NUL or an unpaired UTF-16 surrogate"), e.getMessage());
    }
    assertEquals(0, assertThrows(GatewayException.class, () -> IngestBatch.decode(raw(
        "k".getBytes(StandardCharsets.UTF_8), "m".getBytes(StandardCharsets.UTF_8), new byte[] {'{', 0, '}'}))).eventIndex());
    // the sending side refuses the strings it would encode changed
    for (String key : List.of("a\u0000", "a\uD800")) {
      GatewayException e = assertThrows(GatewayException.class,
          () -> IngestBatch.encode(List.of(new IngestBatch.Item(key, "m", ok))));
      assertEquals(400, e.status());
      GatewayException m = assertThrows(GatewayException.class,
          () -> IngestBatch.encode(List.of(new IngestBatch.Item("k", key, ok))));
      assertEquals(400, m.status());
    }
  }

  /** A batch of (key, messageId, payload) triples, encoded by hand as a sender that skips every check would. */
  private static Buffer raw(byte[]... fields) {
    Buffer b = Buffer.buffer().appendInt(0x45504231).appendInt(fields.length / 3);
    for (int i = 0; i < fields.length; i += 3) {
      b.appendUnsignedShort(fields[i].length).appendBytes(fields[i]).appendUnsignedShort(fields[i + 1].length)
          .appendBytes(fields[i + 1]).appendInt(fields[i + 2].length).appendBytes(fields[i + 2]);
    }
    return b;
  }
}
