package io.eventpipe.migrator;

import io.eventpipe.control.ControlStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.util.Collection;
import java.util.Map;

/**
 * Where the copy throttle reads ingest latency: each node's p99 over a recent window. The migrator's own is
 * {@link #scrapeNodes}; tests give one they control.
 */
@FunctionalInterface
public interface IngestLatency {

  /**
   * The recent-window ingest p99 in milliseconds of each of {@code nodes} that has a signal now. A node that cannot be
   * reached, or saw too little ingest for a p99, is absent (the throttle then keeps its rate); never fails for one node.
   */
  Future<Map<Integer, Double>> p99Millis(Collection<Integer> nodes);

  /**
   * Scrapes each node's {@code /metrics} on its advertised internal address (from the control store), which needs no
   * token, and reads the p99 of {@code jobsdb_store_latency_seconds{queue="gw"}} over the last few seconds.
   *
   * <p>Why this signal: it is the ingest path's own commit (the group-commit transaction every accepted event waits
   * for), measured by the node for each of them, so it sees everything the copy does to ingest on that database (WAL
   * and disk, locks, CPU of the database server), with no probe load of its own and no schema. It times the transaction,
   * not the wait in the group-commit queue before it; that wait grows with it (the committer runs a bounded number of
   * transactions at once), so the ratio to steady state follows contention, if not the whole request time. A probe the migrator ran
   * itself (timed tiny commits) would see the disk and WAL too, but only its own transactions, adds writes, and misses
   * the node's queueing. The price: the migrator must reach the nodes' internal port (the proxies already do), and a
   * node down or idle gives no signal, which the throttle treats as "keep the rate".
   */
  static IngestLatency scrapeNodes(Vertx vertx, ControlStore control) {
    return new NodeMetricsScrape(vertx, control);
  }
}
