package io.eventpipe.gateway.http;

import io.vertx.core.json.JsonObject;
import java.util.HexFormat;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;

/**
 * Failures whose detail must not leave the process: PostgreSQL's error text, addresses of nodes, exceptions. Every
 * server answers them with a stable message and a request id, and logs the detail under the same id, so an operator
 * can find what happened from what the client saw without the client learning anything about the inside.
 */
public final class InternalErrors {

  private InternalErrors() {}

  /** A fresh request id: 16 hex digits, unique enough to find one log line among a day's. */
  public static String newId() {
    return HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong());
  }

  /**
   * Logs {@code cause} at WARN as "{@code what} [request id]" and returns the id for the answer. The stack trace is
   * logged only for what looks like a bug rather than a failure of storage or of a peer: an {@link Error}, or an
   * exception of the JDK ({@code java.*}: a NullPointerException, an IllegalStateException, ...).
   */
  public static String log(Logger log, String what, Throwable cause) {
    String id = newId();
    if (cause instanceof Error || cause.getClass().getName().startsWith("java.")) {
      log.warn("{} [request {}]", what, id, cause);
    } else {
      log.warn("{} [request {}]: {}", what, id, String.valueOf(cause));
    }
    return id;
  }

  /** {@code {"error": "<message> (request id <id>)", "requestId": "<id>"}}. */
  public static JsonObject body(String message, String id) {
    return new JsonObject().put("error", message + " (request id " + id + ")").put("requestId", id);
  }
}
