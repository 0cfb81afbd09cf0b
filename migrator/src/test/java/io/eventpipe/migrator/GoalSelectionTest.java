package io.eventpipe.migrator;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.eventpipe.control.Migration;
import io.eventpipe.migrator.Migrator.Goal;
import io.eventpipe.migrator.Migrator.Only;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What a run does next toward its goal ({@link Migrator#decide}), case by case as the chart's hooks meet them: the
 * shrink hook runs before the StatefulSet changes, the grow hook after; a rollback's hooks carry the old count.
 */
class GoalSelectionTest {

  @Test
  void nothingOpenAndTheCountReachedIsNothingToDoForEveryHook() {
    for (Only only : Only.values()) {
      assertEquals(Goal.REACHED, Migrator.decide(null, 3, 3, only));
    }
  }

  @Test
  void eachHookTakesOnlyItsWay() {
    assertEquals(Goal.NOT_THIS_RUNS_WAY, Migrator.decide(null, 2, 3, Only.SHRINK)); // pre-upgrade of a growth
    assertEquals(Goal.PLAN, Migrator.decide(null, 2, 3, Only.GROW));
    assertEquals(Goal.PLAN, Migrator.decide(null, 3, 2, Only.SHRINK));
    assertEquals(Goal.NOT_THIS_RUNS_WAY, Migrator.decide(null, 3, 2, Only.GROW)); // post-upgrade of a shrink
    assertEquals(Goal.PLAN, Migrator.decide(null, 3, 2, Only.ALL));
  }

  /** Issue 16 item 4: the shrink hook resumed an open grow ({@code --only} was ignored when resuming). */
  @Test
  void anOpenMigrationTowardTheGoalIsResumedOnlyByTheHookOfItsWay() {
    Migration grow = migration(2, 3, false);
    assertEquals(Goal.NOT_THIS_RUNS_WAY, Migrator.decide(grow, 2, 3, Only.SHRINK));
    assertEquals(Goal.RESUME, Migrator.decide(grow, 2, 3, Only.GROW));
    assertEquals(Goal.RESUME, Migrator.decide(grow, 2, 3, Only.ALL));
    Migration shrink = migration(3, 2, false);
    assertEquals(Goal.RESUME, Migrator.decide(shrink, 3, 2, Only.SHRINK));
    assertEquals(Goal.NOT_THIS_RUNS_WAY, Migrator.decide(shrink, 3, 2, Only.GROW));
  }

  /** Issue 16 item 1: a rollback's count differs from the open migration's; it was refused, it is a new goal. */
  @Test
  void anOpenMigrationTowardAnotherCountIsSettledFirstWhateverTheHook() {
    for (Only only : Only.values()) {
      assertEquals(Goal.SETTLE, Migrator.decide(migration(2, 3, false), 2, 2, only));
      assertEquals(Goal.SETTLE, Migrator.decide(migration(3, 2, false), 3, 3, only));
      assertEquals(Goal.SETTLE, Migrator.decide(migration(2, 4, false), 2, 3, only));
    }
  }

  @Test
  void anAbortRequestedIsSettledEvenTowardTheGoal() {
    assertEquals(Goal.SETTLE, Migrator.decide(migration(2, 3, true), 2, 3, Only.GROW));
  }

  private static Migration migration(int from, int to, boolean abortRequested) {
    Instant t = Instant.EPOCH;
    return new Migration("m", from, to, 1, new int[4], new int[4], Migration.Step.FENCED, abortRequested, null, 0, t, t, null,
        null, List.of());
  }
}
