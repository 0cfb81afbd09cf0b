/**
 * Pure-Java routing for the event pipeline: which node stores an event.
 *
 * <p>The path of an event is {@link io.eventpipe.routing.RoutingKey routing key} &rarr;
 * {@link io.eventpipe.routing.Partitioner partition} &rarr; owner node, where the owner comes from a
 * {@link io.eventpipe.routing.Topology topology} snapshot (an explicit partition &rarr; node map with an
 * epoch) whose map was first computed by {@link io.eventpipe.routing.Assignment}.
 *
 * <p>Everything here is immutable, deterministic and free of I/O, so the proxy, the nodes and the
 * migrator compute the same answers from the same inputs. The partition function and the assignment
 * rule are compatibility contracts, pinned by test vectors: changing either re-routes users (and
 * breaks their event order) in every running cluster.
 */
package io.eventpipe.routing;
