package io.eventpipe.node;

import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;

/** Shared bits of the node's internal port: token checks and JSON errors. */
final class Admin {

  private Admin() {}

  /** Whether the request carries {@code Authorization: Bearer <token>} (compared in constant time). */
  static boolean authorized(HttpServerRequest req, String token) {
    String h = req.getHeader("Authorization");
    if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
      return false;
    }
    return MessageDigest.isEqual(h.substring(7).trim().getBytes(StandardCharsets.UTF_8), token.getBytes(StandardCharsets.UTF_8));
  }

  static void error(HttpServerRequest req, int status, String message) {
    if (req.response().ended()) {
      return;
    }
    req.response().setStatusCode(status).putHeader("Content-Type", "application/json")
        .end(new JsonObject().put("error", message).encode());
  }
}
