package io.eventpipe.launcher;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * A local Amplitude HTTP V2 API ({@code /2/httpapi}) or Mixpanel {@code /import} for a kill -9 test: checks each
 * request's envelope (path, key or token, {@code strict=1}, at most 2,000 events) and each event's insert id, answers
 * 200 as the vendor does, and records every copy of every event it took: user, seq, insert id, and whether it came
 * before or after the kill ({@link #phase}). The vendors drop a repeated insert id, so what a test checks is that a
 * redelivery carries the same insert id as the first copy and happens only across the kill.
 */
final class VendorRecorder implements AutoCloseable {

  /** One copy of an event as it arrived. */
  record Copy(String user, int seq, String insertId, int phase, long arrival) {}

  private final boolean amplitude;
  private final HttpServer server;
  private final List<Copy> copies = new ArrayList<>();
  private final List<String> violations = new ArrayList<>();
  /** 0 before the kill, 1 after it: set by the test once the node process is dead. */
  volatile int phase;
  private long arrivals;

  VendorRecorder(boolean amplitude) throws IOException {
    this.amplitude = amplitude;
    server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.createContext("/", this::handle);
    server.start();
  }

  String name() {
    return amplitude ? "amplitude" : "mixpanel";
  }

  String url() {
    return "http://127.0.0.1:" + server.getAddress().getPort() + (amplitude ? "/2/httpapi" : "/import");
  }

  synchronized List<Copy> copies() {
    return List.copyOf(copies);
  }

  synchronized List<String> violations() {
    return List.copyOf(violations);
  }

  synchronized long distinctInsertIds() {
    return copies.stream().map(Copy::insertId).distinct().count();
  }

  private void handle(HttpExchange x) throws IOException {
    byte[] body;
    try (InputStream in = x.getRequestBody()) {
      body = in.readAllBytes();
    }
    int status = 200;
    try {
      List<Copy> taken = new ArrayList<>();
      List<String> wrong = new ArrayList<>();
      if (amplitude) {
        JsonObject o = new JsonObject(new String(body, StandardCharsets.UTF_8));
        JsonArray events = o.getJsonArray("events");
        if (!"/2/httpapi".equals(x.getRequestURI().getPath()) || !"kill-amp-key".equals(o.getString("api_key"))
            || events.size() > 2000 || body.length > 1024 * 1024) {
          wrong.add("amplitude request " + x.getRequestURI() + " of " + body.length + " bytes");
        }
        for (Object e : events) {
          JsonObject ev = (JsonObject) e;
          String id = ev.getString("insert_id");
          if (ev.getString("event_type") == null || id == null || ev.getString("user_id") == null) {
            wrong.add("amplitude event " + ev);
          }
          taken.add(new Copy(ev.getString("user_id"), ev.getJsonObject("event_properties").getInteger("seq"), id, 0, 0));
        }
      } else {
        JsonArray events = new JsonArray(new String(body, StandardCharsets.UTF_8));
        if (!"/import".equals(x.getRequestURI().getPath()) || !"strict=1".equals(x.getRequestURI().getQuery())
            || x.getRequestHeaders().getFirst("Authorization") == null || events.size() > 2000) {
          wrong.add("mixpanel request " + x.getRequestURI());
        }
        for (Object e : events) {
          JsonObject p = ((JsonObject) e).getJsonObject("properties");
          String id = p.getString("$insert_id");
          if (((JsonObject) e).getString("event") == null || id == null || !id.matches("[A-Za-z0-9-]{1,36}")
              || p.getString("distinct_id") == null) {
            wrong.add("mixpanel event " + e);
          }
          taken.add(new Copy(p.getString("distinct_id"), p.getInteger("seq"), id, 0, 0));
        }
      }
      synchronized (this) {
        violations.addAll(wrong);
        for (Copy c : taken) {
          copies.add(new Copy(c.user(), c.seq(), c.insertId(), phase, ++arrivals));
        }
      }
    } catch (RuntimeException e) {
      synchronized (this) {
        violations.add("unreadable " + name() + " request: " + e);
      }
      status = 400;
    }
    byte[] out = (amplitude ? "{\"code\":" + status + "}" : "{\"code\":" + status + ",\"num_records_imported\":1,\"status\":\"OK\"}")
        .getBytes(StandardCharsets.UTF_8);
    x.getResponseHeaders().add("Content-Type", "application/json");
    x.sendResponseHeaders(status, out.length);
    x.getResponseBody().write(out);
    x.close();
  }

  /**
   * What the copies break, per user: an event never arrived; an event's first copy came after a later event's first
   * copy (order); a repeat that is not across the kill (its first copy before it, the repeat after: the requests in
   * flight when the node died, sent again by the restarted node); a repeat with another insert id (the vendor would
   * keep both).
   */
  synchronized List<String> anomalies(int users, int perUser) {
    List<String> out = new ArrayList<>(violations);
    Map<String, Map<Integer, Copy>> first = new HashMap<>();
    Map<String, Integer> lastFirst = new HashMap<>();
    for (Copy c : copies) {
      Map<Integer, Copy> mine = first.computeIfAbsent(c.user(), u -> new HashMap<>());
      Copy before = mine.putIfAbsent(c.seq(), c);
      if (before == null) {
        Integer last = lastFirst.put(c.user(), c.seq());
        if (last != null && last > c.seq()) {
          out.add(name() + ": " + c.user() + " #" + c.seq() + " first arrived after #" + last);
        }
      } else {
        if (!before.insertId().equals(c.insertId())) {
          out.add(name() + ": " + c.user() + " #" + c.seq() + " again with another insert id: " + before.insertId()
              + " then " + c.insertId());
        }
        if (before.phase() != 0 || c.phase() != 1) {
          out.add(name() + ": " + c.user() + " #" + c.seq() + " twice, not across the kill (phases " + before.phase()
              + " and " + c.phase() + ")");
        }
      }
    }
    for (int u = 0; u < users; u++) {
      Map<Integer, Copy> mine = first.getOrDefault("user-" + u, Map.of());
      for (int seq = 1; seq <= perUser; seq++) {
        if (!mine.containsKey(seq)) {
          out.add(name() + ": user-" + u + " #" + seq + " never arrived");
        }
      }
    }
    return out;
  }

  /** How many copies repeated an event taken before. */
  synchronized long repeats() {
    return copies.size() - copies.stream().map(c -> c.user() + "#" + c.seq()).distinct().count();
  }

  @Override
  public void close() {
    server.stop(0);
    ((ExecutorService) server.getExecutor()).shutdownNow();
  }
}
