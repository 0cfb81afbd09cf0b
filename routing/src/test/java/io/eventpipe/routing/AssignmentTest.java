package io.eventpipe.routing;

import static io.eventpipe.routing.JumpConsistentHashTest.counts;
import static io.eventpipe.routing.JumpConsistentHashTest.max;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.routing.Assignment.Move;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AssignmentTest {

  private static final int P = 1024;

  // ---- balance -------------------------------------------------------------------------------------

  @Test
  void everyNodeOwnsFloorOrCeilOfItsShareFor1024PartitionsAndUpTo32Nodes() {
    for (int n = 1; n <= 32; n++) {
      Assignment a = Assignment.compute(P, n);
      assertEquals(P, a.partitionCount());
      assertEquals(n, a.nodeCount());
      int floor = P / n;
      int ceil = (P + n - 1) / n;
      int[] counts = counts(a);
      int total = 0;
      for (int node = 0; node < n; node++) {
        int owned = a.partitionsOf(node).length;
        assertEquals(counts[node], owned);
        assertTrue(owned == floor || owned == ceil, "n=" + n + " node " + node + " owns " + owned);
        total += owned;
      }
      assertEquals(P, total);
      double maxOverMean = max(counts) / ((double) P / n);
      assertTrue(maxOverMean <= 1.05, "n=" + n + " max/mean " + maxOverMean);
    }
  }

  @Test
  void isBalancedForLargeClusters() {
    Assignment a = Assignment.compute(65536, 256);
    for (int node = 0; node < 256; node++) {
      assertEquals(256, a.partitionsOf(node).length, "node " + node);
    }
    Assignment b = Assignment.compute(65536, 255);
    for (int node = 0; node < 255; node++) {
      int owned = b.partitionsOf(node).length;
      assertTrue(owned == 65536 / 255 || owned == 65536 / 255 + 1, "node " + node + " owns " + owned);
    }
    assertEquals(256, Assignment.diff(b, a).size());
  }

  @Test
  void theNewestNodeNeverOwnsMoreThanAnyOther() {
    for (int n = 1; n <= 40; n++) {
      Assignment a = Assignment.compute(P, n);
      int newest = a.partitionsOf(n - 1).length;
      for (int node = 0; node < n; node++) {
        assertTrue(newest <= a.partitionsOf(node).length, "n=" + n + " node " + node);
      }
    }
  }

  // ---- movement ------------------------------------------------------------------------------------

  @Test
  void growingMovesOnlyTheNewNodesShareOntoTheNewNode() {
    for (int n = 1; n < 32; n++) {
      Assignment before = Assignment.compute(P, n);
      Assignment after = Assignment.compute(P, n + 1);
      List<Move> moves = Assignment.diff(before, after);
      assertEquals(P / (n + 1), moves.size(), n + " -> " + (n + 1));
      assertEquals(after.partitionsOf(n).length, moves.size());
      for (Move move : moves) {
        assertEquals(n, move.toNode(), "target of " + move);
        assertTrue(move.fromNode() < n, "source of " + move);
        assertEquals(before.ownerOf(move.partition()), move.fromNode());
      }
    }
  }

  @Test
  void shrinkingMovesOnlyTheRemovedNodesPartitions() {
    for (int n = 1; n < 32; n++) {
      Assignment before = Assignment.compute(P, n + 1);
      Assignment after = Assignment.compute(P, n);
      List<Move> moves = Assignment.diff(before, after);
      int[] removed = before.partitionsOf(n);
      assertArrayEquals(removed, moves.stream().mapToInt(Move::partition).toArray(), (n + 1) + " -> " + n);
      for (Move move : moves) {
        assertEquals(n, move.fromNode(), "source of " + move);
        assertTrue(move.toNode() < n, "target of " + move);
      }
    }
  }

  @Test
  void partitionsThatMoveAreScatteredNotContiguous() {
    Assignment two = Assignment.compute(P, 2);
    int[] moved = two.partitionsOf(1);
    assertEquals(512, moved.length);
    int lowerHalf = (int) Arrays.stream(moved).filter(p -> p < 512).count();
    assertTrue(lowerHalf > 200 && lowerHalf < 312, "moved from the lower half: " + lowerHalf);
    int[] toNode31 = Assignment.compute(P, 32).partitionsOf(31);
    assertTrue(toNode31[toNode31.length - 1] - toNode31[0] > 512, Arrays.toString(toNode31));
  }

  // ---- determinism and pinned vectors --------------------------------------------------------------

  @Test
  void isDeterministic() {
    for (int n = 1; n <= 32; n++) {
      Assignment first = Assignment.compute(P, n);
      Assignment second = Assignment.compute(P, n);
      assertEquals(first, second);
      assertEquals(first.hashCode(), second.hashCode());
      assertArrayEquals(first.owners(), second.owners());
    }
  }

  /**
   * Pins the rule, a compatibility contract: the migrator diffs a stored map against a freshly computed
   * one. Values computed by a literal Python transcription of the rule (one partition at a time, donors
   * by count, candidates by {@code mmh3.hash(struct.pack("<ii", p, k), 0, signed=False)}).
   */
  @Test
  void matchesPinnedVectors() {
    assertArrayEquals(new int[] {1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 1},
        Assignment.compute(16, 2).owners());
    assertArrayEquals(new int[] {1, 1, 1, 2, 2, 0, 1, 0, 2, 0, 0, 0, 2, 1, 2, 1},
        Assignment.compute(16, 3).owners());
    assertArrayEquals(new int[] {3, 1, 3, 2, 4, 0, 1, 0, 2, 4, 0, 3, 2, 1, 3, 4},
        Assignment.compute(16, 5).owners());
    assertArrayEquals(new int[] {7, 1, 3, 14, 4, 0, 9, 8, 2, 12, 13, 5, 10, 6, 11, 15},
        Assignment.compute(16, 16).owners());
    Assignment a32 = Assignment.compute(P, 32);
    assertArrayEquals(new int[] {22, 61, 86, 99, 120, 144, 164, 248, 253, 332, 396, 400, 407, 485, 495,
        531, 542, 545, 562, 623, 642, 646, 700, 708, 716, 730, 762, 769, 781, 879, 895, 914},
        a32.partitionsOf(31));
    assertArrayEquals(new int[] {38, 64, 67, 82, 136, 143, 151, 152, 226, 252, 281, 289, 341, 391, 394,
        448, 506, 538, 559, 579, 654, 665, 690, 751, 753, 839, 931, 934, 935, 1004, 1005, 1007},
        a32.partitionsOf(0));
    assertEquals(0x0D8E6BBF, fingerprint(a32));
    Assignment a10 = Assignment.compute(P, 10);
    assertEquals(0x658C1073, fingerprint(a10));
    assertArrayEquals(new int[] {102, 102, 102, 102, 102, 103, 103, 103, 103, 102}, counts(a10));
    assertArrayEquals(new int[] {8, 1, 3, 9, 5, 0, 5, 9, 2, 8, 7, 9, 2, 1, 9, 6, 3, 3, 0, 4, 6, 3, 0, 9, 1, 0,
        8, 3, 3, 0, 3, 4}, Arrays.copyOf(a10.owners(), 32));
  }

  /** The optimized construction equals a literal, slow implementation of the rule as specified. */
  @Test
  void matchesALiteralImplementationOfTheRule() {
    for (int partitions : new int[] {1, 2, 4, 8, 16, 64, 256}) {
      for (int n = 1; n <= 40; n++) {
        assertArrayEquals(literal(partitions, n), Assignment.compute(partitions, n).owners(),
            "P=" + partitions + " n=" + n);
      }
    }
    for (int n : new int[] {3, 7, 10, 17, 32}) {
      assertArrayEquals(literal(P, n), Assignment.compute(P, n).owners(), "P=1024 n=" + n);
    }
  }

  /**
   * The rule, transcribed literally: each new node takes floor(P/(k+1)) partitions one at a time, each
   * from the node owning the most (lowest ordinal on ties), choosing the donor's partition with the
   * smallest (murmur3(le32(p) ++ le32(k)) unsigned, p).
   */
  private static int[] literal(int partitions, int n) {
    int[] owners = new int[partitions];
    for (int k = 1; k < n; k++) {
      int share = partitions / (k + 1);
      for (int taken = 0; taken < share; taken++) {
        int[] counts = new int[k];
        for (int owner : owners) {
          if (owner < k) {
            counts[owner]++;
          }
        }
        int donor = 0;
        for (int d = 1; d < k; d++) {
          if (counts[d] > counts[donor]) {
            donor = d;
          }
        }
        int best = -1;
        long bestHash = Long.MAX_VALUE;
        for (int p = 0; p < partitions; p++) {
          if (owners[p] == donor) {
            byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putInt(p).putInt(k).array();
            long hash = Integer.toUnsignedLong(Murmur3.hash32(bytes, 0));
            if (hash < bestHash) { // ascending p, so ties keep the lower partition
              bestHash = hash;
              best = p;
            }
          }
        }
        owners[best] = k;
      }
    }
    return owners;
  }

  private static int fingerprint(Assignment a) {
    ByteBuffer bytes = ByteBuffer.allocate(4 * a.partitionCount()).order(ByteOrder.LITTLE_ENDIAN);
    for (int owner : a.owners()) {
      bytes.putInt(owner);
    }
    return Murmur3.hash32(bytes.array(), 0);
  }

  @Test
  void selectSmallestPutsTheSmallestFirst() {
    SplittableRandom random = new SplittableRandom(3);
    for (int round = 0; round < 2000; round++) {
      int size = 1 + random.nextInt(300);
      long[] a = random.longs(size, 0, Long.MAX_VALUE).distinct().toArray();
      size = a.length;
      if (round % 3 == 0) {
        Arrays.sort(a); // sorted and reversed inputs exercise the pivot choice
      } else if (round % 3 == 1) {
        Arrays.sort(a);
        for (int i = 0; i < size / 2; i++) {
          long tmp = a[i];
          a[i] = a[size - 1 - i];
          a[size - 1 - i] = tmp;
        }
      }
      int count = random.nextInt(size + 1);
      long[] sorted = a.clone();
      Arrays.sort(sorted);
      Assignment.selectSmallest(a, size, count);
      long[] head = Arrays.copyOf(a, count);
      Arrays.sort(head);
      assertArrayEquals(Arrays.copyOf(sorted, count), head, "size " + size + " count " + count);
      long[] all = a.clone();
      Arrays.sort(all);
      assertArrayEquals(sorted, all, "a permutation");
    }
  }

  // ---- more nodes than partitions, tiny clusters ---------------------------------------------------

  @Test
  void moreNodesThanPartitionsLeavesTheExtraNodesEmpty() {
    Assignment sixteen = Assignment.compute(16, 16);
    Set<Integer> owners = new HashSet<>();
    for (int node = 0; node < 16; node++) {
      assertEquals(1, sixteen.partitionsOf(node).length, "node " + node);
      owners.add(sixteen.ownerOf(sixteen.partitionsOf(node)[0]));
    }
    assertEquals(16, owners.size());

    Assignment twenty = Assignment.compute(16, 20);
    assertEquals(20, twenty.nodeCount());
    for (int node = 16; node < 20; node++) {
      assertEquals(0, twenty.partitionsOf(node).length, "node " + node);
    }
    assertEquals(List.of(), Assignment.diff(sixteen, twenty));
    assertNotEquals(sixteen, twenty); // same map, different node count
    assertArrayEquals(sixteen.owners(), twenty.owners());
    assertEquals(0, Assignment.compute(1, Assignment.MAX_NODES).partitionsOf(Assignment.MAX_NODES - 1).length);
  }

  @Test
  void onePartitionAlwaysStaysOnNodeZero() {
    for (int n = 1; n <= 5; n++) {
      assertEquals(0, Assignment.compute(1, n).ownerOf(0));
    }
  }

  // ---- explicit maps, diff, validation -------------------------------------------------------------

  @Test
  void wrapsAnExplicitMapAndCopiesIt() {
    int[] owners = {0, 0, 2, 2};
    Assignment a = Assignment.of(owners, 3);
    owners[0] = 1;
    assertEquals(0, a.ownerOf(0));
    assertArrayEquals(new int[] {0, 1}, a.partitionsOf(0));
    assertArrayEquals(new int[0], a.partitionsOf(1));
    assertArrayEquals(new int[] {2, 3}, a.partitionsOf(2));
    a.owners()[0] = 2;
    a.partitionsOf(0)[0] = 3;
    assertArrayEquals(new int[] {0, 0, 2, 2}, a.owners());
  }

  @Test
  void diffListsMovesInPartitionOrder() {
    Assignment from = Assignment.of(new int[] {0, 1, 0, 1}, 2);
    Assignment to = Assignment.of(new int[] {1, 1, 0, 0}, 2);
    assertEquals(List.of(new Move(0, 0, 1), new Move(3, 1, 0)), Assignment.diff(from, to));
    assertEquals(List.of(), Assignment.diff(from, from));
  }

  @Test
  void diffRejectsDifferentPartitionCounts() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Assignment.diff(Assignment.compute(16, 2), Assignment.compute(32, 2)));
    assertTrue(e.getMessage().contains("16") && e.getMessage().contains("32"), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, 3, 1000, 131072})
  void rejectsBadPartitionCounts(int partitionCount) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Assignment.compute(partitionCount, 2));
    assertTrue(e.getMessage().contains("got " + partitionCount), e.getMessage());
  }

  @ParameterizedTest
  @ValueSource(ints = {0, -1, Assignment.MAX_NODES + 1})
  void rejectsBadNodeCounts(int nodeCount) {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> Assignment.compute(16, nodeCount));
    assertTrue(e.getMessage().contains("got " + nodeCount), e.getMessage());
  }

  @Test
  void rejectsOutOfRangeQueries() {
    Assignment a = Assignment.compute(16, 3);
    assertTrue(assertThrows(IllegalArgumentException.class, () -> a.ownerOf(16)).getMessage()
        .contains("got 16"));
    assertThrows(IllegalArgumentException.class, () -> a.ownerOf(-1));
    assertTrue(assertThrows(IllegalArgumentException.class, () -> a.partitionsOf(3)).getMessage()
        .contains("got 3"));
    assertThrows(IllegalArgumentException.class, () -> a.partitionsOf(-1));
  }

  @Test
  void rejectsBadExplicitMaps() {
    IllegalArgumentException owner = assertThrows(IllegalArgumentException.class,
        () -> Assignment.of(new int[] {0, 1, 5, 0}, 3));
    assertTrue(owner.getMessage().contains("partition 2") && owner.getMessage().contains("got 5"),
        owner.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Assignment.of(new int[] {0, -1}, 3));
    IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
        () -> Assignment.of(new int[] {0, 0, 0}, 1));
    assertTrue(length.getMessage().contains("got 3"), length.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Assignment.of(new int[0], 1));
    assertThrows(NullPointerException.class, () -> Assignment.of(null, 1));
  }

  @Test
  void moveRejectsNonMoves() {
    IllegalArgumentException e =
        assertThrows(IllegalArgumentException.class, () -> new Move(3, 2, 2));
    assertTrue(e.getMessage().contains("2 -> 2"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> new Move(-1, 0, 1));
    assertThrows(IllegalArgumentException.class, () -> new Move(0, -1, 1));
    assertThrows(IllegalArgumentException.class, () -> new Move(0, 0, -1));
  }
}
