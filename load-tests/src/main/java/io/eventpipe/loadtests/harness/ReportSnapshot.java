package io.eventpipe.loadtests.harness;

import io.eventpipe.testing.HeadlessChromium;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * A run's page as a PNG, for the docs: the page opened in a real headless Chromium ({@link HeadlessChromium}), once its
 * charts are drawn. Optional: without a browser there is only the page.
 */
final class ReportSnapshot {

  /** Charts the page draws, each a uPlot canvas inside the element of that id. */
  static final List<String> CHARTS = List.of("throughput", "ack", "lag");

  private ReportSnapshot() {}

  /**
   * Opens {@code html} in {@code browser}, waits until each chart has its canvas (at most 20 s), and returns the page's
   * errors (uncaught exceptions, console errors, failed loads); writes the PNG to {@code png} unless that is null.
   */
  static List<String> render(HeadlessChromium browser, Path html, Path png) throws Exception {
    browser.navigate(html.toUri().toString());
    String drawn = "[" + String.join(",", CHARTS.stream().map(id -> "'" + id + "'").toList()) + "]"
        + ".every(id => document.querySelector('#' + id + ' canvas') !== null)";
    long deadline = System.nanoTime() + 20_000_000_000L;
    while (!Boolean.TRUE.equals(browser.evaluate(drawn))) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the page's charts " + CHARTS + " were not drawn within 20 s; page errors: "
            + browser.errors());
      }
      Thread.sleep(50);
    }
    if (png != null) {
      browser.screenshot(png);
    }
    return browser.errors();
  }

  /** The PNG beside {@code html} ({@code NAME.png}) when a browser is installed; says so on stderr when not. */
  static Optional<Path> write(Path html) {
    Optional<Path> chromium = HeadlessChromium.find();
    if (chromium.isEmpty()) {
      System.err.println("no PNG snapshot of " + html.getFileName() + ": no Chromium (" + HeadlessChromium.INSTALL + ")");
      return Optional.empty();
    }
    Path png = html.resolveSibling(html.getFileName().toString().replaceFirst("\\.html$", ".png"));
    Path profile = null;
    try {
      profile = Files.createTempDirectory("report-chromium");
      try (HeadlessChromium browser = new HeadlessChromium(chromium.get(), profile)) {
        List<String> errors = render(browser, html, png);
        if (!errors.isEmpty()) {
          System.err.println("the page " + html.getFileName() + " reported errors in the browser: " + errors);
        }
      }
      return Optional.of(png);
    } catch (Exception e) {
      System.err.println("no PNG snapshot of " + html.getFileName() + ": " + e);
      return Optional.empty();
    } finally {
      if (profile != null) {
        ScenarioMain.deleteQuietly(profile);
      }
    }
  }
}
