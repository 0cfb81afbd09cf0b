package io.eventpipe.gateway;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

/** Issue 14: the string rule, storable text for what the pipeline must keep, and client input in log lines. */
class TextTest {

  @Test
  void theRuleRefusesNulAndLoneSurrogatesOnly() {
    for (String ok : List.of("", "plain", "tab\t nl\n cr\r U+001F\u001f", "\uD83D\uDE00", "\uFFFF\uFFFE", "?")) {
      assertNull(Text.storableProblem(ok), ok);
    }
    assertTrue(Text.storableProblem("a\u0000").startsWith("has a control character (U+0000, NUL) at position 1"));
    assertTrue(Text.storableProblem("x\uD800y").startsWith("has an unpaired UTF-16 surrogate (U+D800) at position 1"));
    assertTrue(Text.storableProblem("\uDE00").contains("(U+DE00) at position 0"));
    assertTrue(Text.storableProblem("\uD83D\uDE00\uDE00").contains("at position 2"), "a low half after a whole pair");
    assertTrue(Text.storableProblem("end\uD83D").contains("at position 3"), "a high half at the end");
  }

  @Test
  void storableTextEscapesControlsReplacesLoneSurrogatesAndIsBoundedInBytes() {
    assertEquals("boom\\u0000 \\u000A\uFFFDx\uD83D\uDE00", Text.storable("boom\u0000 \n\uD800x\uD83D\uDE00", 100));
    byte[] answer = {'a', 0, (byte) 0xC3, 0x28, (byte) 0xFF, 'z'};
    String s = Text.storable(answer, 0, answer.length, 100);
    assertEquals("a\\u0000\uFFFD(\uFFFDz", s);
    assertNull(Text.storableProblem(s));
    String cut = Text.storable("\uD83D\uDE00".repeat(100), 30);
    assertTrue(cut.getBytes(StandardCharsets.UTF_8).length <= 30, cut);
    assertTrue(cut.endsWith("..."), cut);
    assertNull(Text.storableProblem(cut), "never a pair cut in half");
    String exact = "x".repeat(30);
    assertEquals(exact, Text.storable(exact, 30), "what fits is not cut");
  }

  @Test
  void logTextHasNoLineBreaksOrControlCharacters() {
    assertEquals("plain \uD83D\uDE00", Text.forLog("plain \uD83D\uDE00"));
    assertEquals("u\\r\\nINFO forged line\\t\\u0000\\u001B[31m\\\\ \\uD800 \\u2028", Text.forLog(
        "u\r\nINFO forged line\t\u0000\u001b[31m\\ \uD800 \u2028"));
    assertEquals("null", Text.forLog(null));
    String longOne = Text.forLog("k".repeat(1000));
    assertTrue(longOne.length() < 230 && longOne.endsWith("...(1000 chars)"), longOne);
  }

  /** The hole: a routing key with CR/LF was logged as it was, so a client could forge log lines. */
  @Test
  void aHotRoutingKeyWithCrLfIsLoggedEscaped() {
    Logger logger = (Logger) LoggerFactory.getLogger(KeyRateLimiter.class);
    ListAppender<ILoggingEvent> appender = new ListAppender<>();
    appender.start();
    logger.addAppender(appender);
    try {
      long[] now = {1_000_000_000L};
      KeyRateLimiter limiter = new KeyRateLimiter(s -> Optional.empty(), () -> now[0], new SimpleMeterRegistry());
      String key = "bot\r\n2026-01-01 INFO admin logged in";
      List<Event> events = new ArrayList<>();
      for (int i = 0; i < 1500; i++) {
        events.add(new Event("m" + i, EventType.TRACK, key, null, key, "{}".getBytes(StandardCharsets.UTF_8)));
      }
      limiter.acquireOrThrow("web", events);
      List<String> lines = appender.list.stream().map(ILoggingEvent::getFormattedMessage).toList();
      assertEquals(1, lines.size(), lines.toString());
      assertTrue(lines.get(0).contains("'bot\\r\\n2026-01-01 INFO admin logged in'"), lines.get(0));
      assertFalse(lines.get(0).contains("\n") || lines.get(0).contains("\r"), lines.get(0));
    } finally {
      logger.detachAppender(appender);
    }
  }
}
