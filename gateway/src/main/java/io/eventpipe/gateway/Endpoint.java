package io.eventpipe.gateway;

/**
 * The ingestion endpoints of the RudderStack HTTP API (a superset of Segment's HTTP Tracking API), with the
 * path each is served on and how its input is shaped.
 */
public enum Endpoint {
  /** {@code POST /v1/track}: one track event. */
  TRACK("/v1/track", EventType.TRACK, Shape.SINGLE),
  /** {@code POST /v1/identify}: one identify event. */
  IDENTIFY("/v1/identify", EventType.IDENTIFY, Shape.SINGLE),
  /** {@code POST /v1/page}: one page event. */
  PAGE("/v1/page", EventType.PAGE, Shape.SINGLE),
  /** {@code POST /v1/screen}: one screen event. */
  SCREEN("/v1/screen", EventType.SCREEN, Shape.SINGLE),
  /** {@code POST /v1/group}: one group event. */
  GROUP("/v1/group", EventType.GROUP, Shape.SINGLE),
  /** {@code POST /v1/alias}: one alias event. */
  ALIAS("/v1/alias", EventType.ALIAS, Shape.SINGLE),
  /** {@code POST /v1/merge}: one identity merge (RudderStack), {@code mergeProperties} with two identities. */
  MERGE("/v1/merge", EventType.MERGE, Shape.SINGLE),
  /**
   * {@code POST /v1/webhook?writeKey=...}: a SaaS tool's webhook body, which becomes one track event of the source as
   * its {@link io.eventpipe.workspace.WebhookSource} says.
   */
  WEBHOOK("/v1/webhook", EventType.TRACK, Shape.WEBHOOK),
  /** {@code POST /v1/batch}: {@code {"batch": [...]}}, each element carrying its own {@code type}. */
  BATCH("/v1/batch", null, Shape.BATCH),
  /** {@code POST /v1/import}: same body as {@link #BATCH} (historical imports). */
  IMPORT("/v1/import", null, Shape.BATCH),
  /** {@code POST /beacon/v1/batch}: {@code navigator.sendBeacon}; same body as {@link #BATCH}, write key in the query. */
  BEACON_BATCH("/beacon/v1/batch", null, Shape.BATCH),
  /** {@code GET /pixel/v1/track}: a track event from query-string parameters. */
  PIXEL_TRACK("/pixel/v1/track", EventType.TRACK, Shape.PIXEL),
  /** {@code GET /pixel/v1/page}: a page event from query-string parameters. */
  PIXEL_PAGE("/pixel/v1/page", EventType.PAGE, Shape.PIXEL);

  /** How an endpoint's input is shaped. */
  public enum Shape {
    /** The body is one JSON event; its type comes from the endpoint. */
    SINGLE,
    /** The body is {@code {"batch": [...]}}; each element has its own type. */
    BATCH,
    /** The event is built from query-string parameters; there is no body. */
    PIXEL,
    /** The body is a SaaS tool's webhook (any JSON object); the source's configuration says how it becomes an event. */
    WEBHOOK
  }

  private final String path;
  private final EventType type;
  private final Shape shape;

  Endpoint(String path, EventType type, Shape shape) {
    this.path = path;
    this.type = type;
    this.shape = shape;
  }

  /** The HTTP path RudderStack serves this endpoint on. */
  public String path() {
    return path;
  }

  /** The event type this endpoint imposes, or null for batch endpoints (each event names its own). */
  public EventType eventType() {
    return type;
  }

  public Shape shape() {
    return shape;
  }

  public boolean isBatch() {
    return shape == Shape.BATCH;
  }

  public boolean isWebhook() {
    return shape == Shape.WEBHOOK;
  }

  public boolean isPixel() {
    return shape == Shape.PIXEL;
  }
}
