package io.eventpipe.launcher;

import java.io.PrintStream;

/**
 * The progress convention of every long command ({@code scale}, {@code migrator}, {@code regulation}):
 * <ul>
 *   <li>{@code --progress auto} (the default) draws a bar redrawn in place when standard output is a terminal, and
 *       prints plain lines otherwise (a Kubernetes Job's log, a pipe, CI); {@code bar} and {@code plain} force one;</li>
 *   <li>while a bar is drawn, log lines ({@link TerminalAppender}) and the command's own messages go above it, as
 *       {@code pip} and {@code cargo} do: the bar is cleared, the line printed, the bar drawn again;</li>
 *   <li>the bar fills by the unit of work that is known (a migration: jobs copied of the jobs to copy, or partitions
 *       when there are no jobs; a regulation: nodes that applied it of the nodes in the topology);</li>
 *   <li>exit codes: 0 done, 1 failed or not done in time (the message says what to rerun: every one of these commands
 *       resumes or is idempotent), 2 bad usage (a flag), nothing else.</li>
 * </ul>
 */
final class StatusLine {

  private static final Object LOCK = new Object();
  private static StatusLine active;

  private final PrintStream out;
  private final boolean bar;
  private String drawn;

  StatusLine(PrintStream out, String mode) {
    this.out = out;
    this.bar = switch (mode == null ? "auto" : mode) {
      case "bar" -> true;
      case "plain" -> false;
      case "auto" -> System.console() != null;
      default -> throw new Flags.BadFlag("--progress=" + mode + " must be auto, bar or plain");
    };
  }

  boolean isBar() {
    return bar;
  }

  /** Draws the bar at {@code fraction} (0..1) with {@code text} beside it (bar mode only). */
  void draw(double fraction, String text) {
    if (!bar) {
      return;
    }
    double f = Double.isNaN(fraction) ? 0 : Math.max(0, Math.min(1, fraction));
    int filled = (int) Math.round(f * 30);
    synchronized (LOCK) {
      drawn = "[" + "#".repeat(filled) + " ".repeat(30 - filled) + "] " + text;
      active = this;
      out.print("\r" + drawn + "\u001b[K");
      out.flush();
    }
  }

  /** A line of its own: above the bar when one is drawn. */
  void line(String text) {
    synchronized (LOCK) {
      boolean redraw = bar && drawn != null;
      if (redraw) {
        out.print("\r\u001b[K");
      }
      out.println(text);
      if (redraw) {
        out.print(drawn + "\u001b[K");
      }
      out.flush();
    }
  }

  /** The bar is finished: the cursor goes to the next line, and log lines print plainly again. */
  void done() {
    synchronized (LOCK) {
      if (bar && drawn != null) {
        out.println();
      }
      drawn = null;
      if (active == this) {
        active = null;
      }
    }
  }

  /** Prints a formatted log line: above the active bar, if one is drawn, else as is (for {@link TerminalAppender}). */
  static void log(PrintStream to, String formatted) {
    synchronized (LOCK) {
      StatusLine a = active;
      if (a != null && a.drawn != null && a.out == to) {
        to.print("\r\u001b[K");
        to.print(formatted);
        to.print(a.drawn + "\u001b[K");
      } else {
        to.print(formatted);
      }
      to.flush();
    }
  }
}
