package io.eventpipe.loadtests.harness;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Rewrites the region of {@code BENCHMARKS.md} between {@code <!-- results:begin -->} and {@code <!-- results:end -->}
 * from the results in {@code docs/benchmarks/*.json}: one figures table per scenario, so the published figures are
 * never copied by hand. {@code java ... BenchmarksPage [BENCHMARKS.md [docs/benchmarks]]}.
 */
public final class BenchmarksPage {

  static final String BEGIN = "<!-- results:begin -->";
  static final String END = "<!-- results:end -->";

  private BenchmarksPage() {}

  public static void main(String[] args) throws IOException {
    Path page = Path.of(args.length > 0 ? args[0] : "BENCHMARKS.md");
    Path dir = Path.of(args.length > 1 ? args[1] : "docs/benchmarks");
    Files.writeString(page, rewrite(Files.readString(page, StandardCharsets.UTF_8), dir), StandardCharsets.UTF_8);
    System.out.println("rewrote the results of " + page + " from " + dir);
  }

  /** {@code markdown} with its results region replaced by the tables of {@code dir}'s results. */
  static String rewrite(String markdown, Path dir) throws IOException {
    int b = markdown.indexOf(BEGIN);
    int e = markdown.indexOf(END);
    if (b < 0 || e < b) {
      throw new IllegalArgumentException("no " + BEGIN + " ... " + END + " region");
    }
    return markdown.substring(0, b + BEGIN.length()) + "\n" + tables(dir) + markdown.substring(e);
  }

  /** The tables of every result in {@code dir}, by scenario name; pictures linked as {@code docs/benchmarks/NAME.png}. */
  static String tables(Path dir) throws IOException {
    List<Path> files = new ArrayList<>();
    try (Stream<Path> s = Files.list(dir)) {
      s.filter(p -> p.getFileName().toString().endsWith(".json")).sorted().forEach(files::add);
    }
    StringBuilder out = new StringBuilder();
    for (Path f : files) {
      out.append(table(new JsonObject(Files.readString(f, StandardCharsets.UTF_8)),
          "docs/benchmarks/" + f.getFileName().toString().replace(".json", ".png"))).append('\n');
    }
    return out.toString();
  }

  /** One scenario's figures as a Markdown table, with its command and picture. */
  static String table(JsonObject r, String picture) {
    JsonObject t = r.getJsonObject("totals");
    JsonObject v = r.getJsonObject("verdict");
    JsonObject a = v.getJsonObject("anomalies");
    JsonObject ack = t.getJsonObject("ackMs");
    JsonObject ceiling = r.getJsonObject("ceiling");
    double rate = t.getDouble("ackedEventsPerSecond");
    StringBuilder s = new StringBuilder();
    s.append("#### ").append(r.getString("scenario")).append(" (").append(r.getString("startedAt")).append(", ")
        .append(v.getBoolean("pass") ? "PASS" : "FAIL").append(")\n\n");
    s.append("| acked | delivered | lost / reordered / dup | ack p50 / p99 / p99.9 | delivery lag p99 | throughput"
        + " | raw ceiling (same run) | ratio | sink capacity |\n|---|---|---|---|---|---|---|---|---|\n");
    s.append(String.format(Locale.ROOT, "| %,d | %,d | %d / %d / %d | %.1f / %.1f / %.1f ms | %.1f ms | %,.0f events/s | %s | %s | %,.0f events/s |%n",
        t.getLong("eventsAcked"), t.getLong("eventsDelivered"), a.getInteger("LOST", 0), a.getInteger("REORDERED", 0),
        a.getInteger("DUPLICATED", 0), ack.getDouble("p50"), ack.getDouble("p99"), ack.getDouble("p999"),
        t.getJsonObject("lagMs").getDouble("p99"), rate,
        ceiling == null ? "not measured" : String.format(Locale.ROOT, "%,.0f rows/s", ceiling.getDouble("rowsPerSecond")),
        ceiling == null ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * rate / ceiling.getDouble("rowsPerSecond")),
        r.getJsonObject("sink").getDouble("capacityEventsPerSecond")));
    s.append("\nCommand: `").append(command(r)).append("`; picture: [").append(picture).append("](").append(picture)
        .append(")\n");
    return s.toString();
  }

  /** The command that ran it: the one recorded in the result, or the scenario with its load's options. */
  static String command(JsonObject r) {
    if (r.getString("command") != null) {
      return r.getString("command");
    }
    JsonObject o = r.getJsonObject("options");
    return String.format(Locale.ROOT, "./bench scenario %s -Dseconds=%s -DeventsPerSecond=%s -Dusers=%d", r.getString("scenario"),
        num(o.getDouble("seconds")), num(o.getDouble("eventsPerSecond")), o.getInteger("users"));
  }

  private static String num(double d) {
    return d == Math.rint(d) ? String.valueOf((long) d) : String.valueOf(d);
  }
}
