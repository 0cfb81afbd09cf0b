package io.eventpipe.gateway.http;

import io.eventpipe.gateway.GatewayException;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpVersion;
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

  /**
   * After an answer sent before the body was read (with {@code Connection: close}), the client may still be
   * sending the body. Vert.x would go on reading and discarding all of it, however long (the header does not stop
   * it); instead swallow at most another {@code maxBytes} of it, for at most {@code timeoutMs}, then close
   * (Tomcat's maxSwallowSize).
   * Swallowing rather than closing at once lets a client that is mid-upload read the answer before the reset.
   */
  public static void swallowThenClose(Vertx vertx, HttpServerRequest req, long maxBytes, long timeoutMs) {
    if (req.version() == HttpVersion.HTTP_2) {
      return; // the stream is answered; the connection carries other streams
    }
    if (req.isEnded()) {
      req.connection().close();
      return;
    }
    long[] swallowed = {0};
    long deadline = vertx.setTimer(timeoutMs, t -> req.connection().close()); // nor for ever
    req.handler(chunk -> {
      swallowed[0] += chunk.length();
      if (swallowed[0] > maxBytes) {
        req.connection().close();
      }
    });
    req.endHandler(v -> {
      vertx.cancelTimer(deadline);
      req.connection().close();
    });
  }

  private void fail(Throwable cause) {
    vertx.cancelTimer(timer);
    if (result.tryFail(cause)) {
      release();
    }
  }
}
