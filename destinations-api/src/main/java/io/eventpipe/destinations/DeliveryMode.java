package io.eventpipe.destinations;

/** How the router hands a destination its events. */
public enum DeliveryMode {
  /**
   * Per-user order, as for a webhook: a routing key has at most one request in flight and its event k+1 is sent only
   * after event k succeeded or was aborted. Requests are small ({@link DestinationClient#maxEventsPerRequest()}).
   */
  STREAM,
  /**
   * Batches of many users' events that the destination stages into a file or rows (object storage, a warehouse
   * table). Per-user order still holds across requests (the router's lanes are the same); within one request the
   * events of a user are in order, and the client keeps that order inside what it writes. Requests are large. A
   * retryable failure of a request is the destination's, not a user's: the router retries the batch whole after the
   * backoff rather than one request per user (a rejection is still split to find the event at fault).
   */
  STAGED
}
