package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher as a process in a process group of its own, stopped as a terminal's Ctrl-C stops it (SIGINT to the whole
 * group) and as a supervisor's kill -9 of the group does: the Ctrl-C stops {@code pipeline local}'s nodes before their
 * database (no ERROR in the log; the embedded PostgreSQL used to be stopped by the embedded library's own shutdown hook
 * at the same time as the nodes, which then logged that they lost their instance lock: this test failed so), and
 * neither leaves a PostgreSQL running.
 */
class LocalStopTest {

  @Test
  void ctrlCToTheGroupStopsTheNodesBeforeTheirDatabase(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setsid")), "needs util-linux's setsid");
    Path data = dir.resolve("data");
    Path log = dir.resolve("ctrl-c.log");
    Process local = start(data, log);
    long postmaster = postmaster(data);
    consoleReadsTheClusterAsTheNodesRole(read(log), Files.readString(data.resolve("admin-token")).trim());
    signalGroup(local, "INT");
    assertTrue(local.waitFor(90, TimeUnit.SECONDS), "pipeline local stopped on SIGINT; its log:\n" + read(log));
    String out = read(log);
    assertTrue(out.contains("node 0 stopped"), "the nodes stopped gracefully:\n" + out);
    List<String> errors = out.lines().filter(l -> l.contains("ERROR")).toList();
    assertTrue(errors.isEmpty(), "no ERROR on a graceful Ctrl-C, got " + errors + " in:\n" + out);
    // pg_ctl stop returns once the pid file is gone, a moment before the postmaster has exited
    assertTrue(gone(postmaster, 10), "PostgreSQL (pid " + postmaster + ") stopped after the nodes, with the launcher:\n" + out);
  }

  @Test
  void killNineOfTheLaunchersGroupStopsItsPostgresToo(@TempDir Path dir) throws Exception {
    Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/setsid")), "needs util-linux's setsid");
    Path data = dir.resolve("pg");
    Path log = dir.resolve("kill-9.log");
    Process launcher = leader(log, "io.eventpipe.launcher.LocalStopTest$HoldsPostgres", data.toString());
    awaitLine(launcher, log, "postgres is running");
    long postmaster = postmaster(data.getParent(), data.getFileName().toString());
    signalGroup(launcher, "KILL");
    assertTrue(launcher.waitFor(30, TimeUnit.SECONDS));
    assertTrue(gone(postmaster, 60), "PostgreSQL (pid " + postmaster + ") stopped once its launcher's group was killed; its log:\n"
        + read(data.resolve(EmbeddedPg.LOG_FILE)));
  }

  /**
   * While it runs: the console whose URL local printed opens with the admin token and renders the cluster as the node's
   * own control-store role reads it (topology, health, the autoscaler's decisions table), not a superuser's.
   */
  private static void consoleReadsTheClusterAsTheNodesRole(String out, String token) throws Exception {
    java.util.regex.Matcher m = java.util.regex.Pattern.compile("console: (http://\\S+/console) ").matcher(out);
    assertTrue(m.find(), "local prints its console's URL:\n" + out);
    java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
    java.net.http.HttpResponse<String> login = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(m.group(1) + "/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .POST(java.net.http.HttpRequest.BodyPublishers.ofString("token=" + token)).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(303, login.statusCode(), login.body());
    String cookie = login.headers().firstValue("Set-Cookie").orElseThrow();
    java.net.http.HttpResponse<String> view = http.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create(m.group(1) + "/view"))
        .header("Cookie", cookie.substring(0, cookie.indexOf(';'))).build(), java.net.http.HttpResponse.BodyHandlers.ofString());
    assertEquals(200, view.statusCode(), view.body());
    assertTrue(view.body().contains("16 partitions over 1 nodes") && view.body().contains("<span class=\"ok\">ready</span>")
        && view.body().contains("No decision recorded"), view.body());
  }

  /** A launcher that starts the embedded PostgreSQL on {@code args[0]} and waits to be killed. */
  static final class HoldsPostgres {
    public static void main(String[] args) throws Exception {
      EmbeddedPg.start(Path.of(args[0]));
      System.out.println("postgres is running");
      System.out.flush();
      Thread.sleep(Long.MAX_VALUE);
    }
  }

  /** {@code pipeline local}, the leader of a process group of its own, as a shell's job. */
  private static Process start(Path data, Path log) throws Exception {
    Process p = leader(log, "io.eventpipe.launcher.Main", "local", "--data-dir", data.toString(), "--port", "0", "--nodes", "1",
        "--partitions", "16");
    awaitLine(p, log, "eventpipe is running");
    return p;
  }

  /** A JVM running {@code main} under {@code setsid}: the leader of a new process group (and session). */
  private static Process leader(Path log, String main, String... args) throws Exception {
    List<String> command = new java.util.ArrayList<>(List.of("/usr/bin/setsid",
        Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx512m", "-cp", System.getProperty("java.class.path"),
        main));
    command.addAll(List.of(args));
    return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
  }

  private static void awaitLine(Process p, Path log, String line) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
    while (!read(log).contains(line)) {
      if (!p.isAlive() || System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new AssertionError("no '" + line + "' from the process; its log:\n" + read(log));
      }
      Thread.sleep(100);
    }
  }

  private static void signalGroup(Process leader, String signal) throws Exception {
    Process kill = new ProcessBuilder("kill", "-" + signal, "--", "-" + leader.pid()).inheritIO().start();
    assertTrue(kill.waitFor(10, TimeUnit.SECONDS) && kill.exitValue() == 0, "kill -" + signal + " of group " + leader.pid());
  }

  /** The postmaster's pid, from its pid file in {@code data/postgres} (local's). */
  private static long postmaster(Path data) throws Exception {
    return postmaster(data, "postgres");
  }

  private static long postmaster(Path data, String directory) throws Exception {
    return Long.parseLong(Files.readAllLines(data.resolve(directory).resolve("postmaster.pid")).get(0).trim());
  }

  /** Whether process {@code pid} has ended within {@code seconds}. */
  private static boolean gone(long pid, int seconds) throws InterruptedException {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    while (alive(pid)) {
      if (System.nanoTime() > deadline) {
        return false;
      }
      Thread.sleep(100);
    }
    return true;
  }

  private static boolean alive(long pid) {
    Optional<ProcessHandle> p = ProcessHandle.of(pid);
    return p.isPresent() && p.get().isAlive();
  }

  private static String read(Path file) {
    try {
      return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "";
    } catch (java.io.IOException e) {
      return "(unreadable: " + e + ")";
    }
  }
}
