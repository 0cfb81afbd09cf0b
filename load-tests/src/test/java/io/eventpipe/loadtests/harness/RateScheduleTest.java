package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The open model's rate control: intended send times from the integral of the rate, bursts included. */
class RateScheduleTest {

  private static final long S = 1_000_000_000L;

  @Test
  void aConstantRateSpacesRequestsEvenlyFromZero() {
    RateSchedule s = RateSchedule.constant(100, 10);
    assertEquals(0, s.intendedNanos(0));
    assertEquals(10_000_000, s.intendedNanos(1));
    assertEquals(5 * S, s.intendedNanos(500));
    assertEquals(1000, s.total());
    assertEquals(-1, s.intendedNanos(1000), "nothing is intended at or after the end");
  }

  @Test
  void noRoundingErrorAccumulatesOverMillionsOfRequests() {
    RateSchedule s = RateSchedule.constant(3, 10_000_000); // 3/s: an interval of 333,333,333.3 ns
    assertEquals(1_000_000 * S, s.intendedNanos(3_000_000), "request 3M is due at exactly 1M seconds");
  }

  @Test
  void aBurstWindowMultipliesTheRateInsideItOnly() {
    // 10/s for 30 s, x5 from 10 s to 20 s: 100 + 500 + 100 requests
    RateSchedule s = new RateSchedule(10, 30 * S, List.of(new RateSchedule.Window(10 * S, 20 * S, 5)));
    assertEquals(700, s.total());
    assertEquals(10 * S, s.intendedNanos(100), "the burst's first request opens the window");
    assertEquals(10 * S + 20_000_000, s.intendedNanos(101), "inside: 50/s");
    assertEquals(20 * S, s.intendedNanos(600), "the first request after the burst");
    assertEquals(20 * S + 100_000_000, s.intendedNanos(601), "after: 10/s again");
    assertEquals(50, s.rateAt(15 * S));
    assertEquals(10, s.rateAt(25 * S));
    long inside = 0;
    for (long i = 0; i < s.total(); i++) {
      long t = s.intendedNanos(i);
      assertTrue(i == 0 || t >= s.intendedNanos(i - 1), "times never go back");
      if (t >= 10 * S && t < 20 * S) {
        inside++;
      }
    }
    assertEquals(500, inside);
  }

  @Test
  void aBadScheduleIsRefusedNamingTheValues() {
    assertThrows(IllegalArgumentException.class, () -> RateSchedule.constant(0, 1));
    assertThrows(IllegalArgumentException.class, () -> new RateSchedule.Window(5, 5, 2));
    IllegalArgumentException overlap = assertThrows(IllegalArgumentException.class, () -> new RateSchedule(1, 30 * S,
        List.of(new RateSchedule.Window(0, 10 * S, 2), new RateSchedule.Window(5 * S, 15 * S, 2))));
    assertTrue(overlap.getMessage().contains("overlap"), overlap.getMessage());
  }
}
