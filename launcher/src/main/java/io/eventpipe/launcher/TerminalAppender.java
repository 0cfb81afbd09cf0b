package io.eventpipe.launcher;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.UnsynchronizedAppenderBase;
import ch.qos.logback.core.encoder.Encoder;
import java.nio.charset.StandardCharsets;

/**
 * The launcher's console appender: like logback's {@code ConsoleAppender} on standard output, except that a line
 * logged while a progress bar is drawn ({@link StatusLine}) goes above the bar instead of tearing through it.
 */
public final class TerminalAppender extends UnsynchronizedAppenderBase<ILoggingEvent> {

  private Encoder<ILoggingEvent> encoder;

  public void setEncoder(Encoder<ILoggingEvent> encoder) {
    this.encoder = encoder;
  }

  @Override
  public void start() {
    if (encoder == null) {
      addError("no encoder for appender " + name);
      return;
    }
    super.start();
  }

  @Override
  protected void append(ILoggingEvent event) {
    StatusLine.log(System.out, new String(encoder.encode(event), StandardCharsets.UTF_8));
  }
}
