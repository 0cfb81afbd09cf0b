package io.eventpipe.launcher;

import io.eventpipe.migrator.Progress;
import java.io.PrintStream;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Prints a migration's progress: a bar redrawn in place on a terminal, plain lines (every few seconds, and whenever the
 * step changes) otherwise, so logs of a Kubernetes Job stay readable. The copy's rate limit is on every line; each time
 * the throttle decides something new, its reason gets a line of its own (when and why the copy slowed or sped up).
 */
final class ProgressPrinter implements Consumer<Progress> {

  private final StatusLine status;
  private final boolean bar;
  private String lastStep;
  private String lastReason;
  private long lastLine;

  ProgressPrinter(PrintStream out, String mode) {
    this.status = new StatusLine(out, mode);
    this.bar = status.isBar();
  }

  @Override
  public synchronized void accept(Progress p) {
    if (p.migrationId() == null && p.step() == null) {
      return;
    }
    String eta = p.secondsLeft() < 0 ? "?" : p.secondsLeft() + " s";
    String limit = p.rateLimit() > 0 ? String.format(Locale.ROOT, " (limit %,.0f%s)", p.rateLimit(), p.throttled() ? ", waiting" : "")
        : p.throttled() ? " (throttled)" : "";
    String line = String.format(Locale.ROOT, "%s  partitions %d/%d  jobs %,d/%,d  %,.0f jobs/s%s  left %s  [%s]",
        p.migrationId() == null ? "" : p.migrationId(), p.partitionsDone(), p.partitionsTotal(), p.jobsMoved(), p.jobsTotal(),
        p.jobsPerSecond(), limit, eta, p.step());
    if (p.throttleReason() != null && !p.throttleReason().equals(lastReason)) {
      lastReason = p.throttleReason();
      status.line("throttle: " + p.throttleReason());
    }
    if (bar) {
      status.draw(fraction(p), line);
      return;
    }
    long now = System.nanoTime();
    if (!p.step().equals(lastStep) || now - lastLine > 5_000_000_000L) {
      status.line(line);
      lastStep = p.step();
      lastLine = now;
    }
  }

  /**
   * How full the bar is: jobs copied of the jobs to copy; with no jobs to copy (an idle cluster), partitions copied of
   * the partitions that move; a finished migration is full (the bar used to stay empty at 100% when no job moved).
   */
  static double fraction(Progress p) {
    if ("finished".equalsIgnoreCase(p.step())) {
      return 1;
    }
    if (p.jobsTotal() > 0) {
      return Math.min(1, (double) p.jobsMoved() / p.jobsTotal());
    }
    return p.partitionsTotal() <= 0 ? 0 : Math.min(1, (double) p.partitionsDone() / p.partitionsTotal());
  }

  synchronized void done() {
    status.done();
  }
}
