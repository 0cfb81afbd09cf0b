package io.eventpipe.autoscaler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.apps.StatefulSetBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.fabric8.kubernetes.client.server.mock.KubernetesMockServer;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The Kubernetes resizer against fabric8's mock API server in CRUD mode: the StatefulSet and pod calls are real HTTP
 * to a server that keeps what it is sent. The test plays the StatefulSet controller (it creates the Ready pods) and
 * the migration (it moves partition ownership), and checks what the resizer did in between.
 */
@EnableKubernetesMockClient(crud = true)
class KubernetesResizerTest {

  private static final String NS = "pipeline";
  private static final String STS = "eventpipe-nodes";

  // static: one mock API server for the class (its start is most of this test's time)
  static KubernetesMockServer server;
  static KubernetesClient client;
  /** node -> partitions it owns, as the control store would say. */
  private final Map<Integer, Integer> owned = new ConcurrentHashMap<>();
  private final List<String> events = new ArrayList<>();

  @BeforeEach
  void start() {
    client.pods().inNamespace(NS).delete();
    client.apps().statefulSets().inNamespace(NS).delete();
    client.apps().statefulSets().inNamespace(NS).resource(new StatefulSetBuilder().withNewMetadata().withName(STS).endMetadata()
        .withNewSpec().withReplicas(2).withServiceName(STS).endSpec().build()).create();
    for (int k = 0; k < 2; k++) {
      readyPod(k);
      owned.put(k, 512);
    }
  }

  private void readyPod(int k) {
    client.pods().inNamespace(NS).resource(new PodBuilder().withNewMetadata().withName(STS + "-" + k).endMetadata()
        .withNewStatus().addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus().build()).create();
  }

  private int replicas() {
    return client.apps().statefulSets().inNamespace(NS).withName(STS).get().getSpec().getReplicas();
  }

  /** The migration: partitions spread over {@code to} nodes; records what the StatefulSet looked like when it ran. */
  private Resizer.Migration migration() {
    return to -> {
      events.add("migrate to " + to + " with replicas " + replicas()
          + (client.pods().inNamespace(NS).withName(STS + "-" + (to - 1)).get() == null ? " (new pod missing)" : ""));
      owned.clear();
      for (int k = 0; k < to; k++) {
        owned.put(k, 1024 / to);
      }
    };
  }

  private KubernetesResizer resizer(Resizer.Migration migration) {
    return new KubernetesResizer(client, NS, STS, migration, k -> owned.getOrDefault(k, 0), Duration.ofSeconds(20),
        Clock.systemUTC());
  }

  @Test
  void growRaisesReplicasWaitsForTheNewPodThenMigrates() throws Exception {
    KubernetesResizer r = resizer(migration());
    CompletableFuture<Void> grow = CompletableFuture.runAsync(() -> {
      try {
        r.resize(2, 3);
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    });
    // the StatefulSet controller: once replicas are raised, the new pod starts and becomes Ready
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (replicas() != 3) {
      assertTrue(System.nanoTime() < deadline, "replicas were never raised");
      Thread.sleep(50);
    }
    Thread.sleep(700);
    assertTrue(events.isEmpty(), "migrated before the new pod was ready: " + events);
    readyPod(2);
    grow.get(20, TimeUnit.SECONDS);
    assertEquals(List.of("migrate to 3 with replicas 3"), events);
    assertEquals(3, replicas());
  }

  @Test
  void shrinkMigratesOffTheHighestOrdinalThenLowersReplicas() throws Exception {
    readyPod(2);
    client.apps().statefulSets().inNamespace(NS).withName(STS).edit(s -> {
      s.getSpec().setReplicas(3);
      return s;
    });
    owned.put(2, 300);
    resizer(migration()).resize(3, 2);
    assertEquals(List.of("migrate to 2 with replicas 3"), events, "replicas were lowered before the migration");
    assertEquals(2, replicas());
  }

  @Test
  void aPodThatStillOwnsPartitionsIsNeverRemoved() throws Exception {
    readyPod(2);
    client.apps().statefulSets().inNamespace(NS).withName(STS).edit(s -> {
      s.getSpec().setReplicas(3);
      return s;
    });
    owned.put(2, 300);
    // a migration that returned without moving node 2's partitions (aborted, or another one won the lock)
    Resizer.ResizeException e = assertThrows(Resizer.ResizeException.class, () -> resizer(to -> {}).resize(3, 2));
    assertTrue(e.getMessage().contains("node 2 still owns 300 partitions"), e.getMessage());
    assertEquals(3, replicas(), "Kubernetes was told to remove a pod that owns partitions");
  }

  @Test
  void replicasSomeoneElseChangedAreLeftAlone() throws Exception {
    client.apps().statefulSets().inNamespace(NS).withName(STS).edit(s -> {
      s.getSpec().setReplicas(5); // a helm upgrade with another nodes.replicaCount
      return s;
    });
    Resizer.ResizeException e = assertThrows(Resizer.ResizeException.class, () -> resizer(migration()).resize(2, 1));
    assertTrue(e.getMessage().contains("someone else"), e.getMessage());
    assertEquals(5, replicas());
    assertTrue(events.isEmpty());
  }

  @Test
  void aNewPodThatNeverBecomesReadyFailsTheGrowWithoutMigrating() throws Exception {
    KubernetesResizer r = new KubernetesResizer(client, NS, STS, migration(), k -> owned.getOrDefault(k, 0),
        Duration.ofSeconds(1), Clock.systemUTC());
    Resizer.ResizeException e = assertThrows(Resizer.ResizeException.class, () -> r.resize(2, 3));
    assertTrue(e.getMessage().contains("eventpipe-nodes-2 was not Ready"), e.getMessage());
    assertTrue(events.isEmpty());
    assertEquals(3, replicas());
  }
}
