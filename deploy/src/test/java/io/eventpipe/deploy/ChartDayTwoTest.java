package io.eventpipe.deploy;

import static io.eventpipe.deploy.ChartTest.env;
import static io.eventpipe.deploy.ChartTest.flag;
import static io.eventpipe.deploy.ChartTest.node;
import static io.eventpipe.deploy.RenderedChart.RELEASE;
import static io.eventpipe.deploy.RenderedChart.render;
import static io.eventpipe.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.launcher.Main;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.batch.v1.CronJob;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicyIngressRule;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.Rule;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Issue 16: the chart's failure paths, GitOps, day-two values, CloudNativePG mode, alerts and schema refusals. */
class ChartDayTwoTest {

  private static final String WAVE = "argocd.argoproj.io/sync-wave";
  private static final String ARGO_HOOK = "argocd.argoproj.io/hook";

  /**
   * Item 2: Argo CD runs hooks by its own annotation when present, else maps Helm's (pre-upgrade → PreSync, before
   * anything exists on a first sync). Simulated here as Argo CD orders a sync: PreSync, then Sync by wave (hooks and
   * resources), then PostSync. The shrink hook must come after the Secret, ConfigMaps, control store and control-init,
   * and before the nodes' StatefulSet; the grow hook after the nodes.
   */
  @Test
  void argoCdSyncOrderCreatesTheControlStoreBeforeTheShrinkHookAndNodesAfterIt() {
    RenderedChart c = render(values("secrets.generateWithoutCluster", true));
    Map<String, Double> order = new TreeMap<>();
    for (HasMetadata o : c.objects) {
      Map<String, String> a = o.getMetadata().getAnnotations() == null ? Map.of() : o.getMetadata().getAnnotations();
      String phase = a.get(ARGO_HOOK);
      if (phase == null && a.containsKey("helm.sh/hook")) {
        phase = "PreSync"; // what Argo CD would make of a Helm-only pre-upgrade hook
      }
      int wave = Integer.parseInt(a.getOrDefault(WAVE, "0"));
      double rank = switch (phase == null ? "Sync" : phase) {
        case "PreSync" -> -100 + wave;
        case "Sync" -> wave;
        case "PostSync" -> 100 + wave;
        default -> throw new AssertionError(o.getMetadata().getName() + ": hook " + a.get(ARGO_HOOK));
      };
      order.put(o.getKind() + "/" + o.getMetadata().getName(), rank);
    }
    double shrink = order.get("Job/" + RELEASE + "-migrate-shrink");
    double init = order.get("Job/" + RELEASE + "-control-init");
    for (String before : List.of("Secret/" + RELEASE + "-secrets", "ConfigMap/" + RELEASE + "-cluster", "ConfigMap/" + RELEASE
        + "-workspace", "StatefulSet/" + RELEASE + "-control", "Service/" + RELEASE + "-control", "NetworkPolicy/" + RELEASE + "-control")) {
      assertTrue(order.get(before) < init, before + " before control-init: " + order);
    }
    assertTrue(init < shrink, "control-init provisions the store before the shrink hook reads it");
    assertTrue(shrink < order.get("StatefulSet/" + RELEASE + "-node"), "the shrink hook runs before the StatefulSet shrinks");
    assertTrue(order.get("StatefulSet/" + RELEASE + "-node") < order.get("Job/" + RELEASE + "-migrate-grow"));
    // control-init as a Helm hook: before the shrink (weight -5 < 0), and the same container as the nodes' init
    Job initJob = c.one(Job.class, RELEASE + "-control-init");
    assertEquals("pre-upgrade,pre-rollback", initJob.getMetadata().getAnnotations().get("helm.sh/hook"));
    assertEquals("-5", initJob.getMetadata().getAnnotations().get("helm.sh/hook-weight"));
    Container k = initJob.getSpec().getTemplate().getSpec().getContainers().get(0);
    assertEquals(List.of("control-init"), k.getArgs());
    assertEquals("3", env(k, "PIPELINE_CLUSTER_NODES").getValue());
  }

  /** Item 5: NOTES.txt's status command runs in a node container, which holds what status needs and may reach it. */
  @Test
  void notesStatusCommandRunsWhereTheAdminTokenIsAndTheAbortJobIsAMigratorPod() {
    RenderedChart c = render();
    Matcher m = Pattern.compile("exec (\\S+) -c (\\S+) -- java \\S+ -jar /app/pipeline.jar (\\S+)").matcher(c.notes);
    assertTrue(m.find(), c.notes);
    assertEquals(RELEASE + "-node-0", m.group(1));
    assertEquals("status", m.group(3));
    Container k = c.nodes().getSpec().getTemplate().getSpec().getContainers().stream().filter(x -> x.getName().equals(m.group(2)))
        .findFirst().orElseThrow();
    for (String f : List.of("control-url", "admin-token")) {
      assertTrue(Main.flagsOf("status").contains(f));
      assertTrue(k.getEnv().stream().anyMatch(e -> e.getName().equals("PIPELINE_" + f.toUpperCase().replace('-', '_'))), f);
    }
    // status asks every node's internal port: the node NetworkPolicy admits node pods there
    Map<String, String> nodeLabels = c.nodes().getSpec().getTemplate().getMetadata().getLabels();
    assertTrue(admits(c.one(NetworkPolicy.class, RELEASE + "-node"), nodeLabels, 8081));
    assertTrue(admits(c.one(NetworkPolicy.class, RELEASE + "-control"), nodeLabels, 5432));
    // the timeout NOTES prints covers the hooks' deadline
    Matcher t = Pattern.compile("--timeout (\\d+)m").matcher(c.notes);
    assertTrue(t.find());
    assertTrue(Integer.parseInt(t.group(1)) * 60 > 3600, c.notes);
    // abort: `kubectl create job --from=cronjob/...` of a suspended CronJob whose pod is a migrator pod
    assertTrue(c.notes.contains("--from=cronjob/" + RELEASE + "-migrator-abort"), c.notes);
    CronJob abort = c.one(CronJob.class, RELEASE + "-migrator-abort");
    assertTrue(abort.getSpec().getSuspend());
    PodTemplateSpec pod = abort.getSpec().getJobTemplate().getSpec().getTemplate();
    assertEquals(List.of("migrator", "--abort", "--lock-wait-seconds", "120", "--progress", "plain"),
        pod.getSpec().getContainers().get(0).getArgs());
    Map<String, String> abortLabels = pod.getMetadata().getLabels();
    assertTrue(admits(c.one(NetworkPolicy.class, RELEASE + "-node"), abortLabels, 5432), "the abort reaches every node's PostgreSQL");
    assertTrue(admits(c.one(NetworkPolicy.class, RELEASE + "-control"), abortLabels, 5432));
    // and what it needs: the migrator's control role and the node databases' URL template
    assertEquals("eventpipe_migrator", userOf(env(pod.getSpec().getContainers().get(0), "PIPELINE_CONTROL_URL").getValue()));
    assertTrue(env(pod.getSpec().getContainers().get(0), "PIPELINE_NODE_PG_URL").getValue().contains("{node}"));
  }

  /** Item 7: a changed size or storage class keeps the existing claim template (immutable), so the upgrade applies. */
  @Test
  void anUpgradeKeepsTheExistingClaimTemplateWhateverTheStorageValueSays() {
    FakeKubeApi api = FakeKubeApi.get();
    api.put(RenderedChart.NAMESPACE, "statefulsets", RELEASE + "-node", """
        {"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"ep-node","namespace":"pipeline"},
         "spec":{"volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],
         "storageClassName":"fast","resources":{"requests":{"storage":"20Gi"}}}}]}}""");
    try {
      StatefulSet sts = render(values("nodes.postgres.storage", "50Gi", "nodes.postgres.storageClassName", "other")).nodes();
      var claim = sts.getSpec().getVolumeClaimTemplates().get(0).getSpec();
      assertEquals("20Gi", claim.getResources().getRequests().get("storage").toString());
      assertEquals("fast", claim.getStorageClassName());
    } finally {
      api.clear();
    }
    assertEquals("50Gi", render(values("nodes.postgres.storage", "50Gi")).nodes().getSpec().getVolumeClaimTemplates().get(0).getSpec()
        .getResources().getRequests().get("storage").toString(), "a new install takes the value");
  }

  /** Item 8: a ServiceMonitor that the NetworkPolicy would block is refused; spreading and the control store's scheduling. */
  @Test
  void scrapingNeedsMetricsFromAndPodsSpreadAndTheControlStoreSchedulesLikeTheRest() {
    Exception e = assertThrows(IllegalStateException.class, () -> render(values("metrics.serviceMonitor.enabled", true)));
    assertTrue(e.getMessage().contains("networkPolicy.metricsFrom"), e.getMessage());
    render(values("metrics.serviceMonitor.enabled", true, "networkPolicy.enabled", false)); // nothing to block
    RenderedChart c = render(values("image.pullSecrets", List.of(Map.of("name", "regcred")),
        "controlStore.nodeSelector", Map.of("disk", "ssd"), "controlStore.tolerations", List.of(Map.of("key", "db", "operator", "Exists")),
        "controlStore.podAnnotations", Map.of("a", "b"), "controlStore.priorityClassName", "high"));
    var nodeSpread = c.nodes().getSpec().getTemplate().getSpec().getTopologySpreadConstraints();
    assertEquals(List.of("kubernetes.io/hostname", "topology.kubernetes.io/zone"), nodeSpread.stream().map(t -> t.getTopologyKey()).toList());
    assertEquals(c.nodes().getSpec().getSelector().getMatchLabels(), nodeSpread.get(0).getLabelSelector().getMatchLabels());
    assertEquals("ScheduleAnyway", nodeSpread.get(0).getWhenUnsatisfiable());
    var control = c.one(StatefulSet.class, RELEASE + "-control").getSpec().getTemplate();
    assertEquals("regcred", control.getSpec().getImagePullSecrets().get(0).getName());
    assertEquals(Map.of("disk", "ssd"), control.getSpec().getNodeSelector());
    assertEquals("db", control.getSpec().getTolerations().get(0).getKey());
    assertEquals("b", control.getMetadata().getAnnotations().get("a"));
    assertEquals("high", control.getSpec().getPriorityClassName());
    var none = render(values("nodes.topologySpread.topologyKeys", List.of())).nodes().getSpec().getTemplate().getSpec()
        .getTopologySpreadConstraints();
    assertTrue(none == null || none.isEmpty(), "topologyKeys [] turns the default off");
  }

  /** Item 9: the alerts name the release, wait before paging, and cover what up == 0 cannot see. */
  @Test
  void alertsCoverGonePodsTheControlStoreRestartsAndProxyErrors() {
    PrometheusRule rules = render(values("metrics.prometheusRule.enabled", true)).one(PrometheusRule.class, RELEASE);
    Map<String, Rule> byName = new LinkedHashMap<>();
    rules.getSpec().getGroups().forEach(g -> g.getRules().forEach(r -> byName.put(r.getAlert(), r)));
    assertTrue(byName.keySet().containsAll(List.of("EventpipeNodesNotReady", "EventpipeControlStoreDown", "EventpipeContainerRestarting",
        "EventpipeProxyErrors", "EventpipeControlStoreDiskFull")), byName.keySet().toString());
    Rule failed = byName.get("EventpipeMigrationFailed");
    assertEquals("1m", failed.getFor());
    assertTrue(failed.getExpr().getStrVal().contains("kube_job_failed") && failed.getExpr().getStrVal().contains("condition=\"true\""));
    String notReady = byName.get("EventpipeNodesNotReady").getExpr().getStrVal();
    assertTrue(notReady.contains("kube_statefulset_replicas{") && notReady.contains("kube_statefulset_status_replicas_ready{")
        && notReady.contains("statefulset=\"" + RELEASE + "-node\""), notReady);
    assertTrue(byName.get("EventpipeProxiesOnDifferentEpochs").getExpr().getStrVal().contains("pod=~\"" + RELEASE + "-proxy-.*\""));
    assertTrue(byName.get("EventpipeProxyErrors").getExpr().getStrVal().contains("status=~\"5..\""));
    // every rule names the release's pods or objects, so two releases in one namespace do not page for each other
    byName.forEach((name, r) -> assertTrue(r.getExpr().getStrVal().contains(RELEASE + "-"), name));
  }

  /** Item 10: nonsense refused, naming the value; extension through the open fields. */
  @Test
  void schemaRefusesNonsenseAndOpenFieldsExtend() {
    assertRejected(values("nodes.replicaCount", 9, "partitions", 8), "more than partitions");
    assertRejected(values("nodes.podDisruptionBudget.maxUnavailable", 0), "maxUnavailable");
    assertRejected(values("nodes.podDisruptionBudget.maxUnavailable", "0%"), "maxUnavailable");
    assertRejected(values("nodes.resources.requests.cpu", "banana"), "cpu");
    assertRejected(values("proxy.resources.limits.memory", "lots"), "memory");
    assertRejected(values("proxy.autoscaling.minReplicas", 5, "proxy.autoscaling.maxReplicas", 3), "minReplicas");
    assertRejected(values("migrator.activeDeadlineSeconds", 600, "migrator.readyTimeoutSeconds", 600), "activeDeadlineSeconds");
    assertRejected(values("migrator.activeDeadlineSeconds", 700, "migrator.readyTimeoutSeconds", 600, "migrator.lockWaitSeconds", 120),
        "lockWaitSeconds");
    assertRejected(values("nodes.postgres.settings.fsync", "off"), "fsync");
    assertRejected(values("nodes.postgres.settings.synchronous_commit", "off"), "synchronous_commit");
    assertRejected(values("nodes.postgres.settings.full_page_writes", false), "full_page_writes");
    assertRejected(values("nodes.postgres.image", "postgres:alpine"), "image");
    assertRejected(values("nodes.postgres.image", "postgres"), "image");
    assertRejected(values("controlStore.image", "postgres:latest"), "image");
    assertRejected(values("nodes.extraStuff", List.of()), "extraStuff");
    assertRejected(values("image.digest", "latest"), "digest");
    // innocent neighbours pass
    render(values("nodes.replicaCount", 8, "partitions", 8, "nodes.podDisruptionBudget.maxUnavailable", "25%",
        "nodes.resources.requests.cpu", "250m", "nodes.postgres.settings.synchronous_commit", "on", "nodes.postgres.image", "postgres:17.2"));
    Map<String, Object> extraContainer = Map.of("name", "shipper", "image", "fluent-bit:3", "resources",
        Map.of("requests", Map.of("memory", "64Mi"), "limits", Map.of("memory", "64Mi")),
        "securityContext", Map.of("runAsNonRoot", true, "runAsUser", 1000, "allowPrivilegeEscalation", false,
            "readOnlyRootFilesystem", true, "capabilities", Map.of("drop", List.of("ALL"))));
    RenderedChart c = render(values("nodes.extraEnv", List.of(Map.of("name", "TZ", "value", "UTC")),
        "nodes.extraVolumes", List.of(Map.of("name", "certs", "secret", Map.of("secretName", "ca"))),
        "nodes.extraVolumeMounts", List.of(Map.of("name", "certs", "mountPath", "/etc/certs")),
        "nodes.extraContainers", List.of(extraContainer),
        "commonLabels", Map.of("team", "data"), "commonAnnotations", Map.of("owner", "data@example.com"),
        "nodes.priorityClassName", "critical", "nodes.podLabels", Map.of("tier", "storage"),
        "image.digest", "sha256:" + "a".repeat(64), "serviceAccount.create", true,
        "proxy.ingress.enabled", true, "proxy.ingress.hosts", List.of(Map.of("host", "events.example.com"))));
    var spec = c.nodes().getSpec().getTemplate().getSpec();
    Container n = node(c.nodes().getSpec().getTemplate());
    assertEquals("UTC", env(n, "TZ").getValue());
    assertTrue(n.getVolumeMounts().stream().anyMatch(v -> v.getMountPath().equals("/etc/certs")));
    assertTrue(spec.getVolumes().stream().anyMatch(v -> v.getName().equals("certs")));
    assertTrue(spec.getContainers().stream().anyMatch(k -> k.getName().equals("shipper")));
    assertEquals("critical", spec.getPriorityClassName());
    assertEquals("storage", c.nodes().getSpec().getTemplate().getMetadata().getLabels().get("tier"));
    assertEquals("eventpipe@sha256:" + "a".repeat(64), n.getImage());
    assertEquals(RELEASE + "-eventpipe", spec.getServiceAccountName());
    assertFalse(spec.getAutomountServiceAccountToken());
    for (HasMetadata o : c.objects) {
      assertEquals("data", o.getMetadata().getLabels().get("team"), o.getKind() + "/" + o.getMetadata().getName());
      assertEquals("data@example.com", o.getMetadata().getAnnotations().get("owner"), o.getKind() + "/" + o.getMetadata().getName());
    }
    Ingress ing = c.one(Ingress.class, RELEASE + "-proxy");
    assertEquals(RELEASE + "-proxy", ing.getSpec().getRules().get(0).getHttp().getPaths().get(0).getBackend().getService().getName());
    assertEquals("http", ing.getSpec().getRules().get(0).getHttp().getPaths().get(0).getBackend().getService().getPort().getName());
    // OpenShift: no fixed ids, the SCC assigns them; overrides merge over the chart's contexts
    RenderedChart os = render(values("securityContext.fixedIds", false, "securityContext.container", Map.of("seLinuxOptions", Map.of("level", "s0"))));
    os.podTemplates().forEach((owner, t) -> {
      assertNull(t.getSpec().getSecurityContext().getFsGroup(), owner);
      RenderedChart.containers(t).forEach(k -> {
        assertNull(k.getSecurityContext().getRunAsUser(), owner + " " + k.getName());
        assertTrue(k.getSecurityContext().getRunAsNonRoot());
        assertEquals("s0", k.getSecurityContext().getSeLinuxOptions().getLevel());
      });
    });
  }

  /** Restart on a Secret change: the checksum follows the Secrets' data and never the node count. */
  @Test
  void secretChecksumRestartsNodesOnlyWhenTheSecretsChange() {
    FakeKubeApi api = FakeKubeApi.get();
    String secret = """
        {"apiVersion":"v1","kind":"Secret","metadata":{"name":"mine","namespace":"pipeline"},"data":{"admin-token":"%s"}}""";
    try {
      api.put(RenderedChart.NAMESPACE, "secrets", "mine", secret.formatted("b25l"));
      String a = checksum(render(values("secrets.existingSecret", "mine", "nodes.restartOnSecretChange", true, "nodes.replicaCount", 3)));
      String b = checksum(render(values("secrets.existingSecret", "mine", "nodes.restartOnSecretChange", true, "nodes.replicaCount", 5)));
      assertEquals(a, b, "a resize must not restart the nodes");
      api.put(RenderedChart.NAMESPACE, "secrets", "mine", secret.formatted("dHdv"));
      assertFalse(a.equals(checksum(render(values("secrets.existingSecret", "mine", "nodes.restartOnSecretChange", true)))));
    } finally {
      api.clear();
    }
  }

  /** The CloudNativePG mode: one Cluster per ordinal, checked against the CRD; nodes and the migrator reach its -rw. */
  @Test
  void cloudNativePgModeRendersOneClusterPerOrdinal() {
    Map<String, Object> backup = Map.of("retentionPolicy", "30d", "barmanObjectStore", Map.of("destinationPath", "s3://b/ep"));
    RenderedChart c = render(values("nodes.replicaCount", 4, "nodes.database.mode", "cloudnativepg",
        "nodes.database.cloudnativepg.backup", backup, "nodes.database.cloudnativepg.spec", Map.of("enablePDB", true),
        "image.pullSecrets", List.of(Map.of("name", "regcred"))));
    List<GenericKubernetesResource> clusters = c.all(GenericKubernetesResource.class);
    assertEquals(List.of(RELEASE + "-node-0-pg", RELEASE + "-node-1-pg", RELEASE + "-node-2-pg", RELEASE + "-node-3-pg"),
        clusters.stream().map(k -> k.getMetadata().getName()).toList());
    Map<String, Object> spec = c.raw.stream().filter(r -> "Cluster".equals(r.get("kind"))).findFirst().map(r -> cast(r.get("spec"))).orElseThrow();
    assertEquals(2, spec.get("instances"));
    assertEquals(backup, spec.get("backup"));
    assertEquals(true, spec.get("enablePDB"));
    assertEquals("512MB", cast(cast(spec.get("postgresql")).get("parameters")).get("shared_buffers"));
    assertEquals(RELEASE + "-node-db", cast(cast(cast(spec.get("bootstrap")).get("initdb")).get("secret")).get("name"));
    assertEquals("keep", clusters.get(0).getMetadata().getAnnotations().get("helm.sh/resource-policy"), "a removed ordinal's database is the operator's to delete");
    StatefulSet sts = c.nodes();
    assertTrue(sts.getSpec().getVolumeClaimTemplates() == null || sts.getSpec().getVolumeClaimTemplates().isEmpty());
    assertTrue(sts.getSpec().getTemplate().getSpec().getInitContainers().stream().noneMatch(k -> k.getName().equals("postgres")));
    assertEquals("postgresql://eventpipe:$(NODE_DB_PASSWORD)@$(POD_NAME)-pg-rw.$(POD_NAMESPACE).svc:5432/eventpipe",
        env(node(sts.getSpec().getTemplate()), "PIPELINE_PG_URL").getValue());
    Job shrink = c.one(Job.class, RELEASE + "-migrate-shrink");
    assertEquals("4", flag(shrink, "--to"));
    assertEquals("postgresql://eventpipe:$(NODE_DB_PASSWORD)@" + RELEASE + "-node-{node}-pg-rw.pipeline.svc:5432/eventpipe",
        env(shrink.getSpec().getTemplate().getSpec().getContainers().get(0), "PIPELINE_NODE_PG_URL").getValue());
    assertEquals("password", env(node(sts.getSpec().getTemplate()), "NODE_DB_PASSWORD").getValueFrom().getSecretKeyRef().getKey());
    // the node pod template is the same for any count in this mode too
    RenderedChart.assertSameYaml(sts.getSpec().getTemplate(), render(values("nodes.replicaCount", 2, "nodes.database.mode", "cloudnativepg",
        "image.pullSecrets", List.of(Map.of("name", "regcred"))))
        .nodes().getSpec().getTemplate(), "node pod template");
    assertTrue(c.one(Service.class, RELEASE + "-nodes").getSpec().getPorts().stream().noneMatch(p -> p.getName().equals("postgres")));
    // the CRD check itself catches a wrong field
    Map<String, Object> bad = new LinkedHashMap<>(Map.of("apiVersion", "postgresql.cnpg.io/v1", "kind", "Cluster",
        "metadata", Map.of("name", "x"), "spec", Map.of("instances", 1, "storage", Map.of("sizee", "1Gi"))));
    assertEquals(List.of(".spec.storage.sizee: no such field"), CnpgSchema.check(bad));
    // with the user's own Secret the Clusters need a basic-auth Secret named
    Exception e = assertThrows(IllegalStateException.class, () -> render(values("nodes.database.mode", "cloudnativepg", "secrets.existingSecret", "mine")));
    assertTrue(e.getMessage().contains("nodes.database.cloudnativepg.appSecret"), e.getMessage());
  }

  // ------------------------------------------------------------------ helpers

  private static void assertRejected(Map<String, Object> values, String named) {
    Exception e = assertThrows(Exception.class, () -> RenderedChart.template(values), values::toString);
    assertTrue(e.getMessage().contains(named), "the error names " + named + ": " + e.getMessage());
  }

  private static String checksum(RenderedChart c) {
    return c.nodes().getSpec().getTemplate().getMetadata().getAnnotations().get("checksum/secrets");
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> cast(Object o) {
    return (Map<String, Object>) o;
  }

  private static String userOf(String url) {
    return url.substring("postgresql://".length(), url.indexOf(':', "postgresql://".length()));
  }

  /** Whether the policy lets a pod with {@code labels} (same namespace) in on {@code port}. */
  private static boolean admits(NetworkPolicy p, Map<String, String> labels, int port) {
    for (NetworkPolicyIngressRule r : p.getSpec().getIngress()) {
      boolean onPort = r.getPorts().stream().anyMatch(x -> x.getPort().getIntVal() == port);
      boolean from = r.getFrom().stream().anyMatch(peer -> peer.getPodSelector() != null && peer.getNamespaceSelector() == null
          && labels.entrySet().containsAll(peer.getPodSelector().getMatchLabels().entrySet()));
      if (onPort && from) {
        return true;
      }
    }
    return false;
  }
}
