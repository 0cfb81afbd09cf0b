package io.eventpipe.gateway;

import io.eventpipe.workspace.Source;
import io.vertx.core.Future;
import java.util.List;

/**
 * Where the gateway puts accepted events: a node's own job store, or (in the proxy) the owner nodes.
 *
 * <p>{@link #accept} completes only when every event is durably committed (duplicates by messageId count as
 * committed). A failure that is a {@link GatewayException} carries its status; any other failure means "not
 * stored, retry later" and is answered 503 with Retry-After, so an SDK retries and dedup keeps it exactly-once.
 */
public interface EventSink {

  Future<Void> accept(Source source, List<Event> events);

  /** Whether events can be stored now (the {@code /health} answer). */
  Future<Boolean> healthy();
}
