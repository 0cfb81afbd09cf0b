package io.eventpipe.node.admin;

import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.jobsdb.Job;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.ReplayFilter;
import io.eventpipe.node.router.Router;
import io.vertx.core.Handler;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.DecodeException;
import io.vertx.core.json.Json;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The node's admin HTTP API, to mount on a separate admin port ({@code server.requestHandler(adminApi)}). Every request
 * needs {@code Authorization: Bearer <token>}. Answers are JSON; errors are {@code {"error": "..."}} with their status.
 *
 * <ul>
 *   <li>{@code GET /admin/v1/destinations}: every destination of the workspace with its delivery state and pending
 *       count, plus destinations that have pending jobs but are not in the workspace.</li>
 *   <li>{@code GET /admin/v1/destinations/{id}/aborted?after=<jobId>&limit=<n>}: aborted jobs, oldest first, at most
 *       {@code limit} (default 100, up to 1000) after job id {@code after}; page on with the answer's {@code next}.</li>
 *   <li>{@code POST /admin/v1/destinations/{id}/replay} with {@code {"all": true}}, {@code {"jobIds": [..]}} or
 *       {@code {"from": "<ISO instant>", "to": "<ISO instant>"}} (by receipt time, from inclusive, to exclusive;
 *       either may be left out): makes the matching aborted jobs pending again with a fresh attempt count; answers
 *       {@code {"replayed": n}}. Replayed jobs keep their order per key and go before the key's other pending jobs.</li>
 * </ul>
 */
public final class AdminApi implements Handler<HttpServerRequest> {

  private static final Logger LOG = LoggerFactory.getLogger(AdminApi.class);

  static final String PREFIX = "/admin/v1/destinations";
  static final int DEFAULT_LIMIT = 100;
  static final int MAX_LIMIT = 1000;
  static final int MAX_BODY = 1 << 20;
  static final int MAX_JOB_IDS = 10_000;

  private final JobsDb rt;
  private final WorkspaceConfigStore config;
  private final Router router;
  private final byte[] expectedToken;

  /**
   * @param rt the per-destination queue
   * @param router the node's router, for delivery states and to wake a destination after a replay; may be null
   * @param token the bearer token callers must present (required; the launcher decides how strong it must be)
   */
  public AdminApi(JobsDb rt, WorkspaceConfigStore config, Router router, String token) {
    this.rt = Objects.requireNonNull(rt, "rt");
    this.config = Objects.requireNonNull(config, "config");
    this.router = router;
    Objects.requireNonNull(token, "token");
    if (token.isEmpty() || !token.chars().allMatch(c -> c > 32 && c < 127)) {
      throw new IllegalArgumentException("the admin token must be printable ASCII without spaces, got "
          + token.length() + " characters");
    }
    this.expectedToken = token.getBytes(StandardCharsets.US_ASCII);
  }

  @Override
  public void handle(HttpServerRequest req) {
    try {
      route(req);
    } catch (RuntimeException e) {
      InternalHttp.internalError(req.response(), 500, "internal error", LOG, "admin request " + req.method() + " "
          + io.eventpipe.gateway.Text.forLog(req.path()) + " failed", e);
    }
  }

  private void route(HttpServerRequest req) {
    HttpServerResponse resp = req.response();
    String path = req.path();
    if (path == null || !(path.equals(PREFIX) || path.startsWith(PREFIX + "/"))) {
      InternalHttp.error(resp, 404, "no such endpoint: " + path + " (see GET " + PREFIX + ")");
      return;
    }
    if (!InternalHttp.bearer(req.getHeader(HttpHeaders.AUTHORIZATION), expectedToken)) {
      resp.putHeader("WWW-Authenticate", "Bearer realm=\"eventpipe-admin\"");
      InternalHttp.error(resp, 401, "missing or wrong admin token: send Authorization: Bearer <admin token>");
      return;
    }
    String[] parts = path.substring(PREFIX.length()).split("/", -1);
    // "" -> list; ["", id, action] -> per destination
    if (parts.length == 1 && parts[0].isEmpty() || parts.length == 2 && parts[1].isEmpty()) {
      if (allow(req, HttpMethod.GET)) {
        listDestinations(resp);
      }
      return;
    }
    if (parts.length != 3 || parts[1].isEmpty()) {
      InternalHttp.error(resp, 404, "no such endpoint: " + path);
      return;
    }
    String id = decode(parts[1]);
    switch (parts[2]) {
      case "aborted" -> {
        if (allow(req, HttpMethod.GET)) {
          listAborted(req, id);
        }
      }
      case "replay" -> {
        if (allow(req, HttpMethod.POST)) {
          replay(req, id);
        }
      }
      default -> InternalHttp.error(resp, 404, "no such endpoint: " + path + " (destinations have /aborted and /replay)");
    }
  }

  // ------------------------------------------------------------------ endpoints

  private void listDestinations(HttpServerResponse resp) {
    WorkspaceConfig workspace = config.current();
    Map<String, Router.DestinationStatus> statuses = router == null ? Map.of() : router.status();
    rt.pendingCounts().onComplete(ar -> {
      if (ar.failed()) {
        storeError(resp, ar.cause());
        return;
      }
      Map<String, Long> pending = ar.result();
      JsonArray list = new JsonArray();
      Set<String> seen = new java.util.HashSet<>();
      for (Destination d : workspace.destinations()) {
        seen.add(d.id());
        Router.DestinationStatus st = statuses.get(d.id());
        String state = st != null ? st.state() : d.enabled() ? "unknown" : Router.DestinationStatus.DISABLED;
        list.add(new JsonObject()
            .put("id", d.id())
            .put("type", d.type())
            .put("enabled", d.enabled())
            .put("sources", new JsonArray(new ArrayList<>(d.sources())))
            .put("state", state)
            .put("error", st == null ? null : st.error())
            .put("pending", pending.getOrDefault(d.id(), 0L))
            // counts stop at the cap (bounded work): the true backlog is at least this
            .put("pendingAtLeast", pending.getOrDefault(d.id(), 0L) >= JobsDb.PENDING_COUNT_CAP));
      }
      JsonArray unconfigured = new JsonArray();
      pending.forEach((id, n) -> {
        if (!id.isEmpty() && !seen.contains(id)) {
          unconfigured.add(new JsonObject().put("id", id).put("pending", n));
        }
      });
      InternalHttp.json(resp, 200, new JsonObject().put("destinations", list).put("notInWorkspace", unconfigured));
    });
  }

  private void listAborted(HttpServerRequest req, String id) {
    HttpServerResponse resp = req.response();
    long after;
    int limit;
    try {
      after = longParam(req, "after", Long.MIN_VALUE);
      long l = longParam(req, "limit", DEFAULT_LIMIT);
      if (l < 1 || l > MAX_LIMIT) {
        throw new IllegalArgumentException("limit must be in 1.." + MAX_LIMIT + ", got " + l);
      }
      limit = (int) l;
    } catch (IllegalArgumentException e) {
      InternalHttp.error(resp, 400, e.getMessage());
      return;
    }
    rt.listAborted(id, after, limit).onComplete(ar -> {
      if (ar.failed()) {
        storeError(resp, ar.cause());
        return;
      }
      List<Job> jobs = ar.result();
      JsonArray out = new JsonArray();
      for (Job j : jobs) {
        out.add(new JsonObject()
            .put("jobId", j.jobId())
            .put("messageId", j.messageId())
            .put("routingKey", j.routingKey())
            .put("partitionId", j.partitionId())
            .put("sourceId", j.sourceId())
            .put("attempts", j.attempts())
            .put("firstAttemptAt", iso(j.firstAttemptAt()))
            .put("lastError", j.lastError())
            .put("receivedAt", iso(j.receivedAt()))
            .put("payload", payload(j.payload())));
      }
      Long next = jobs.size() == limit ? jobs.get(jobs.size() - 1).jobId() : null;
      InternalHttp.json(resp, 200, new JsonObject().put("destination", id).put("jobs", out).put("next", next));
    });
  }

  private void replay(HttpServerRequest req, String id) {
    HttpServerResponse resp = req.response();
    String length = req.getHeader(HttpHeaders.CONTENT_LENGTH);
    if (length != null && length.length() > 9) {
      InternalHttp.error(resp, 413, "body too large: at most " + MAX_BODY + " bytes");
      return;
    }
    Buffer body = Buffer.buffer();
    boolean[] tooLarge = new boolean[1];
    req.handler(chunk -> {
      if (body.length() + chunk.length() > MAX_BODY) {
        tooLarge[0] = true;
      } else {
        body.appendBuffer(chunk);
      }
    });
    req.exceptionHandler(e -> LOG.debug("Admin replay request failed: {}", e.toString()));
    req.endHandler(v -> {
      if (tooLarge[0]) {
        InternalHttp.error(resp, 413, "body too large: at most " + MAX_BODY + " bytes");
        return;
      }
      ReplayFilter filter;
      try {
        filter = replayFilter(body);
      } catch (IllegalArgumentException e) {
        InternalHttp.error(resp, 400, e.getMessage());
        return;
      }
      if (config.current().destinations().stream().noneMatch(d -> d.id().equals(id))) {
        InternalHttp.error(resp, 409, "destination '" + id + "' is not in the workspace configuration; add it back before replaying"
            + " (its replayed jobs would be aborted again)");
        return;
      }
      rt.replayAborted(id, filter).onComplete(ar -> {
        if (ar.failed()) {
          storeError(resp, ar.cause());
          return;
        }
        LOG.info("Admin: replayed {} aborted jobs of destination {}", ar.result(), io.eventpipe.gateway.Text.forLog(id));
        if (router != null && ar.result() > 0) {
          router.replayed(id);
        }
        InternalHttp.json(resp, 200, new JsonObject().put("replayed", ar.result()));
      });
    });
  }

  /** {@code {"all": true}}, {@code {"jobIds": [..]}} or {@code {"from": .., "to": ..}}, exactly one of them. */
  static ReplayFilter replayFilter(Buffer body) {
    final String usage = "send one of {\"all\": true}, {\"jobIds\": [1, 2]} or"
        + " {\"from\": \"2026-01-01T00:00:00Z\", \"to\": \"2026-01-02T00:00:00Z\"}";
    JsonObject o;
    try {
      Object parsed = body.length() == 0 ? null : Json.decodeValue(body);
      if (!(parsed instanceof JsonObject obj)) {
        throw new IllegalArgumentException("the body must be a JSON object: " + usage);
      }
      o = obj;
    } catch (DecodeException e) {
      throw new IllegalArgumentException("the body is not valid JSON: " + usage);
    }
    for (String key : o.fieldNames()) {
      if (!Set.of("all", "jobIds", "from", "to").contains(key)) {
        throw new IllegalArgumentException("unknown field '" + key + "': " + usage);
      }
    }
    boolean all = o.containsKey("all");
    boolean ids = o.containsKey("jobIds");
    boolean range = o.containsKey("from") || o.containsKey("to");
    if ((all ? 1 : 0) + (ids ? 1 : 0) + (range ? 1 : 0) != 1) {
      throw new IllegalArgumentException("choose exactly one way to select jobs: " + usage);
    }
    if (all) {
      if (!Boolean.TRUE.equals(o.getValue("all"))) {
        throw new IllegalArgumentException("\"all\" must be true: " + usage);
      }
      return ReplayFilter.all();
    }
    if (ids) {
      Object v = o.getValue("jobIds");
      if (!(v instanceof JsonArray array) || array.isEmpty() || array.size() > MAX_JOB_IDS) {
        throw new IllegalArgumentException("\"jobIds\" must be a list of 1 to " + MAX_JOB_IDS + " job ids: " + usage);
      }
      List<Long> list = new ArrayList<>(array.size());
      for (Object e : array) {
        if (!(e instanceof Integer || e instanceof Long)) {
          throw new IllegalArgumentException("\"jobIds\" must hold job ids (integers), got " + e + ": " + usage);
        }
        list.add(((Number) e).longValue());
      }
      return ReplayFilter.ids(list);
    }
    Instant from = instant(o, "from", usage);
    Instant to = instant(o, "to", usage);
    if (from != null && to != null && !from.isBefore(to)) {
      throw new IllegalArgumentException("\"from\" (" + from + ") must be before \"to\" (" + to + "): " + usage);
    }
    return ReplayFilter.receivedBetween(from, to);
  }

  // ------------------------------------------------------------------ helpers

  private static boolean allow(HttpServerRequest req, HttpMethod method) {
    if (req.method().equals(method)) {
      return true;
    }
    req.response().putHeader(HttpHeaders.ALLOW, method.name());
    InternalHttp.error(req.response(), 405, req.method() + " is not allowed here; use " + method.name());
    return false;
  }

  private static long longParam(HttpServerRequest req, String name, long defaultValue) {
    String v = req.getParam(name);
    if (v == null || v.isEmpty()) {
      return defaultValue;
    }
    try {
      return Long.parseLong(v.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException(name + " must be an integer, got '" + v + "'");
    }
  }

  private static Instant instant(JsonObject o, String key, String usage) {
    Object v = o.getValue(key);
    if (v == null) {
      return null;
    }
    if (!(v instanceof String s)) {
      throw new IllegalArgumentException("\"" + key + "\" must be an ISO-8601 instant, got " + v + ": " + usage);
    }
    try {
      return Instant.parse(s);
    } catch (DateTimeParseException e) {
      throw new IllegalArgumentException("\"" + key + "\" must be an ISO-8601 instant, got '" + s + "': " + usage);
    }
  }

  private static String decode(String segment) {
    try {
      return URLDecoder.decode(segment.replace("+", "%2B"), StandardCharsets.UTF_8);
    } catch (IllegalArgumentException e) {
      return segment;
    }
  }

  private static Object payload(byte[] bytes) {
    try {
      return Json.decodeValue(Buffer.buffer(bytes));
    } catch (DecodeException e) {
      return new String(bytes, StandardCharsets.UTF_8);
    }
  }

  private static String iso(Instant t) {
    return t == null ? null : t.toString();
  }

  private static void storeError(HttpServerResponse resp, Throwable e) {
    if (e instanceof io.eventpipe.jobsdb.JobsDbException.Fenced fenced) {
      InternalHttp.error(resp, 409, "nothing replayed: some of these jobs belong to partitions " + new java.util.TreeSet<>(
          fenced.partitions()) + ", which a migration is moving to another node (or has moved); replay them on their new"
          + " owner once the migration finished (see GET /admin/v1/cluster)");
      return;
    }
    InternalHttp.internalError(resp, 503, "the job store failed; try again", LOG, "admin request failed in jobsdb", e);
  }
}
