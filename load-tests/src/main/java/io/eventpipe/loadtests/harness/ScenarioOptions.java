package io.eventpipe.loadtests.harness;

import io.vertx.core.json.JsonObject;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * A scenario run's settings, read from {@code -Dname=value} (system properties) over the scenario's defaults; every
 * value is checked, and a bad one is refused naming it. {@link #smoke} is the seconds-long variant {@code ./test} runs.
 *
 * @param seconds how long the load's schedule runs
 * @param eventsPerSecond base arrival rate
 * @param drainSeconds after the load, how long to wait for the sink to get every acknowledged event
 * @param faultAtSeconds when the fault, burst or resize starts (default: a third of {@code seconds})
 * @param api a deployed cluster's public API (null: the harness starts {@code pipeline local})
 * @param writeKey the deployed cluster's write key (with {@code api})
 * @param sinkPort the sink's port (0: a free one; a deployed cluster's destination needs a fixed one)
 * @param backlogEvents the failing user's backlog (failing-user)
 * @param hostileSeconds how long the hostile clients run (hostile), with {@code slowUploads} trickling connections
 * @param interruptAfterSeconds resize-kill9 kills at the migration's first progress line whose step contains
 *     {@code interruptAtStep} (default "": the first), or after this
 */
public record ScenarioOptions(double seconds, double eventsPerSecond, int users, int eventsPerRequest, int payloadBytes,
    boolean gzip, double drainSeconds, double faultAtSeconds, double burstFactor, double burstSeconds, double outageSeconds,
    long slowMillis, double slowSeconds, double capacitySeconds, int nodes, String api, String writeKey, int sinkPort,
    String out, long startTimeoutSeconds, long scaleTimeoutSeconds, boolean keep, int backlogEvents,
    double interruptAfterSeconds, String interruptAtStep, double hostileSeconds, int slowUploads) {

  /** The defaults of a full run of {@code scenario}, overridden by {@code props}. */
  public static ScenarioOptions of(Scenario scenario, Function<String, String> props) {
    Map<String, String> d = new LinkedHashMap<>();
    d.put("seconds", String.valueOf(scenario.defaultSeconds()));
    d.put("eventsPerSecond", "200");
    d.put("users", "100");
    d.put("eventsPerRequest", "1");
    d.put("payloadBytes", "500");
    d.put("gzip", "false");
    // a failing user's backlog drains one event at a time once it heals (per-user order): minutes for 50,000
    d.put("drainSeconds", scenario == Scenario.FAILING_USER ? "1200" : "180");
    d.put("backlogEvents", "50000");
    d.put("interruptAfterSeconds", "60");
    d.put("hostileSeconds", "30");
    d.put("slowUploads", "50");
    d.put("burstFactor", "5");
    d.put("burstSeconds", "30");
    d.put("outageSeconds", "60");
    d.put("slowMillis", "2000");
    d.put("slowSeconds", "30");
    d.put("capacitySeconds", "3");
    d.put("sinkPort", "0");
    d.put("out", "load-tests/target/scenarios");
    d.put("startTimeoutSeconds", "180");
    d.put("scaleTimeoutSeconds", "600");
    d.put("keep", "false");
    return read(scenario, k -> props.apply(k) != null ? props.apply(k) : d.get(k));
  }

  /** A run of a few seconds at a tiny rate: what {@code ./test} does with every scenario, so none rots. */
  public static ScenarioOptions smoke(Scenario scenario, String out) {
    Map<String, String> s = Map.ofEntries(Map.entry("seconds", "2"), Map.entry("eventsPerSecond", "30"),
        Map.entry("users", "6"), Map.entry("drainSeconds", "60"), Map.entry("burstSeconds", "1"),
        Map.entry("outageSeconds", "1"), Map.entry("slowMillis", "300"), Map.entry("slowSeconds", "1"),
        Map.entry("capacitySeconds", "0.3"), Map.entry("backlogEvents", "200"), Map.entry("interruptAfterSeconds", "30"),
        Map.entry("hostileSeconds", "1"), Map.entry("slowUploads", "5"),
        Map.entry("out", out));
    return of(scenario, s::get);
  }

  private static ScenarioOptions read(Scenario scenario, Function<String, String> v) {
    double seconds = positive(v, "seconds");
    double fault = v.apply("faultAtSeconds") == null ? seconds / 3 : number(v, "faultAtSeconds");
    ScenarioOptions o = new ScenarioOptions(seconds, positive(v, "eventsPerSecond"), whole(v, "users", 1, 1_000_000),
        whole(v, "eventsPerRequest", 1, 10_000), whole(v, "payloadBytes", 0, 3_000_000), bool(v, "gzip"),
        number(v, "drainSeconds"), fault, positive(v, "burstFactor"), positive(v, "burstSeconds"), positive(v, "outageSeconds"),
        whole(v, "slowMillis", 0, 600_000), positive(v, "slowSeconds"), number(v, "capacitySeconds"),
        whole(v, "nodes", scenario.defaultNodes(), 1, 64), v.apply("api"), v.apply("writeKey"), whole(v, "sinkPort", 0, 65535),
        v.apply("out"), whole(v, "startTimeoutSeconds", 1, 3600), whole(v, "scaleTimeoutSeconds", 1, 36000), bool(v, "keep"),
        whole(v, "backlogEvents", 100, 10_000_000), positive(v, "interruptAfterSeconds"),
        v.apply("interruptAtStep") == null ? "" : v.apply("interruptAtStep"), positive(v, "hostileSeconds"), whole(v, "slowUploads", 0, 10_000));
    if (fault < 0 || fault >= seconds) {
      throw new IllegalArgumentException("-DfaultAtSeconds=" + fault + " must fall inside the load's " + seconds + " s");
    }
    if (scenario == Scenario.BURST && fault + o.burstSeconds() > seconds) {
      throw new IllegalArgumentException("-DburstSeconds=" + o.burstSeconds() + " from " + fault + " s runs past the load's "
          + seconds + " s: raise -Dseconds");
    }
    if ((o.api() == null) != (o.writeKey() == null)) {
      throw new IllegalArgumentException("-Dapi and -DwriteKey go together (a deployed cluster and its source's write key)");
    }
    return o;
  }

  private static double number(Function<String, String> v, String name) {
    try {
      double d = Double.parseDouble(v.apply(name));
      if (d < 0 || Double.isNaN(d) || Double.isInfinite(d)) {
        throw new NumberFormatException();
      }
      return d;
    } catch (NumberFormatException | NullPointerException e) {
      throw new IllegalArgumentException("-D" + name + "=" + v.apply(name) + " is not a number >= 0");
    }
  }

  private static double positive(Function<String, String> v, String name) {
    double d = number(v, name);
    if (d <= 0) {
      throw new IllegalArgumentException("-D" + name + "=" + v.apply(name) + " must be > 0");
    }
    return d;
  }

  private static int whole(Function<String, String> v, String name, int min, int max) {
    return whole(v, name, 0, min, max, true);
  }

  private static int whole(Function<String, String> v, String name, int def, int min, int max) {
    return whole(v, name, def, min, max, false);
  }

  private static int whole(Function<String, String> v, String name, int def, int min, int max, boolean required) {
    String s = v.apply(name);
    if (s == null && !required) {
      return def;
    }
    try {
      int n = Integer.parseInt(s);
      if (n < min || n > max) {
        throw new NumberFormatException();
      }
      return n;
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("-D" + name + "=" + s + " must be a whole number in " + min + ".." + max);
    }
  }

  private static boolean bool(Function<String, String> v, String name) {
    String s = v.apply(name);
    if ("true".equals(s) || "false".equals(s)) {
      return Boolean.parseBoolean(s);
    }
    throw new IllegalArgumentException("-D" + name + "=" + s + " must be true or false");
  }

  public LoadGenerator.Options load() {
    return new LoadGenerator.Options(users, eventsPerSecond, eventsPerRequest, payloadBytes, gzip, 10_000);
  }

  /** The settings as the result records them (the write key left out). */
  public JsonObject json() {
    return new JsonObject().put("seconds", seconds).put("eventsPerSecond", eventsPerSecond).put("users", users)
        .put("eventsPerRequest", eventsPerRequest).put("payloadBytes", payloadBytes).put("gzip", gzip)
        .put("drainSeconds", drainSeconds).put("faultAtSeconds", faultAtSeconds).put("burstFactor", burstFactor)
        .put("burstSeconds", burstSeconds).put("outageSeconds", outageSeconds).put("slowMillis", slowMillis)
        .put("slowSeconds", slowSeconds).put("nodes", nodes).put("api", api).put("backlogEvents", backlogEvents)
        .put("interruptAfterSeconds", interruptAfterSeconds).put("interruptAtStep", interruptAtStep).put("hostileSeconds", hostileSeconds)
        .put("slowUploads", slowUploads);
  }
}
