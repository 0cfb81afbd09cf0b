package io.eventpipe.loadtests.harness;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs one scenario against a cluster: the load on its schedule, the scenario's fault or resize at its time (a band
 * on the timeline), then waits (at most {@code drainSeconds}) for the sink to have every acknowledged event, checks
 * the history ({@link HistoryChecker}: lost, reordered, duplicated beyond a retry, delivered though never sent, per
 * user), measures the sink's own capacity, and returns the result as JSON ({@link #run}). Every wait is bounded.
 */
public final class ScenarioRunner {

  private final Vertx vertx;
  private final VerifyingSink sink;
  private final String sinkHost;
  private final int sinkPort;

  public ScenarioRunner(Vertx vertx, VerifyingSink sink, String sinkHost, int sinkPort) {
    this.vertx = vertx;
    this.sink = sink;
    this.sinkHost = sinkHost;
    this.sinkPort = sinkPort;
  }

  /** Runs {@code scenario} against {@code cluster}; the acknowledged events' log goes to {@code acks} when not null. */
  public JsonObject run(Scenario scenario, ScenarioOptions o, Cluster cluster, List<LoadGenerator.Ack> acks) throws Exception {
    if (scenario.needsControl() && !cluster.controllable()) {
      throw new IllegalArgumentException("scenario " + scenario.id() + " kills or resizes the cluster: it runs against the"
          + " `pipeline local` the harness starts, not against " + cluster.describe());
    }
    if (scenario == Scenario.SCALE_DOWN && cluster.nodes() < 2) {
      cluster.scale(2, o.scaleTimeoutSeconds()); // preparation, before the run's clock starts
    }
    int nodesBefore = cluster.nodes();
    String runId = scenario.id() + "-" + Long.toHexString(System.nanoTime() & 0xffffffL);
    RunClock clock = new RunClock();
    HistoryChecker history = new HistoryChecker(clock::millis);
    Timeline timeline = new Timeline();
    sink.record(new VerifyingSink.Run(runId, history, timeline, clock));
    RateSchedule schedule = new RateSchedule(o.load().requestsPerSecond(), (long) (o.seconds() * 1e9), scenario.windows(o));
    LoadGenerator load = new LoadGenerator(vertx, cluster.api(), cluster.writeKey(), runId, o.load(), schedule, clock, history,
        timeline);
    load.retryUntil((long) ((o.seconds() + o.drainSeconds()) * 1e9));
    Future<Void> loaded = load.start();
    FailingUser failing = scenario == Scenario.FAILING_USER ? new FailingUser(runId, o, cluster, clock, history) : null;
    for (RateSchedule.Window w : schedule.windows()) {
      timeline.close(timeline.open("burst x" + w.factor(), w.fromNanos() / 1_000_000), w.toNanos() / 1_000_000);
    }
    if (failing != null) {
      failing.runUntilHealed(timeline);
    }
    JsonObject notes = inject(scenario, o, cluster, clock, timeline, history, runId);
    long scriptEnd = clock.nanos();
    loaded.toCompletionStage().toCompletableFuture().get((long) (o.seconds() + o.drainSeconds()) + 120, TimeUnit.SECONDS);
    if (failing != null) {
      failing.done.toCompletionStage().toCompletableFuture().get((long) (o.seconds() + o.drainSeconds()) + 120, TimeUnit.SECONDS);
    }
    // the sink gets the rest: bounded by drainSeconds after the load and the fault both ended
    long drainUntil = Math.max(scriptEnd, clock.nanos()) + (long) (o.drainSeconds() * 1e9);
    while (history.deliveredAcked() < history.acked() && clock.nanos() < drainUntil) {
      Thread.sleep(200);
    }
    long endMillis = clock.millis();
    sink.record(null);
    JsonObject loadSummary = load.summary().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    if (acks != null) {
      acks.addAll(load.acks());
    }
    double capacity = -1;
    if (o.capacitySeconds() > 0) { // a first pass warms up the client and opens its connections
      SinkCapacity.measure(vertx, sinkHost, sinkPort, "/capacity", 1, 64, o.capacitySeconds() / 2);
      capacity = SinkCapacity.measure(vertx, sinkHost, sinkPort, "/capacity", 1, 64, o.capacitySeconds());
    }

    JsonObject result = new JsonObject().put("scenario", scenario.id()).put("runId", runId)
        .put("startedAt", java.time.Instant.ofEpochMilli(clock.startEpochMillis()).toString())
        .put("machine", new JsonObject().put("cores", Runtime.getRuntime().availableProcessors())
            .put("java", System.getProperty("java.version")).put("os", System.getProperty("os.name")))
        .put("cluster", new JsonObject().put("what", cluster.describe()).put("nodesBefore", nodesBefore)
            .put("nodesAfter", cluster.nodes()))
        .put("options", o.json())
        .put("load", loadSummary)
        .put("sink", sink.counts().put("capacityEventsPerSecond", capacity))
        .put("totals", totals(o, timeline, endMillis))
        .put("series", timeline.series())
        .put("bands", timeline.bandsJson(endMillis))
        .put("verdict", verdict(scenario, history))
        .put("fault", notes);
    JsonObject hostile = notes.getJsonObject("hostile");
    if (hostile != null && hostile.getLong("accepted") > 0) {
      JsonObject v = result.getJsonObject("verdict");
      v.put("pass", false).put("firstFailures", v.getJsonArray("firstFailures").copy()
          .add(hostile.getLong("accepted") + " hostile requests were accepted: " + hostile.getJsonArray("acceptedKinds")));
    }
    if (failing != null) {
      result.put("failingUser", failing.summary());
    }
    return result;
  }

  /** Injects the scenario's fault or resize at its time; returns what the result should say of it. */
  private JsonObject inject(Scenario scenario, ScenarioOptions o, Cluster cluster, RunClock clock, Timeline timeline,
      HistoryChecker history, String runId) throws Exception {
    JsonObject notes = new JsonObject();
    if (scenario == Scenario.STEADY || scenario == Scenario.BURST || scenario == Scenario.FAILING_USER) {
      return notes;
    }
    sleepUntil(clock, o.faultAtSeconds());
    switch (scenario) {
      case OUTAGE -> {
        int band = timeline.open("destination outage (503)", clock.millis());
        history.event("sink outage begins");
        sink.outage(true);
        sleepUntil(clock, o.faultAtSeconds() + o.outageSeconds());
        sink.outage(false);
        history.event("sink outage ends");
        timeline.close(band, clock.millis());
      }
      case SLOW -> {
        int band = timeline.open("destination answers in " + o.slowMillis() + " ms", clock.millis());
        sink.slow(o.slowMillis());
        sleepUntil(clock, o.faultAtSeconds() + o.slowSeconds());
        sink.slow(0);
        timeline.close(band, clock.millis());
      }
      case KILL9 -> {
        int band = timeline.open("kill -9 of the cluster, restart", clock.millis());
        history.event("kill -9 of the whole cluster");
        cluster.kill9();
        cluster.restart();
        history.event("cluster restarted");
        timeline.close(band, clock.millis());
      }
      case SCALE_UP, SCALE_DOWN -> {
        int from = cluster.nodes();
        int to = scenario == Scenario.SCALE_UP ? from + 1 : from - 1;
        int band = timeline.open("pipeline scale " + from + " → " + to + " nodes", clock.millis());
        history.event("pipeline scale --nodes " + to + " begins");
        cluster.scale(to, o.scaleTimeoutSeconds());
        history.event("pipeline scale --nodes " + to + " done");
        timeline.close(band, clock.millis());
      }
      case HOSTILE -> {
        int band = timeline.open("hostile clients", clock.millis());
        HostileClients hostile = new HostileClients(vertx, cluster.api(), cluster.writeKey(), runId, o.slowUploads());
        double from = clock.millis() / 1000.0; // its bodies are built: megabytes, which take a while on a busy machine
        hostile.start();
        sleepUntil(clock, from + o.hostileSeconds());
        hostile.stop();
        timeline.close(band, clock.millis());
        notes.put("hostile", hostile.summary());
      }
      case RESIZE_KILL9 -> {
        int from = cluster.nodes();
        int to = from + 1;
        int band = timeline.open("pipeline scale " + from + " → " + to + ", kill -9 of it and the cluster, restart, rerun",
            clock.millis());
        history.event("pipeline scale --nodes " + to + " begins");
        ScaleRun scale = cluster.startScale(to);
        long until = System.nanoTime() + (long) (o.interruptAfterSeconds() * 1e9);
        // 1. wait for the migration to be under way: its first progress line ("... partitions 0/N ... [STEP]") whose
        //    step holds -DinterruptAtStep
        while (scale.alive() && System.nanoTime() < until && scale.lines().stream()
            .noneMatch(l -> l.contains(" partitions ") && l.substring(l.lastIndexOf('[') + 1).contains(o.interruptAtStep()))) {
          Thread.sleep(50);
        }
        String at = scale.lastLine();
        notes.put("interruptedDuring", at).put("scaleHadEnded", !scale.alive());
        // 2. kill -9 of the migrator and of the whole cluster, 3. restart, 4. the operator reruns the same scale
        history.event("kill -9 of pipeline scale and of the whole cluster, at: " + at);
        scale.kill();
        cluster.kill9();
        cluster.restart();
        history.event("cluster restarted; pipeline scale --nodes " + to + " rerun");
        cluster.scale(to, o.scaleTimeoutSeconds());
        history.event("pipeline scale --nodes " + to + " done");
        timeline.close(band, clock.millis());
      }
      default -> throw new IllegalStateException(scenario.id());
    }
    return notes;
  }

  /**
   * The failing user of {@link Scenario#FAILING_USER}: refused by the sink from the start, its backlog sent by a load
   * of its own (one user, 100 events per request, the whole backlog within the first half of the load or 5,000
   * events/s, whichever is slower), untimed so that the delivery lag is the other users'; healed when the load ends.
   */
  private final class FailingUser {
    final String user;
    final LoadGenerator load;
    final Timeline timeline = new Timeline();
    final Future<Void> done;
    final RunClock clock;
    final ScenarioOptions o;

    FailingUser(String runId, ScenarioOptions o, Cluster cluster, RunClock clock, HistoryChecker history) {
      this.o = o;
      this.clock = clock;
      this.user = LoadGenerator.userId(runId + "-failing", 0);
      sink.failUser(user);
      history.event("the sink refuses every delivery of " + user);
      double window = Math.max(Math.min(o.seconds() / 2, o.backlogEvents() / 5_000.0), 0.001);
      int perRequest = Math.min(100, o.backlogEvents());
      RateSchedule schedule = new RateSchedule(Math.ceil(o.backlogEvents() / (double) perRequest) / window,
          (long) (window * 1e9), List.of());
      load = new LoadGenerator(vertx, cluster.api(), cluster.writeKey(), runId + "-failing",
          new LoadGenerator.Options(1, o.backlogEvents() / window, perRequest, o.payloadBytes(), o.gzip(), 100_000), schedule, clock,
          history, timeline).untimed();
      load.retryUntil((long) ((o.seconds() + o.drainSeconds()) * 1e9));
      done = load.start();
    }

    /** Keeps the user failing until the load's end, as a band, then heals it. */
    void runUntilHealed(Timeline main) throws InterruptedException {
      int band = main.open("user " + user + " refused by the destination (" + o.backlogEvents() + " events sent)", 0);
      sleepUntil(clock, o.seconds());
      sink.healUser(user);
      main.close(band, clock.millis());
    }

    JsonObject summary() throws Exception {
      return load.summary().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS).put("user", user)
          .put("ackMs", percentiles(timeline::ackMillis));
    }
  }

  private static void sleepUntil(RunClock clock, double seconds) throws InterruptedException {
    long ms = (long) (seconds * 1000) - clock.millis();
    if (ms > 0) {
      Thread.sleep(ms);
    }
  }

  private static JsonObject totals(ScenarioOptions o, Timeline t, long endMillis) {
    return new JsonObject().put("runSeconds", endMillis / 1000.0).put("eventsAcked", t.ackedEvents())
        .put("eventsDelivered", t.deliveredEvents()).put("ackedEventsPerSecond", t.ackedEvents() / o.seconds())
        .put("ackMs", percentiles(t::ackMillis)).put("lagMs", percentiles(t::lagMillis));
  }

  private static JsonObject percentiles(java.util.function.DoubleUnaryOperator at) {
    return new JsonObject().put("p50", at.applyAsDouble(50)).put("p90", at.applyAsDouble(90)).put("p99", at.applyAsDouble(99))
        .put("p999", at.applyAsDouble(99.9)).put("max", at.applyAsDouble(100));
  }

  /**
   * The checker's verdict: every anomaly counted by kind and by user, the first ten with the first one's history, and
   * whether the run passes: every acknowledged event delivered, none reordered or delivered though never sent, and
   * no duplicate beyond a retry unless the scenario kills delivering processes ({@link Scenario#killsProcesses}).
   */
  static JsonObject verdict(Scenario scenario, HistoryChecker history) {
    Set<HistoryChecker.Kind> failing = EnumSet.of(HistoryChecker.Kind.LOST, HistoryChecker.Kind.REORDERED,
        HistoryChecker.Kind.UNSENT);
    if (!scenario.killsProcesses()) {
      failing.add(HistoryChecker.Kind.DUPLICATED);
    }
    List<HistoryChecker.Anomaly> all = history.check();
    Map<String, Map<HistoryChecker.Kind, Integer>> perUser = new TreeMap<>();
    for (HistoryChecker.Anomaly a : all) {
      perUser.computeIfAbsent(a.user(), u -> new TreeMap<>()).merge(a.kind(), 1, Integer::sum);
    }
    JsonObject users = new JsonObject();
    perUser.entrySet().stream().limit(100).forEach(e -> {
      JsonObject k = new JsonObject();
      e.getValue().forEach((kind, n) -> k.put(kind.name(), n));
      users.put(e.getKey(), k);
    });
    JsonObject counts = new JsonObject();
    for (HistoryChecker.Kind k : HistoryChecker.Kind.values()) {
      counts.put(k.name(), 0);
    }
    HistoryChecker.counts(all).forEach((k, n) -> counts.put(k.name(), n));
    List<HistoryChecker.Anomaly> bad = all.stream().filter(a -> failing.contains(a.kind())).toList();
    JsonArray first = new JsonArray();
    bad.stream().limit(10).forEach(a -> first.add(a.toString()));
    List<String> failingNames = new ArrayList<>();
    failing.forEach(k -> failingNames.add(k.name()));
    return new JsonObject().put("pass", bad.isEmpty()).put("eventsAcked", history.acked())
        .put("eventsAckedAndDelivered", history.deliveredAcked()).put("anomalies", counts)
        .put("failingKinds", new JsonArray(failingNames)).put("usersWithAnomalies", perUser.size()).put("perUser", users)
        .put("firstFailures", first).put("firstFailureHistory", bad.isEmpty() ? null : history.history(bad.get(0)));
  }
}
