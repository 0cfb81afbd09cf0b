package io.eventpipe.destinations.postgres;

import io.eventpipe.destinations.DeliveryMode;
import io.eventpipe.destinations.DeliveryResult;
import io.eventpipe.destinations.DestinationClient;
import io.eventpipe.destinations.DestinationContext;
import io.eventpipe.destinations.DestinationType;
import io.eventpipe.destinations.Egress;
import io.eventpipe.destinations.Event;
import io.eventpipe.workspace.ConfigReader;
import io.eventpipe.workspace.EgressPolicy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.pgclient.PgBuilder;
import io.vertx.pgclient.PgConnectOptions;
import io.vertx.pgclient.PgException;
import io.vertx.sqlclient.Pool;
import io.vertx.sqlclient.PoolOptions;
import io.vertx.sqlclient.SqlConnection;
import io.vertx.sqlclient.Tuple;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * The {@code postgres} destination type ({@link DeliveryMode#STAGED}, warehouse-style): each request's events are
 * inserted, in one transaction, into a table per event type ({@code <schema>.track}, {@code <schema>.identify}, ...).
 *
 * <pre>{@code
 * config:
 *   url: postgresql://loader@warehouse:5432/analytics   # required
 *   password: ${env:WAREHOUSE_PASSWORD}                  # optional (or in the url)
 *   schema: events                                       # default events; created if missing
 *   timeoutMs: 30000                                     # connect and statement deadline
 *   batch: {maxEvents: 500}                              # events per request (default 500)
 * }</pre>
 *
 * <h2>Tables</h2>
 * Each table has the common fields as typed columns ({@code message_id} (the primary key), {@code type},
 * {@code event}, {@code user_id}, {@code anonymous_id}, {@code routing_key}, {@code event_timestamp},
 * {@code received_at}), a typed column for each top-level key of the event's {@code properties} (track, page, screen)
 * or {@code traits} (identify, group) whose value is a string ({@code text}), a whole number ({@code bigint}), another
 * number ({@code double precision}) or a boolean, and {@code extra jsonb} with the rest of the event. Tables and
 * columns are created when first needed ({@code IF NOT EXISTS}: concurrent writers agree). A value whose type does not
 * fit its column's (a string where an earlier event made a {@code bigint}) stays in {@code extra} at its path, and so
 * does a {@code timestamp} that is not ISO-8601: a batch never fails on its values. A property named like a common
 * column gets a {@code p_} prefix.
 *
 * <p>Inserts are {@code ON CONFLICT (message_id) DO NOTHING}: a redelivered event (at-least-once) is not inserted
 * twice. A table has no order; {@code received_at} and {@code event_timestamp} say when. Connection errors and
 * serialization failures are retried; a data error PostgreSQL still refuses rejects the request (the router then
 * retries its users apart, so only the event at fault is aborted).
 *
 * <p>Egress: a host that is an address literal is checked when the config loads; a host name is resolved and checked
 * before the pool first connects, and the pool connects to the checked address.
 */
public final class PostgresDestination implements DestinationType {

  public static final String NAME = "postgres";
  static final Set<String> KEYS = Set.of("url", "password", "schema", "timeoutMs", "batch");
  static final Set<String> COMMON = Set.of("message_id", "type", "event", "user_id", "anonymous_id", "routing_key",
      "event_timestamp", "received_at", "extra");
  private static final Pattern IDENTIFIER = Pattern.compile("[a-z_][a-z0-9_]{0,62}");

  record Settings(PgConnectOptions connect, String host, String schema, int timeoutMs, int maxEvents) {

    static Settings read(ConfigReader config, EgressPolicy egress) {
      String url = config.string("url", null);
      PgConnectOptions connect = null;
      String host = null;
      if (url == null) {
        if (!config.has("url")) {
          config.problem("url", "missing: the database to write to, e.g. postgresql://loader@warehouse:5432/analytics");
        }
      } else {
        try {
          connect = PgConnectOptions.fromUri(url);
          host = connect.getHost();
          if (host == null || host.isEmpty()) {
            config.problem("url", "has no host");
          } else {
            Egress.checkLiteral(config, "url", host, egress);
          }
        } catch (RuntimeException e) {
          config.problem("url", "not a PostgreSQL connection URI (postgresql://user@host:port/database): " + e.getMessage());
        }
      }
      String password = config.string("password", null);
      if (connect != null && password != null) {
        connect.setPassword(password);
      }
      String schema = config.string("schema", "events");
      if (!IDENTIFIER.matcher(schema).matches()) {
        config.problem("schema", "'" + schema + "' is not a lower-case identifier (letters, digits, '_', at most 63)");
      }
      int timeoutMs = (int) config.integer("timeoutMs", 30_000, 1_000, 600_000);
      ConfigReader batch = config.child("batch");
      batch.rejectUnknownKeys(Set.of("maxEvents"));
      int maxEvents = (int) batch.integer("maxEvents", 500, 1, 10_000);
      return new Settings(connect, host, schema, timeoutMs, maxEvents);
    }
  }

  @Override
  public String name() {
    return NAME;
  }

  @Override
  public Set<String> configKeys() {
    return KEYS;
  }

  @Override
  public DeliveryMode mode() {
    return DeliveryMode.STAGED;
  }

  @Override
  public void validate(ConfigReader config, EgressPolicy egress) {
    Settings.read(config, egress);
  }

  @Override
  public DestinationClient open(DestinationContext context) {
    ConfigReader config = context.config();
    Settings settings = Settings.read(config, context.egress());
    config.throwIfInvalid(context.destination().id());
    return new Client(context.vertx(), settings, context.egress(), Math.min(8, context.maxInFlight()));
  }

  /** A name as a column or table name: lower case, [a-z0-9_], at most 63 characters; null if nothing is left. */
  static String identifier(String name) {
    String s = name.toLowerCase(Locale.ROOT).replaceAll("[^a-z0-9_]+", "_").replaceAll("^_+|_+$", "");
    if (s.isEmpty()) {
      return null;
    }
    if (Character.isDigit(s.charAt(0))) {
      s = "_" + s;
    }
    return s.length() > 63 ? s.substring(0, 63) : s;
  }

  static String quote(String identifier) {
    return "\"" + identifier + "\"";
  }

  /** The SQL type a JSON value would get as a new column, or null if it goes to extra. */
  static String sqlType(Object v) {
    if (v instanceof String) {
      return "text";
    }
    if (v instanceof Integer || v instanceof Long || v instanceof java.math.BigInteger bi && bi.bitLength() < 64) {
      return "bigint";
    }
    if (v instanceof Number) {
      return "double precision";
    }
    if (v instanceof Boolean) {
      return "boolean";
    }
    return null;
  }

  /** The value in the form its column takes, or null if it does not fit (it then stays in extra). */
  static Object fit(Object v, String columnType) {
    switch (columnType) {
      case "text":
        return v instanceof String ? v : null;
      case "bigint":
        return v instanceof Integer || v instanceof Long ? ((Number) v).longValue() : null;
      case "double precision":
        return v instanceof Number n && !(v instanceof java.math.BigDecimal bd && bd.precision() > 17) ? n.doubleValue() : null;
      case "boolean":
        return v instanceof Boolean ? v : null;
      case "timestamp with time zone":
        return v instanceof OffsetDateTime ? v : null;
      default:
        return null;
    }
  }

  /** One event split into its table, common columns, typed properties and the rest. */
  record Row(String table, String messageId, Map<String, Object> common, Map<String, Object> typed,
      String typedParent, JsonObject extra) {}

  static Row row(Event e) {
    JsonObject json;
    try {
      json = new JsonObject(io.vertx.core.buffer.Buffer.buffer(e.payload()));
    } catch (RuntimeException x) {
      json = new JsonObject().put("raw", new String(e.payload(), java.nio.charset.StandardCharsets.UTF_8));
    }
    String type = json.getValue("type") instanceof String t ? t : "track";
    String table = identifier(type);
    if (table == null) {
      table = "unknown";
    }
    Map<String, Object> common = new LinkedHashMap<>();
    common.put("message_id", e.messageId());
    common.put("type", type);
    common.put("routing_key", e.routingKey());
    common.put("received_at", e.receivedAt() == null ? null : e.receivedAt().atOffset(ZoneOffset.UTC));
    json.remove("messageId");
    json.remove("type");
    for (String[] f : new String[][] {{"event", "event"}, {"userId", "user_id"}, {"anonymousId", "anonymous_id"}}) {
      if (json.getValue(f[0]) instanceof String s) {
        common.put(f[1], s);
        json.remove(f[0]);
      }
    }
    if (json.getValue("timestamp") instanceof String ts) {
      try {
        common.put("event_timestamp", OffsetDateTime.parse(ts));
        json.remove("timestamp");
      } catch (DateTimeParseException x) {
        // not ISO-8601: stays in extra
      }
    }
    String parent = type.equals("identify") || type.equals("group") ? "traits" : "properties";
    Map<String, Object> typed = new LinkedHashMap<>();
    if (json.getValue(parent) instanceof JsonObject props) {
      for (String key : new ArrayList<>(props.fieldNames())) {
        Object v = props.getValue(key);
        String column = identifier(key);
        if (column == null || sqlType(v) == null) {
          continue;
        }
        if (COMMON.contains(column)) {
          column = "p_" + column;
        }
        if (typed.containsKey(column)) {
          continue; // two keys with one column name: the later stays in extra
        }
        typed.put(column, new Object[] {key, v});
      }
    }
    return new Row(table, e.messageId(), common, typed, parent, json);
  }

  /** One destination's pool and the column types it has seen, per table. */
  static final class Client implements DestinationClient {

    private final Vertx vertx;
    private final Settings settings;
    private final EgressPolicy egress;
    private final int poolSize;
    private Pool pool;
    private boolean schemaReady;
    /** table -> column -> data_type, as information_schema says; touched on the worker's context */
    private final Map<String, Map<String, String>> columns = new HashMap<>();

    Client(Vertx vertx, Settings settings, EgressPolicy egress, int poolSize) {
      this.vertx = vertx;
      this.settings = settings;
      this.egress = egress;
      this.poolSize = poolSize;
    }

    @Override
    public int maxEventsPerRequest() {
      return settings.maxEvents();
    }

    private Future<Pool> pool() {
      if (pool != null) {
        return Future.succeededFuture(pool);
      }
      return Egress.resolve(vertx, settings.host(), egress).map(addresses -> {
        if (pool == null) {
          PgConnectOptions connect = new PgConnectOptions(settings.connect())
              .setHost(addresses.get(0).getHostAddress());
          pool = PgBuilder.pool().with(new PoolOptions().setMaxSize(poolSize)
                  .setConnectionTimeout(settings.timeoutMs()).setConnectionTimeoutUnit(java.util.concurrent.TimeUnit.MILLISECONDS)).connectingTo(connect).using(vertx).build();
        }
        return pool;
      });
    }

    @Override
    public Future<DeliveryResult> deliver(List<Event> events, String node) {
      Map<String, List<Row>> byTable = new LinkedHashMap<>();
      for (Event e : events) {
        Row r = row(e);
        byTable.computeIfAbsent(r.table(), t -> new ArrayList<>()).add(r);
      }
      return pool()
          .compose(p -> ensureTables(p, byTable).compose(v -> p.withTransaction(c -> insertAll(c, byTable))))
          .map(v -> (DeliveryResult) DeliveryResult.DELIVERED)
          .recover(e -> Future.succeededFuture(classify(e)));
    }

    /** 1. the schema, 2. each table, 3. the columns its rows need that it lacks; then the column types as they are. */
    private Future<Void> ensureTables(Pool p, Map<String, List<Row>> byTable) {
      Future<Void> chain = schemaReady ? Future.succeededFuture()
          : ddl(p, "CREATE SCHEMA IF NOT EXISTS " + quote(settings.schema())).map(r -> {
            schemaReady = true;
            return null;
          });
      for (Map.Entry<String, List<Row>> t : byTable.entrySet()) {
        String table = t.getKey();
        chain = chain.compose(v -> {
          if (columns.containsKey(table)) {
            return Future.succeededFuture();
          }
          return ddl(p, "CREATE TABLE IF NOT EXISTS " + qualified(table) + " (message_id text PRIMARY KEY, type text,"
                  + " event text, user_id text, anonymous_id text, routing_key text, event_timestamp timestamptz,"
                  + " received_at timestamptz, extra jsonb)")
              .compose(r -> loadColumns(p, table));
        }).compose(v -> {
          Map<String, String> have = columns.get(table);
          Map<String, String> missing = new LinkedHashMap<>();
          for (Row row : t.getValue()) {
            for (Map.Entry<String, Object> c : row.typed().entrySet()) {
              if (!have.containsKey(c.getKey())) {
                missing.putIfAbsent(c.getKey(), sqlType(((Object[]) c.getValue())[1]));
              }
            }
          }
          if (missing.isEmpty()) {
            return Future.succeededFuture();
          }
          StringBuilder alter = new StringBuilder("ALTER TABLE " + qualified(table));
          String sep = " ";
          for (Map.Entry<String, String> m : missing.entrySet()) {
            alter.append(sep).append("ADD COLUMN IF NOT EXISTS ").append(quote(m.getKey())).append(' ').append(m.getValue());
            sep = ", ";
          }
          // another writer may have added one of them first, with another type: read what the table has now
          return ddl(p, alter.toString()).compose(r -> loadColumns(p, table));
        });
      }
      return chain;
    }

    /**
     * Runs a schema change under a transaction-scoped advisory lock of the schema: PostgreSQL's {@code IF NOT EXISTS}
     * does not stop two concurrent writers (other workers, other nodes) from colliding in its catalog (SQLSTATE 23505 on
     * pg_type), so they take turns.
     */
    private Future<Void> ddl(Pool p, String statement) {
      return p.withTransaction(c -> c.preparedQuery("SELECT pg_advisory_xact_lock(hashtext($1))")
          .execute(Tuple.of("eventpipe-destination-ddl:" + settings.schema()))
          .compose(r -> c.query(statement).execute())
          .mapEmpty());
    }

    private Future<Void> loadColumns(Pool p, String table) {
      return p.preparedQuery("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1"
              + " AND table_name = $2")
          .execute(Tuple.of(settings.schema(), table))
          .map(rows -> {
            Map<String, String> types = new HashMap<>();
            rows.forEach(r -> types.put(r.getString("column_name"), r.getString("data_type")));
            columns.put(table, types);
            return null;
          });
    }

    private String qualified(String table) {
      return quote(settings.schema()) + "." + quote(table);
    }

    /** The inserts, one statement per table and column set, in one transaction. */
    private Future<Void> insertAll(SqlConnection c, Map<String, List<Row>> byTable) {
      Future<Void> chain = Future.succeededFuture();
      for (Map.Entry<String, List<Row>> t : byTable.entrySet()) {
        String table = t.getKey();
        Map<String, String> types = columns.get(table);
        // every row gets every column of this batch that it could fill (the rest null): one statement per table
        Set<String> typedColumns = new LinkedHashSet<>();
        List<Map<String, Object>> values = new ArrayList<>();
        for (Row row : t.getValue()) {
          Map<String, Object> v = new LinkedHashMap<>();
          JsonObject extra = row.extra().copy();
          JsonObject parent = extra.getValue(row.typedParent()) instanceof JsonObject o ? o : null;
          for (Map.Entry<String, Object> e : row.typed().entrySet()) {
            Object[] kv = (Object[]) e.getValue();
            String type = types.get(e.getKey());
            Object fitted = type == null ? null : fit(kv[1], type);
            if (fitted != null) {
              v.put(e.getKey(), fitted);
              typedColumns.add(e.getKey());
              if (parent != null) {
                parent.remove((String) kv[0]);
              }
            }
          }
          if (parent != null && parent.isEmpty()) {
            extra.remove(row.typedParent());
          }
          v.put("extra", extra);
          values.add(v);
        }
        List<String> cols = new ArrayList<>(List.of("message_id", "type", "event", "user_id", "anonymous_id",
            "routing_key", "event_timestamp", "received_at", "extra"));
        cols.addAll(typedColumns);
        StringBuilder sql = new StringBuilder("INSERT INTO " + qualified(table) + " (");
        StringBuilder params = new StringBuilder();
        for (int i = 0; i < cols.size(); i++) {
          sql.append(i == 0 ? "" : ", ").append(quote(cols.get(i)));
          params.append(i == 0 ? "" : ", ").append('$').append(i + 1);
        }
        sql.append(") VALUES (").append(params).append(") ON CONFLICT (message_id) DO NOTHING");
        List<Tuple> batch = new ArrayList<>();
        for (int r = 0; r < values.size(); r++) {
          Row row = t.getValue().get(r);
          Map<String, Object> v = values.get(r);
          Tuple tuple = Tuple.tuple();
          for (String col : cols) {
            Object value = row.common().containsKey(col) ? row.common().get(col) : v.get(col);
            tuple.addValue(value);
          }
          batch.add(tuple);
        }
        chain = chain.compose(x -> c.preparedQuery(sql.toString()).executeBatch(batch).mapEmpty());
      }
      return chain;
    }

    /** Data errors (SQLSTATE class 22) and constraint violations are permanent; everything else is retried. */
    static DeliveryResult classify(Throwable e) {
      if (e instanceof Egress.DeniedException) {
        return new DeliveryResult.Rejected(e.getMessage());
      }
      if (e instanceof PgException pg) {
        String state = pg.getSqlState() == null ? "" : pg.getSqlState();
        String error = "postgres: " + pg.getErrorMessage() + " (SQLSTATE " + state + ")";
        if (state.startsWith("22") || state.startsWith("23") && !state.equals("23505")) {
          return new DeliveryResult.Rejected(error);
        }
        if (state.startsWith("28") || state.equals("3D000") || state.equals("42501")) {
          return new DeliveryResult.Rejected(error); // authentication, no such database, no permission
        }
        return new DeliveryResult.Retryable(error, null, false);
      }
      return new DeliveryResult.Retryable("postgres: " + e.getClass().getSimpleName() + ": " + e.getMessage(), null, false);
    }

    @Override
    public Future<Void> close() {
      return pool == null ? Future.succeededFuture() : pool.close();
    }
  }
}
