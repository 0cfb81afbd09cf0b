package io.eventpipe.node.router;

import io.eventpipe.destinations.DestinationTypes;
import static io.eventpipe.testing.Waiting.eventually;
import static io.eventpipe.testing.Waiting.await;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.jobsdb.JobsDb;
import io.eventpipe.jobsdb.JobsDbOptions;
import io.eventpipe.jobsdb.NewJob;
import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.node.processor.Processor;
import io.eventpipe.node.processor.ProcessorOptions;
import io.eventpipe.testing.PgDatabase;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Pool;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The delivery half of a node without the node: Vert.x, a pool, the {@code gw} and {@code rt} queues on a test
 * database, a workspace file that tests rewrite, and the {@link Processor} and {@link Router} under test. Events are
 * written to {@code gw} the way the gateway writes them.
 */
public final class NodeFixture implements AutoCloseable {

  /** One rt job's delivery state, read with JDBC. */
  public record JobRow(long jobId, int state, int attempts, Instant firstAttemptAt, Instant nextRetryAt, String lastError) {}

  public final Vertx vertx = Vertx.vertx();
  public final PgDatabase db;
  public final PgConfig pg;
  public final Pool pool;
  public final SimpleMeterRegistry registry = new SimpleMeterRegistry();
  public final Clock clock;
  public final JobsDb gw;
  public final JobsDb rt;
  public final Path configFile;
  public final WorkspaceConfigStore store;
  private final String name;
  public Processor processor;
  public Router router;
  /** Wraps the store the router writes through (a test may intercept its writes); the identity by default. */
  public java.util.function.UnaryOperator<JobsDb> routerStore = java.util.function.UnaryOperator.identity();

  public NodeFixture(PgDatabase db, String name, Clock clock, String yaml) {
    this.db = db;
    this.name = name;
    this.clock = clock;
    this.pg = new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
    this.pool = pg.createPool(vertx, 8);
    this.gw = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults(name + "_gw").withClock(clock), registry));
    this.rt = await(JobsDb.open(vertx, pg, pool, JobsDbOptions.defaults(name + "_rt").withClock(clock), registry));
    try {
      this.configFile = Files.createTempFile("workspace-" + name, ".yaml");
      Files.writeString(configFile, yaml);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    this.store = WorkspaceConfigStore.watch(configFile, Duration.ofHours(1), 1000);
  }

  /** Processor and router with short polls, the processor waking the router's workers. */
  public NodeFixture start() {
    return start(ProcessorOptions.defaults().withIdlePoll(Duration.ofMillis(20)),
        RouterOptions.defaults().withIdlePoll(Duration.ofMillis(20)).withStopTimeout(Duration.ofMillis(500))
            .withGaugeRefresh(Duration.ofMillis(200)));
  }

  public NodeFixture start(ProcessorOptions processorOptions, RouterOptions routerOptions) {
    if (routerOptions.services().isEmpty()) {
      // as the node offers them (NodeComponents): staged integrations record their batches in the delivery schema
      routerOptions = routerOptions.withServices(Map.of("jobsdb.pool", pool, "jobsdb.schema", rt.options().schema()));
    }
    router = new Router(vertx, routerStore.apply(rt), store, clock, registry, DestinationTypes.installed(), routerOptions);
    processor = new Processor(vertx, pool, gw, rt, store, clock, registry, processorOptions);
    processor.onFanOut(ids -> ids.forEach(router::wake));
    await(router.start());
    await(processor.start());
    return this;
  }

  /** Only the processor, on {@code pool} (which may go through a fault proxy): rt jobs stay for the test to inspect. */
  public Processor startProcessor(Pool pool, ProcessorOptions options) {
    processor = new Processor(vertx, pool, gw, rt, store, clock, registry, options);
    await(processor.start());
    return processor;
  }

  /** Rewrites the workspace file and applies it (listeners run, the router reconciles). */
  public void config(String yaml) {
    try {
      Files.writeString(configFile, yaml);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    if (!store.reloadNow()) {
      throw new AssertionError("workspace did not load: " + store.lastError().orElse("?"));
    }
    if (router != null) {
      await(router.reconcile());
    }
  }

  /** A track event of {@code user} with {@code properties.seq}, as the gateway stores it. */
  public NewJob event(String source, String user, long seq) {
    return event(source, user, seq, "track", "Order Completed");
  }

  public NewJob event(String source, String user, long seq, String type, String eventName) {
    String messageId = user + "-" + seq;
    String payload = "{\"type\":\"" + type + "\"" + (eventName == null ? "" : ",\"event\":\"" + eventName + "\"")
        + ",\"messageId\":\"" + messageId + "\",\"anonymousId\":\"" + user + "\",\"properties\":{\"seq\":" + seq
        + ",\"pad\":\"" + "x".repeat(64) + "\"}}";
    return new NewJob(Math.floorMod(user.hashCode(), 64), user, source, "", messageId, clock.instant(),
        payload.getBytes(StandardCharsets.UTF_8));
  }

  public void ingest(List<NewJob> jobs) {
    for (int i = 0; i < jobs.size(); i += 1000) {
      await(gw.store(jobs.subList(i, Math.min(jobs.size(), i + 1000))));
    }
  }

  public void ingest(NewJob... jobs) {
    ingest(List.of(jobs));
  }

  /** {@code users} users with {@code perUser} events each, interleaved as concurrent users would send them. */
  public List<NewJob> users(String source, String prefix, int users, int perUser) {
    List<NewJob> out = new ArrayList<>(users * perUser);
    for (int s = 1; s <= perUser; s++) {
      for (int u = 0; u < users; u++) {
        out.add(event(source, prefix + u, s));
      }
    }
    return out;
  }

  /** The delivery state of the rt job of {@code messageId} for {@code destination}. */
  public JobRow job(String destination, String messageId) {
    String s = "jobs_" + name + "_rt";
    try (Connection c = db.connect(); PreparedStatement st = c.prepareStatement("SELECT s.job_id, s.state, s.attempts,"
        + " s.first_attempt_at, s.next_retry_at, s.last_error FROM " + s + ".job_state s JOIN " + s + ".jobs j"
        + " ON j.job_id = s.job_id WHERE j.message_id = ? AND j.destination_id = ?")) {
      st.setString(1, messageId);
      st.setString(2, destination);
      try (ResultSet rs = st.executeQuery()) {
        if (!rs.next()) {
          return null;
        }
        return new JobRow(rs.getLong(1), rs.getInt(2), rs.getInt(3), instant(rs.getTimestamp(4)),
            instant(rs.getTimestamp(5)), rs.getString(6));
      }
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Runs a query that returns one number. */
  public long count(String sql) {
    try (Connection c = db.connect(); ResultSet rs = c.createStatement().executeQuery(
        sql.replace("{gw}", "jobs_" + name + "_gw").replace("{rt}", "jobs_" + name + "_rt"))) {
      rs.next();
      return rs.getLong(1);
    } catch (SQLException e) {
      throw new IllegalStateException(e);
    }
  }

  public long pending(String destination) {
    return await(rt.pendingCounts()).getOrDefault(destination, 0L);
  }

  private static Instant instant(java.sql.Timestamp t) {
    return t == null ? null : t.toInstant();
  }
  /** Stops processor and router (as a node's shutdown does). */
  public void stop() {
    if (processor != null) {
      await(processor.stop());
    }
    if (router != null) {
      await(router.stop());
    }
  }

  @Override
  public void close() {
    stop();
    store.close();
    await(gw.shutdown());
    await(rt.shutdown());
    await(pool.close());
    await(vertx.close());
    try {
      Files.deleteIfExists(configFile);
    } catch (IOException ignored) {
      // temp file
    }
  }
}
