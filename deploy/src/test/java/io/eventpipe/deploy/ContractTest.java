package io.eventpipe.deploy;

import static io.eventpipe.deploy.RenderedChart.RELEASE;
import static io.eventpipe.deploy.RenderedChart.values;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.launcher.Main;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.EnvVar;
import io.fabric8.kubernetes.api.model.IntOrString;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServicePort;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.yaml.snakeyaml.Yaml;

/**
 * The deployment files against the binary: every flag and {@code PIPELINE_*} variable that the chart, the compose
 * file and the Dockerfile give a role is one that {@link Main#flagsOf(String)} accepts for that role, and every
 * port a probe, a Service or a published port names is one the role listens on.
 */
class ContractTest {

  /** Read by the image's entrypoint (and ./pipeline) for the JVM, never by the launcher's flag parser. */
  private static final String JAVA_OPTS = "PIPELINE_JAVA_OPTS";
  private static final String POSTGRES_PREFIX = "postgres:";
  /** A PostgreSQL setting, as -c or in a variable, that makes commits non-durable. */
  private static final Pattern NON_DURABLE_SETTING = Pattern.compile(
      "(?i)(fsync|synchronous_commit|full_page_writes)\\s*=\\s*'?(off|false|no|0)'?");

  /** One process as a deployment file starts it: role, flags from args, environment. */
  record Process(String where, String image, String role, Map<String, String> args, Map<String, String> env) {

    /** A flag's value from the command line, else from PIPELINE_<FLAG>, else null (unknown or from a reference). */
    String flag(String name) {
      if (args.containsKey(name)) {
        return args.get(name);
      }
      return env.get("PIPELINE_" + name.toUpperCase(Locale.ROOT).replace('-', '_'));
    }

    boolean has(String name) {
      return args.containsKey(name) || env.containsKey("PIPELINE_" + name.toUpperCase(Locale.ROOT).replace('-', '_'));
    }

    /** The ports the process listens on, from its flags and the launcher's defaults (Main: --port 8080, --admin-port 8081). */
    Set<Integer> listens() {
      if (role == null) {
        return image.startsWith(POSTGRES_PREFIX) ? Set.of(5432) : Set.of();
      }
      int port = Integer.parseInt(flag("port") == null ? "8080" : flag("port"));
      int admin = Integer.parseInt(flag("admin-port") == null ? "8081" : flag("admin-port"));
      return switch (role) {
        // a cluster member serves only its internal port; standalone, it serves the SDK API on --port too
        case "node" -> has("control-url") ? Set.of(admin) : Set.of(port, admin);
        case "proxy" -> Set.of(port, admin);
        default -> Set.of();
      };
    }

    void assertAcceptedByTheLauncher() {
      Set<String> accepted = Main.flagsOf(role);
      for (String f : args.keySet()) {
        assertTrue(accepted.contains(f), where + ": pipeline " + role + " does not accept --" + f + " (accepted: " + new TreeSet<>(accepted) + ")");
      }
      for (String e : env.keySet()) {
        if (e.startsWith("PIPELINE_") && !e.equals(JAVA_OPTS)) {
          String f = e.substring("PIPELINE_".length()).toLowerCase(Locale.ROOT).replace('_', '-');
          assertTrue(accepted.contains(f), where + ": " + e + " is no flag of pipeline " + role + " (accepted: " + new TreeSet<>(accepted) + ")");
        }
      }
    }
  }

  /** Parses "role --flag value --flag=value --switch" as the launcher's Flags does. */
  static Process process(String where, String image, List<String> command, Map<String, String> env) {
    String role = command.get(0);
    Map<String, String> args = new LinkedHashMap<>();
    for (int i = 1; i < command.size(); i++) {
      String a = command.get(i);
      assertTrue(a.startsWith("--"), where + ": unexpected argument '" + a + "'");
      String name = a.substring(2);
      String value = "true";
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else if (i + 1 < command.size() && !command.get(i + 1).startsWith("--")) {
        value = command.get(++i);
      }
      args.put(name, value);
    }
    return new Process(where, image, role, args, env);
  }

  // ------------------------------------------------------------------ chart

  @Test
  void chartContainersUseOnlyFlagsTheirRoleAccepts() {
    for (RenderedChart c : List.of(RenderedChart.render(), RenderedChart.render(values("controlStore.enabled", false,
        "controlStore.external.existingSecret", "control-url", "migrator.batchJobs", 500, "migrator.maxJobsPerSecond", 2000,
        "migrator.leaseSeconds", 30)), RenderedChart.render(values("nodes.database.mode", "cloudnativepg")))) {
      Set<String> roles = new TreeSet<>();
      chartProcesses(c).values().forEach(p -> {
        if (p.role() != null) {
          roles.add(p.role());
          p.assertAcceptedByTheLauncher();
        }
      });
      assertEquals(Set.of("control-init", "migrator", "node", "proxy"), roles);
    }
  }

  @Test
  void chartPortsAreThoseTheRolesListenOn() {
    RenderedChart c = RenderedChart.render(values("metrics.serviceMonitor.enabled", true,
        "networkPolicy.metricsFrom", List.of(Map.of("namespaceSelector", Map.of()))));
    Map<Container, Process> processes = chartProcesses(c);
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> {
      Process p = processes.get(k);
      String what = owner + " " + k.getName();
      for (ContainerPort port : k.getPorts() == null ? List.<ContainerPort>of() : k.getPorts()) {
        assertTrue(p.listens().contains(port.getContainerPort()), what + " declares port " + port.getContainerPort() + ", listens on " + p.listens());
      }
      for (Probe probe : new Probe[] {k.getStartupProbe(), k.getLivenessProbe(), k.getReadinessProbe()}) {
        if (probe != null && probe.getHttpGet() != null) {
          int port = resolve(k, probe.getHttpGet().getPort(), what);
          assertTrue(p.listens().contains(port), what + " probes port " + port + ", listens on " + p.listens());
        }
      }
    }));
    // every Service port reaches a port that every selected pod listens on
    for (Service s : c.all(Service.class)) {
      List<PodTemplateSpec> selected = c.podTemplates().values().stream()
          .filter(t -> t.getMetadata().getLabels().entrySet().containsAll(s.getSpec().getSelector().entrySet())).toList();
      assertFalse(selected.isEmpty(), "Service " + s.getMetadata().getName() + " selects no pod");
      for (ServicePort sp : s.getSpec().getPorts()) {
        IntOrString target = sp.getTargetPort() == null ? new IntOrString(sp.getPort()) : sp.getTargetPort();
        for (PodTemplateSpec t : selected) {
          boolean served = RenderedChart.containers(t).anyMatch(k -> {
            Integer port = target.getIntVal() != null ? target.getIntVal()
                : k.getPorts() == null ? null : k.getPorts().stream().filter(cp -> target.getStrVal().equals(cp.getName()))
                    .map(ContainerPort::getContainerPort).findFirst().orElse(null);
            return port != null && processes.get(k).listens().contains(port);
          });
          assertTrue(served, "Service " + s.getMetadata().getName() + " port " + sp.getName() + " reaches no listening container");
        }
      }
    }
    // nodes advertise their internal port under their headless-Service name
    Process node = processes.values().stream().filter(p -> "node".equals(p.role())).findFirst().orElseThrow();
    assertEquals("$(POD_NAME)." + RELEASE + "-nodes.$(POD_NAMESPACE).svc:" + node.flag("admin-port"), node.flag("advertise"));
    assertEquals("auto", node.flag("node-id"), "the StatefulSet ordinal is the node id");
  }

  private static int resolve(Container k, IntOrString port, String what) {
    if (port.getIntVal() != null) {
      return port.getIntVal();
    }
    return k.getPorts().stream().filter(p -> port.getStrVal().equals(p.getName())).findFirst()
        .orElseThrow(() -> new AssertionError(what + ": no port named " + port.getStrVal())).getContainerPort();
  }

  /** Every container of the chart as a process; a container of the eventpipe image has a role. */
  static Map<Container, Process> chartProcesses(RenderedChart c) {
    Map<Container, Process> out = new LinkedHashMap<>();
    c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> {
      Map<String, String> env = new LinkedHashMap<>();
      for (EnvVar e : k.getEnv() == null ? List.<EnvVar>of() : k.getEnv()) {
        env.put(e.getName(), e.getValue()); // null when from a Secret or ConfigMap
      }
      String where = owner + " container " + k.getName();
      boolean eventpipe = k.getImage().startsWith("eventpipe:");
      out.put(k, eventpipe ? process(where, k.getImage(), k.getArgs(), env) : new Process(where, k.getImage(), null, Map.of(), env));
      if (!eventpipe) {
        assertTrue(k.getImage().startsWith(POSTGRES_PREFIX), where + ": an image the contract does not know: " + k.getImage());
      }
    }));
    return out;
  }

  /**
   * Issue 14: nothing a deployment starts may acknowledge events that a crash can lose. No PostgreSQL is started
   * with fsync, synchronous_commit or full_page_writes off (nor -F), and no process gets the tests-only
   * --allow-non-durable-database; the nodes check their databases at start besides.
   */
  @Test
  void chartAndComposeRunEveryPostgreSqlDurablyAndNoProcessAcceptsANonDurableOne() throws IOException {
    for (RenderedChart c : List.of(RenderedChart.render(), RenderedChart.render(values("controlStore.enabled", false,
        "controlStore.external.existingSecret", "control-url")))) {
      c.podTemplates().forEach((owner, t) -> RenderedChart.containers(t).forEach(k -> {
        String where = owner + " container " + k.getName();
        List<String> words = new java.util.ArrayList<>();
        words.addAll(k.getCommand() == null ? List.of() : k.getCommand());
        words.addAll(k.getArgs() == null ? List.of() : k.getArgs());
        for (EnvVar e : k.getEnv() == null ? List.<EnvVar>of() : k.getEnv()) {
          words.add(e.getName() + "=" + e.getValue());
        }
        assertDurable(where, words);
      }));
    }
    Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("compose", "docker-compose.yml"), StandardCharsets.UTF_8));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
    services.forEach((name, s) -> {
      List<String> words = new java.util.ArrayList<>();
      if (s.get("command") instanceof List<?> command) {
        command.forEach(w -> words.add(String.valueOf(w)));
      } else if (s.get("command") != null) {
        words.addAll(List.of(String.valueOf(s.get("command")).split("\\s+")));
      }
      if (s.get("environment") instanceof Map<?, ?> env) {
        env.forEach((k, v) -> words.add(k + "=" + v));
      }
      assertDurable("compose service " + name, words);
    });
  }

  private static void assertDurable(String where, List<String> words) {
    for (String w : words) {
      assertFalse(w.equals("-F"), where + " starts PostgreSQL with -F (fsync off)");
      assertFalse(NON_DURABLE_SETTING.matcher(w).find(), where + " sets " + w);
      assertFalse(w.contains("allow-non-durable-database") || w.startsWith("PIPELINE_ALLOW_NON_DURABLE_DATABASE"),
          where + " lets a process use a non-durable database: " + w);
    }
  }

  @Test
  void theDurabilityContractCatchesANonDurableSetting() {
    AssertionError e = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
        () -> assertDurable("test", List.of("-c", "synchronous_commit=off")));
    assertTrue(e.getMessage().contains("synchronous_commit=off"), e.getMessage());
    org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, () -> assertDurable("test", List.of("-F")));
    org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class,
        () -> assertDurable("test", List.of("node", "--allow-non-durable-database")));
    assertDurable("test", List.of("-c", "max_connections=200", "-c", "fsync=on"));
  }

  // ------------------------------------------------------------------ compose

  @Test
  void composeServicesUseOnlyFlagsTheirRoleAcceptsAndPublishPortsTheyListenOn() throws IOException {
    Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("compose", "docker-compose.yml"), StandardCharsets.UTF_8));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
    Set<String> roles = new TreeSet<>();
    services.forEach((name, s) -> {
      String image = String.valueOf(s.get("image"));
      @SuppressWarnings("unchecked")
      Map<String, Object> rawEnv = s.get("environment") == null ? Map.of() : (Map<String, Object>) s.get("environment");
      Map<String, String> env = new LinkedHashMap<>();
      rawEnv.forEach((k, v) -> env.put(k, String.valueOf(v)));
      if (!image.startsWith("eventpipe:")) {
        assertTrue(image.startsWith(POSTGRES_PREFIX), name + ": " + image);
        return;
      }
      @SuppressWarnings("unchecked")
      List<String> command = (List<String>) s.get("command");
      Process p = process("compose service " + name, image, command, env);
      roles.add(p.role());
      p.assertAcceptedByTheLauncher();
      @SuppressWarnings("unchecked")
      List<String> ports = s.get("ports") == null ? List.of() : (List<String>) s.get("ports");
      for (String published : ports) {
        int container = Integer.parseInt(published.substring(published.lastIndexOf(':') + 1));
        assertTrue(p.listens().contains(container), name + " publishes " + published + ", listens on " + p.listens());
      }
      if (p.role().equals("node")) {
        String advertise = p.flag("advertise");
        assertEquals(name, advertise.substring(0, advertise.indexOf(':')), name + " advertises another host");
        assertTrue(p.listens().contains(Integer.parseInt(advertise.substring(advertise.indexOf(':') + 1))),
            name + " advertises " + advertise + ", listens on " + p.listens());
        String pg = p.flag("pg-url");
        assertTrue(services.containsKey(ChartTest.hostOf(pg)), name + ": its database " + ChartTest.hostOf(pg) + " is no service");
      }
      String control = p.flag("control-url");
      assertTrue(control != null && services.containsKey(ChartTest.hostOf(control)), name + ": control store " + control);
    });
    assertEquals(Set.of("control-init", "migrator", "node", "proxy", "status"), roles);
  }

  /**
   * Issue 14: compose connected every process to the control store as its owner (the image's superuser), so a
   * compromised proxy could rewrite node addresses. As in the chart, only control-init holds the owner's credentials
   * and runs first; it creates each role with the password from its variable, and every other process connects as its
   * own role (the chart's user for that role) with that role's password, never the owner's.
   */
  @Test
  void composeGivesEachProcessItsOwnControlStoreRoleAsTheChartDoes() throws IOException {
    Map<String, Object> compose = new Yaml().load(Files.readString(Path.of("compose", "docker-compose.yml"), StandardCharsets.UTF_8));
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
    // the chart's user per role, the role's password flag of control-init per user
    Map<String, String> chartUsers = new LinkedHashMap<>();
    chartProcesses(RenderedChart.render()).values().stream().filter(p -> p.role() != null && p.flag("control-url") != null)
        .forEach(p -> chartUsers.put(p.role(), userOf(p.flag("control-url"))));
    Map<String, String> passwordFlag = Map.of(io.eventpipe.control.ControlRoles.PROXY, "proxy-role-password",
        io.eventpipe.control.ControlRoles.ANY_NODE, "node-role-password", io.eventpipe.control.ControlRoles.MIGRATOR,
        "migrator-role-password", io.eventpipe.control.ControlRoles.STATUS, "status-role-password");
    Map<String, String> roleOf = Map.of("proxy", io.eventpipe.control.ControlRoles.PROXY, "node",
        io.eventpipe.control.ControlRoles.ANY_NODE, "migrator", io.eventpipe.control.ControlRoles.MIGRATOR, "status",
        io.eventpipe.control.ControlRoles.STATUS);

    Map<String, String> controlDbEnv = stringMap(services.get("control-db").get("environment"));
    String ownerUser = controlDbEnv.getOrDefault("POSTGRES_USER", "postgres");
    String ownerPassword = variableOf(controlDbEnv.get("POSTGRES_PASSWORD"));
    Map<String, Process> processes = new LinkedHashMap<>();
    services.forEach((name, s) -> {
      if (String.valueOf(s.get("image")).startsWith("eventpipe:")) {
        @SuppressWarnings("unchecked")
        List<String> command = (List<String>) s.get("command");
        processes.put(name, process("compose service " + name, "eventpipe:dev", command, stringMap(s.get("environment"))));
      }
    });
    Process init = processes.get("control-init");
    assertTrue(init != null && "control-init".equals(init.role()),
        "no control-init service: something else would have to connect as the control store's owner");
    assertEquals(ownerUser, userOf(init.flag("control-url")), "control-init connects as the owner");
    assertEquals(ownerPassword, variableOf(passwordOf(init.flag("control-url"))));
    assertTrue(chartUsers.keySet().containsAll(Set.of("proxy", "node", "migrator")), "the chart's roles: " + chartUsers);
    processes.forEach((name, p) -> {
      if (p == init) {
        return;
      }
      p.env().forEach((k, v) -> assertFalse(v.contains("${" + ownerPassword),
          name + " " + k + " holds the control store owner's password " + ownerPassword + ": " + v));
      String url = p.flag("control-url");
      String user = userOf(url);
      assertFalse(user.equals(ownerUser) || variableOf(passwordOf(url)).equals(ownerPassword),
          name + " connects to the control store with the owner's credentials: " + url);
      assertEquals(roleOf.get(p.role()), user, name + " (" + p.role() + ") connects as another role");
      if (chartUsers.containsKey(p.role())) {
        assertEquals(chartUsers.get(p.role()), user, name + ": the chart gives role " + p.role() + " another user");
      }
      // its password is the one control-init sets for that role
      assertEquals(variableOf(init.flag(passwordFlag.get(user))), variableOf(passwordOf(url)),
          name + " uses a password control-init does not set for " + user);
      for (String flag : passwordFlag.values()) {
        assertFalse(p.has(flag), name + " holds a role password (" + flag + "): only control-init does");
      }
      assertFalse(p.has("cluster-nodes"), name + ": only control-init creates the topology (its role cannot)");
      assertTrue(dependsOnCompletion(services, name, "control-init"), name + " may start before control-init has run");
    });
  }

  /** Whether {@code name} waits, directly or through what it depends on, for {@code on} to complete successfully. */
  private static boolean dependsOnCompletion(Map<String, Map<String, Object>> services, String name, String on) {
    Object deps = services.get(name).get("depends_on");
    if (deps instanceof Map<?, ?> m) {
      if (m.get(on) instanceof Map<?, ?> c && "service_completed_successfully".equals(c.get("condition"))) {
        return true;
      }
      return m.keySet().stream().anyMatch(d -> dependsOnCompletion(services, String.valueOf(d), on));
    }
    if (deps instanceof List<?> l) {
      return l.stream().anyMatch(d -> dependsOnCompletion(services, String.valueOf(d), on));
    }
    return false;
  }

  private static Map<String, String> stringMap(Object env) {
    Map<String, String> out = new LinkedHashMap<>();
    if (env instanceof Map<?, ?> m) {
      m.forEach((k, v) -> out.put(String.valueOf(k), String.valueOf(v)));
    }
    return out;
  }

  private static String userOf(String url) {
    String rest = url.substring(url.indexOf("://") + 3);
    return rest.substring(0, rest.indexOf(':'));
  }

  private static String passwordOf(String url) {
    String rest = url.substring(url.indexOf("://") + 3);
    return rest.substring(rest.indexOf(':') + 1, rest.lastIndexOf('@'));
  }

  /** The variable a compose value interpolates: {@code ${NAME}} or {@code ${NAME:?message}}. */
  private static String variableOf(String value) {
    Matcher m = Pattern.compile("\\$\\{([A-Z_]+)[}:]").matcher(String.valueOf(value));
    assertTrue(m.find(), "not a compose variable: " + value);
    return m.group(1);
  }

  /**
   * Issue 9: the compose file shipped a default token (held by proxies and nodes alike) and postgres:postgres. Every
   * token and password now comes from a variable that compose requires, proxies get the ingest token only, and nodes
   * get the admin token and the ingest token.
   */
  @Test
  void composeShipsNoTokenOrPasswordAndProxiesHoldOnlyTheIngestToken() throws IOException {
    String text = Files.readString(Path.of("compose", "docker-compose.yml"), StandardCharsets.UTF_8);
    Map<String, Object> compose = new Yaml().load(text);
    @SuppressWarnings("unchecked")
    Map<String, Map<String, Object>> services = (Map<String, Map<String, Object>>) compose.get("services");
    Pattern required = Pattern.compile("\\$\\{[A-Z_]+:\\?[^}]+}");
    services.forEach((name, s) -> {
      @SuppressWarnings("unchecked")
      Map<String, Object> env = s.get("environment") == null ? Map.of() : (Map<String, Object>) s.get("environment");
      env.forEach((k, v) -> {
        if (k.matches(".*(TOKEN|PASSWORD)$")) {
          assertTrue(required.matcher(String.valueOf(v)).matches(), name + " " + k + " is not a required variable: " + v);
        }
        if (String.valueOf(v).startsWith("postgresql://")) {
          assertTrue(String.valueOf(v).matches("postgresql://[^:]+:\\$\\{[A-Z_]+}@.*"), name + " " + k + ": a password in a URL: " + v);
        }
      });
      @SuppressWarnings("unchecked")
      List<String> command = (List<String>) s.get("command");
      if (command != null && command.get(0).equals("proxy")) {
        assertFalse(env.containsKey("PIPELINE_ADMIN_TOKEN"), name + " holds the admin token");
        assertTrue(env.containsKey("PIPELINE_INGEST_TOKEN"), name);
      } else if (command != null && command.get(0).equals("node")) {
        assertTrue(env.containsKey("PIPELINE_ADMIN_TOKEN") && env.containsKey("PIPELINE_INGEST_TOKEN"), name);
      }
    });
    assertFalse(text.contains("postgres:postgres@") || text.contains("change-me"), "a literal password or token");
  }

  // ------------------------------------------------------------------ Dockerfile

  @Test
  void dockerfileEnvironmentAndPortsMatchTheRoles() throws IOException {
    List<String> lines = Files.readAllLines(Path.of("docker", "Dockerfile"), StandardCharsets.UTF_8);
    // only the final stage is the image
    int from = 0;
    for (int i = 0; i < lines.size(); i++) {
      if (lines.get(i).startsWith("FROM ")) {
        from = i;
      }
    }
    List<String> image = lines.subList(from, lines.size());
    Map<String, String> env = new LinkedHashMap<>();
    Set<Integer> exposed = new TreeSet<>();
    String user = null;
    String entrypoint = null;
    Pattern kv = Pattern.compile("([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\\S+)");
    for (String line : image) {
      if (line.startsWith("ENV ")) {
        Matcher m = kv.matcher(line.substring(4));
        while (m.find()) {
          env.put(m.group(1), m.group(2));
        }
      } else if (line.startsWith("EXPOSE ")) {
        for (String p : line.substring(7).trim().split("\\s+")) {
          exposed.add(Integer.parseInt(p.replace("/tcp", "")));
        }
      } else if (line.startsWith("USER ")) {
        user = line.substring(5).trim();
      } else if (line.startsWith("ENTRYPOINT ")) {
        entrypoint = line;
      }
    }
    // an image-wide PIPELINE_* variable reaches every role, so every role must accept it
    for (String role : List.of("node", "proxy", "migrator")) {
      new Process("Dockerfile ENV", "eventpipe", role, Map.of(), env).assertAcceptedByTheLauncher();
    }
    assertTrue(entrypoint != null && entrypoint.contains("$" + JAVA_OPTS) && entrypoint.contains("\\\"$@\\\""),
        "the entrypoint passes the role and flags through, and the JVM options the chart sets: " + entrypoint);
    Set<Integer> served = new TreeSet<>();
    served.addAll(process("node", "eventpipe", List.of("node"), Map.of()).listens());
    served.addAll(process("proxy", "eventpipe", List.of("proxy"), Map.of()).listens());
    assertEquals(served, exposed, "EXPOSE lists the ports the roles listen on by default");
    // the chart runs as the image's user
    RenderedChart c = RenderedChart.render();
    Container node = ChartTest.node(c.nodes().getSpec().getTemplate());
    assertEquals(user, String.valueOf(node.getSecurityContext().getRunAsUser()), "the chart's runAsUser is the image's USER");
  }

  @Test
  void theContractCatchesAnUnknownFlag() {
    Process p = process("test", "eventpipe:x", List.of("proxy", "--node-id", "3"), Map.of("PIPELINE_PG_URL", "x"));
    AssertionError e = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, p::assertAcceptedByTheLauncher);
    assertTrue(e.getMessage().contains("--node-id"), e.getMessage());
    Process q = process("test", "eventpipe:x", List.of("proxy"), Map.of("PIPELINE_PG_URL", "x"));
    e = org.junit.jupiter.api.Assertions.assertThrows(AssertionError.class, q::assertAcceptedByTheLauncher);
    assertTrue(e.getMessage().contains("PIPELINE_PG_URL"), e.getMessage());
  }

}
