package io.eventpipe.gateway.http;

import io.eventpipe.gateway.GatewayException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads one request body into memory under two bounds: the request's own cap and the server's {@link Budget} of body
 * bytes held at once, to which every chunk is charged as it arrives (not only when the request is admitted, which let
 * thousands of slow uploads buffer gigabytes between them). A body must also arrive within a deadline, so a client
 * that trickles cannot hold its bytes and its request slot for ever.
 *
 * <p>The reader fails with a {@link GatewayException}: 413 over the request's cap, 503 when the server's budget is
 * used up (the answer carries Retry-After; what the request held is given back at once), 408 past the deadline. What
 * it charged is given back by {@link #release()}, which the server calls once it no longer holds the body (after the
 * answer); a failed read releases by itself.
 */
public final class BodyReader {

  /** The bytes of request bodies held by one server at once, shared by its event loops. */
  public static final class Budget {
    private final long max;
    private final AtomicLong used = new AtomicLong();

    public Budget(long max) {
      this.max = max;
    }

    /** Takes {@code n} bytes if they fit under the maximum. */
    public boolean tryAcquire(long n) {
      while (true) {
        long u = used.get();
        if (u + n > max) {
          return false;
        }
        if (used.compareAndSet(u, u + n)) {
          return true;
        }
      }
    }

    public void release(long n) {
      used.addAndGet(-n);
    }

    public long used() {
      return used.get();
    }

    public long max() {
      return max;
    }

    /** For the gauge. */
    public AtomicLong usedCounter() {
      return used;
    }
  }

  private final Vertx vertx;
  private final HttpServerRequest req;
  private final int maxBytes;
  private final long timeoutMs;
  private final Budget budget;
  private final Buffer body = Buffer.buffer();
  private final AtomicLong charged = new AtomicLong();
  private final Promise<Buffer> result = Promise.promise();
  private long timer = -1;

  public BodyReader(Vertx vertx, HttpServerRequest req, int maxBytes, long timeoutMs, Budget budget) {
    this.vertx = vertx;
    this.req = req;
    this.maxBytes = maxBytes;
    this.timeoutMs = timeoutMs;
    this.budget = budget;
  }

  /** Starts reading; completes with the whole body, or fails (having released what it charged). */
  public Future<Buffer> read() {
    timer = vertx.setTimer(timeoutMs, t -> fail(new GatewayException(408, "the request body did not arrive within "
        + timeoutMs + " ms (" + body.length() + " bytes received); send the body at once, or smaller batches")));
    req.handler(chunk -> {
      if (result.future().isComplete()) {
        return;
      }
      if ((long) body.length() + chunk.length() > maxBytes) {
        fail(new GatewayException(413, "request body is over the limit of " + maxBytes + " bytes; send smaller batches"));
      } else if (!charge(chunk.length())) {
        fail(new GatewayException(503, "the server holds as many request bytes as it may (" + budget.max()
            + "); retry shortly"));
      } else {
        body.appendBuffer(chunk);
      }
    });
    req.exceptionHandler(this::fail);
    req.endHandler(v -> {
      vertx.cancelTimer(timer);
      result.tryComplete(body);
    });
    return result.future();
  }

  /**
   * Charges {@code n} more bytes held for this request (a chunk, or a decompressed copy of the body) to the server's
   * budget. Thread-safe.
   *
   * @return false if the budget cannot take them (nothing is charged then)
   */
  public boolean charge(long n) {
    if (!budget.tryAcquire(n)) {
      return false;
    }
    charged.addAndGet(n);
    return true;
  }

  /** Gives back everything charged so far; idempotent. Thread-safe. */
  public void release() {
    long n = charged.getAndSet(0);
    if (n != 0) {
      budget.release(n);
    }
  }

  /** Bytes received so far. */
  public int received() {
    return body.length();
  }

  private void fail(Throwable cause) {
    vertx.cancelTimer(timer);
    if (result.tryFail(cause)) {
      release();
    }
  }
}
