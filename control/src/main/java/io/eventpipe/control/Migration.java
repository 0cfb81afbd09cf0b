package io.eventpipe.control;

import java.time.Instant;
import java.util.List;

/**
 * A change of the node count as the control store records it: the plan (old and new partition map) and how far it
 * got. The steps, in order, are the values of {@link Step}; each is recorded once done, so a rerun resumes after it.
 */
public record Migration(String id, int fromNodes, int toNodes, long fromEpoch, int[] oldOwners, int[] newOwners, Step step,
    boolean abortRequested, String error, long jobsMoved, Instant startedAt, Instant updatedAt, Instant finishedAt,
    Instant dedupCutoff, List<Move> moves) {

  /** The protocol's steps; a migration's step is the last one completed. */
  public enum Step {
    /** The moves are recorded. */
    PLANNED,
    /** Targets hold their incoming partitions, and the dedup window was copied. */
    PREPARED,
    /** Sources refuse writes for their outgoing partitions (recorded in their own databases). */
    FENCED,
    /** The new epoch is published (in the same transaction): proxies send the moved partitions to their targets. */
    SWITCHED,
    /** Every source confirmed that nothing of a moved partition is in memory or in flight. */
    CONFIRMED,
    /** Every moved partition's jobs, dead letters and dedup entries are on its target. */
    COPIED,
    /** Targets deliver the moved partitions: copied jobs first, then the writes they held. */
    RELEASED,
    /** Done: sources record the partitions as gone. */
    FINISHED,
    /** Rolled back before the switch. */
    ABORTED;

    public boolean active() {
      return this != FINISHED && this != ABORTED;
    }

    static Step parse(String s) {
      return valueOf(s.toUpperCase(java.util.Locale.ROOT));
    }

    String sql() {
      return name().toLowerCase(java.util.Locale.ROOT);
    }
  }

  /** One partition that moves, and whether its copy is done. */
  public record Move(int partition, int source, int target, boolean copied) {}

  /** The partitions moving from {@code source} to {@code target}. */
  public List<Integer> partitions(int source, int target) {
    return moves.stream().filter(m -> m.source() == source && m.target() == target).map(Move::partition).toList();
  }

  @Override
  public String toString() {
    return "migration " + id + " (" + fromNodes + " -> " + toNodes + " nodes, " + moves.size() + " partitions, step "
        + step.name().toLowerCase(java.util.Locale.ROOT) + ")";
  }
}
