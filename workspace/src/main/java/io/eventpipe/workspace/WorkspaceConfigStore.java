package io.eventpipe.workspace;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds the current {@link WorkspaceConfig} and answers write-key lookups; optionally follows a YAML file.
 *
 * <h2>Hot reload</h2>
 * A daemon thread polls the file's attributes (modification time, size and file key, i.e. inode) every
 * {@code pollInterval}; polling works on every filesystem, including bind mounts and Kubernetes ConfigMap volumes,
 * where change events are unreliable. Following a symlink, a ConfigMap update (an atomic symlink swap) shows as a
 * new file key. The steps of one poll:
 * <ol>
 *   <li>Read the attributes. Unchanged since the last attempt: nothing to do.</li>
 *   <li>Changed, but differently from the previous poll: remember them and wait one more poll, so that a file that
 *       is being written in place is read once the writer has finished (writers that rename a complete file into
 *       place are never caught half-way anyway).</li>
 *   <li>Stable for one poll: read and validate the file. Valid: swap the snapshot atomically, clear
 *       {@link #lastError()}, notify listeners. Invalid or unreadable: keep the last good snapshot, log the
 *       problems once, expose them in {@link #lastError()}; the next change is tried again.</li>
 * </ol>
 *
 * <h2>Lookups</h2>
 * Write-key lookups go through a Caffeine cache that belongs to the snapshot: a reload swaps snapshot and cache
 * together, so an entry computed from an old snapshot can never outlive it (the race a shared cache with
 * {@code invalidateAll()} has). The cache keeps only keys of the workspace: an unknown key is client input, answered
 * from the snapshot's map and never kept (cached, 300 requests with 4 MB keys filled the heap), and a key longer than
 * {@link WriteKeys#MAX_CHARS} is not looked up at all. Its size is therefore bounded by the workspace's sources.
 */
public final class WorkspaceConfigStore implements AutoCloseable {

  private static final Logger LOG = LoggerFactory.getLogger(WorkspaceConfigStore.class);

  /** Default poll interval of {@link #watch(Path)}. */
  public static final Duration DEFAULT_POLL_INTERVAL = Duration.ofMillis(1000);
  /** Default number of write keys the lookup cache holds (only keys of the workspace are kept). */
  public static final long DEFAULT_CACHE_SIZE = 10_000;

  /** A snapshot with its lookup cache; swapped as one reference. */
  private record Current(WorkspaceConfig config, long version, Cache<String, Optional<Source>> byWriteKey) {}

  /** File attributes that change when the file is replaced or rewritten. */
  private record Stamp(Instant modified, long size, Object fileKey) {}

  private final Path file;
  private final long cacheSize;
  private final List<Consumer<WorkspaceConfig>> listeners = new CopyOnWriteArrayList<>();
  private final ScheduledExecutorService poller;
  private volatile Current current;
  private volatile String lastError;
  // Poll state, touched by the poller thread and reloadNow() under the instance lock.
  private Stamp attempted;
  private boolean attemptedOk = true;
  private Stamp pending;

  private WorkspaceConfigStore(Path file, WorkspaceConfig initial, Stamp stamp, long cacheSize,
      Duration pollInterval) {
    this.file = file;
    this.cacheSize = cacheSize;
    this.current = snapshot(initial, 1);
    this.attempted = stamp;
    if (file == null) {
      this.poller = null;
    } else {
      this.poller = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "workspace-config-poller");
        thread.setDaemon(true);
        return thread;
      });
      long millis = Math.max(1, pollInterval.toMillis());
      poller.scheduleWithFixedDelay(this::pollSafely, millis, millis, TimeUnit.MILLISECONDS);
    }
  }

  /** A store that always answers from {@code config}; for tests and demos. */
  public static WorkspaceConfigStore fixed(WorkspaceConfig config) {
    return new WorkspaceConfigStore(null, Objects.requireNonNull(config, "config"), null, DEFAULT_CACHE_SIZE, null);
  }

  /** {@link #watch(Path, Duration, long)} with a poll every second and the default cache size. */
  public static WorkspaceConfigStore watch(Path file) {
    return watch(file, DEFAULT_POLL_INTERVAL, DEFAULT_CACHE_SIZE);
  }

  /**
   * Loads {@code file} and follows its changes. Blocking I/O: call it at start-up or on a worker thread.
   *
   * @param pollInterval how often to check the file for changes
   * @param cacheSize how many write keys the lookup cache holds
   * @throws InvalidWorkspaceConfigException if the file cannot be read or is invalid now: a process should not
   *     start without a valid workspace
   */
  public static WorkspaceConfigStore watch(Path file, Duration pollInterval, long cacheSize) {
    Objects.requireNonNull(file, "file");
    if (pollInterval.isNegative() || pollInterval.isZero()) {
      throw new IllegalArgumentException("pollInterval must be positive, got " + pollInterval);
    }
    if (cacheSize < 1) {
      throw new IllegalArgumentException("cacheSize must be >= 1, got " + cacheSize);
    }
    Stamp stamp;
    try {
      stamp = stamp(file);
    } catch (IOException e) {
      stamp = null;
    }
    WorkspaceConfig initial = WorkspaceConfig.load(file);
    LOG.info("Loaded workspace configuration {}: {} sources, {} destinations; checking for changes every {} ms",
        file, initial.sources().size(), initial.destinations().size(), pollInterval.toMillis());
    return new WorkspaceConfigStore(file, initial, stamp, cacheSize, pollInterval);
  }

  /** The current snapshot. */
  public WorkspaceConfig current() {
    return current.config();
  }

  /** Increases by one on every successful reload; starts at 1. */
  public long version() {
    return current.version();
  }

  /** Why the last reload attempt failed, or empty if it succeeded (the store still serves the last good file). */
  public Optional<String> lastError() {
    return Optional.ofNullable(lastError);
  }

  /**
   * Calls {@code listener} with each new snapshot after it is swapped in, on the poller thread; listeners must be
   * quick and must not throw (exceptions are logged).
   *
   * @return removes the listener when closed
   */
  public AutoCloseable addListener(Consumer<WorkspaceConfig> listener) {
    Objects.requireNonNull(listener, "listener");
    listeners.add(listener);
    return () -> listeners.remove(listener);
  }

  /** The source with this write key, enabled or not, through the snapshot's cache. */
  public Optional<Source> sourceByWriteKey(String writeKey) {
    return lookup(current, writeKey);
  }

  /** Write keys the lookup cache of the current snapshot holds: at most the workspace's sources. For tests and gauges. */
  public long cachedWriteKeys() {
    Current c = current;
    c.byWriteKey().cleanUp();
    return c.byWriteKey().estimatedSize();
  }

  /** The cache of the snapshot {@code c} keeps known keys only; unknown and over-long ones are answered, not kept. */
  private static Optional<Source> lookup(Current c, String writeKey) {
    if (writeKey == null || writeKey.isEmpty() || WriteKeys.tooLong(writeKey)) {
      return Optional.empty();
    }
    Optional<Source> cached = c.byWriteKey().getIfPresent(writeKey);
    if (cached != null) {
      return cached;
    }
    Optional<Source> found = c.config().sourceByWriteKey(writeKey);
    if (found.isPresent()) {
      c.byWriteKey().put(writeKey, found);
    }
    return found;
  }

  /** The enabled destinations connected to a source in the current snapshot. */
  public List<Destination> destinationsFor(String sourceId) {
    return current.config().destinationsFor(sourceId);
  }

  /** The rate limit of a source in the current snapshot, if it has one. */
  public Optional<RateLimit> rateLimitFor(String sourceId) {
    return current.config().sourceById(sourceId).map(Source::rateLimit);
  }

  /**
   * The source a write key belongs to, enabled or not, with the snapshot it was found in (use that snapshot for the
   * source's destinations, so both come from the same version of the file). The gateway turns an empty answer into
   * 401 and a disabled source into 404.
   *
   * @param writeKey the write key, from HTTP Basic auth ({@link WriteKeys#fromBasicAuth}), the body or the query
   */
  public Optional<AuthResult> findByWriteKey(String writeKey) {
    Current c = current;
    return lookup(c, writeKey).map(source -> new AuthResult(source, c.config()));
  }

  /**
   * Reads the file now, whatever its attributes; for operators' "reload" commands and tests. Blocking I/O.
   *
   * @return true if a valid file was loaded and swapped in, false if it was invalid (see {@link #lastError()}) or
   *     this store is {@link #fixed}
   */
  public synchronized boolean reloadNow() {
    if (file == null) {
      return false;
    }
    Stamp stamp;
    try {
      stamp = stamp(file);
    } catch (IOException e) {
      stamp = null;
    }
    return load(stamp);
  }

  /** Stops following the file. The store keeps answering from its last snapshot. */
  @Override
  public void close() {
    if (poller != null) {
      poller.shutdownNow();
    }
  }

  private void pollSafely() {
    try {
      poll();
    } catch (RuntimeException | Error e) {
      LOG.error("Workspace configuration poll of {} failed; will retry", file, e);
    }
  }

  private synchronized void poll() {
    Stamp stamp;
    try {
      stamp = stamp(file);
    } catch (NoSuchFileException e) {
      fail(null, "file not found: " + file + " (keeping the last good configuration)");
      return;
    } catch (IOException e) {
      fail(null, "cannot read the attributes of " + file + ": " + e + " (keeping the last good configuration)");
      return;
    }
    if (stamp.equals(attempted)) {
      pending = null;
      if (attemptedOk) {
        lastError = null; // the file is back after a failed stat, unchanged
      }
      return;
    }
    if (!stamp.equals(pending)) {
      pending = stamp; // 2. changed: let the writer finish, read it on the next poll if it stays the same
      return;
    }
    load(stamp);
  }

  /** 3. Read, validate, swap or keep. Caller holds the lock. */
  private boolean load(Stamp stamp) {
    attempted = stamp;
    pending = null;
    WorkspaceConfig next;
    try {
      next = WorkspaceConfig.load(file);
    } catch (InvalidWorkspaceConfigException e) {
      fail(stamp, e.getMessage() + " (keeping the last good configuration)");
      return false;
    }
    Current previous = current;
    current = snapshot(next, previous.version() + 1);
    attemptedOk = true;
    lastError = null;
    LOG.info("Reloaded workspace configuration {} (version {}): {} sources, {} destinations", file,
        previous.version() + 1, next.sources().size(), next.destinations().size());
    for (Consumer<WorkspaceConfig> listener : listeners) {
      try {
        listener.accept(next);
      } catch (RuntimeException e) {
        LOG.error("Workspace configuration listener {} failed", listener, e);
      }
    }
    return true;
  }

  private void fail(Stamp stamp, String message) {
    if (stamp != null) {
      attempted = stamp;
      attemptedOk = false;
    }
    if (!message.equals(lastError)) {
      LOG.error("Workspace configuration: {}", message);
    }
    lastError = message;
  }

  private Current snapshot(WorkspaceConfig config, long version) {
    Cache<String, Optional<Source>> cache = Caffeine.newBuilder().maximumSize(cacheSize).build();
    return new Current(config, version, cache);
  }

  private static Stamp stamp(Path file) throws IOException {
    BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
    return new Stamp(attributes.lastModifiedTime().toInstant(), attributes.size(), attributes.fileKey());
  }
}
