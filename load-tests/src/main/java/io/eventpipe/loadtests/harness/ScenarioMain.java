package io.eventpipe.loadtests.harness;

import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import java.io.BufferedWriter;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * {@code ./bench scenario NAME [-Dname=value ...]}: one scenario, against a {@code pipeline local} the harness starts
 * in a temporary directory (durable, as {@code ./pipeline local} runs it), or with {@code -Dapi=URL -DwriteKey=KEY}
 * against a deployed cluster whose source delivers to this sink ({@code -DsinkPort}). Writes
 * {@code NAME-TIME.json} (the result), {@code NAME-TIME.html} (its page), {@code NAME-TIME.png} (the page in a headless
 * Chromium, where one is installed; {@code -Dpng=false} skips it) and {@code NAME-TIME.acks.tsv} (every
 * acknowledged event: messageId, user, seq, intended, sent and acknowledged time in ns of the run) to {@code -Dout};
 * with the raw PostgreSQL insert ceiling measured first ({@code -Dceiling=false} skips it, {@code -DceilingSeconds=5});
 * exits 0 when the checker's verdict passes, 1 when it fails, 2 on a bad option.
 */
public final class ScenarioMain {

  private ScenarioMain() {}

  public static void main(String[] args) throws Exception {
    if (args.length != 1) {
      System.err.println("usage: ./bench scenario NAME [-Dname=value ...]; scenarios: " + String.join(", ", Scenario.ids()));
      System.exit(2);
    }
    Scenario scenario;
    ScenarioOptions o;
    try {
      scenario = Scenario.named(args[0]);
      o = ScenarioOptions.of(scenario, System::getProperty);
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.exit(2);
      return;
    }
    JsonObject result = runOnce(scenario, o);
    System.exit(result.getJsonObject("verdict").getBoolean("pass") ? 0 : 1);
  }

  /** The command that ran this scenario: {@code ./bench scenario NAME} with the JVM's {@code -D} options as given. */
  static String invokedCommand(Scenario scenario) {
    StringBuilder c = new StringBuilder("./bench scenario ").append(scenario.id());
    for (String arg : java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()) {
      if (arg.startsWith("-D") && !arg.startsWith("-Dlogback.")) {
        c.append(' ').append(arg);
      }
    }
    return c.toString();
  }

  /** Starts a sink (and, without {@code -Dapi}, a fresh {@code pipeline local}), runs the scenario, writes its files. */
  static JsonObject runOnce(Scenario scenario, ScenarioOptions o) throws Exception {
    // 0. the raw PostgreSQL ceiling of this machine, before anything of the scenario runs (-Dceiling=false: not)
    JsonObject ceiling = Boolean.parseBoolean(System.getProperty("ceiling", "true")) && o.api() == null
        ? io.eventpipe.loadtests.ScenarioCeiling.measure(o.eventsPerRequest(), o.payloadBytes(),
            Integer.parseInt(System.getProperty("ceilingSeconds", "5"))) : null;
    Vertx vertx = Vertx.vertx();
    VerifyingSink sink = new VerifyingSink(vertx, "127.0.0.1");
    int sinkPort = sink.start(o.sinkPort()).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    Path tmp = null;
    Cluster cluster = null;
    try {
      if (o.api() != null) {
        cluster = new RemoteCluster(URI.create(o.api()), o.writeKey());
        System.out.println("the deployed cluster's source must deliver to the webhook http://127.0.0.1:" + sinkPort + "/events");
      } else {
        tmp = Files.createTempDirectory("eventpipe-scenario-");
        System.out.println("starting pipeline local (" + o.nodes() + " node(s)) in " + tmp);
        cluster = new LocalProcessCluster(tmp, o.nodes(), "http://127.0.0.1:" + sinkPort + "/events", o.startTimeoutSeconds());
      }
      System.out.printf(Locale.ROOT, "%s: %d users, %.0f events/s, %d per request, %d bytes, gzip %s, %.0f s%n", scenario.id(),
          o.users(), o.eventsPerSecond(), o.eventsPerRequest(), o.payloadBytes(), o.gzip(), o.seconds());
      List<LoadGenerator.Ack> acks = new ArrayList<>();
      JsonObject result = new ScenarioRunner(vertx, sink, "127.0.0.1", sinkPort).run(scenario, o, cluster, acks);
      result.put("ceiling", ceiling).put("command", invokedCommand(scenario));
      Path json = write(result, acks, Path.of(o.out()));
      System.out.println(summary(result));
      System.out.println("result: " + json + "\npage:   " + json.resolveSibling(json.getFileName().toString()
          .replace(".json", ".html")));
      return result;
    } finally {
      if (cluster != null) {
        cluster.close();
      }
      sink.stop();
      vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      if (tmp != null && !o.keep()) {
        delete(tmp);
      }
    }
  }

  /** Writes the result, its page, its PNG (unless {@code -Dpng=false}) and the log of acknowledged events. */
  public static Path write(JsonObject result, List<LoadGenerator.Ack> acks, Path out) throws IOException {
    return write(result, acks, out, !"false".equals(System.getProperty("png")));
  }

  /** Writes the result, its page, its PNG if {@code png} and the log of acknowledged events; returns the result's path. */
  static Path write(JsonObject result, List<LoadGenerator.Ack> acks, Path out, boolean png) throws IOException {
    Files.createDirectories(out);
    String base = result.getString("scenario") + "-" + result.getString("startedAt").replace(":", "").replace(".", "-");
    Path json = out.resolve(base + ".json");
    Files.writeString(json, result.encodePrettily(), StandardCharsets.UTF_8);
    Files.writeString(out.resolve(base + ".html"), HtmlReport.render(result), StandardCharsets.UTF_8);
    if (png) {
      ReportSnapshot.write(out.resolve(base + ".html")); // NAME-TIME.png, for the docs, where Chromium is installed
    }
    try (BufferedWriter w = Files.newBufferedWriter(out.resolve(base + ".acks.tsv"), StandardCharsets.UTF_8)) {
      w.write("messageId\tuser\tseq\tintendedNanos\tsentNanos\tackNanos\n");
      for (LoadGenerator.Ack a : acks) {
        w.write(a.messageId() + "\t" + a.user() + "\t" + a.seq() + "\t" + a.intendedNanos() + "\t" + a.sentNanos() + "\t"
            + a.ackNanos() + "\n");
      }
    }
    return json;
  }

  /** A few lines for the terminal. */
  static String summary(JsonObject r) {
    JsonObject t = r.getJsonObject("totals");
    JsonObject v = r.getJsonObject("verdict");
    return String.format(Locale.ROOT, "%s %s: %d events acknowledged (%.0f/s), %d delivered; ack p50 %.1f p99 %.1f p99.9 %.1f ms;"
            + " lag p50 %.1f p99 %.1f ms; sink capacity %.0f events/s; anomalies %s",
        r.getString("scenario"), v.getBoolean("pass") ? "PASS" : "FAIL", t.getLong("eventsAcked"),
        t.getDouble("ackedEventsPerSecond"), t.getLong("eventsDelivered"), t.getJsonObject("ackMs").getDouble("p50"),
        t.getJsonObject("ackMs").getDouble("p99"), t.getJsonObject("ackMs").getDouble("p999"),
        t.getJsonObject("lagMs").getDouble("p50"), t.getJsonObject("lagMs").getDouble("p99"),
        r.getJsonObject("sink").getDouble("capacityEventsPerSecond"), v.getJsonObject("anomalies").encode())
        + (v.getBoolean("pass") ? "" : "\nfirst failures: " + v.getJsonArray("firstFailures").encode() + "\n"
            + v.getString("firstFailureHistory"));
  }

  private static void delete(Path dir) throws IOException {
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.deleteIfExists(p);
      }
    }
  }

  /** {@link #delete}, a failure ignored (a browser profile left in the temporary directory). */
  static void deleteQuietly(Path dir) {
    try {
      delete(dir);
    } catch (IOException e) {
      // left behind
    }
  }
}
