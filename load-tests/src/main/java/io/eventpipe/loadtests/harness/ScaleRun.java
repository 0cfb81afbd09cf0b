package io.eventpipe.loadtests.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** A {@code pipeline scale} process running, with its output in {@code log}. */
public final class ScaleRun {

  private final Process process;
  private final Path log;
  private final int nodes;

  ScaleRun(Process process, Path log, int nodes) {
    this.process = process;
    this.log = log;
    this.nodes = nodes;
  }

  public boolean alive() {
    return process.isAlive();
  }

  /** Its output so far. */
  public List<String> lines() {
    try {
      return Files.readAllLines(log, StandardCharsets.UTF_8);
    } catch (IOException e) {
      return List.of();
    }
  }

  /** The last line it printed ("" before any). */
  public String lastLine() {
    List<String> l = lines();
    return l.isEmpty() ? "" : l.get(l.size() - 1);
  }

  /** kill -9 of it. */
  public void kill() throws InterruptedException {
    process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
  }

  /** Waits for its end, at most {@code timeoutSeconds} (then kills it); fails unless it exited 0. */
  public void await(long timeoutSeconds) throws InterruptedException {
    if (!process.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
      kill();
      throw new IllegalStateException("pipeline scale --nodes " + nodes + " did not end within " + timeoutSeconds
          + " s; its log " + log + ":\n" + tail());
    }
    if (process.exitValue() != 0) {
      throw new IllegalStateException("pipeline scale --nodes " + nodes + " exited with " + process.exitValue()
          + "; its log " + log + ":\n" + tail());
    }
  }

  private String tail() {
    List<String> l = lines();
    return String.join("\n", l.subList(Math.max(0, l.size() - 40), l.size()));
  }
}
