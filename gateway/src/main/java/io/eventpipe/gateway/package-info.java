/**
 * The ingestion API contract of RudderStack and Segment, free of any HTTP framework: what an HTTP server calls
 * to turn a request into stored events.
 *
 * <p>Per request, in this order:
 * <ol>
 *   <li>{@link io.eventpipe.workspace.WriteKeys#fromBasicAuth} (or the {@code writeKey} query parameter of the beacon
 *       and pixel endpoints) and {@link io.eventpipe.gateway.Authenticator#authenticate}: 401 or 404.</li>
 *   <li>{@link io.eventpipe.gateway.BodyDecoder#decode} with the {@code Content-Encoding} header: 413, 415, 400.</li>
 *   <li>{@link io.eventpipe.gateway.EventParser#parseRequest} (or {@code parsePixel} with
 *       {@link io.eventpipe.gateway.QueryStrings#parse}): 400 or 413, naming the event and field.</li>
 *   <li>{@link io.eventpipe.gateway.RateLimiter#tryAcquire} with the number of events: 429 with Retry-After.</li>
 * </ol>
 * Every failure is a {@link io.eventpipe.gateway.GatewayException} carrying its HTTP status and a message for the
 * client. Everything here is thread-safe and non-blocking except loading the workspace file
 * ({@link io.eventpipe.workspace.WorkspaceConfigStore#watch}, {@code reloadNow}), which belongs on a worker thread.
 */
package io.eventpipe.gateway;
