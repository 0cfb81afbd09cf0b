package io.eventpipe.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.HistoryChecker.Anomaly;
import io.eventpipe.testing.HistoryChecker.Kind;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Synthetic histories: each anomaly class alone, beside a user whose clean history must not be flagged. */
class HistoryCheckerTest {

  private final AtomicLong now = new AtomicLong();
  private final HistoryChecker h = new HistoryChecker(() -> now.addAndGet(10));

  /** user-ok sends 1..3, each acked and delivered once, in order: innocent traffic beside every hostile case. */
  private void innocent() {
    for (long s = 1; s <= 3; s++) {
      ack("user-ok", s);
      h.delivery("user-ok", s, "0", "1" + s, "1", 200);
    }
  }

  private void ack(String user, long seq) {
    h.sent(user, seq, user + "-" + seq, user + "-" + seq + "#1");
    h.acked(user, seq, user + "-" + seq, user + "-" + seq + "#1");
  }

  @Test
  void aCleanHistoryHasNoAnomalies() {
    innocent();
    assertEquals(List.of(), h.check());
    assertEquals(3, h.acked());
    assertEquals(3, h.deliveredAcked());
    h.assertClean();
  }

  @Test
  void aRedeliveryAfterA503IsTheRetryNotADuplicate() {
    innocent();
    ack("user-1", 1);
    h.delivery("user-1", 1, "0", "7", "1", 503);
    h.delivery("user-1", 1, "0", "7", "2", 503);
    h.delivery("user-1", 1, "1", "3", "3", 200); // moved meanwhile: another node's job delivers it
    ack("user-1", 2);
    h.delivery("user-1", 2, "1", "4", "1", 200);
    assertEquals(List.of(), h.check());
    h.assertClean();
  }

  @Test
  void anAckedEventNeverDeliveredIsLost() {
    innocent();
    ack("user-1", 1);
    ack("user-1", 2);
    h.delivery("user-1", 1, "0", "7", "1", 200);
    h.delivery("user-1", 2, "0", "8", "1", 503); // tried, refused, never delivered
    assertEquals(List.of(Kind.LOST), kinds(h.check()));
    assertEquals(2, h.check().get(0).seq());
    AssertionError e = assertThrows(AssertionError.class, h::assertClean);
    assertTrue(e.getMessage().contains("LOST user-1 seq 2"), e.getMessage());
  }

  @Test
  void aSentButUnacknowledgedEventMayBeDeliveredOrNot() {
    innocent();
    ack("user-1", 1);
    h.sent("user-1", 2, "user-1-2", "user-1-2#1"); // the client timed out: may or may not have been stored
    h.delivery("user-1", 1, "0", "7", "1", 200);
    h.delivery("user-1", 2, "0", "8", "1", 200);
    h.sent("user-2", 1, "user-2-1", "user-2-1#1");
    assertEquals(List.of(), h.check());
  }

  @Test
  void anEventFirstDeliveredAfterALaterOneIsReordered() {
    innocent();
    ack("user-41", 18);
    ack("user-41", 19);
    ack("user-41", 20);
    for (long s = 1; s < 18; s++) {
      h.sent("user-41", s, "m" + s, "r" + s);
      h.acked("user-41", s, "m" + s, "r" + s);
      h.delivery("user-41", s, "0", String.valueOf(s), "1", 200);
    }
    h.event("migrator: before fenced");
    h.delivery("user-41", 18, "0", "18", "1", 200);
    h.delivery("user-41", 19, "0", "19", "1", 503);
    h.delivery("user-41", 20, "2", "5", "1", 200); // the target delivered 20 while 19 was still pending on the source
    h.event("kill -9 of node 2");
    h.delivery("user-41", 19, "0", "19", "2", 200);
    List<Anomaly> anomalies = h.check();
    assertEquals(List.of(Kind.REORDERED), kinds(anomalies));
    assertEquals(19, anomalies.get(0).seq());
    AssertionError e = assertThrows(AssertionError.class, h::assertClean);
    String report = e.getMessage();
    assertTrue(report.contains("REORDERED user-41 seq 19: first delivered (seq 19 at"), report);
    assertTrue(report.contains("by node 2 job 5 attempt 1, answered 200"), report);
    assertTrue(report.contains("acked user-41-19#1"), report);
    assertTrue(report.contains("ms kill -9 of node 2"), report);
    assertTrue(report.contains("ms migrator: before fenced"), report);
  }

  @Test
  void aRedeliveryOfAnEventTheSinkHadAnswered200IsADuplicateNotAReorder() {
    innocent();
    ack("user-1", 1);
    ack("user-1", 2);
    h.delivery("user-1", 1, "0", "7", "1", 200);
    h.delivery("user-1", 2, "0", "8", "1", 200);
    h.delivery("user-1", 1, "1", "3", "1", 200); // copied although delivered: beyond a retry
    List<Anomaly> anomalies = h.check();
    assertEquals(List.of(Kind.DUPLICATED), kinds(anomalies));
    assertTrue(anomalies.get(0).why().contains("after the sink answered 200 to seq 1 at"), anomalies.get(0).why());
    // where a process died between the sink's answer and its record, a test lets duplicates pass, never the rest
    h.assertNo(EnumSet.of(Kind.LOST, Kind.REORDERED, Kind.UNSENT), u -> "");
    assertThrows(AssertionError.class, h::assertClean);
  }

  @Test
  void aDeliveryOfAnEventNobodySentIsUnsent() {
    innocent();
    h.delivery("user-ok", 9, "0", "99", "1", 200);
    assertEquals(List.of(Kind.UNSENT), kinds(h.check()));
  }

  @Test
  void theEvidenceOfTheFirstAnomalysUserEndsTheReport() {
    innocent();
    ack("user-1", 1);
    AssertionError e = assertThrows(AssertionError.class,
        () -> h.assertNo(EnumSet.of(Kind.LOST), u -> "rows of " + u));
    assertTrue(e.getMessage().endsWith("rows of user-1"), e.getMessage());
    assertTrue(e.getMessage().startsWith("1 anomalies {LOST=1}"), e.getMessage());
  }

  private static List<Kind> kinds(List<Anomaly> anomalies) {
    return anomalies.stream().map(Anomaly::kind).toList();
  }
}
