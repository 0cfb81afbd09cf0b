package io.eventpipe.control;

import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Privacy regulations in the control store ({@code control.regulations}, Flyway V5): durable requests to suppress a
 * user's future events at the edge, to delete what is stored of them, or both. A request names a user id that matches
 * an event's {@code userId} or {@code anonymousId}; it is recorded once per (kind, user), so repeating it returns the
 * first record (idempotent), with who asked and when (auditable). Each node records its own progress in
 * {@code control.regulation_status}.
 *
 * <p>{@link Watcher} follows the requests (polling, every second by default): proxies and nodes keep the suppressed
 * set from it, nodes apply deletes as they appear, and it reloads everything after a restart.
 */
public final class Regulations {

  private static final Logger LOG = LoggerFactory.getLogger(Regulations.class);

  /** What a request asks for. */
  public enum Kind {
    SUPPRESS, DELETE, SUPPRESS_DELETE;

    public boolean suppresses() {
      return this != DELETE;
    }

    public boolean deletes() {
      return this != SUPPRESS;
    }

    public String sql() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** {@code suppress}, {@code delete} or {@code suppress_delete} (also {@code delete+suppress} and the like). */
    public static Kind parse(String s) {
      return switch (s == null ? "" : s.toLowerCase(java.util.Locale.ROOT).replace('-', '_').replace('+', '_')) {
        case "suppress" -> SUPPRESS;
        case "delete" -> DELETE;
        case "suppress_delete", "delete_suppress" -> SUPPRESS_DELETE;
        default -> throw new IllegalArgumentException("unknown regulation kind '" + s + "': suppress, delete or suppress_delete");
      };
    }
  }

  /** One request, with each node's status ({@code node id -> status}) when read with them. */
  public record Regulation(long id, Kind kind, String userId, String requestedBy, Instant requestedAt,
      Map<Integer, NodeStatus> nodes) {

    public JsonObject toJson() {
      JsonArray perNode = new JsonArray();
      nodes.forEach((n, st) -> perNode.add(new JsonObject().put("node", n).put("status", st.status())
          .put("removed", st.removed()).put("updatedAt", st.updatedAt().toString())));
      return new JsonObject().put("id", id).put("kind", kind.sql()).put("userId", userId).put("requestedBy", requestedBy)
          .put("requestedAt", requestedAt.toString()).put("nodes", perNode);
    }
  }

  /** A node's progress on one request: {@value #APPLIED} once done there, and what it removed. */
  public record NodeStatus(String status, long removed, Instant updatedAt) {
    public static final String APPLIED = "applied";
  }

  /** The answer to {@link #request}: the record, and whether this call created it. */
  public record Requested(Regulation regulation, boolean created) {}

  private Regulations() {}

  /** Records a request unless one of the same kind for the same user exists; returns the record either way. */
  public static Future<Requested> request(ControlStore store, Kind kind, String userId, String requestedBy) {
    if (userId == null || userId.isEmpty() || userId.length() > 512) {
      return Future.failedFuture(new IllegalArgumentException("a regulation needs a user id of 1 to 512 characters"));
    }
    return store.pool().withTransaction(conn -> conn.preparedQuery("INSERT INTO control.regulations (kind, user_id, requested_by)"
            + " VALUES ($1, $2, $3) ON CONFLICT (kind, user_id) DO NOTHING RETURNING id").execute(Tuple.of(kind.sql(), userId, requestedBy))
        .compose(ins -> conn.preparedQuery(SELECT + " WHERE r.kind = $1 AND r.user_id = $2").execute(Tuple.of(kind.sql(), userId))
            .map(rows -> new Requested(regulations(rows).get(0), ins.rowCount() > 0))));
  }

  private static final String SELECT = "SELECT r.id, r.kind, r.user_id, r.requested_by, r.requested_at, s.node_id, s.status,"
      + " s.removed, s.updated_at FROM control.regulations r LEFT JOIN control.regulation_status s ON s.regulation_id = r.id";

  /** Every request, oldest first, with each node's status. */
  public static Future<List<Regulation>> list(ControlStore store) {
    return store.pool().query(SELECT + " ORDER BY r.id, s.node_id").execute().map(Regulations::regulations);
  }

  /** The requests after id {@code afterId}, oldest first (statuses not read). */
  public static Future<List<Regulation>> after(ControlStore store, long afterId) {
    return store.pool().preparedQuery("SELECT id, kind, user_id, requested_by, requested_at, NULL::int, NULL, NULL::bigint,"
        + " NULL::timestamptz FROM control.regulations WHERE id > $1 ORDER BY id").execute(Tuple.of(afterId)).map(Regulations::regulations);
  }

  /**
   * Node {@code nodeId} applied request {@code id}, removing {@code removed} stored rows, among them the jobs whose
   * (partition, messageId) pairs are {@code partitions}/{@code messageIds} (idempotent).
   */
  public static Future<Void> recordApplied(ControlStore store, long id, int nodeId, long removed, Integer[] partitions,
      String[] messageIds) {
    return store.pool().preparedQuery("INSERT INTO control.regulation_status (regulation_id, node_id, status, removed,"
            + " removed_partitions, removed_message_ids) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (regulation_id, node_id)"
            + " DO UPDATE SET status = EXCLUDED.status, removed = EXCLUDED.removed, removed_partitions = EXCLUDED.removed_partitions,"
            + " removed_message_ids = EXCLUDED.removed_message_ids, updated_at = now()")
        .execute(Tuple.of(id, nodeId, NodeStatus.APPLIED, removed, partitions, messageIds)).mapEmpty();
  }

  /** The (partition, messageId) pairs of the jobs every node removed for request {@code id}: two arrays of one length. */
  public static Future<Map.Entry<Integer[], String[]>> removedKeys(ControlStore store, long id) {
    return store.pool().preparedQuery("SELECT coalesce(array_agg(p), '{}'), coalesce(array_agg(m), '{}') FROM control.regulation_status,"
            + " unnest(removed_partitions, removed_message_ids) AS k(p, m) WHERE regulation_id = $1").execute(Tuple.of(id))
        .map(rows -> {
          Row r = rows.iterator().next();
          return Map.entry(r.getArrayOfIntegers(0), r.getArrayOfStrings(1));
        });
  }

  /** The ids node {@code nodeId} has applied already (a restarted node does not delete again what it did). */
  public static Future<Set<Long>> appliedBy(ControlStore store, int nodeId) {
    return store.pool().preparedQuery("SELECT regulation_id FROM control.regulation_status WHERE node_id = $1 AND status = $2")
        .execute(Tuple.of(nodeId, NodeStatus.APPLIED)).map(rows -> {
          Set<Long> ids = new java.util.HashSet<>();
          rows.forEach(r -> ids.add(r.getLong(0)));
          return ids;
        });
  }

  private static List<Regulation> regulations(io.vertx.sqlclient.RowSet<Row> rows) {
    Map<Long, Regulation> byId = new LinkedHashMap<>();
    for (Row r : rows) {
      Regulation reg = byId.computeIfAbsent(r.getLong(0), id -> new Regulation(id, Kind.parse(r.getString(1)), r.getString(2),
          r.getString(3), r.getOffsetDateTime(4).toInstant(), new java.util.TreeMap<>()));
      if (r.getInteger(5) != null) {
        reg.nodes().put(r.getInteger(5), new NodeStatus(r.getString(6), r.getLong(7), r.getOffsetDateTime(8).toInstant()));
      }
    }
    return new ArrayList<>(byId.values());
  }

  /**
   * Follows the requests: polls for new ones every {@code every}, keeps the set of suppressed user ids, and hands each
   * new request to the listeners (in id order, once per process; the first poll hands over every request recorded).
   */
  public static final class Watcher implements AutoCloseable {

    private final Vertx vertx;
    private final ControlStore store;
    private final Set<String> suppressed = java.util.concurrent.ConcurrentHashMap.newKeySet();
    private final List<Regulation> all = new CopyOnWriteArrayList<>();
    private final List<Consumer<Regulation>> listeners = new CopyOnWriteArrayList<>();
    private final long timer;
    private volatile long lastId;
    private volatile boolean polling;
    private volatile boolean reachable;

    private Watcher(Vertx vertx, ControlStore store, Duration every) {
      this.vertx = vertx;
      this.store = store;
      this.timer = vertx.setPeriodic(Math.max(50, every.toMillis()), t -> poll());
    }

    /** Starts following, after a first read of every request (so a restarted process suppresses from its first event). */
    public static Future<Watcher> start(Vertx vertx, ControlStore store, Duration every) {
      Watcher w = new Watcher(vertx, store, every);
      return w.pollNow().map(w);
    }

    /** Whether events whose {@code userId} or {@code anonymousId} is {@code id} are suppressed. */
    public boolean suppressed(String id) {
      return id != null && !suppressed.isEmpty() && suppressed.contains(id);
    }

    /** Whether any user is suppressed (a cheap check before looking at events). */
    public boolean anySuppressed() {
      return !suppressed.isEmpty();
    }

    /** Every request seen so far, oldest first. */
    public List<Regulation> regulations() {
      return List.copyOf(all);
    }

    /** Whether the last poll reached the control store. */
    public boolean reachable() {
      return reachable;
    }

    /** Calls {@code listener} with every request seen so far, then with each new one (on the poll's context). */
    public void onRequest(Consumer<Regulation> listener) {
      vertx.runOnContext(v -> {
        all.forEach(listener);
        listeners.add(listener);
      });
    }

    private void poll() {
      if (!polling) {
        pollNow();
      }
    }

    private Future<Void> pollNow() {
      polling = true;
      return after(store, lastId).map(list -> {
        reachable = true;
        for (Regulation r : list) {
          lastId = Math.max(lastId, r.id());
          if (r.kind().suppresses()) {
            suppressed.add(r.userId());
          }
          all.add(r);
          listeners.forEach(l -> l.accept(r));
        }
        return (Void) null;
      }).recover(e -> {
        reachable = false;
        LOG.debug("reading regulations from the control store failed: {}", e.toString());
        return Future.succeededFuture();
      }).onComplete(ar -> polling = false);
    }

    @Override
    public void close() {
      vertx.cancelTimer(timer);
    }
  }
}
