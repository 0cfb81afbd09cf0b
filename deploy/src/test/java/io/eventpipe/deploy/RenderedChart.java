package io.eventpipe.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import com.marcnuri.helm.Helm;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.batch.v1.CronJob;
import io.fabric8.kubernetes.api.model.networking.v1.Ingress;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Secret;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.batch.v1.Job;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.openshift.api.model.monitoring.v1.PrometheusRule;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;

/**
 * The chart rendered by Helm itself (helm-java: Helm's Go code through JNI, no cluster), every object parsed into
 * the typed fabric8 Kubernetes model with no unknown field at any level.
 *
 * <p>helm-java's template returns the release manifest without its hooks (the {@code helm template} command adds
 * them itself). So the tests render a copy of the chart in {@code target/} whose only change is the annotation
 * key {@code helm.sh/hook} spelled {@value #HOOK_STAND_IN}: Helm then renders the hook Jobs with the manifest,
 * and the parser spells the key back, so the tests see the chart's own hook annotations.
 */
final class RenderedChart {

  static final Path CHART = Path.of("helm", "eventpipe");
  static final String HOOK_STAND_IN = "eventpipe.test/hook";
  private static final String HOOK = "helm.sh/hook";
  private static Path renderable;
  static final String RELEASE = "ep";
  static final String NAMESPACE = "pipeline";
  /** The chart needs 1.29+ (native sidecars); Helm renders for 1.20 unless told. */
  static final String KUBE_VERSION = "1.31.0";

  /** The kinds the chart may render, by apiVersion/kind: anything else fails the build until it is added here. */
  private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.ofEntries(
      Map.entry("v1/Service", Service.class),
      Map.entry("v1/ConfigMap", ConfigMap.class),
      Map.entry("v1/Secret", Secret.class),
      Map.entry("apps/v1/StatefulSet", StatefulSet.class),
      Map.entry("apps/v1/Deployment", Deployment.class),
      Map.entry("batch/v1/Job", Job.class),
      Map.entry("batch/v1/CronJob", CronJob.class),
      Map.entry("v1/ServiceAccount", ServiceAccount.class),
      Map.entry("rbac.authorization.k8s.io/v1/Role", io.fabric8.kubernetes.api.model.rbac.Role.class),
      Map.entry("rbac.authorization.k8s.io/v1/RoleBinding", io.fabric8.kubernetes.api.model.rbac.RoleBinding.class),
      Map.entry("networking.k8s.io/v1/Ingress", Ingress.class),
      // CloudNativePG's Cluster: fabric8 has no model of it; CnpgSchema checks it against the operator's CRD
      Map.entry("postgresql.cnpg.io/v1/Cluster", GenericKubernetesResource.class),
      Map.entry("policy/v1/PodDisruptionBudget", PodDisruptionBudget.class),
      Map.entry("networking.k8s.io/v1/NetworkPolicy", NetworkPolicy.class),
      Map.entry("autoscaling/v2/HorizontalPodAutoscaler", HorizontalPodAutoscaler.class),
      Map.entry("monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class),
      Map.entry("monitoring.coreos.com/v1/PrometheusRule", PrometheusRule.class));

  private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
  private static final YAMLMapper YAML = new YAMLMapper();

  static final String NOTES = "test-notes";
  final String manifest;
  /** NOTES.txt as Helm renders it. */
  String notes;
  final List<Map<String, Object>> raw = new ArrayList<>();
  final List<HasMetadata> objects = new ArrayList<>();

  private RenderedChart(String manifest) {
    this.manifest = manifest;
    for (Object doc : new Yaml(new LoaderOptions()).loadAll(manifest)) {
      if (doc == null) {
        continue;
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> map = (Map<String, Object>) doc;
      restoreHookAnnotations(map);
      @SuppressWarnings("unchecked")
      Map<String, Object> meta = (Map<String, Object>) map.get("metadata");
      if ("ConfigMap".equals(map.get("kind")) && NOTES.equals(meta.get("name"))) {
        @SuppressWarnings("unchecked")
        Map<String, Object> data = (Map<String, Object>) map.get("data");
        notes = String.valueOf(data.get("NOTES.txt"));
        continue;
      }
      raw.add(map);
      objects.add(typed(map));
    }
  }

  /** Renders the chart with {@code values} (nested maps, as in a values file) over values.yaml. */
  static RenderedChart render(Map<String, Object> values) {
    return new RenderedChart(template(values));
  }

  static RenderedChart render() {
    return render(Map.of());
  }

  /** Helm's own output (or its error as an IllegalStateException), for tests of rejected values. */
  static String template(Map<String, Object> values) {
    try {
      FakeKubeApi.get();
      Path file = Files.createTempFile("values", ".yaml");
      try {
        YAML.writeValue(file.toFile(), values);
        return new Helm(renderable()).template().withName(RELEASE).withNamespace(NAMESPACE).withKubeVersion(KUBE_VERSION)
            .withValuesFile(file).call();
      } finally {
        Files.deleteIfExists(file);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** The chart copied to target/, hooks rendered as plain objects (see the class comment). */
  private static synchronized Path renderable() throws IOException {
    if (renderable == null) {
      Path target = Path.of("target", "chart-with-visible-hooks", "eventpipe");
      if (Files.exists(target)) { // a template deleted from the chart must not linger in the copy
        try (Stream<Path> old = Files.walk(target)) {
          for (Path f : old.sorted(java.util.Comparator.reverseOrder()).toList()) {
            Files.delete(f);
          }
        }
      }
      try (Stream<Path> files = Files.walk(CHART)) {
        for (Path f : files.toList()) {
          Path to = target.resolve(CHART.relativize(f).toString());
          if (Files.isDirectory(f)) {
            Files.createDirectories(to);
          } else {
            String text = Files.readString(f, StandardCharsets.UTF_8);
            Files.writeString(to, f.startsWith(CHART.resolve("templates")) ? text.replace(HOOK, HOOK_STAND_IN) : text,
                StandardCharsets.UTF_8);
          }
        }
      }
      // NOTES.txt is no manifest: the copy also renders it into a ConfigMap the parser takes out again (notes)
      Path notes = CHART.resolve("templates").resolve("NOTES.txt");
      Files.writeString(target.resolve("templates").resolve("_test_notes.tpl"), "{{- define \"test.notes\" -}}\n"
          + Files.readString(notes, StandardCharsets.UTF_8) + "\n{{- end -}}\n", StandardCharsets.UTF_8);
      Files.writeString(target.resolve("templates").resolve("test-notes.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "
          + NOTES + "}\ndata:\n  NOTES.txt: {{ include \"test.notes\" . | toJson }}\n", StandardCharsets.UTF_8);
      renderable = target;
    }
    return renderable;
  }

  /** {"a.b": 1, "a.c": 2} → {a: {b: 1, c: 2}}. */
  static Map<String, Object> values(Object... keysAndValues) {
    Map<String, Object> root = new LinkedHashMap<>();
    for (int i = 0; i < keysAndValues.length; i += 2) {
      String[] path = ((String) keysAndValues[i]).split("\\.");
      Map<String, Object> m = root;
      for (int k = 0; k < path.length - 1; k++) {
        @SuppressWarnings("unchecked")
        Map<String, Object> next = (Map<String, Object>) m.computeIfAbsent(path[k], x -> new LinkedHashMap<String, Object>());
        m = next;
      }
      m.put(path[path.length - 1], keysAndValues[i + 1]);
    }
    return root;
  }

  @SuppressWarnings("unchecked")
  private static void restoreHookAnnotations(Map<String, Object> object) {
    Map<String, Object> metadata = (Map<String, Object>) object.get("metadata");
    Map<String, Object> annotations = metadata == null ? null : (Map<String, Object>) metadata.get("annotations");
    if (annotations != null) {
      Map<String, Object> restored = new LinkedHashMap<>();
      annotations.forEach((k, v) -> restored.put(k.replace(HOOK_STAND_IN, HOOK), v));
      metadata.put("annotations", restored);
    }
  }

  /** Parses one rendered object into its fabric8 class and rejects unknown fields at every level. */
  static HasMetadata typed(Map<String, Object> map) {
    String key = map.get("apiVersion") + "/" + map.get("kind");
    Class<? extends HasMetadata> type = KINDS.get(key);
    if (type == null) {
      fail("the chart renders " + key + ", which the tests do not know: add it to RenderedChart.KINDS");
    }
    HasMetadata object = JSON.convertValue(map, type);
    String name = key + " " + object.getMetadata().getName();
    if (type == GenericKubernetesResource.class) {
      List<String> wrong = CnpgSchema.check(map);
      if (!wrong.isEmpty()) {
        fail(name + " does not fit the CloudNativePG CRD: " + wrong);
      }
      return object;
    }
    List<String> unknown = new ArrayList<>();
    unknownFields(object, name, unknown, new IdentityHashMap<>());
    if (!unknown.isEmpty()) {
      fail("unknown fields (a typo in a template?): " + unknown);
    }
    return object;
  }

  /** Collects every non-empty {@code additionalProperties} (fabric8's bucket for unknown fields) under {@code o}. */
  static void unknownFields(Object o, String path, List<String> out, IdentityHashMap<Object, Boolean> seen) {
    if (o == null || seen.put(o, Boolean.TRUE) != null) {
      return;
    }
    if (o instanceof Collection<?> c) {
      int i = 0;
      for (Object e : c) {
        unknownFields(e, path + "[" + i++ + "]", out, seen);
      }
      return;
    }
    if (o instanceof Map<?, ?> m) {
      m.forEach((k, v) -> unknownFields(v, path + "." + k, out, seen));
      return;
    }
    if (!o.getClass().getName().startsWith("io.fabric8.")) {
      return;
    }
    for (Method getter : o.getClass().getMethods()) {
      if (getter.getParameterCount() != 0 || Modifier.isStatic(getter.getModifiers()) || !getter.getName().startsWith("get")
          || getter.getDeclaringClass() == Object.class) {
        continue;
      }
      Object value;
      try {
        value = getter.invoke(o);
      } catch (ReflectiveOperationException e) {
        throw new AssertionError(getter.toString(), e);
      }
      if (getter.getName().equals("getAdditionalProperties")) {
        if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
          out.add(path + ": " + extra.keySet());
        }
      } else {
        String field = Character.toLowerCase(getter.getName().charAt(3)) + getter.getName().substring(4);
        unknownFields(value, path + "." + field, out, seen);
      }
    }
  }

  <T extends HasMetadata> List<T> all(Class<T> type) {
    return objects.stream().filter(type::isInstance).map(type::cast).toList();
  }

  <T extends HasMetadata> T one(Class<T> type, String name) {
    Optional<T> found = all(type).stream().filter(o -> o.getMetadata().getName().equals(name)).findFirst();
    assertNotNull(found.orElse(null), () -> "no " + type.getSimpleName() + " " + name + " in " + names());
    return found.get();
  }

  <T extends HasMetadata> boolean has(Class<T> type, String name) {
    return all(type).stream().anyMatch(o -> o.getMetadata().getName().equals(name));
  }

  List<String> names() {
    return objects.stream().map(o -> o.getKind() + "/" + o.getMetadata().getName()).toList();
  }

  StatefulSet nodes() {
    return one(StatefulSet.class, RELEASE + "-node");
  }

  /** Every pod template of the release, with the name of its owner. */
  Map<String, PodTemplateSpec> podTemplates() {
    Map<String, PodTemplateSpec> t = new LinkedHashMap<>();
    all(StatefulSet.class).forEach(s -> t.put("StatefulSet/" + s.getMetadata().getName(), s.getSpec().getTemplate()));
    all(Deployment.class).forEach(d -> t.put("Deployment/" + d.getMetadata().getName(), d.getSpec().getTemplate()));
    all(Job.class).forEach(j -> t.put("Job/" + j.getMetadata().getName(), j.getSpec().getTemplate()));
    all(CronJob.class).forEach(j -> t.put("CronJob/" + j.getMetadata().getName(), j.getSpec().getJobTemplate().getSpec().getTemplate()));
    return t;
  }

  static Stream<Container> containers(PodTemplateSpec t) {
    return Stream.concat(Stream.ofNullable(t.getSpec().getInitContainers()).flatMap(List::stream),
        t.getSpec().getContainers().stream());
  }

  static String yaml(Object o) {
    try {
      return YAML.writeValueAsString(o);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static void assertSameYaml(Object expected, Object actual, String what) {
    assertEquals(yaml(expected), yaml(actual), what);
  }

  static Set<String> keys(Map<String, ?> m) {
    return m == null ? Set.of() : m.keySet();
  }
}
