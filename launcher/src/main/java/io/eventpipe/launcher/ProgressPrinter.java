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

  private final PrintStream out;
  private final boolean bar;
  private String lastStep;
  private String lastReason;
  private long lastLine;

  ProgressPrinter(PrintStream out, String mode) {
    this.out = out;
    this.bar = switch (mode == null ? "auto" : mode) {
      case "bar" -> true;
      case "plain" -> false;
      case "auto" -> System.console() != null;
      default -> throw new Flags.BadFlag("--progress=" + mode + " must be auto, bar or plain");
    };
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
      out.println((bar ? "\r\u001b[K" : "") + "throttle: " + p.throttleReason());
    }
    if (bar) {
      double f = p.jobsTotal() <= 0 ? 0 : Math.min(1, (double) p.jobsMoved() / p.jobsTotal());
      int filled = (int) Math.round(f * 30);
      out.print("\r[" + "#".repeat(filled) + " ".repeat(30 - filled) + "] " + line + "\u001b[K");
      out.flush();
      return;
    }
    long now = System.nanoTime();
    if (!p.step().equals(lastStep) || now - lastLine > 5_000_000_000L) {
      out.println(line);
      lastStep = p.step();
      lastLine = now;
    }
  }

  synchronized void done() {
    if (bar) {
      out.println();
    }
  }
}
