package io.eventpipe.testing;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real headless Chromium driven over the Chrome DevTools Protocol, with nothing but the JDK: the browser is started
 * with {@code --remote-debugging-port=0}, the page target's WebSocket is opened with {@link HttpClient}, and commands
 * are JSON messages ({@code Page.navigate}, {@code Runtime.evaluate}). Everything the page reports as an error (an
 * uncaught exception, {@code console.error}, a failed load or a Content-Security-Policy violation from the browser's
 * log) is collected in {@link #errors()}.
 */
public final class HeadlessChromium implements AutoCloseable {

  /** How to get the browser where it is missing, for the message of a skipped test. */
  public static final String INSTALL = "apt-get install -y chromium (Debian; or set -Dchromium.path=/path/to/chromium)";

  private final Process process;
  private final WebSocket socket;
  private final AtomicInteger ids = new AtomicInteger();
  private final Map<Integer, CompletableFuture<JsonObject>> pending = new ConcurrentHashMap<>();
  private final List<String> errors = new CopyOnWriteArrayList<>();
  private final List<String> stderr = new CopyOnWriteArrayList<>();

  /** The browser: {@code -Dchromium.path}, else Debian's and other usual places; empty when none is installed. */
  public static Optional<Path> find() {
    String configured = System.getProperty("chromium.path");
    if (configured != null && !configured.isBlank()) {
      return Optional.of(Path.of(configured)).filter(Files::isExecutable);
    }
    for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
      if (Files.isExecutable(Path.of(p))) {
        return Optional.of(Path.of(p));
      }
    }
    return Optional.empty();
  }

  public HeadlessChromium(Path binary, Path profile) throws Exception {
    ProcessBuilder pb = new ProcessBuilder(binary.toString(), "--headless=new", "--no-sandbox", "--disable-gpu",
        "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1", "--user-data-dir=" + profile,
        "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-domain-reliability", "--no-pings",
        "--disable-client-side-phishing-detection", "--disable-default-apps", "--safebrowsing-disable-auto-update",
        "--disable-features=Translate,OptimizationHints,MediaRouter,InterestFeedContentSuggestions",
        "--window-size=1200,900", "about:blank");
    pb.redirectOutput(ProcessBuilder.Redirect.DISCARD);
    process = pb.start();
    CompletableFuture<String> devtools = new CompletableFuture<>();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
        String line;
        while ((line = r.readLine()) != null) {
          stderr.add(line);
          int at = line.indexOf("DevTools listening on ");
          if (at >= 0) {
            devtools.complete(line.substring(at + "DevTools listening on ".length()).trim());
          }
        }
      } catch (java.io.IOException e) {
        // the browser ended
      }
      devtools.completeExceptionally(new IllegalStateException("chromium ended before it listened: " + stderr));
    }, "chromium-stderr");
    reader.setDaemon(true);
    reader.start();
    try {
      URI browser = URI.create(devtools.get(60, TimeUnit.SECONDS));
      HttpClient http = HttpClient.newHttpClient();
      URI list = URI.create("http://" + browser.getHost() + ":" + browser.getPort() + "/json/list");
      JsonArray targets = new JsonArray(http.send(HttpRequest.newBuilder(list).build(), HttpResponse.BodyHandlers.ofString()).body());
      String page = null;
      for (int i = 0; i < targets.size(); i++) {
        if ("page".equals(targets.getJsonObject(i).getString("type"))) {
          page = targets.getJsonObject(i).getString("webSocketDebuggerUrl");
          break;
        }
      }
      if (page == null) {
        throw new IllegalStateException("chromium shows no page target: " + targets.encode());
      }
      socket = http.newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10)).buildAsync(URI.create(page), new Listener())
          .get(30, TimeUnit.SECONDS);
      call("Runtime.enable", new JsonObject());
      call("Log.enable", new JsonObject());
      call("Page.enable", new JsonObject());
    } catch (Exception e) {
      process.destroyForcibly();
      throw e;
    }
  }

  /** Sends {@code method} and waits for its result; an error answer is an exception. */
  public JsonObject call(String method, JsonObject params) throws Exception {
    int id = ids.incrementAndGet();
    CompletableFuture<JsonObject> answer = new CompletableFuture<>();
    pending.put(id, answer);
    synchronized (socket) {
      socket.sendText(new JsonObject().put("id", id).put("method", method).put("params", params).encode(), true).get(10, TimeUnit.SECONDS);
    }
    JsonObject message = answer.get(30, TimeUnit.SECONDS);
    if (message.containsKey("error")) {
      throw new IllegalStateException(method + " failed: " + message.getJsonObject("error").encode());
    }
    return message.getJsonObject("result", new JsonObject());
  }

  /** Loads {@code url} and waits until its document is complete. */
  public void navigate(String url) throws Exception {
    call("Page.navigate", new JsonObject().put("url", url));
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (!"complete".equals(evaluate("document.readyState")) || !url.equals(evaluate("location.href"))) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the page " + url + " did not load; it is at " + evaluate("location.href"));
      }
      Thread.sleep(50);
    }
  }

  /** The value of {@code expression} in the page (a promise is awaited); an exception it throws is one here. */
  public Object evaluate(String expression) throws Exception {
    JsonObject r = call("Runtime.evaluate", new JsonObject().put("expression", expression).put("returnByValue", true)
        .put("awaitPromise", true));
    if (r.containsKey("exceptionDetails")) {
      throw new IllegalStateException("the page threw on " + expression + ": " + r.getJsonObject("exceptionDetails").encode());
    }
    return r.getJsonObject("result", new JsonObject()).getValue("value");
  }

  /** What the page shows now, the whole page (beyond the viewport), as a PNG file at {@code to}. */
  public void screenshot(Path to) throws Exception {
    String png = call("Page.captureScreenshot", new JsonObject().put("format", "png").put("captureBeyondViewport", true))
        .getString("data");
    Files.write(to, java.util.Base64.getDecoder().decode(png));
  }

  /** The page's errors so far: uncaught exceptions, console.error, and the browser's error log (loads, CSP). */
  public List<String> errors() {
    return List.copyOf(errors);
  }

  private void event(JsonObject message) {
    String method = message.getString("method", "");
    JsonObject params = message.getJsonObject("params", new JsonObject());
    switch (method) {
      case "Runtime.exceptionThrown" -> errors.add("exception: " + params.getJsonObject("exceptionDetails", new JsonObject()).encode());
      case "Runtime.consoleAPICalled" -> {
        String type = params.getString("type", "");
        if (type.equals("error") || type.equals("assert")) {
          errors.add("console." + type + ": " + params.getJsonArray("args", new JsonArray()).encode());
        }
      }
      case "Log.entryAdded" -> {
        JsonObject entry = params.getJsonObject("entry", new JsonObject());
        if ("error".equals(entry.getString("level"))) {
          errors.add("log (" + entry.getString("source") + "): " + entry.getString("text") + " " + entry.getString("url", ""));
        }
      }
      default -> {
        // other events are not looked at
      }
    }
  }

  private final class Listener implements WebSocket.Listener {
    private final StringBuilder partial = new StringBuilder();

    @Override
    public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
      partial.append(data);
      if (last) {
        JsonObject message = new JsonObject(partial.toString());
        partial.setLength(0);
        Integer id = message.getInteger("id");
        if (id != null) {
          CompletableFuture<JsonObject> f = pending.remove(id);
          if (f != null) {
            f.complete(message);
          }
        } else {
          event(message);
        }
      }
      ws.request(1);
      return null;
    }

    @Override
    public void onError(WebSocket ws, Throwable error) {
      pending.values().forEach(f -> f.completeExceptionally(error));
    }
  }

  @Override
  public void close() throws InterruptedException {
    try {
      socket.abort();
    } finally {
      List<ProcessHandle> children = process.descendants().toList();
      process.destroy();
      if (!process.waitFor(10, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      }
      children.forEach(ProcessHandle::destroyForcibly); // its renderers and helpers, should any outlive it
    }
  }
}
