package io.eventpipe.loadtests.harness;

import java.net.URI;

/**
 * The system under test, as a scenario sees it: where the public API is, the source's write key, and, when the
 * harness runs the cluster itself, the faults and resizes it can inject.
 */
public interface Cluster extends AutoCloseable {

  /** The public API (the proxy), e.g. {@code http://127.0.0.1:8080}. */
  URI api();

  String writeKey();

  /** Whether {@link #kill9}, {@link #restart} and {@link #scale} work here (a deployed cluster: no). */
  boolean controllable();

  /** kill -9 of every process of the cluster (the launcher, its nodes and its PostgreSQL). */
  void kill9() throws Exception;

  /** Starts the cluster again on its data, and returns once the API answers. */
  void restart() throws Exception;

  /**
   * Resizes to {@code nodes} as an operator does ({@code pipeline scale}), and returns its exit code (0: done); it
   * gives up after {@code timeoutSeconds}.
   */
  int scale(int nodes, long timeoutSeconds) throws Exception;

  /** Starts {@code pipeline scale --nodes N} and returns at once (to interrupt it); {@link #scale} waits for it. */
  ScaleRun startScale(int nodes) throws Exception;

  /** The node count it runs now, as far as the harness knows (-1: not known, a deployed cluster). */
  int nodes();

  /** One line saying what this is (for the result). */
  String describe();

  @Override
  void close() throws Exception;
}
