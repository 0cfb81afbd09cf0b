package io.eventpipe.deploy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Just enough of a Kubernetes API server for Helm's {@code lookup} of Secrets, ConfigMaps and StatefulSets. helm-java renders
 * templates with cluster access, the way {@code helm install --dry-run=server} does; the build points it (through
 * {@code KUBECONFIG}, set for the test JVM in the pom) at this server instead of whatever cluster the machine knows,
 * and tests put objects into it to render an upgrade of an existing release.
 */
final class FakeKubeApi {

  private static final Pattern OBJECT = Pattern.compile("/apis?/(?:apps/)?v1/namespaces/([^/]+)/(secrets|configmaps|statefulsets)/([^/?]+)");
  private static final Pattern NAMESPACE = Pattern.compile("/api/v1/namespaces/([^/]+)");
  private static FakeKubeApi instance;

  /** Objects by "namespace/resource/name", as JSON. */
  private final Map<String, String> objects = new ConcurrentHashMap<>();
  final List<String> unexpected = new CopyOnWriteArrayList<>();
  /** Whether the release's namespace is hidden, as under {@code helm template} or Argo CD (every lookup empty). */
  private volatile boolean blind;

  private FakeKubeApi() {}

  /** Starts the server once per JVM and writes the kubeconfig that {@code KUBECONFIG} names. */
  static synchronized FakeKubeApi get() {
    if (instance == null) {
      String kubeconfig = System.getenv("KUBECONFIG");
      if (kubeconfig == null || kubeconfig.isEmpty()) {
        throw new IllegalStateException("KUBECONFIG is not set for the test JVM (see deploy/pom.xml)");
      }
      FakeKubeApi api = new FakeKubeApi();
      try {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.createContext("/", api::handle);
        server.setExecutor(null);
        server.start();
        Path file = Path.of(kubeconfig);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, """
            apiVersion: v1
            kind: Config
            clusters: [{name: fake, cluster: {server: "http://127.0.0.1:%d"}}]
            users: [{name: fake, user: {token: fake}}]
            contexts: [{name: fake, context: {cluster: fake, user: fake}}]
            current-context: fake
            """.formatted(server.getAddress().getPort()), StandardCharsets.UTF_8);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
      instance = api;
    }
    return instance;
  }

  void put(String namespace, String resource, String name, String json) {
    objects.put(namespace + "/" + resource + "/" + name, json);
  }

  void clear() {
    objects.clear();
  }

  /** Answers the namespace lookup with 404, as a render that cannot see the cluster gets nothing. */
  void blind(boolean blind) {
    this.blind = blind;
  }

  private void handle(HttpExchange ex) throws IOException {
    String path = ex.getRequestURI().getPath();
    if (path.equals("/api/v1")) {
      answer(ex, 200, """
          {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"v1","resources":[
           {"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["get","list"]},
           {"name":"secrets","singularName":"secret","namespaced":true,"kind":"Secret","verbs":["get","list"]},
           {"name":"configmaps","singularName":"configmap","namespaced":true,"kind":"ConfigMap","verbs":["get","list"]}]}""");
      return;
    }
    if (path.equals("/apis/apps/v1")) {
      answer(ex, 200, """
          {"kind":"APIResourceList","apiVersion":"v1","groupVersion":"apps/v1","resources":[
           {"name":"statefulsets","singularName":"statefulset","namespaced":true,"kind":"StatefulSet","verbs":["get","list"]}]}""");
      return;
    }
    Matcher ns = NAMESPACE.matcher(path);
    if (ns.matches() && !blind) {
      answer(ex, 200, "{\"kind\":\"Namespace\",\"apiVersion\":\"v1\",\"metadata\":{\"name\":\"" + ns.group(1) + "\"}}");
      return;
    }
    Matcher m = OBJECT.matcher(path);
    String found = m.matches() ? objects.get(m.group(1) + "/" + m.group(2) + "/" + m.group(3)) : null;
    if (found != null) {
      answer(ex, 200, found);
      return;
    }
    if (!m.matches() && !ns.matches()) {
      unexpected.add(ex.getRequestMethod() + " " + ex.getRequestURI());
    }
    answer(ex, 404, """
        {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not found","reason":"NotFound","code":404}""");
  }

  private static void answer(HttpExchange ex, int status, String json) throws IOException {
    byte[] body = json.getBytes(StandardCharsets.UTF_8);
    ex.getResponseHeaders().set("Content-Type", "application/json");
    ex.sendResponseHeaders(status, body.length);
    try (OutputStream out = ex.getResponseBody()) {
      out.write(body);
    }
  }
}
