package io.eventpipe.node.admin;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.gateway.http.GatewayOptions;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.Node;
import io.eventpipe.node.NodeOptions;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import io.eventpipe.testing.RawHttp;
import io.vertx.core.Vertx;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 14: the admin API read its replay body with no deadline, so a client holding the admin token could trickle it
 * and hold its connection and bytes for ever. Every body read on a node's internal port now has the public API's body
 * deadline ({@code --body-timeout-ms}) and the port's byte budget (the gateway's BodyReader): tricklers get a 408 and
 * a closed connection while other admin requests are served, and bodies past the cap a 413, with or without a
 * Content-Length. A body nobody reads (a request answered without it) no longer holds its connection either.
 */
@ExtendWith(PostgresExtension.class)
class AdminBodyDeadlineTest {

  private static final String TOKEN = "admin-body-deadline-token-0123456789";
  private static final long BODY_TIMEOUT_MS = 1000;
  private static final String REPLAY = "/admin/v1/destinations/hook/replay";

  private final HttpClient http = HttpClient.newHttpClient();
  private int port;

  @Test
  void aTricklingReplayBodyGets408WhileOtherAdminRequestsAreServed(PgDatabase db, @TempDir Path dir) throws Exception {
    Path workspace = dir.resolve("workspace.yaml");
    Files.writeString(workspace, """
        egress: {allow: [127.0.0.0/8]}
        sources: [{id: s, writeKey: admin-body-write-key}]
        destinations: [{id: hook, type: webhook, sources: [s], config: {url: "http://127.0.0.1:9/hook"}}]
        """);
    Vertx vertx = Vertx.vertx();
    Node node = await(new Node(vertx, NodeOptions.standalone(0, new PgConfig(db.host(), db.port(), db.database(), db.user(),
        db.password()), 8, GatewayOptions.defaults(0).withHost("127.0.0.1").withBodyTimeoutMs(BODY_TIMEOUT_MS), "127.0.0.1",
        0, TOKEN, workspace).withAllowNonDurableDatabase(true)).start());
    port = node.internalPort();
    AtomicBoolean stop = new AtomicBoolean();
    List<Socket> tricklers = new ArrayList<>();
    try {
      for (int i = 0; i < 3; i++) {
        Socket s = RawHttp.connect(port);
        tricklers.add(s);
        Thread t = new Thread(() -> trickle(s, "POST " + REPLAY + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN
            + "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"all\": ", stop), "trickler-" + i);
        t.setDaemon(true);
        t.start();
      }
      // innocent admin requests, while the tricklers hold their connections, past the body deadline
      for (int i = 0; i < 20; i++) {
        assertEquals(200, send("GET", "/admin/v1/destinations", null).statusCode());
        HttpResponse<String> replay = send("POST", REPLAY, "{\"all\": true}");
        assertEquals(200, replay.statusCode(), replay.body());
        assertTrue(replay.body().contains("\"replayed\":0"), replay.body());
      }
      for (Socket s : tricklers) {
        String answer = RawHttp.readResponse(s.getInputStream());
        assertTrue(answer.startsWith("HTTP/1.1 408"), "a trickled body is refused at the body deadline: " + answer);
        assertTrue(answer.contains("within " + BODY_TIMEOUT_MS + " ms"), answer);
        RawHttp.awaitClosedByServer(s);
      }

      // a body nobody reads (answered 401, or a GET that ignores it), trickled with or without a token: the
      // connection closes after the answer, within the body deadline, instead of being read and discarded for ever
      for (String head : new String[] {"GET /admin/v1/destinations HTTP/1.1\r\nHost: x\r\n",
          "GET /health/live HTTP/1.1\r\nHost: x\r\n",
          "GET /admin/v1/destinations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN + "\r\n"}) {
        try (Socket s = RawHttp.connect(port)) {
          Thread t = new Thread(() -> trickle(s, head + "Content-Length: 100000\r\n\r\n", stop), "unread-trickler");
          t.setDaemon(true);
          t.start();
          String answer = RawHttp.readResponse(s.getInputStream());
          assertTrue(answer.startsWith("HTTP/1.1 401") || answer.startsWith("HTTP/1.1 200"), answer);
          assertEquals(200, send("GET", "/admin/v1/destinations", null).statusCode(), "others are served meanwhile");
          RawHttp.awaitClosedByServer(s);
        }
      }

      // past the cap: refused, with a declared length and without one (chunked)
      String big = "{\"jobIds\": [" + "1,".repeat(AdminApi.MAX_BODY / 2) + "1]}";
      HttpResponse<String> declared = send("POST", REPLAY, big);
      assertEquals(413, declared.statusCode(), declared.body());
      HttpResponse<String> chunked = http.send(authorized(REPLAY).POST(HttpRequest.BodyPublishers.ofInputStream(
          () -> new java.io.ByteArrayInputStream(big.getBytes(StandardCharsets.US_ASCII)))).build(),
          HttpResponse.BodyHandlers.ofString());
      assertEquals(413, chunked.statusCode(), chunked.body());
      assertEquals(200, send("POST", REPLAY, "{\"all\": true}").statusCode(), "served after the refusals");
    } finally {
      stop.set(true);
      for (Socket s : tricklers) {
        s.close();
      }
      await(node.stop());
      await(vertx.close());
    }
  }

  /** Sends {@code head} (complete headers, maybe a body's start), then the body one byte every 50 ms. */
  private static void trickle(Socket s, String head, AtomicBoolean stop) {
    try {
      OutputStream out = s.getOutputStream();
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.flush();
      while (!stop.get()) {
        out.write(' ');
        out.flush();
        Thread.sleep(50);
      }
    } catch (IOException | InterruptedException closed) {
      // closed by the node: what the test waits for
    }
  }

  private HttpRequest.Builder authorized(String path) {
    return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).header("Authorization", "Bearer " + TOKEN);
  }

  private HttpResponse<String> send(String method, String path, String body) throws Exception {
    return http.send(authorized(path).method(method, body == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
  }
}
