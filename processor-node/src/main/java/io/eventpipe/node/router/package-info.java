/**
 * Delivery of the {@code rt} queue to destinations: {@link io.eventpipe.node.router.Router} runs one worker per enabled
 * destination; {@link io.eventpipe.node.router.DestinationType} implementations (found on the classpath through ServiceLoader, see io.eventpipe.destinations; the webhook is in destinations-http) send the
 * requests.
 *
 * <h2>Destination configuration reference</h2>
 * Everything under a destination's {@code config} in the workspace file. Unknown keys are errors; a destination with an
 * invalid config is not delivered to (its jobs wait) until the file is fixed, and its problems are logged and shown by
 * {@code GET /admin/v1/destinations}.
 *
 * <pre>{@code
 * destinations:
 *   - id: hook
 *     type: webhook
 *     sources: [web]
 *     config:
 *       url: https://example.com/events     # required; http or https
 *       method: POST                        # POST (default), PUT, PATCH
 *       headers: {X-Api-Key: secret}        # added to every request
 *       timeoutMs: 10000                    # whole request (default 10000)
 *       batch: {maxEvents: 100}             # optional: send JSON arrays of up to maxEvents events
 *       maxInFlight: 64                     # concurrent requests (default 64); one HTTP/1.1 connection each
 *       rateLimit: {eventsPerSecond: 200}   # optional; halves on 429, recovers additively
 *       retry:
 *         maxAttempts: 3                    # abort only when BOTH maxAttempts and maxWindowSeconds are used up
 *         maxWindowSeconds: 10800           # 3 hours
 *         initialBackoffMs: 1000            # exponential, with jitter; Retry-After is honoured
 *         maxBackoffMs: 300000
 *       eventTypes: {allow: [track, identify], deny: [page]}   # fan-out filter by type
 *       eventNames: {allow: [Order Completed], deny: []}       # fan-out filter by name (track events)
 * }</pre>
 *
 * <h2>Delivery semantics</h2>
 * <ul>
 *   <li>Order per (destination, routing key): event k+1 is sent only after event k succeeded or was aborted.</li>
 *   <li>2xx succeeds; network errors, timeouts, 408, 429 and 5xx are retried; any other status aborts at once.</li>
 *   <li>At-least-once: each single-event request carries {@code X-Message-Id}; after a crash, what was in flight (or
 *       delivered but not yet recorded) is delivered again.</li>
 *   <li>Aborted jobs keep their attempts and last error and can be listed and replayed through the admin API.</li>
 * </ul>
 */
package io.eventpipe.node.router;
