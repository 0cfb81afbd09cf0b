package io.eventpipe.testing;

import io.vertx.core.Future;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/** Waiting in tests: for a future's result, or (bounded, by polling) for a condition; never a fixed sleep. */
public final class Waiting {

  /** How long a test waits before it fails. Generous: the build machine is shared and slow. */
  public static final Duration TIMEOUT = Duration.ofSeconds(60);

  private Waiting() {}

  /** The result of {@code f}, waiting at most {@link #TIMEOUT}; its failure is rethrown (unchecked). */
  public static <T> T await(Future<T> f) {
    return await(f, TIMEOUT);
  }

  /** The result of {@code f}, waiting at most {@code timeout}; its failure is rethrown (unchecked). */
  public static <T> T await(Future<T> f, Duration timeout) {
    try {
      return f.toCompletionStage().toCompletableFuture().get(timeout.toMillis(), TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      if (e.getCause() instanceof RuntimeException re) {
        throw re;
      }
      if (e.getCause() instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException(e.getCause());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted", e);
    } catch (java.util.concurrent.TimeoutException e) {
      throw new AssertionError("no result within " + timeout, e);
    }
  }

  /** Waits at most {@link #TIMEOUT} until {@code condition} holds, else fails naming {@code what}. */
  public static void eventually(String what, BooleanSupplier condition) {
    eventually(what, condition, () -> "");
  }

  /** As {@link #eventually(String, BooleanSupplier)}, adding {@code detail} (read at the timeout) to the failure. */
  public static void eventually(String what, BooleanSupplier condition, Supplier<String> detail) {
    long deadline = System.nanoTime() + TIMEOUT.toNanos();
    while (!condition.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError("timed out waiting for: " + what + " " + detail.get());
      }
      try {
        Thread.sleep(10);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new AssertionError("interrupted waiting for " + what, e);
      }
    }
  }
}
