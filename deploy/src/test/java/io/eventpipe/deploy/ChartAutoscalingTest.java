package io.eventpipe.deploy;

import static io.eventpipe.deploy.RenderedChart.RELEASE;
import static io.eventpipe.deploy.RenderedChart.render;
import static io.eventpipe.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.rbac.PolicyRule;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** autoscaling.nodes: off by default; on, the autoscaler's Deployment, its Role on one StatefulSet, and who owns replicas. */
class ChartAutoscalingTest {

  private static final String STS = RELEASE + "-node";

  private static Map<String, Object> on(Object... more) {
    Object[] all = new Object[4 + more.length];
    all[0] = "autoscaling.nodes.enabled";
    all[1] = true;
    all[2] = "autoscaling.nodes.max";
    all[3] = 4;
    System.arraycopy(more, 0, all, 4, more.length);
    return values(all);
  }

  @Test
  void offByDefaultNothingOfItIsRendered() {
    RenderedChart c = render();
    for (HasMetadata o : c.objects) {
      assertTrue(!o.getMetadata().getName().contains("autoscaler"), "rendered with autoscaling off: " + o.getMetadata().getName());
    }
  }

  @Test
  void theAutoscalerRunsWithARoleLimitedToTheNodesStatefulSet() {
    RenderedChart c = render(on("nodes.replicaCount", 2));
    Deployment d = c.one(Deployment.class, RELEASE + "-autoscaler");
    assertEquals(1, d.getSpec().getReplicas());
    assertEquals("Recreate", d.getSpec().getStrategy().getType(), "two autoscalers must never run at once");
    var pod = d.getSpec().getTemplate().getSpec();
    assertEquals(RELEASE + "-autoscaler", pod.getServiceAccountName());
    assertTrue(pod.getAutomountServiceAccountToken(), "it talks to the Kubernetes API");
    Container k = pod.getContainers().get(0);
    assertEquals(List.of("autoscaler", "--nodes", "1..4", "--kubernetes-statefulset", STS, "--kubernetes-namespace",
        RenderedChart.NAMESPACE, "--progress", "plain"), k.getArgs());
    String control = ChartTest.env(k, "PIPELINE_CONTROL_URL").getValue();
    assertTrue(control.startsWith("postgresql://eventpipe_migrator:"), "it migrates: the migrator's role, " + control);
    assertTrue(ChartTest.env(k, "PIPELINE_NODE_PG_URL").getValue().contains("{node}"));
    assertEquals("120", ChartTest.env(k, "PIPELINE_UP_WINDOW_SECONDS").getValue());

    Role role = c.one(Role.class, RELEASE + "-autoscaler");
    PolicyRule sts = role.getRules().get(0);
    assertEquals(List.of("statefulsets"), sts.getResources());
    assertEquals(List.of(STS), sts.getResourceNames(), "only the nodes' StatefulSet");
    assertEquals(List.of("get", "patch"), sts.getVerbs());
    PolicyRule pods = role.getRules().get(1);
    assertEquals(List.of(STS + "-0", STS + "-1", STS + "-2", STS + "-3"), pods.getResourceNames(), "its pods up to max, by name");
    assertEquals(List.of("get"), pods.getVerbs());
    assertEquals(2, role.getRules().size());
    RoleBinding binding = c.one(RoleBinding.class, RELEASE + "-autoscaler");
    assertEquals(RELEASE + "-autoscaler", binding.getRoleRef().getName());
    assertEquals(RELEASE + "-autoscaler", binding.getSubjects().get(0).getName());

    // every flag it is given is one `pipeline autoscaler` accepts
    ContractTest.chartProcesses(c).values().stream().filter(p -> "autoscaler".equals(p.role())).findFirst().orElseThrow()
        .assertAcceptedByTheLauncher();
  }

  @Test
  void theNetworkPolicyLetsTheAutoscalerReadTheNodesAndTheirDatabases() {
    RenderedChart c = render(on());
    Map<String, String> labels = c.one(Deployment.class, RELEASE + "-autoscaler").getSpec().getTemplate().getMetadata().getLabels();
    NetworkPolicy nodes = c.one(NetworkPolicy.class, RELEASE + "-node");
    String rendered = nodes.getSpec().getIngress().toString();
    for (int port : new int[] {8081, 5432}) {
      boolean admitted = nodes.getSpec().getIngress().stream().anyMatch(r -> r.getPorts().stream()
          .anyMatch(x -> x.getPort().getIntVal() == port) && r.getFrom().stream().anyMatch(peer -> peer.getPodSelector() != null
          && labels.entrySet().containsAll(peer.getPodSelector().getMatchLabels().entrySet())));
      assertTrue(admitted, "port " + port + " closed to the autoscaler: " + rendered);
    }
  }

  @Test
  void onAnUpgradeTheLiveReplicasWinAndTheHooksMoveNothing() {
    FakeKubeApi api = FakeKubeApi.get();
    api.put(RenderedChart.NAMESPACE, "statefulsets", STS, """
        {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"%s","namespace":"%s"},"spec":{"replicas":3}}"""
        .formatted(STS, RenderedChart.NAMESPACE));
    try {
      RenderedChart c = render(on("nodes.replicaCount", 1));
      assertEquals(3, c.nodes().getSpec().getReplicas(), "helm upgrade reset the autoscaler's count");
      assertEquals("3", ChartTest.flag(c.one(Job.class, RELEASE + "-migrate-shrink"), "--to"));
      assertEquals("3", ChartTest.flag(c.one(Job.class, RELEASE + "-migrate-grow"), "--to"));
      // autoscaling off again: nodes.replicaCount is in charge (and the hooks resize to it)
      assertEquals(1, render(values("nodes.replicaCount", 1)).nodes().getSpec().getReplicas());
    } finally {
      api.clear();
    }
    assertEquals(2, render(on("nodes.replicaCount", 2)).nodes().getSpec().getReplicas(), "a first install takes replicaCount");
  }

  @Test
  void boundsAreCheckedAgainstEachOtherAndThePartitions() {
    Exception e = assertThrows(IllegalStateException.class, () -> render(on("autoscaling.nodes.min", 5)));
    assertTrue(e.getMessage().contains("autoscaling.nodes.min (5) is more than autoscaling.nodes.max (4)"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> render(on("partitions", 2, "nodes.replicaCount", 1)));
    assertTrue(e.getMessage().contains("autoscaling.nodes.max (4) is more than partitions (2)"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> render(on("nodes.replicaCount", 6)));
    assertTrue(e.getMessage().contains("within autoscaling.nodes.min..max"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> render(on("autoscaling.nodes.failingRatio", 0)));
    assertTrue(e.getMessage().contains("failingRatio"), e.getMessage());
  }

  @Test
  void cloudNativePgModeHasADatabaseForEveryOrdinalUpToMax() {
    RenderedChart c = render(on("nodes.database.mode", "cloudnativepg", "nodes.replicaCount", 2));
    long clusters = c.raw.stream().filter(m -> "Cluster".equals(m.get("kind"))).count();
    assertEquals(4, clusters);
  }
}
