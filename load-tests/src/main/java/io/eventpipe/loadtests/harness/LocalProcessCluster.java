package io.eventpipe.loadtests.harness;

import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/**
 * {@code pipeline local} as its own process, as a developer runs it: embedded PostgreSQL, durable, in a data directory
 * under {@code dir}, with a workspace whose one source delivers to the harness's sink. The process runs in a process
 * group of its own ({@code setsid}); {@link #kill9} is a kill -9 of that group (the launcher and its nodes) and of
 * its PostgreSQL's (the postmaster leads a group of its own) at once; {@link #restart} starts it again on the same data directory and API port. {@link #scale} runs
 * {@code pipeline scale} as a process of its own, as an operator would. Everything listens on loopback.
 */
public final class LocalProcessCluster implements Cluster {

  private static final String MAIN = "io.eventpipe.launcher.Main";

  private final Path dir;
  private final Path dataDir;
  private final Path workspace;
  private final String writeKey = UUID.randomUUID().toString().replace("-", "");
  private final int port;
  private final Integer firstNodes;
  private final long startTimeoutSeconds;
  private final List<String> jvmOptions;
  private Process process;
  private int nodes;
  private int starts;

  /**
   * Writes the workspace and starts the cluster with {@code nodes} nodes; returns once the API answers.
   *
   * @param sinkUrl the webhook destination's URL (the harness's {@link VerifyingSink})
   */
  public LocalProcessCluster(Path dir, int nodes, String sinkUrl, long startTimeoutSeconds) throws Exception {
    this(dir, nodes, sinkUrl, startTimeoutSeconds, List.of());
  }

  /**
   * @param jvmOptions more options of every JVM it starts ({@code pipeline local}, {@code pipeline scale}); the smoke
   *     runs start them with {@code -XX:TieredStopAtLevel=1}, which starts faster and runs slower
   */
  public LocalProcessCluster(Path dir, int nodes, String sinkUrl, long startTimeoutSeconds, List<String> jvmOptions)
      throws Exception {
    this.jvmOptions = List.copyOf(jvmOptions);
    this.dir = dir;
    this.dataDir = dir.resolve("data");
    this.workspace = dir.resolve("workspace.yaml");
    this.firstNodes = nodes;
    this.nodes = nodes;
    this.startTimeoutSeconds = startTimeoutSeconds;
    this.port = freePort();
    Files.createDirectories(dir);
    Files.writeString(workspace, workspaceYaml(writeKey, sinkUrl), StandardCharsets.UTF_8);
    start();
  }

  /**
   * The harness's workspace: one source, one webhook destination at {@code sinkUrl} (loopback allowed), retries
   * capped at 2 s between attempts so that the end of an outage shows within seconds in the figures.
   */
  static String workspaceYaml(String writeKey, String sinkUrl) {
    return """
        # written by the load-tests harness
        egress: {allow: [127.0.0.0/8]}
        sources:
          - id: load
            writeKey: %s
        destinations:
          - id: verifying-sink
            type: webhook
            sources: [load]
            config:
              url: %s
              timeoutMs: 10000
              retry: {initialBackoffMs: 100, maxBackoffMs: 2000}
        """.formatted(writeKey, sinkUrl);
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      return s.getLocalPort();
    }
  }

  private List<String> java(String... args) {
    List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
        "-Xmx512m",
        // the classpath holds two logback.xml (load-tests', the launcher's): without this, logback prints its status
        "-Dlogback.statusListenerClass=ch.qos.logback.core.status.NopStatusListener"));
    cmd.addAll(jvmOptions);
    Path launcher = launcherLocation();
    if (launcher.toString().endsWith(".jar") && Files.isDirectory(launcher.resolveSibling("lib"))) {
      // the packaged launcher (pipeline.jar beside its lib/, as ./pipeline runs it): its manifest brings lib/; with
      // this JVM's classpath as well, every library would be there twice (the embedded PostgreSQL refuses two binaries)
      cmd.addAll(List.of("-jar", launcher.toString()));
    } else {
      // the launcher's classes, or its jar without lib/ (from the local repository): this JVM's classpath has the rest
      cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), MAIN));
    }
    cmd.addAll(List.of(args));
    return cmd;
  }

  /** Where the launcher's classes come from: its packaged jar, or its classes directory in a build before packaging. */
  private static Path launcherLocation() {
    try {
      return Path.of(Class.forName(MAIN).getProtectionDomain().getCodeSource().getLocation().toURI());
    } catch (ReflectiveOperationException | java.net.URISyntaxException e) {
      throw new IllegalStateException("the launcher (" + MAIN + ") is not on the harness's classpath", e);
    }
  }

  private static ProcessBuilder clean(ProcessBuilder pb) {
    pb.environment().keySet().removeIf(k -> k.startsWith("PIPELINE_")); // the harness's flags are the only ones
    return pb;
  }

  private void start() throws Exception {
    Files.deleteIfExists(dataDir.resolve("local.json"));
    List<String> cmd = new ArrayList<>(List.of("setsid"));
    cmd.addAll(java("local", "--data-dir", dataDir.toString(), "--config", workspace.toString(), "--port",
        String.valueOf(port), "--admin-port", "0"));
    if (starts == 0 && firstNodes != null) {
      cmd.addAll(List.of("--nodes", String.valueOf(firstNodes)));
    }
    starts++;
    Path log = dir.resolve("local-" + starts + ".log");
    process = clean(new ProcessBuilder(cmd)).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(startTimeoutSeconds);
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    while (true) {
      if (!process.isAlive()) {
        throw new IllegalStateException("pipeline local exited with " + process.exitValue() + " while starting; its log "
            + log + ":\n" + tail(log));
      }
      if (Files.exists(dataDir.resolve("local.json"))) {
        try {
          HttpResponse<String> r = http.send(HttpRequest.newBuilder(api().resolve("/health")).timeout(Duration.ofSeconds(2))
              .build(), HttpResponse.BodyHandlers.ofString());
          if (r.statusCode() == 200) {
            return;
          }
        } catch (IOException e) {
          // not listening yet
        }
      }
      if (System.nanoTime() > deadline) {
        kill9();
        throw new IllegalStateException("pipeline local did not answer within " + startTimeoutSeconds + " s; its log " + log
            + ":\n" + tail(log));
      }
      Thread.sleep(100);
    }
  }

  private static String tail(Path log) {
    try {
      List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
      return String.join("\n", lines.subList(Math.max(0, lines.size() - 40), lines.size()));
    } catch (IOException e) {
      return "(unreadable: " + e + ")";
    }
  }

  @Override
  public URI api() {
    return URI.create("http://127.0.0.1:" + port);
  }

  @Override
  public String writeKey() {
    return writeKey;
  }

  @Override
  public boolean controllable() {
    return true;
  }

  @Override
  public void kill9() throws Exception {
    if (process == null || !process.isAlive()) {
      return;
    }
    // the launcher's group (setsid made it the leader), and PostgreSQL's: its postmaster runs in a process group of
    // its own (pid in postmaster.pid), which a kill of the launcher's group does not reach
    long postmaster = postmasterPid();
    List<String> kill = new ArrayList<>(List.of("kill", "-KILL", "--", "-" + process.pid()));
    if (postmaster > 0) {
      kill.addAll(List.of("-" + postmaster, String.valueOf(postmaster)));
    }
    new ProcessBuilder(kill).redirectErrorStream(true).start().waitFor(10, TimeUnit.SECONDS);
    process.destroyForcibly();
    if (postmaster > 0) {
      ProcessHandle.of(postmaster).ifPresent(h -> h.onExit().orTimeout(30, TimeUnit.SECONDS).join());
    }
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      throw new IllegalStateException("pipeline local (pid " + process.pid() + ") outlived kill -9 for 30 s");
    }
  }

  /** The embedded PostgreSQL's postmaster, from its postmaster.pid (-1: none). */
  private long postmasterPid() {
    try {
      List<String> lines = Files.readAllLines(dataDir.resolve("postgres").resolve("postmaster.pid"), StandardCharsets.UTF_8);
      return lines.isEmpty() ? -1 : Long.parseLong(lines.get(0).trim());
    } catch (IOException | NumberFormatException e) {
      return -1;
    }
  }

  @Override
  public void restart() throws Exception {
    start();
  }

  @Override
  public ScaleRun startScale(int nodes) throws IOException {
    Path log = dir.resolve("scale-" + nodes + "-" + System.nanoTime() + ".log");
    Process p = clean(new ProcessBuilder(java("scale", "--nodes", String.valueOf(nodes), "--data-dir", dataDir.toString(),
        "--progress", "plain"))).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    return new ScaleRun(p, log, nodes);
  }

  @Override
  public int scale(int nodes, long timeoutSeconds) throws Exception {
    startScale(nodes).await(timeoutSeconds);
    this.nodes = nodes;
    return 0;
  }

  @Override
  public int nodes() {
    return nodes;
  }

  @Override
  public String describe() {
    return "pipeline local (a process of its own, embedded durable PostgreSQL) in " + dataDir;
  }

  /** Stops the cluster as Ctrl-C does (it finishes its work), then kill -9 of what is left after 60 s. */
  @Override
  public void close() throws Exception {
    if (process == null || !process.isAlive()) {
      return;
    }
    process.destroy(); // SIGTERM to the launcher alone: it stops its nodes, then its PostgreSQL
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      kill9();
    }
  }
}
