package io.eventpipe.testing;

import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import java.util.concurrent.atomic.AtomicReference;

/** A clock tests move by hand (inject it where the code under test takes a {@link Clock}), instead of sleeping. */
public final class ManualClock extends Clock {

  private final AtomicReference<Instant> now;

  /** Starts at 2026-01-01T00:00:00Z. */
  public ManualClock() {
    this(Instant.parse("2026-01-01T00:00:00Z"));
  }

  public ManualClock(Instant start) {
    this.now = new AtomicReference<>(start);
  }

  @Override
  public ZoneOffset getZone() {
    return ZoneOffset.UTC;
  }

  @Override
  public Clock withZone(ZoneId zone) {
    return this;
  }

  @Override
  public Instant instant() {
    return now.get();
  }

  /** Moves the clock forward by {@code d} and returns the new time. */
  public Instant advance(Duration d) {
    return now.updateAndGet(t -> t.plus(d));
  }
}
