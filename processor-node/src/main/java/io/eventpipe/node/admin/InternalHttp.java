package io.eventpipe.node.admin;

import io.eventpipe.gateway.http.InternalErrors;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import org.slf4j.Logger;

/**
 * What every handler of a node's internal port (internal ingest, admin API, status, cluster status) answers the same
 * way: bearer tokens, and JSON bodies with errors as {@code {"error": "..."}}.
 */
public final class InternalHttp {

  private InternalHttp() {}

  /** {@code Authorization: Bearer <token>}, the scheme case-insensitive (RFC 6750), the token compared in constant time. */
  public static boolean bearer(HttpServerRequest req, String token) {
    return bearer(req.getHeader(HttpHeaders.AUTHORIZATION), token.getBytes(StandardCharsets.UTF_8));
  }

  static boolean bearer(String header, byte[] token) {
    if (header == null || !header.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return false;
    }
    return MessageDigest.isEqual(header.substring(7).trim().getBytes(StandardCharsets.UTF_8), token);
  }

  /** Answers {@code body} with {@code status}, unless the response is already over. */
  public static void json(HttpServerResponse resp, int status, JsonObject body) {
    if (resp.ended() || resp.closed()) {
      return;
    }
    resp.setStatusCode(status).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(body.toBuffer());
  }

  /** Answers {@code {"error": message}} with {@code status}: what was wrong and how to fix it. */
  public static void error(HttpServerResponse resp, int status, String message) {
    json(resp, status, new JsonObject().put("error", message));
  }

  /**
   * A failure inside the node (PostgreSQL, the control store, a bug): {@code cause} is logged under a fresh request id,
   * and the answer carries the stable {@code message} and that id, never the cause's text
   * ({@link InternalErrors}). A 503 also carries {@code Retry-After}.
   *
   * @param what what failed, for the log line (e.g. "internal ingest of 12 events")
   */
  public static void internalError(HttpServerResponse resp, int status, String message, Logger log, String what,
      Throwable cause) {
    String id = InternalErrors.log(log, what, cause);
    if (status == 503 && !resp.ended() && !resp.closed()) {
      resp.putHeader("Retry-After", "1");
    }
    json(resp, status, InternalErrors.body(message, id));
  }
}
