package io.eventpipe.deploy;

import static io.eventpipe.deploy.RenderedChart.RELEASE;
import static io.eventpipe.deploy.RenderedChart.render;
import static io.eventpipe.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.LabelSelector;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyPeer;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The chart as Helm renders it, for 1, 3 and 5 nodes, resizes, and its options. */
class ChartTest {

  private static final String SHRINK = RELEASE + "-migrate-shrink";
  private static final String GROW = RELEASE + "-migrate-grow";

  @ParameterizedTest
  @ValueSource(ints = {1, 3, 5})
  void nodesAreAStatefulSetOfReplicaCountEachWithItsOwnPostgres(int n) {
    RenderedChart c = render(values("nodes.replicaCount", n));
    StatefulSet sts = c.nodes();
    assertEquals(n, sts.getSpec().getReplicas());
    assertEquals("Parallel", sts.getSpec().getPodManagementPolicy());
    assertEquals(RELEASE + "-nodes", sts.getSpec().getServiceName());
    Service headless = c.one(Service.class, RELEASE + "-nodes");
    assertEquals("None", headless.getSpec().getClusterIP());
    assertTrue(headless.getSpec().getPublishNotReadyAddresses(), "node DNS names resolve while a node is not ready");
    // PostgreSQL k lives in pod k on the claim data-<sts>-k: a native sidecar (restartPolicy Always) started before
    // the node and stopped after it
    Container pg = sts.getSpec().getTemplate().getSpec().getInitContainers().get(0);
    assertEquals("postgres", pg.getName());
    assertEquals("Always", pg.getRestartPolicy());
    assertEquals("data", sts.getSpec().getVolumeClaimTemplates().get(0).getMetadata().getName());
    assertTrue(pg.getVolumeMounts().stream().anyMatch(m -> m.getName().equals("data")));
    assertEquals("127.0.0.1", hostOf(env(node(sts.getSpec().getTemplate()), "PIPELINE_PG_URL").getValue()));
    assertEquals(String.valueOf(n), c.one(ConfigMap.class, RELEASE + "-cluster").getData().get("nodes"));
    // the shrink and grow hooks target n
    assertEquals(String.valueOf(n), flag(c.one(Job.class, SHRINK), "--to"));
    assertEquals(String.valueOf(n), flag(c.one(Job.class, GROW), "--to"));
  }

  @Test
  void resizingChangesNoPodTemplate() {
    RenderedChart three = render(values("nodes.replicaCount", 3));
    RenderedChart five = render(values("nodes.replicaCount", 5));
    for (String owner : three.podTemplates().keySet()) {
      if (owner.startsWith("Job/")) {
        continue; // the hooks run once per upgrade, with the new count
      }
      RenderedChart.assertSameYaml(three.podTemplates().get(owner), five.podTemplates().get(owner),
          owner + ": a pod template that depends on nodes.replicaCount would restart every node on a resize");
    }
    // and the node count reaches the nodes only through the ConfigMap they name
    EnvVar clusterNodes = env(controlInit(five.nodes().getSpec().getTemplate()), "PIPELINE_CLUSTER_NODES");
    assertNull(clusterNodes.getValue());
    assertEquals(RELEASE + "-cluster", clusterNodes.getValueFrom().getConfigMapKeyRef().getName());
    assertFalse(five.podTemplates().entrySet().stream().filter(e -> !e.getKey().startsWith("Job/"))
        .anyMatch(e -> RenderedChart.yaml(e.getValue()).contains("checksum/")), "no config checksum restarts pods");
  }

  @Test
  void migratorHooksShrinkBeforeAndGrowAfterTheUpgradeAndTheRollback() {
    RenderedChart c = render();
    Job shrink = c.one(Job.class, SHRINK);
    Job grow = c.one(Job.class, GROW);
    // Argo CD's own hook annotations beside Helm's (Argo CD uses them instead of Helm's: ChartGitOpsTest)
    assertEquals(Map.of("helm.sh/hook", "pre-upgrade,pre-rollback", "helm.sh/hook-weight", "0",
        "helm.sh/hook-delete-policy", "before-hook-creation,hook-succeeded", "argocd.argoproj.io/hook", "Sync",
        "argocd.argoproj.io/sync-wave", "-1", "argocd.argoproj.io/hook-delete-policy", "BeforeHookCreation,HookSucceeded"),
        shrink.getMetadata().getAnnotations());
    assertEquals(Map.of("helm.sh/hook", "post-upgrade,post-rollback", "helm.sh/hook-weight", "0",
        "helm.sh/hook-delete-policy", "before-hook-creation,hook-succeeded", "argocd.argoproj.io/hook", "PostSync",
        "argocd.argoproj.io/hook-delete-policy", "BeforeHookCreation,HookSucceeded"), grow.getMetadata().getAnnotations());
    assertEquals("shrink", flag(shrink, "--only"));
    assertEquals("grow", flag(grow, "--only"));
    assertEquals("600", flag(grow, "--ready-timeout-seconds"));
    assertNull(flag(shrink, "--ready-timeout-seconds"));
    for (Job j : List.of(shrink, grow)) {
      // issue 16: a first sync's empty control store is nothing to move; a rerun waits for an older hook's migrator
      assertTrue(j.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs().contains("--if-initialized"), j.getMetadata().getName());
      assertEquals("120", flag(j, "--lock-wait-seconds"), j.getMetadata().getName());
    }
    for (Job j : List.of(shrink, grow)) {
      assertEquals(2, j.getSpec().getBackoffLimit());
      assertEquals(3600L, j.getSpec().getActiveDeadlineSeconds());
      assertEquals("Never", j.getSpec().getTemplate().getSpec().getRestartPolicy());
      // the migrator reaches node k's PostgreSQL at pod k's name under the nodes' headless Service
      String nodePgUrl = env(j.getSpec().getTemplate().getSpec().getContainers().get(0), "PIPELINE_NODE_PG_URL").getValue();
      assertEquals(RELEASE + "-node-{node}." + RELEASE + "-nodes." + RenderedChart.NAMESPACE + ".svc", hostOf(nodePgUrl));
      assertTrue(nodePgUrl.contains(":$(NODE_DB_PASSWORD)@"), nodePgUrl);
    }
    // no other hook but control-init (before the shrink: ChartGitOpsTest)
    assertEquals(Set.of(SHRINK, GROW, RELEASE + "-control-init"), c.objects.stream().filter(o -> o.getMetadata().getAnnotations() != null
        && o.getMetadata().getAnnotations().containsKey("helm.sh/hook")).map(o -> o.getMetadata().getName())
        .collect(Collectors.toSet()));
  }

  /**
   * A resize is an upgrade from revision A to revision B; a rollback runs the hooks of the revision rolled back to.
   * Helm runs pre-upgrade hooks of B, applies B, runs post-upgrade hooks of B.
   */
  @ParameterizedTest
  @ValueSource(strings = {"5->3", "3->5", "1->4", "4->1"})
  void upgradeScalesWithTheMigratorOnBothSides(String resize) {
    int from = Integer.parseInt(resize.split("->")[0]);
    int to = Integer.parseInt(resize.split("->")[1]);
    RenderedChart a = render(values("nodes.replicaCount", from));
    RenderedChart b = render(values("nodes.replicaCount", to));
    // before B's StatefulSet removes nodes, B's pre-upgrade hook moves their partitions away (--to B)
    assertEquals(String.valueOf(to), flag(b.one(Job.class, SHRINK), "--to"));
    assertEquals(to, b.nodes().getSpec().getReplicas());
    // after B's StatefulSet has created nodes, B's post-upgrade hook waits for them and moves their share (--to B)
    assertEquals(String.valueOf(to), flag(b.one(Job.class, GROW), "--to"));
    // a rollback to A runs A's pre-rollback shrink and post-rollback grow, both --to A
    assertTrue(a.one(Job.class, SHRINK).getMetadata().getAnnotations().get("helm.sh/hook").contains("pre-rollback"));
    assertTrue(a.one(Job.class, GROW).getMetadata().getAnnotations().get("helm.sh/hook").contains("post-rollback"));
    assertEquals(String.valueOf(from), flag(a.one(Job.class, SHRINK), "--to"));
    // the existing nodes are not restarted: same pod template
    RenderedChart.assertSameYaml(a.nodes().getSpec().getTemplate(), b.nodes().getSpec().getTemplate(), "node pod template");
    // and the rest of the StatefulSet spec differs only by replicas
    a.nodes().getSpec().setReplicas(0);
    b.nodes().getSpec().setReplicas(0);
    RenderedChart.assertSameYaml(a.nodes().getSpec(), b.nodes().getSpec(), "node StatefulSet spec");
  }

  @Test
  void probesLivenessNeverDependsOnTheDatabase() {
    RenderedChart c = render();
    Container node = node(c.nodes().getSpec().getTemplate());
    assertEquals("/health/live", node.getLivenessProbe().getHttpGet().getPath());
    assertEquals("/health/ready", node.getReadinessProbe().getHttpGet().getPath());
    assertEquals("/health/live", node.getStartupProbe().getHttpGet().getPath());
    assertTrue(node.getStartupProbe().getFailureThreshold() * node.getStartupProbe().getPeriodSeconds() >= 600);
    assertTrue(node.getLivenessProbe().getFailureThreshold() * node.getLivenessProbe().getPeriodSeconds() >= 60);
    Container proxy = c.one(Deployment.class, RELEASE + "-proxy").getSpec().getTemplate().getSpec().getContainers().get(0);
    assertEquals("/health/live", proxy.getLivenessProbe().getHttpGet().getPath());
    assertEquals("/health/ready", proxy.getReadinessProbe().getHttpGet().getPath());
    assertEquals("admin", proxy.getReadinessProbe().getHttpGet().getPort().getStrVal());
    // every long-running container has liveness and readiness
    c.podTemplates().forEach((owner, t) -> {
      if (!owner.startsWith("Job/") && !owner.startsWith("CronJob/")) {
        // control-init runs to completion before the node starts: no probes for it
        RenderedChart.containers(t).filter(k -> !k.getName().equals("control-init")).forEach(k -> {
          assertTrue(k.getLivenessProbe() != null && k.getReadinessProbe() != null, owner + " " + k.getName());
        });
      }
    });
  }

  @Test
  void gracefulShutdownAndDisruptionBudgets() {
    RenderedChart c = render();
    var nodeSpec = c.nodes().getSpec().getTemplate().getSpec();
    Container node = node(c.nodes().getSpec().getTemplate());
    assertEquals(List.of("sleep", "5"), node.getLifecycle().getPreStop().getExec().getCommand());
    // preStop, then the node's own drain (40 s) and close (10 s)
    assertTrue(nodeSpec.getTerminationGracePeriodSeconds() >= 5 + 40 + 10, "grace " + nodeSpec.getTerminationGracePeriodSeconds());
    var proxySpec = c.one(Deployment.class, RELEASE + "-proxy").getSpec().getTemplate().getSpec();
    assertEquals(List.of("sleep", "10"), proxySpec.getContainers().get(0).getLifecycle().getPreStop().getExec().getCommand());
    assertTrue(proxySpec.getTerminationGracePeriodSeconds() >= 10 + 40);
    PodDisruptionBudget nodesPdb = c.one(PodDisruptionBudget.class, RELEASE + "-node");
    assertEquals(1, nodesPdb.getSpec().getMaxUnavailable().getIntVal());
    assertEquals(c.nodes().getSpec().getSelector(), nodesPdb.getSpec().getSelector());
    PodDisruptionBudget proxyPdb = c.one(PodDisruptionBudget.class, RELEASE + "-proxy");
    assertEquals(c.one(Deployment.class, RELEASE + "-proxy").getSpec().getSelector(), proxyPdb.getSpec().getSelector());
    assertEquals(2, c.all(PodDisruptionBudget.class).size(), "no budget on the single control store: it would block drains");
  }

  @Test
  void everyContainerRunsAsNonRootWithResources() {
    RenderedChart c = render();
    c.podTemplates().forEach((owner, t) -> {
      assertTrue(t.getSpec().getSecurityContext().getRunAsNonRoot(), owner);
      assertFalse(t.getSpec().getAutomountServiceAccountToken(), owner + " needs no Kubernetes API token");
      RenderedChart.containers(t).forEach(k -> {
        String what = owner + " " + k.getName();
        var sc = k.getSecurityContext();
        assertTrue(sc.getRunAsNonRoot() && sc.getRunAsUser() > 0, what);
        assertFalse(sc.getAllowPrivilegeEscalation(), what);
        assertTrue(sc.getReadOnlyRootFilesystem(), what);
        assertEquals(List.of("ALL"), sc.getCapabilities().getDrop(), what);
        assertTrue(k.getResources().getRequests().containsKey("memory") && k.getResources().getLimits().containsKey("memory"), what);
      });
    });
  }

  @Test
  void proxiesAutoscaleOrHaveFixedReplicas() {
    RenderedChart scaled = render();
    HorizontalPodAutoscaler hpa = scaled.one(HorizontalPodAutoscaler.class, RELEASE + "-proxy");
    assertEquals(RELEASE + "-proxy", hpa.getSpec().getScaleTargetRef().getName());
    assertNull(scaled.one(Deployment.class, RELEASE + "-proxy").getSpec().getReplicas(), "the autoscaler owns replicas");
    RenderedChart fixed = render(values("proxy.autoscaling.enabled", false, "proxy.replicaCount", 4));
    assertFalse(fixed.has(HorizontalPodAutoscaler.class, RELEASE + "-proxy"));
    assertEquals(4, fixed.one(Deployment.class, RELEASE + "-proxy").getSpec().getReplicas());
  }

  @Test
  void networkPolicyLetsOnlyProxiesAndTheMigratorReachNodes() {
    RenderedChart c = render();
    NetworkPolicy nodes = c.one(NetworkPolicy.class, RELEASE + "-node");
    assertEquals(c.nodes().getSpec().getSelector().getMatchLabels(), nodes.getSpec().getPodSelector().getMatchLabels());
    assertEquals(List.of("Ingress"), nodes.getSpec().getPolicyTypes());
    Map<Integer, Set<String>> reach = new LinkedHashMap<>();
    for (NetworkPolicyIngressRule rule : nodes.getSpec().getIngress()) {
      for (var port : rule.getPorts()) {
        reach.computeIfAbsent(port.getPort().getIntVal(), p -> new TreeSet<>()).addAll(components(rule.getFrom()));
      }
    }
    // nodes too: `pipeline status` runs in a node pod (NOTES.txt) and asks every node (issue 16 item 5)
    assertEquals(Map.of(8081, Set.of("proxy", "migrator", "node"), 5432, Set.of("migrator")), reach);
    NetworkPolicy control = c.one(NetworkPolicy.class, RELEASE + "-control");
    assertEquals(Set.of("node", "proxy", "migrator", "control-init"), components(control.getSpec().getIngress().get(0).getFrom()));
    // the selectors name the pods' own labels
    assertEquals(Map.of("app.kubernetes.io/name", "eventpipe", "app.kubernetes.io/instance", RELEASE,
        "app.kubernetes.io/component", "migrator"), c.one(Job.class, GROW).getSpec().getTemplate().getMetadata().getLabels());
    // scrapers are let in only where asked, and only to the metrics ports
    Map<String, Object> prometheus = Map.of("namespaceSelector", Map.of("matchLabels", Map.of("kubernetes.io/metadata.name", "monitoring")));
    RenderedChart scraped = render(values("networkPolicy.metricsFrom", List.of(prometheus)));
    List<NetworkPolicyIngressRule> rules = scraped.one(NetworkPolicy.class, RELEASE + "-node").getSpec().getIngress();
    NetworkPolicyIngressRule last = rules.get(rules.size() - 1);
    assertEquals(8081, last.getPorts().get(0).getPort().getIntVal());
    assertEquals("monitoring", last.getFrom().get(0).getNamespaceSelector().getMatchLabels().get("kubernetes.io/metadata.name"));
    assertTrue(render(values("networkPolicy.enabled", false)).all(NetworkPolicy.class).isEmpty());
  }

  @Test
  void noSecretValueOutsideSecrets() {
    RenderedChart c = render();
    Secret secret = c.one(Secret.class, RELEASE + "-secrets");
    assertEquals(Set.of("admin-token", "ingest-token", "node-db-password", "control-db-password", "control-proxy-password",
        "control-node-password", "control-migrator-password"), secret.getData().keySet(), "the control store's roles included");
    assertEquals("keep", secret.getMetadata().getAnnotations().get("helm.sh/resource-policy"));
    List<String> plain = new ArrayList<>();
    secret.getData().values().forEach(v -> plain.add(new String(Base64.getDecoder().decode(v), StandardCharsets.UTF_8)));
    for (String p : plain) {
      assertTrue(p.length() >= 32, "generated secrets are long");
    }
    for (HasMetadata o : c.objects) {
      if (o instanceof Secret) {
        continue;
      }
      String text = RenderedChart.yaml(o);
      for (String p : plain) {
        assertFalse(text.contains(p), o.getKind() + "/" + o.getMetadata().getName() + " holds a secret value");
      }
      assertFalse(text.contains("postgres:postgres") || text.contains("change-me"), o.getMetadata().getName() + ": a literal password");
      for (String line : text.split("\n")) {
        assertFalse(line.matches(".*postgresql://[^:]+:[^$@]+@.*"), o.getMetadata().getName() + ": a password in a URL: " + line);
      }
    }
    // every env value that is a password or token comes from a Secret
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> k.getEnv().forEach(e -> {
      if (e.getName().matches(".*(PASSWORD|TOKEN)$")) {
        assertNull(e.getValue(), owner + " " + e.getName());
        assertTrue(e.getValueFrom().getSecretKeyRef() != null, owner + " " + e.getName());
      }
    })));
    // two renders (two installs) never share a generated secret: nothing is a fixed default
    assertFalse(render().one(Secret.class, RELEASE + "-secrets").getData().get("admin-token").equals(secret.getData().get("admin-token")));
  }

  /** Issue 9: proxies (the internet-facing tier) held the token of the nodes' admin API; they hold the ingest token only. */
  @Test
  void proxiesHoldTheIngestTokenOnlyAndNodesBoth() {
    RenderedChart c = render();
    Map<String, String> keys = new java.util.TreeMap<>();
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> k.getEnv().forEach(e -> {
      if (e.getName().endsWith("_TOKEN")) {
        keys.put(owner + " " + e.getName(), e.getValueFrom().getSecretKeyRef().getKey());
      }
    })));
    assertTrue(keys.entrySet().stream().noneMatch(e -> e.getKey().contains("proxy") && e.getValue().equals("admin-token")), keys.toString());
    assertTrue(keys.entrySet().stream().anyMatch(e -> e.getKey().contains("proxy") && e.getValue().equals("ingest-token")), keys.toString());
    assertTrue(keys.entrySet().stream().anyMatch(e -> e.getKey().contains("node") && e.getValue().equals("admin-token")), keys.toString());
    assertTrue(keys.entrySet().stream().anyMatch(e -> e.getKey().contains("node") && e.getValue().equals("ingest-token")), keys.toString());
    Secret secret = c.one(Secret.class, RELEASE + "-secrets");
    assertFalse(secret.getData().get("admin-token").equals(secret.getData().get("ingest-token")));
  }

  @Test
  void anUpgradeKeepsTheGeneratedSecrets() {
    String secret = """
        {"apiVersion":"v1","kind":"Secret","metadata":{"name":"ep-secrets","namespace":"pipeline"},"type":"Opaque",
         "data":{"admin-token":"b2xkLXRva2Vu","node-db-password":"b2xkLW5vZGU=","control-db-password":"b2xkLWNvbnRyb2w="}}""";
    FakeKubeApi api = FakeKubeApi.get();
    api.put(RenderedChart.NAMESPACE, "secrets", RELEASE + "-secrets", secret);
    try {
      Secret upgraded = render(values("nodes.replicaCount", 7)).one(Secret.class, RELEASE + "-secrets");
      Map<String, String> kept = new java.util.HashMap<>(upgraded.getData());
      assertTrue(kept.remove("ingest-token").length() >= 40, "a release from before the token split gets an ingest token");
      for (String role : List.of("control-proxy-password", "control-node-password", "control-migrator-password")) {
        assertTrue(kept.remove(role).length() >= 40, "a release from before the control store's roles gets " + role);
      }
      assertEquals(Map.of("admin-token", "b2xkLXRva2Vu", "node-db-password", "b2xkLW5vZGU=", "control-db-password", "b2xkLWNvbnRyb2w="),
          kept, "the passwords the databases were created with");
    } finally {
      api.clear();
    }
    assertTrue(api.unexpected.isEmpty(), "the chart asked the cluster for " + api.unexpected);
  }

  @Test
  void existingSecretsAndExternalControlStore() {
    RenderedChart c = render(values("secrets.existingSecret", "mine", "controlStore.enabled", false,
        "controlStore.external.existingSecret", "control-url", "workspace.existingSecret", "workspace-with-credentials"));
    assertTrue(c.all(Secret.class).isEmpty(), "nothing generated: " + c.names());
    assertFalse(c.has(StatefulSet.class, RELEASE + "-control"));
    assertFalse(c.has(ConfigMap.class, RELEASE + "-workspace"));
    c.podTemplates().forEach((owner, t) -> {
      RenderedChart.containers(t).forEach(k -> k.getEnv().forEach(e -> {
        if (e.getValueFrom() != null && e.getValueFrom().getSecretKeyRef() != null) {
          String name = e.getValueFrom().getSecretKeyRef().getName();
          assertEquals(e.getName().equals("PIPELINE_CONTROL_URL") ? "control-url" : "mine", name, owner + " " + e.getName());
        }
      }));
      t.getSpec().getVolumes().stream().filter(v -> v.getName().equals("workspace"))
          .forEach(v -> assertEquals("workspace-with-credentials", v.getSecret().getSecretName(), owner));
    });
  }

  @Test
  void workspaceSecretReferencesGetTheirSecretAsTheNodesEnvironment() {
    RenderedChart plain = render(values());
    RenderedChart c = render(values("workspace.secretEnvFrom", "hook-credentials"));
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> {
      boolean node = k.getName().equals("node");
      boolean mounted = k.getEnvFrom() != null && k.getEnvFrom().stream()
          .anyMatch(e -> e.getSecretRef() != null && "hook-credentials".equals(e.getSecretRef().getName()));
      assertEquals(node, mounted, owner + "/" + k.getName() + ": only the node containers get the workspace's secrets");
    }));
    plain.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k ->
        assertTrue(k.getEnvFrom() == null || k.getEnvFrom().isEmpty(), owner + "/" + k.getName() + ": nothing by default")));
    // the node may resolve them: every variable except its own secrets (the launcher refuses those whatever this says)
    assertEquals("*", env(node(c.nodes().getSpec().getTemplate()), "PIPELINE_SECRET_ENV_ALLOW").getValue());
    assertTrue(node(plain.nodes().getSpec().getTemplate()).getEnv().stream().noneMatch(e -> e.getName().startsWith("PIPELINE_SECRET_")));
    RenderedChart listed = render(values("workspace.secretEnvFrom", "hook-credentials", "workspace.secretEnvAllow", List.of("HOOK_*"),
        "workspace.secretFileAllow", List.of("/etc/hook")));
    assertEquals("HOOK_*", env(node(listed.nodes().getSpec().getTemplate()), "PIPELINE_SECRET_ENV_ALLOW").getValue());
    assertEquals("/etc/hook", env(node(listed.nodes().getSpec().getTemplate()), "PIPELINE_SECRET_FILE_ALLOW").getValue());
  }

  /**
   * Issue 14: proxies connected to the control store as its owner (a superuser), so a compromised proxy could rewrite
   * node addresses. Each kind of process has its role; only the nodes' control-init container holds the owner's password.
   */
  @Test
  void eachProcessConnectsToTheControlStoreWithItsOwnRole() {
    RenderedChart c = render();
    Map<String, String> users = new java.util.TreeMap<>();
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> k.getEnv().forEach(e -> {
      if (e.getName().equals("PIPELINE_CONTROL_URL")) {
        String url = e.getValue();
        users.put(owner.replaceAll("-(grow|shrink)$", "") + "/" + k.getName(), url.substring("postgresql://".length(), url.indexOf(':', 13))
            + " " + env(k, "CONTROL_DB_PASSWORD").getValueFrom().getSecretKeyRef().getKey());
      }
    })));
    assertEquals(Map.of(
        "Deployment/" + RELEASE + "-proxy/proxy", "eventpipe_proxy control-proxy-password",
        "StatefulSet/" + RELEASE + "-node/node", "eventpipe_node_any control-node-password",
        "StatefulSet/" + RELEASE + "-node/control-init", "eventpipe control-db-password",
        "Job/" + RELEASE + "-control-init/control-init", "eventpipe control-db-password",
        "Job/" + RELEASE + "-migrate/migrator", "eventpipe_migrator control-migrator-password",
        "CronJob/" + RELEASE + "-migrator-abort/migrator", "eventpipe_migrator control-migrator-password"), users);
    Container init = controlInit(c.nodes().getSpec().getTemplate());
    assertEquals(List.of("control-init"), init.getArgs());
    for (String[] role : new String[][] {{"PROXY", "control-proxy-password"}, {"NODE", "control-node-password"},
        {"MIGRATOR", "control-migrator-password"}}) {
      assertEquals(role[1], env(init, "PIPELINE_" + role[0] + "_ROLE_PASSWORD").getValueFrom().getSecretKeyRef().getKey());
    }
  }

  /** Issue 14/16: under helm template or Argo CD every render made new passwords; now such a render fails and says why. */
  @Test
  void aRenderThatCannotSeeTheClusterNeedsAnExistingSecret() {
    FakeKubeApi api = FakeKubeApi.get();
    api.blind(true);
    try {
      IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> render());
      assertTrue(e.getMessage().contains("set secrets.existingSecret"), e.getMessage());
      assertTrue(e.getMessage().contains("admin-token, ingest-token, node-db-password, control-db-password, control-proxy-password,"
          + " control-node-password, control-migrator-password"), e.getMessage());
      // what a GitOps user sets: no generated Secret, every key from theirs
      RenderedChart gitops = render(values("secrets.existingSecret", "mine"));
      assertTrue(gitops.all(Secret.class).isEmpty());
      // or, for a throwaway install, generate anyway
      assertEquals(7, render(values("secrets.generateWithoutCluster", true)).one(Secret.class, RELEASE + "-secrets").getData().size());
    } finally {
      api.blind(false);
    }
  }

  @Test
  void workspaceIsAConfigMapMountedAsADirectory() {
    String workspace = "sources:\n  - {id: web, writeKey: abc}\ndestinations: []\n";
    RenderedChart c = render(values("workspace.config", workspace));
    assertEquals(workspace, c.one(ConfigMap.class, RELEASE + "-workspace").getData().get("workspace.yaml"));
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> k.getVolumeMounts().forEach(m ->
        assertNull(m.getSubPath(), owner + ": a subPath mount never sees ConfigMap updates (no hot reload)"))));
  }

  @Test
  void monitoringIsOptional() {
    assertTrue(render().all(ServiceMonitor.class).isEmpty());
    RenderedChart c = render(values("metrics.serviceMonitor.enabled", true, "metrics.prometheusRule.enabled", true,
        "metrics.grafanaDashboard.enabled", true, "networkPolicy.metricsFrom", List.of(Map.of("namespaceSelector", Map.of()))));
    ServiceMonitor sm = c.one(ServiceMonitor.class, RELEASE);
    Set<String> scraped = new TreeSet<>();
    sm.getSpec().getEndpoints().forEach(e -> scraped.add(e.getPort()));
    // every endpoint port names a port of a selected Service
    Set<String> servicePorts = new TreeSet<>();
    c.all(Service.class).stream().filter(s -> Set.of("node", "proxy").contains(s.getMetadata().getLabels().get("app.kubernetes.io/component")))
        .forEach(s -> s.getSpec().getPorts().forEach(p -> servicePorts.add(p.getName())));
    assertTrue(servicePorts.containsAll(scraped), scraped + " vs " + servicePorts);
    PrometheusRule rules = c.one(PrometheusRule.class, RELEASE);
    Set<String> alerts = new TreeSet<>();
    rules.getSpec().getGroups().forEach(g -> g.getRules().forEach(r -> alerts.add(r.getAlert())));
    assertTrue(alerts.containsAll(Set.of("EventpipeDeliveryBacklogOld", "EventpipeNodeDatabaseDiskFull", "EventpipeDeliveriesAborted",
        "EventpipeDeliveriesFailing", "EventpipeNodeDown", "EventpipeMigrationFailed")), alerts.toString());
    String dashboard = c.one(ConfigMap.class, RELEASE + "-dashboard").getData().get("eventpipe.json");
    assertTrue(dashboard.contains("\"uid\": \"eventpipe\""), "the dashboard file is shipped in the ConfigMap");
  }

  @Test
  void schemaRejectsBadValuesNamingThem() {
    assertRejected(values("nodes.replicaCount", 0), "replicaCount");
    assertRejected(values("nodes.replicaCount", "three"), "replicaCount");
    assertRejected(values("partitions", 1000), "partitions");
    assertRejected(values("nodes.replicas", 3), "replicas");
    assertRejected(values("image.tag", ""), "tag");
    assertRejected(values("controlStore.enabled", false), "existingSecret");
    assertRejected(values("nodes.terminationGracePeriodSeconds", 5), "terminationGracePeriodSeconds");
  }

  private static void assertRejected(Map<String, Object> values, String named) {
    Exception e = assertThrows(Exception.class, () -> RenderedChart.template(values), values::toString);
    assertTrue(e.getMessage().contains(named), "the error names " + named + ": " + e.getMessage());
  }

  @Test
  void helmLintStrictPasses() {
    var lint = new com.marcnuri.helm.Helm(RenderedChart.CHART).lint().strict().call();
    assertFalse(lint.isFailed(), String.join("\n", lint.getMessages()));
  }

  @Test
  void theUnknownFieldCheckCatchesATypo() {
    Map<String, Object> container = new LinkedHashMap<>(Map.of("name", "x", "image", "y", "imagePullPolicyy", "Always"));
    Map<String, Object> deployment = Map.of("apiVersion", "apps/v1", "kind", "Deployment", "metadata", Map.of("name", "d"),
        "spec", Map.of("selector", Map.of(), "template", Map.of("spec", Map.of("containers", List.of(container)))));
    AssertionError e = assertThrows(AssertionError.class, () -> RenderedChart.typed(deployment));
    assertTrue(e.getMessage().contains("containers[0]: [imagePullPolicyy]"), e.getMessage());
    assertThrows(AssertionError.class, () -> RenderedChart.typed(Map.of("apiVersion", "v1", "kind", "Pod", "metadata", Map.of("name", "p"))));
  }

  // ------------------------------------------------------------------ helpers

  static Container node(PodTemplateSpec t) {
    return t.getSpec().getContainers().stream().filter(k -> k.getName().equals("node")).findFirst().orElseThrow();
  }

  static Container controlInit(PodTemplateSpec t) {
    return t.getSpec().getInitContainers().stream().filter(k -> k.getName().equals("control-init")).findFirst().orElseThrow();
  }

  static EnvVar env(Container k, String name) {
    return k.getEnv().stream().filter(e -> e.getName().equals(name)).findFirst()
        .orElseThrow(() -> new AssertionError(k.getName() + " has no " + name));
  }

  /** The value after {@code flag} in the Job's container args, or null. */
  static String flag(Job j, String flag) {
    List<String> args = j.getSpec().getTemplate().getSpec().getContainers().get(0).getArgs();
    int i = args.indexOf(flag);
    return i < 0 ? null : args.get(i + 1);
  }

  static String hostOf(String url) {
    String rest = url.substring(url.indexOf('@') + 1);
    return rest.substring(0, rest.indexOf(':'));
  }

  private static Set<String> components(List<NetworkPolicyPeer> peers) {
    Set<String> out = new TreeSet<>();
    for (NetworkPolicyPeer p : peers) {
      LabelSelector s = p.getPodSelector();
      assertNull(p.getNamespaceSelector(), "same namespace only");
      assertEquals(RELEASE, s.getMatchLabels().get("app.kubernetes.io/instance"));
      out.add(s.getMatchLabels().get("app.kubernetes.io/component"));
    }
    return out;
  }
}
