package io.eventpipe.launcher;

import io.eventpipe.autoscaler.DecisionStore;
import io.eventpipe.control.ControlStore;
import io.eventpipe.control.Migration;
import io.eventpipe.gateway.http.BodyReader;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.admin.InternalHttp;
import io.eventpipe.routing.Topology;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The operator console, under {@code /console} on a cluster node's internal port (the admin port; never the public
 * one): the topology, each node's health, backlog age and pending jobs per destination, the migration in progress with
 * its steps, jobs moved, rate and time left, dead letters per destination with replay, and the autoscaler's last
 * decisions. Plain HTML rendered here from {@link ClusterView} (what {@code pipeline status} prints); a small script
 * ({@code console.js}) fetches the same rendering again every two seconds and draws two charts with uPlot, both served
 * from the jar, so the page needs nothing from outside.
 *
 * <p>The browser proves it holds the admin token once, in a login form (a POST body, never a URL: nothing logs it);
 * the answer sets a session cookie ({@code HttpOnly}, {@code SameSite=Strict}, {@code Path=/console}, 12 hours,
 * {@code Secure} when the request came over TLS) whose value is an expiry and its HMAC-SHA256 keyed by the admin token:
 * no server state, valid on every node sharing the token, and void when the token changes. Scripts cannot read it,
 * other sites cannot send it, and a state-changing POST (replay, logout) is also refused when its {@code Origin} or
 * {@code Sec-Fetch-Site} says it came from another site. Every answer carries a Content-Security-Policy that allows
 * only this origin's scripts and styles, and no framing.
 */
final class Console implements Handler<HttpServerRequest>, AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(Console.class);

  static final String PATH = "/console";
  static final String COOKIE = "eventpipe_console";
  static final Duration SESSION = Duration.ofHours(12);
  private static final int MAX_FORM = 8192;
  private static final String CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
      + " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
  /** The files under {@code /console/static/}: resources of the jar, nothing else is served. */
  private static final Map<String, String> STATIC = Map.of(
      "console.js", "text/javascript; charset=utf-8",
      "console.css", "text/css; charset=utf-8",
      "uPlot.iife.min.js", "text/javascript; charset=utf-8",
      "uPlot.min.css", "text/css; charset=utf-8",
      "LICENSE-uPlot.txt", "text/plain; charset=utf-8");

  private final Vertx vertx;
  private final PgConfig control;
  private final String token;
  private final long bodyTimeoutMs;
  private final Clock clock;
  private final HttpClientAgent client;
  private final ClusterView cluster;
  private final BodyReader.Budget budget = new BodyReader.Budget(1 << 20);
  private final Map<String, byte[]> files = new HashMap<>();
  /** The migration's progress as this console saw it: (nanos, jobs moved, partitions copied), for rate and time left. */
  private final Deque<long[]> samples = new ArrayDeque<>();
  private String sampled;
  private Future<ControlStore> store;

  /** @param control the control store as this node's own role (it reads the topology, migrations and decisions) */
  Console(Vertx vertx, PgConfig control, String token, long bodyTimeoutMs) {
    this(vertx, control, token, bodyTimeoutMs, Clock.systemUTC());
  }

  Console(Vertx vertx, PgConfig control, String token, long bodyTimeoutMs, Clock clock) {
    this.vertx = vertx;
    this.control = control;
    this.token = token;
    this.bodyTimeoutMs = bodyTimeoutMs;
    this.clock = clock;
    this.client = vertx.createHttpClient();
    this.cluster = new ClusterView(vertx, client, control, token);
    for (String name : STATIC.keySet()) {
      try (InputStream in = Console.class.getResourceAsStream("/console/" + name)) {
        if (in == null) {
          throw new IllegalStateException("the jar lacks the console's /console/" + name);
        }
        files.put(name, in.readAllBytes());
      } catch (IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    }
  }

  @Override
  public void handle(HttpServerRequest req) {
    HttpServerResponse resp = req.response();
    resp.putHeader("Content-Security-Policy", CSP).putHeader("X-Content-Type-Options", "nosniff")
        .putHeader("Referrer-Policy", "no-referrer").putHeader("X-Frame-Options", "DENY");
    String path = req.path();
    try {
      if (path.startsWith(PATH + "/static/")) {
        serveStatic(req, path.substring((PATH + "/static/").length()));
      } else if (path.equals(PATH + "/login")) {
        if (allow(req, HttpMethod.POST)) {
          login(req);
        }
      } else if (!signedIn(req)) {
        if (path.equals(PATH) || path.equals(PATH + "/")) {
          html(resp, 200, loginPage(null));
        } else {
          InternalHttp.error(resp, 401, "sign in to the console first (GET " + PATH + ")");
        }
      } else if (path.equals(PATH) || path.equals(PATH + "/")) {
        if (allow(req, HttpMethod.GET)) {
          view().onSuccess(main -> html(resp, 200, page(main))).onFailure(e -> failed(resp, e));
        }
      } else if (path.equals(PATH + "/view")) {
        if (allow(req, HttpMethod.GET)) {
          view().onSuccess(main -> html(resp, 200, main)).onFailure(e -> failed(resp, e));
        }
      } else if (path.equals(PATH + "/replay")) {
        if (allow(req, HttpMethod.POST) && sameSite(req)) {
          replay(req);
        }
      } else if (path.equals(PATH + "/logout")) {
        if (allow(req, HttpMethod.POST) && sameSite(req)) {
          resp.putHeader("Set-Cookie", COOKIE + "=; Path=" + PATH + "; HttpOnly; SameSite=Strict; Max-Age=0")
              .putHeader("Location", PATH).setStatusCode(303).end();
        }
      } else {
        InternalHttp.error(resp, 404, "no such console page: " + io.eventpipe.gateway.Text.forLog(path));
      }
    } catch (RuntimeException e) {
      failed(resp, e);
    }
  }

  // ------------------------------------------------------------------ session

  private void login(HttpServerRequest req) {
    readForm(req).onSuccess(form -> {
      String given = form.getOrDefault("token", "");
      if (!MessageDigest.isEqual(given.trim().getBytes(StandardCharsets.UTF_8), token.getBytes(StandardCharsets.UTF_8))) {
        html(req.response(), 401, loginPage("That is not this cluster's admin token."));
        return;
      }
      long expiry = clock.instant().plus(SESSION).getEpochSecond();
      req.response().putHeader("Set-Cookie", COOKIE + "=" + expiry + "." + sign(expiry) + "; Path=" + PATH
              + "; HttpOnly; SameSite=Strict; Max-Age=" + SESSION.toSeconds() + (req.isSSL() ? "; Secure" : ""))
          .putHeader("Location", PATH).setStatusCode(303).end();
    });
  }

  /** Whether the request carries a session cookie this token signed, not expired. */
  boolean signedIn(HttpServerRequest req) {
    io.vertx.core.http.Cookie c = req.getCookie(COOKIE);
    if (c == null) {
      return false;
    }
    String[] parts = c.getValue().split("\\.", 2);
    if (parts.length != 2 || !parts[0].matches("[0-9]{1,12}")) {
      return false;
    }
    long expiry = Long.parseLong(parts[0]);
    return expiry > clock.instant().getEpochSecond()
        && MessageDigest.isEqual(parts[1].getBytes(StandardCharsets.US_ASCII), sign(expiry).getBytes(StandardCharsets.US_ASCII));
  }

  private String sign(long expiry) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(token.getBytes(StandardCharsets.UTF_8), "HmacSHA256"));
      return Base64.getUrlEncoder().withoutPadding()
          .encodeToString(mac.doFinal(("eventpipe-console|" + expiry).getBytes(StandardCharsets.UTF_8)));
    } catch (java.security.GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** A POST that another site made the browser send is refused (SameSite=Strict already keeps the cookie from it). */
  private static boolean sameSite(HttpServerRequest req) {
    String site = req.getHeader("Sec-Fetch-Site");
    String origin = req.getHeader("Origin");
    String host = req.getHeader("Host");
    boolean ok = (site == null || site.equals("same-origin") || site.equals("none"))
        && (origin == null || host != null && (origin.equals("http://" + host) || origin.equals("https://" + host)));
    if (!ok) {
      InternalHttp.error(req.response(), 403, "the console takes changes from its own pages only");
    }
    return ok;
  }

  // ------------------------------------------------------------------ replay

  private void replay(HttpServerRequest req) {
    readForm(req).onSuccess(form -> {
      boolean json = String.valueOf(req.getHeader("Accept")).contains("application/json");
      int node;
      long jobId;
      String destination = form.get("destination");
      try {
        node = Integer.parseInt(form.getOrDefault("node", ""));
        jobId = Long.parseLong(form.getOrDefault("jobId", ""));
      } catch (NumberFormatException e) {
        InternalHttp.error(req.response(), 400, "a replay needs node, destination and jobId");
        return;
      }
      if (destination == null || destination.isEmpty()) {
        InternalHttp.error(req.response(), 400, "a replay needs node, destination and jobId");
        return;
      }
      store().compose(ControlStore::current).compose(t -> {
        String address = t.map(Topology::nodeAddresses).map(a -> a.get(node)).orElse(null);
        if (address == null) {
          return Future.succeededFuture(new JsonObject().put("status", 404).put("error", "node " + node + " is not in the topology"));
        }
        return cluster.replay(address, destination, List.of(jobId));
      }).onSuccess(answer -> {
        int status = answer.getInteger("status", 502);
        answer.remove("status");
        LOG.info("console: replay of job {} of destination {} on node {}: {} {}", jobId,
            io.eventpipe.gateway.Text.forLog(destination), node, status, answer.encode());
        if (json) {
          InternalHttp.json(req.response(), status, answer);
        } else if (status == 200) {
          req.response().putHeader("Location", PATH).setStatusCode(303).end();
        } else {
          html(req.response(), status, "<!doctype html><p>" + esc(answer.getString("error", "replay failed")) + "</p><p><a href=\""
              + PATH + "\">back</a></p>");
        }
      }).onFailure(e -> failed(req.response(), e));
    });
  }

  /** An urlencoded form body (at most {@value #MAX_FORM} bytes, within the body deadline); a refusal is answered. */
  private Future<Map<String, String>> readForm(HttpServerRequest req) {
    BodyReader reader = new BodyReader(vertx, req, MAX_FORM, bodyTimeoutMs, budget);
    return reader.read().onComplete(ar -> reader.release()).map(Console::parseForm).onFailure(err ->
        InternalHttp.refuseBody(vertx, req, err, MAX_FORM, bodyTimeoutMs, e -> InternalHttp.error(req.response(),
            e instanceof io.eventpipe.gateway.GatewayException g ? g.status() : 400, "the form could not be read")));
  }

  static Map<String, String> parseForm(Buffer body) {
    Map<String, String> form = new HashMap<>();
    for (String pair : body.toString(StandardCharsets.UTF_8).split("&")) {
      int eq = pair.indexOf('=');
      if (eq > 0) {
        try {
          form.put(URLDecoder.decode(pair.substring(0, eq), StandardCharsets.UTF_8),
              URLDecoder.decode(pair.substring(eq + 1), StandardCharsets.UTF_8));
        } catch (IllegalArgumentException e) {
          // a malformed escape: the field is left out
        }
      }
    }
    return form;
  }

  // ------------------------------------------------------------------ rendering

  private Future<String> view() {
    return store().compose(s -> cluster.read(s, true, 10)).map(this::render);
  }

  private synchronized Future<ControlStore> store() {
    if (store == null || store.failed()) {
      store = ControlStore.open(vertx, control);
    }
    return store;
  }

  /** The page's {@code <main>}: every section, rendered from one reading. */
  String render(ClusterView.View v) {
    StringBuilder out = new StringBuilder();
    out.append("<section id=\"topology\"><h2>Topology</h2>");
    if (v.topology().isEmpty()) {
      out.append("<p>The cluster is not initialized yet.</p></section>");
      return out.toString();
    }
    Topology t = v.topology().get();
    out.append(String.format(Locale.ROOT, "<p>epoch <b id=\"epoch\">%d</b>: %d partitions over %d nodes%s</p>", t.epoch(),
        t.partitionCount(), v.cluster().nodeCount(), v.cluster().unavailablePartitions() == 0 ? ""
            : " <span class=\"bad\">STRANDED: " + v.cluster().unavailablePartitions() + " partitions owned by nodes that are down "
                + v.cluster().downNodes() + "</span>"));
    out.append("<table><thead><tr><th>node</th><th>address</th><th>health</th><th>partitions</th><th>moved away / incoming</th>"
        + "<th>pending ingest</th><th>oldest ingest</th></tr></thead><tbody>");
    for (ClusterView.NodeView n : v.nodes()) {
      JsonObject s = n.status();
      String health = s == null ? "<span class=\"bad\">down</span> " + esc(n.error())
          : s.containsKey("error") ? "<span class=\"bad\">" + esc(s.getString("error")) + "</span>"
          : s.getBoolean("ready", false) ? "<span class=\"ok\">ready</span>" : "<span class=\"warn\">starting</span>";
      String moving = !n.up() ? "" : movingCell(s);
      out.append(String.format(Locale.ROOT, "<tr data-node=\"%d\"><td>%d</td><td>%s</td><td>%s</td><td><progress max=\"%d\" value=\"%d\">"
              + "</progress> %d</td><td>%s</td><td>%s</td><td>%s</td></tr>", n.node(), n.node(), esc(n.address()), health,
          t.partitionCount(), n.partitions(), n.partitions(), moving, n.up() ? String.valueOf(s.getLong("pendingIngest", 0L)) : "",
          n.up() ? seconds(s.getJsonObject("autoscaling", new JsonObject()).getJsonObject("ingest", new JsonObject())
              .getDouble("oldestAgeSeconds", 0.0)) : ""));
    }
    out.append("</tbody></table></section>");
    destinations(out, v);
    migration(out, v);
    deadLetters(out, v);
    decisions(out, v);
    return out.toString();
  }

  private static String movingCell(JsonObject s) {
    int fenced = s.getInteger("fencedPartitions", 0);
    int held = s.getInteger("heldPartitions", 0);
    return fenced == 0 && held == 0 ? "" : fenced + " / " + held;
  }

  /** Per destination: pending jobs and backlog age, the cluster's (sum, oldest) and each node's. */
  private static void destinations(StringBuilder out, ClusterView.View v) {
    Map<String, Map<Integer, JsonObject>> byDestination = new TreeMap<>();
    for (ClusterView.NodeView n : v.nodes()) {
      if (!n.up()) {
        continue;
      }
      JsonObject d = n.status().getJsonObject("autoscaling", new JsonObject()).getJsonObject("destinations", new JsonObject());
      for (String id : d.fieldNames()) {
        byDestination.computeIfAbsent(id, k -> new TreeMap<>()).put(n.node(), d.getJsonObject(id));
      }
    }
    out.append("<section id=\"destinations\"><h2>Destinations</h2>");
    if (byDestination.isEmpty()) {
      out.append("<p>No destination has had jobs yet.</p></section>");
      return;
    }
    out.append("<table><thead><tr><th>destination</th><th>pending</th><th>backlog age</th><th>delivered</th>"
        + "<th>failed attempts</th><th>per node (pending, age)</th></tr></thead><tbody>");
    for (Map.Entry<String, Map<Integer, JsonObject>> e : byDestination.entrySet()) {
      long pending = 0;
      long delivered = 0;
      long failed = 0;
      double age = 0;
      StringBuilder perNode = new StringBuilder();
      for (Map.Entry<Integer, JsonObject> n : e.getValue().entrySet()) {
        JsonObject d = n.getValue();
        pending += d.getLong("pending", 0L);
        delivered += d.getLong("delivered", 0L);
        failed += d.getLong("failedAttempts", 0L);
        age = Math.max(age, d.getDouble("oldestAgeSeconds", 0.0));
        perNode.append(perNode.length() == 0 ? "" : "; ").append("node ").append(n.getKey()).append(": ")
            .append(d.getLong("pending", 0L)).append(", ").append(seconds(d.getDouble("oldestAgeSeconds", 0.0)));
      }
      out.append(String.format(Locale.ROOT, "<tr class=\"destination\" data-destination=\"%s\" data-pending=\"%d\" data-age=\"%.1f\">"
              + "<td>%s</td><td>%d</td><td>%s</td><td>%d</td><td>%d</td><td>%s</td></tr>", esc(e.getKey()), pending, age,
          esc(e.getKey()), pending, seconds(age), delivered, failed, esc(perNode.toString())));
    }
    out.append("</tbody></table><div id=\"backlog-chart\" class=\"chart\" aria-label=\"backlog age per destination\"></div></section>");
  }

  /** The migration in progress: its steps, partitions copied, jobs moved, the rate this console saw, and time left. */
  private void migration(StringBuilder out, ClusterView.View v) {
    out.append("<section id=\"migration\"><h2>Migration</h2>");
    if (v.cluster().migration().isEmpty()) {
      synchronized (this) {
        samples.clear();
        sampled = null;
      }
      out.append("<p id=\"migration-none\">No migration is in progress.</p></section>");
      return;
    }
    Migration m = v.cluster().migration().get();
    long copied = m.moves().stream().filter(Migration.Move::copied).count();
    double[] rates = sample(m.id(), m.jobsMoved(), copied);
    long partitionsLeft = m.moves().size() - copied;
    Long total = v.migrationJobsTotal().orElse(null);
    // by jobs once the migrator recorded how many its copy moves, else by partitions (a pair's are marked all at once)
    String left;
    String basis;
    if (total != null && total > 0 && m.step().ordinal() < Migration.Step.COPIED.ordinal()) {
      basis = "from the jobs left and the rate";
      long jobsLeft = Math.max(0, total - m.jobsMoved());
      left = jobsLeft == 0 ? "0 s" : rates[0] > 0 ? Math.round(jobsLeft / rates[0]) + " s" : "?";
    } else {
      basis = "from the partitions copied so far";
      left = partitionsLeft == 0 ? "0 s" : rates[1] > 0 ? Math.round(partitionsLeft / rates[1]) + " s" : "?";
    }
    long barMax = total != null && total > 0 ? total : Math.max(1, m.moves().size());
    long barValue = m.step() == Migration.Step.FINISHED ? barMax : total != null && total > 0 ? Math.min(total, m.jobsMoved()) : copied;
    out.append(String.format(Locale.ROOT, "<div id=\"migration-progress\" data-id=\"%s\" data-step=\"%s\" data-jobs-moved=\"%d\""
            + " data-partitions-copied=\"%d\" data-partitions=\"%d\">", esc(m.id()), step(m.step()), m.jobsMoved(), copied,
        m.moves().size()));
    out.append(String.format(Locale.ROOT, "<p>%s: %d &rarr; %d nodes, started %s%s%s</p>", esc(m.id()), m.fromNodes(), m.toNodes(),
        esc(String.valueOf(m.startedAt())), m.abortRequested() ? ", <span class=\"warn\">abort requested</span>" : "",
        m.error() == null ? "" : ", <span class=\"bad\">last error: " + esc(m.error()) + "</span>"));
    out.append("<ol class=\"steps\">");
    for (Migration.Step s : Migration.Step.values()) {
      if (s == Migration.Step.ABORTED) {
        continue;
      }
      String cls = s.ordinal() < m.step().ordinal() ? "done" : s == m.step() ? "current" : "todo";
      out.append("<li class=\"").append(cls).append("\">").append(step(s)).append("</li>");
    }
    out.append("</ol>");
    out.append(String.format(Locale.ROOT, "<p><progress max=\"%d\" value=\"%d\"></progress> partitions copied <b>%d/%d</b>,"
            + " jobs moved <b id=\"jobs-moved\">%d</b>%s, <b id=\"rate\">%s</b> jobs/s, time left <b id=\"time-left\">%s</b>"
            + " (%s)</p>", barMax, barValue, copied, m.moves().size(), m.jobsMoved(),
        total == null ? "" : " of <b id=\"jobs-total\">" + total + "</b>",
        rates[0] < 0 ? "?" : String.format(Locale.ROOT, "%,.0f", rates[0]), left, basis));
    out.append("<p class=\"note\">Until the finish step, the copied jobs still count in their source's pending jobs too.</p></div>");
    out.append("<div id=\"migration-chart\" class=\"chart\" aria-label=\"jobs moved\"></div></section>");
  }

  /**
   * Records a reading of the migration's progress and returns {jobs per second over the last 10 s, partitions copied
   * per second since this console first saw the migration}; -1 / 0 when not known yet.
   */
  private synchronized double[] sample(String id, long jobsMoved, long copied) {
    long now = System.nanoTime();
    if (!id.equals(sampled)) {
      samples.clear();
      sampled = id;
    }
    if (samples.isEmpty() || now - samples.peekLast()[0] >= 500_000_000L) {
      samples.addLast(new long[] {now, jobsMoved, copied});
    }
    long[] first = samples.peekFirst();
    long[] recent = first;
    for (long[] s : samples) {
      if (now - s[0] <= 10_000_000_000L) {
        recent = s;
        break;
      }
    }
    long[] last = samples.peekLast();
    double window = (last[0] - recent[0]) / 1e9;
    double jobsRate = window < 0.9 ? -1 : (last[1] - recent[1]) / window;
    double all = (last[0] - first[0]) / 1e9;
    double partitionRate = all < 0.9 ? 0 : (last[2] - first[2]) / all;
    while (samples.size() > 600) {
      samples.removeFirst();
    }
    return new double[] {jobsRate, partitionRate};
  }

  /** Dead letters (aborted jobs) per destination and node, each with a replay button. */
  private static void deadLetters(StringBuilder out, ClusterView.View v) {
    out.append("<section id=\"dead-letters\"><h2>Dead letters</h2>");
    int shown = 0;
    for (ClusterView.NodeView n : v.nodes()) {
      for (ClusterView.DeadLetters d : n.deadLetters()) {
        if (d.jobs().isEmpty()) {
          continue;
        }
        shown++;
        out.append(String.format(Locale.ROOT, "<h3>%s on node %d%s</h3>", esc(d.destination()), n.node(),
            d.more() ? " (the oldest " + ClusterView.DEAD_LETTERS_SHOWN + ")" : ""));
        out.append("<table><thead><tr><th>job</th><th>user</th><th>received</th><th>attempts</th><th>last error</th><th></th>"
            + "</tr></thead><tbody>");
        JsonArray jobs = d.jobs();
        for (int i = 0; i < jobs.size(); i++) {
          JsonObject j = jobs.getJsonObject(i);
          long jobId = j.getLong("jobId");
          out.append(String.format(Locale.ROOT, "<tr class=\"dead-letter\" data-node=\"%d\" data-destination=\"%s\" data-job=\"%d\">"
                  + "<td>%d</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td><form method=\"post\" action=\"%s/replay\""
                  + " class=\"replay\"><input type=\"hidden\" name=\"node\" value=\"%d\"><input type=\"hidden\" name=\"destination\""
                  + " value=\"%s\"><input type=\"hidden\" name=\"jobId\" value=\"%d\"><button type=\"submit\">replay</button>"
                  + "</form></td></tr>", n.node(), esc(d.destination()), jobId, jobId, esc(j.getString("routingKey")),
              esc(j.getString("receivedAt")), j.getInteger("attempts", 0), esc(j.getString("lastError")), PATH, n.node(),
              esc(d.destination()), jobId));
        }
        out.append("</tbody></table>");
      }
    }
    if (shown == 0) {
      out.append("<p id=\"no-dead-letters\">No dead letters.</p>");
    }
    out.append("</section>");
  }

  private static void decisions(StringBuilder out, ClusterView.View v) {
    out.append("<section id=\"autoscaler\"><h2>Autoscaler, last decisions</h2>");
    if (v.decisionsError() != null) {
      out.append("<p class=\"bad\">cannot be read: ").append(esc(v.decisionsError())).append("</p>");
    } else if (v.decisions().isEmpty()) {
      out.append("<p>No decision recorded (the autoscaler is off, or has not decided yet).</p>");
    } else {
      out.append("<ul class=\"decisions\">");
      for (DecisionStore.Stored d : v.decisions()) {
        out.append("<li>").append(esc(d.line().trim())).append("</li>");
      }
      out.append("</ul>");
    }
    out.append("</section>");
  }

  private static String page(String main) {
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>eventpipe console</title><link rel=\"icon\" href=\"data:,\">"
        + "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        + "<link rel=\"stylesheet\" href=\"" + PATH + "/static/uPlot.min.css\"><link rel=\"stylesheet\" href=\"" + PATH
        + "/static/console.css\"></head><body><header><h1>eventpipe console</h1><span id=\"updated\"></span>"
        + "<form method=\"post\" action=\"" + PATH + "/logout\"><button type=\"submit\">sign out</button></form></header>"
        + "<main id=\"view\">" + main + "</main>"
        + "<footer>Charts by <a href=\"" + PATH + "/static/LICENSE-uPlot.txt\">uPlot</a> (MIT).</footer>"
        + "<script src=\"" + PATH + "/static/uPlot.iife.min.js\"></script><script src=\"" + PATH + "/static/console.js\"></script>"
        + "</body></html>";
  }

  private static String loginPage(String error) {
    return "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>eventpipe console: sign in</title><link rel=\"icon\" href=\"data:,\">"
        + "<link rel=\"stylesheet\" href=\"" + PATH + "/static/console.css\"></head><body><main class=\"login\">"
        + "<h1>eventpipe console</h1>" + (error == null ? "" : "<p class=\"bad\" id=\"login-error\">" + esc(error) + "</p>")
        + "<form method=\"post\" action=\"" + PATH + "/login\"><label>Admin token <input type=\"password\" name=\"token\""
        + " id=\"token\" autocomplete=\"current-password\" required></label> <button type=\"submit\" id=\"sign-in\">sign in"
        + "</button></form><p>The token is the cluster's admin token (<code>pipeline-data/admin-token</code> for"
        + " <code>pipeline local</code>). It is sent once in this form's body; the session is a cookie scripts cannot"
        + " read, for 12 hours.</p></main></body></html>";
  }

  private void serveStatic(HttpServerRequest req, String name) {
    String type = STATIC.get(name);
    if (type == null || !allow(req, HttpMethod.GET)) {
      if (type == null) {
        InternalHttp.error(req.response(), 404, "no such console file");
      }
      return;
    }
    req.response().putHeader("Content-Type", type).putHeader("Cache-Control", "max-age=300").end(Buffer.buffer(files.get(name)));
  }

  private static void html(HttpServerResponse resp, int status, String html) {
    if (resp.ended() || resp.closed()) {
      return;
    }
    resp.setStatusCode(status).putHeader("Content-Type", "text/html; charset=utf-8").putHeader("Cache-Control", "no-store")
        .end(html);
  }

  private static void failed(HttpServerResponse resp, Throwable e) {
    InternalHttp.internalError(resp, 503, "the console cannot read the cluster right now; try again", LOG,
        "console: reading the cluster failed", e);
  }

  private static boolean allow(HttpServerRequest req, HttpMethod method) {
    if (req.method().equals(method)) {
      return true;
    }
    req.response().putHeader("Allow", method.name());
    InternalHttp.error(req.response(), 405, req.method() + " is not allowed here; use " + method.name());
    return false;
  }

  private static String step(Migration.Step s) {
    return s.name().toLowerCase(Locale.ROOT);
  }

  private static String seconds(double s) {
    return s < 10 ? String.format(Locale.ROOT, "%.1f s", s) : String.format(Locale.ROOT, "%,.0f s", s);
  }

  static String esc(String s) {
    if (s == null) {
      return "";
    }
    StringBuilder out = new StringBuilder(s.length());
    for (char c : s.toCharArray()) {
      switch (c) {
        case '<' -> out.append("&lt;");
        case '>' -> out.append("&gt;");
        case '&' -> out.append("&amp;");
        case '"' -> out.append("&quot;");
        case '\'' -> out.append("&#39;");
        default -> out.append(c);
      }
    }
    return out.toString();
  }

  @Override
  public void close() {
    client.close();
    Future<ControlStore> s;
    synchronized (this) {
      s = store;
      store = null;
    }
    if (s != null) {
      s.onSuccess(ControlStore::closeAsync);
    }
  }
}
