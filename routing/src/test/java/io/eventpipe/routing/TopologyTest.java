package io.eventpipe.routing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.routing.Assignment.Move;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TopologyTest {

  private static final Map<Integer, String> THREE_NODES =
      Map.of(0, "node-0.nodes:8080", 1, "node-1.nodes:8080", 2, "node-2.nodes:8080");

  @Test
  void initialUsesTheComputedAssignment() {
    Topology t = Topology.initial(1, 1024, THREE_NODES);
    assertEquals(1, t.epoch());
    assertEquals(1024, t.partitionCount());
    assertArrayEquals(Assignment.compute(1024, 3).owners(), t.owners());
    assertEquals(Assignment.compute(1024, 3), t.assignment());
    assertEquals(List.of(0, 1, 2), List.copyOf(t.nodes()));
    assertEquals("node-1.nodes:8080", t.addressOf(1));
    assertEquals(Partitioner.of(1024), t.partitioner());
    int total = 0;
    for (int node : t.nodes()) {
      int[] owned = t.ownedBy(node);
      assertTrue(owned.length == 341 || owned.length == 342, "node " + node + " owns " + owned.length);
      for (int p : owned) {
        assertTrue(t.owns(node, p));
        assertEquals(node, t.ownerOf(p));
      }
      total += owned.length;
    }
    assertEquals(1024, total);
  }

  @Test
  void routesAKeyToItsOwnerAndAddress() {
    Topology t = Topology.initial(7, 1024, THREE_NODES);
    int partition = t.partitioner().partition(RoutingKey.of("anon-1", "alice@example.com"));
    int owner = t.ownerOf(partition);
    assertTrue(t.owns(owner, partition));
    assertEquals(THREE_NODES.get(owner), t.addressOf(owner));
  }

  @Test
  void initialRequiresStatefulSetOrdinals() {
    IllegalArgumentException gap = assertThrows(IllegalArgumentException.class,
        () -> Topology.initial(1, 16, Map.of(0, "a:1", 1, "b:1", 3, "c:1")));
    assertTrue(gap.getMessage().contains("0..2") && gap.getMessage().contains("[0, 1, 3]"), gap.getMessage());
    IllegalArgumentException offset = assertThrows(IllegalArgumentException.class,
        () -> Topology.initial(1, 16, Map.of(1, "a:1", 2, "b:1")));
    assertTrue(offset.getMessage().contains("[1, 2]"), offset.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Topology.initial(1, 16, Map.of()));
    IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
        () -> Topology.initial(1, 1000, THREE_NODES));
    assertTrue(count.getMessage().contains("got 1000"), count.getMessage());
  }

  @Test
  void ofAcceptsAnExplicitUnbalancedMapWithIdleNodes() {
    // mid-migration: node 2 is listed (a target) but owns nothing yet
    Topology t = Topology.of(5, new int[] {0, 0, 0, 1}, THREE_NODES);
    assertArrayEquals(new int[] {0, 1, 2}, t.ownedBy(0));
    assertArrayEquals(new int[] {3}, t.ownedBy(1));
    assertArrayEquals(new int[0], t.ownedBy(2));
    assertFalse(t.owns(2, 0));
    assertEquals("node-2.nodes:8080", t.addressOf(2));
    assertEquals(3, t.assignment().nodeCount());
  }

  @Test
  void plansAMigrationAgainstTheComputedAssignment() {
    Topology t = Topology.initial(1, 1024, THREE_NODES);
    List<Move> moves = Assignment.diff(t.assignment(), Assignment.compute(1024, 4));
    assertEquals(256, moves.size());
    assertTrue(moves.stream().allMatch(m -> m.toNode() == 3));
  }

  @Test
  void ofRejectsAnOwnerWithoutAddress() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Topology.of(1, new int[] {0, 1, 4, 2}, THREE_NODES));
    assertTrue(e.getMessage().contains("partition 2") && e.getMessage().contains("node 4"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, new int[] {0, -1}, THREE_NODES));
  }

  @Test
  void ofRejectsAPartitionCountThatIsNotAPowerOfTwo() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Topology.of(1, new int[] {0, 1, 2}, THREE_NODES));
    assertTrue(e.getMessage().contains("got 3"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, new int[0], THREE_NODES));
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, new int[131072], THREE_NODES));
  }

  @Test
  void rejectsBadEpochsOrdinalsAndAddresses() {
    int[] owners = {0, 0};
    IllegalArgumentException epoch = assertThrows(IllegalArgumentException.class,
        () -> Topology.of(-1, owners, THREE_NODES));
    assertTrue(epoch.getMessage().contains("got -1"), epoch.getMessage());
    assertThrows(IllegalArgumentException.class, () -> Topology.initial(-1, 16, THREE_NODES));

    IllegalArgumentException negative = assertThrows(IllegalArgumentException.class,
        () -> Topology.of(1, owners, Map.of(0, "a:1", -2, "b:1")));
    assertTrue(negative.getMessage().contains("got -2"), negative.getMessage());
    assertThrows(IllegalArgumentException.class,
        () -> Topology.of(1, owners, Map.of(0, "a:1", Assignment.MAX_NODES, "b:1")));

    IllegalArgumentException blank = assertThrows(IllegalArgumentException.class,
        () -> Topology.of(1, owners, Map.of(0, " ")));
    assertTrue(blank.getMessage().contains("node 0") && blank.getMessage().contains("\" \""),
        blank.getMessage());
    Map<Integer, String> nullAddress = new HashMap<>();
    nullAddress.put(0, null);
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, owners, nullAddress));
    Map<Integer, String> nullOrdinal = new HashMap<>();
    nullOrdinal.put(0, "a:1");
    nullOrdinal.put(null, "b:1");
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, owners, nullOrdinal));
    assertThrows(IllegalArgumentException.class, () -> Topology.of(1, owners, Map.of()));
    assertThrows(NullPointerException.class, () -> Topology.of(1, null, THREE_NODES));
    assertThrows(NullPointerException.class, () -> Topology.of(1, owners, null));
  }

  @Test
  void rejectsQueriesOutsideTheTopology() {
    Topology t = Topology.of(3, new int[] {0, 1}, THREE_NODES);
    IllegalArgumentException partition =
        assertThrows(IllegalArgumentException.class, () -> t.ownerOf(2));
    assertTrue(partition.getMessage().contains("got 2"), partition.getMessage());
    assertThrows(IllegalArgumentException.class, () -> t.owns(0, -1));
    IllegalArgumentException node = assertThrows(IllegalArgumentException.class, () -> t.addressOf(9));
    assertTrue(node.getMessage().contains("node 9") && node.getMessage().contains("epoch 3"),
        node.getMessage());
    assertArrayEquals(new int[0], t.ownedBy(9));
    assertFalse(t.owns(9, 0));
  }

  @Test
  void isImmutable() {
    int[] owners = {0, 1, 2, 0};
    Map<Integer, String> addresses = new HashMap<>(THREE_NODES);
    Topology t = Topology.of(2, owners, addresses);
    owners[0] = 2;
    addresses.put(0, "elsewhere:1");
    assertEquals(0, t.ownerOf(0));
    assertEquals("node-0.nodes:8080", t.addressOf(0));
    t.owners()[0] = 1;
    t.ownedBy(0)[0] = 3;
    assertEquals(0, t.ownerOf(0));
    assertThrows(UnsupportedOperationException.class, () -> t.nodes().add(5));
    assertThrows(UnsupportedOperationException.class, () -> t.nodeAddresses().put(5, "x:1"));
  }

  @Test
  void isAValue() {
    Topology a = Topology.initial(4, 16, THREE_NODES);
    Topology b = Topology.of(4, Assignment.compute(16, 3).owners(), new HashMap<>(THREE_NODES));
    assertEquals(a, b);
    assertEquals(a.hashCode(), b.hashCode());
    assertNotEquals(a, Topology.initial(5, 16, THREE_NODES));
    assertNotEquals(a, Topology.initial(4, 32, THREE_NODES));
    assertTrue(a.toString().contains("epoch=4"), a.toString());
  }
}
