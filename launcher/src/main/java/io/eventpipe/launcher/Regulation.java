package io.eventpipe.launcher;

import io.eventpipe.control.ControlStore;
import io.eventpipe.routing.Topology;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * {@code pipeline regulation suppress|delete|list --user ID}: records a privacy regulation through a node's admin API
 * ({@code POST /admin/v1/regulations}) and waits until every node of the topology applied it, or lists them
 * ({@code GET}). Reaches the cluster as {@code pipeline status} does: {@code --data-dir DIR} of a running
 * {@code pipeline local}, or {@code --control-url} (read-only role) with {@code --admin-token}. Progress and exit codes
 * follow {@link StatusLine}: 0 applied everywhere (or listed), 1 failed or not applied within {@code --wait-seconds}
 * (rerun: a request is idempotent), 2 bad usage.
 */
final class Regulation {

  private Regulation() {}

  static int run(String action, Flags flags) throws Exception {
    String kind = switch (action) {
      case "suppress" -> flags.bool("delete", false) ? "suppress_delete" : "suppress";
      case "delete" -> flags.bool("suppress", false) ? "suppress_delete" : "delete";
      case "list" -> null;
      default -> throw new Flags.BadFlag("unknown action '" + action + "': suppress, delete or list");
    };
    String user = flags.string("user", null);
    if (kind != null && (user == null || user.isEmpty())) {
      throw new Flags.BadFlag("--user ID is required (matches events whose userId or anonymousId is ID)");
    }
    if (user != null && user.length() > 512) {
      throw new Flags.BadFlag("--user is longer than 512 characters");
    }
    int waitSeconds = flags.integer("wait-seconds", 120, 0, 86_400);
    String by = flags.string("requested-by", System.getProperty("user.name", "unknown") + " (pipeline regulation)");
    StatusLine status = new StatusLine(System.out, flags.string("progress", "auto"));
    Status.Target target = Status.target(flags);
    Vertx vertx = Vertx.vertx();
    HttpClientAgent client = vertx.createHttpClient();
    try {
      Topology topology = ControlStore.open(vertx, target.control()).compose(store -> store.current().eventually(store::closeAsync))
          .toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS)
          .orElseThrow(() -> new Flags.BadFlag("the cluster is not initialized yet"));
      if (kind == null) {
        JsonObject list = call(client, topology, target.token(), HttpMethod.GET, null);
        print(list, user);
        return 0;
      }
      JsonObject created = call(client, topology, target.token(), HttpMethod.POST,
          new JsonObject().put("kind", kind).put("userId", user).put("requestedBy", by));
      long id = created.getLong("id");
      status.line(String.format(Locale.ROOT, "regulation %d: %s of user %s %s (requested by %s at %s)", id, kind, user,
          created.getBoolean("created") ? "recorded" : "was recorded before", created.getString("requestedBy"),
          created.getString("requestedAt")));
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(waitSeconds);
      long lastLine = 0;
      while (true) {
        JsonObject list;
        try {
          list = call(client, topology, target.token(), HttpMethod.GET, null);
        } catch (ExecutionException e) {
          boolean refused = e.getCause() instanceof IllegalStateException ise && ise.getMessage().contains(" answered 4");
          if (refused || System.nanoTime() > deadline) {
            throw e;
          }
          // one poll that failed (a node restarting, an answer that was not the list): said, and polled again
          System.err.println("pipeline regulation: polling the regulation's status failed, retrying: " + e.getCause().getMessage());
          Thread.sleep(500);
          continue;
        }
        JsonObject mine = null;
        for (Object o : list.getJsonArray("regulations")) {
          if (((JsonObject) o).getLong("id") == id) {
            mine = (JsonObject) o;
          }
        }
        if (mine == null) {
          status.done();
          System.err.println("pipeline regulation: regulation " + id + " is not in the list the cluster returned");
          return 1;
        }
        JsonArray expected = list.getJsonArray("nodes");
        List<Integer> applied = new ArrayList<>();
        long removed = 0;
        for (Object o : mine.getJsonArray("nodes")) {
          JsonObject n = (JsonObject) o;
          if ("applied".equals(n.getString("status")) && expected.contains(n.getInteger("node"))) {
            applied.add(n.getInteger("node"));
            removed += n.getLong("removed");
          }
        }
        String line = String.format(Locale.ROOT, "regulation %d  applied on %d/%d nodes  rows removed %,d", id, applied.size(),
            expected.size(), removed);
        status.draw(expected.isEmpty() ? 1 : (double) applied.size() / expected.size(), line);
        if (!status.isBar() && System.nanoTime() - lastLine > TimeUnit.SECONDS.toNanos(5)) {
          System.out.println(line);
          lastLine = System.nanoTime();
        }
        if (mine.getBoolean("complete")) {
          status.done();
          System.out.println(String.format(Locale.ROOT, "regulation %d applied on every node (%s): %,d rows removed", id,
              expected.encode(), removed));
          return 0;
        }
        if (System.nanoTime() > deadline) {
          status.done();
          System.err.println("pipeline regulation: regulation " + id + " is applied on nodes " + applied + " of " + expected.encode()
              + " after " + waitSeconds + " s; it stays recorded and the other nodes apply it when they run: check with"
              + " `pipeline regulation list`");
          return 1;
        }
        Thread.sleep(500);
      }
    } catch (ExecutionException e) {
      status.done();
      System.err.println("pipeline regulation: " + e.getCause().getMessage());
      return 1;
    } finally {
      client.close();
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }
  }

  private static void print(JsonObject list, String user) {
    JsonArray nodes = list.getJsonArray("nodes");
    int shown = 0;
    for (Object o : list.getJsonArray("regulations")) {
      JsonObject r = (JsonObject) o;
      if (user != null && !user.equals(r.getString("userId"))) {
        continue;
      }
      shown++;
      StringBuilder per = new StringBuilder();
      for (Object n : r.getJsonArray("nodes")) {
        JsonObject s = (JsonObject) n;
        per.append(String.format(Locale.ROOT, " node %d %s (%d removed, %s)", s.getInteger("node"), s.getString("status"),
            s.getLong("removed"), s.getString("updatedAt")));
      }
      System.out.println(String.format(Locale.ROOT, "%-5d %-16s user %-24s by %s at %s: %s;%s", r.getLong("id"), r.getString("kind"),
          r.getString("userId"), r.getString("requestedBy"), r.getString("requestedAt"),
          r.getBoolean("complete") ? "applied on every node " + nodes.encode() : "PENDING on some of " + nodes.encode(),
          per.length() == 0 ? " no node yet" : per));
    }
    if (shown == 0) {
      System.out.println(user == null ? "no regulations" : "no regulation names user " + user);
    }
  }

  /** One admin API call, to the first node of the topology that answers. */
  private static JsonObject call(HttpClientAgent client, Topology t, String token, HttpMethod method, JsonObject body)
      throws Exception {
    Exception last = null;
    for (int node : t.nodes()) {
      String address = t.addressOf(node);
      try {
        return client.request(new RequestOptions().setMethod(method).setAbsoluteURI("http://" + address + "/admin/v1/regulations")
                .putHeader("Authorization", "Bearer " + token).putHeader("Content-Type", "application/json").setIdleTimeout(30_000))
            .compose(r -> (body == null ? r.send() : r.send(Buffer.buffer(body.encode()))))
            .compose(r -> r.body().map(b -> {
              if (r.statusCode() != 200 && r.statusCode() != 201) {
                throw new IllegalStateException("node " + node + " (" + address + ") answered " + r.statusCode() + ": " + b);
              }
              try {
                return new JsonObject(b);
              } catch (io.vertx.core.json.DecodeException e) {
                throw new IllegalStateException("node " + node + " (" + address + ") answered " + method + " with "
                    + r.statusCode() + ", Content-Type " + r.getHeader("Content-Type") + ", Content-Length "
                    + r.getHeader("Content-Length") + " and " + b.length() + " bytes that are not JSON: " + e.getMessage());
              }
            }))
            .toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
      } catch (ExecutionException e) {
        last = e;
        if (e.getCause() instanceof IllegalStateException ise && ise.getMessage().contains(" answered 4")) {
          throw e; // refused (token, request): another node answers the same
        }
      }
    }
    throw last != null ? last : new IllegalStateException("the topology has no nodes");
  }

}
