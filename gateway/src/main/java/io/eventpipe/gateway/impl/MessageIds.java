package io.eventpipe.gateway.impl;

import java.security.SecureRandom;
import java.util.SplittableRandom;
import java.util.UUID;

/**
 * Random (version 4) UUIDs for events that come without a {@code messageId}.
 *
 * <p>{@link UUID#randomUUID()} draws from a shared {@link SecureRandom} under a lock, which costs about a microsecond
 * and contends across event-loop threads. Message ids need uniqueness, not secrecy, so each thread uses its own
 * {@link SplittableRandom} seeded once from {@link SecureRandom}: distinct nodes and restarts cannot share a
 * sequence the way time-seeded generators can, and a collision would make the dedup drop an event.
 */
public final class MessageIds {

  private static final SecureRandom SEEDS = new SecureRandom();
  private static final ThreadLocal<SplittableRandom> RANDOM =
      ThreadLocal.withInitial(() -> new SplittableRandom(SEEDS.nextLong()));

  private MessageIds() {}

  /** A new random version 4 UUID string. */
  public static String next() {
    SplittableRandom r = RANDOM.get();
    long msb = (r.nextLong() & ~0xF000L) | 0x4000L;
    long lsb = (r.nextLong() & 0x3FFFFFFFFFFFFFFFL) | 0x8000000000000000L;
    return new UUID(msb, lsb).toString();
  }
}
