package io.eventpipe.jobsdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Which server settings make a commit durable, and what the refusal says. */
class DurabilityTest {

  private static Durability with(String fsync, String synchronousCommit, String fullPageWrites) {
    return new Durability("17.7", fsync, synchronousCommit, fullPageWrites, "fdatasync");
  }

  @Test
  void everySynchronousCommitThatWaitsForTheLocalFlushIsDurable() {
    for (String value : List.of("on", "local", "remote_write", "remote_apply")) {
      Durability d = with("on", value, "on");
      assertTrue(d.durable(), value);
      assertSame(d, d.requireDurable("postgresql://u@h:5432/db", "hint"));
    }
  }

  @Test
  void eachNonDurableSettingIsNamedWithItsValueAndFix() {
    assertEquals(List.of("fsync"), settings(with("off", "on", "on")));
    assertEquals(List.of("synchronous_commit"), settings(with("on", "off", "on")));
    assertEquals(List.of("full_page_writes"), settings(with("on", "on", "off")));
    assertEquals(List.of("fsync", "synchronous_commit", "full_page_writes"), settings(with("off", "off", "off")));
    assertFalse(with("on", "off", "on").durable());
  }

  @Test
  void theRefusalNamesTheFirstSettingTheDatabaseAndTheEscapeHatch() {
    JobsDbException.NotDurable e = assertThrows(JobsDbException.NotDurable.class,
        () -> with("on", "off", "off").requireDurable("postgresql://u@h:5432/node0", "Or pass --allow-x"));
    assertEquals("synchronous_commit", e.setting());
    assertEquals("off", e.value());
    assertTrue(e.getMessage().contains("postgresql://u@h:5432/node0"), e.getMessage());
    assertTrue(e.getMessage().contains("synchronous_commit is off (set synchronous_commit = on"), e.getMessage());
    assertTrue(e.getMessage().contains("full_page_writes is off"), e.getMessage());
    assertTrue(e.getMessage().endsWith("Or pass --allow-x"), e.getMessage());
  }

  @Test
  void theSummaryListsEverySetting() {
    assertEquals("PostgreSQL 17.7: fsync=on synchronous_commit=local full_page_writes=on wal_sync_method=fdatasync",
        with("on", "local", "on").summary());
  }

  private static List<String> settings(Durability d) {
    return d.problems().stream().map(Durability.Problem::setting).toList();
  }
}
