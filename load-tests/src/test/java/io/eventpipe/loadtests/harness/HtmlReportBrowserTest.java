package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.HeadlessChromium;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run's page in a real headless Chromium: it draws its three charts from the embedded result with no page error
 * (uncaught exception, console error, failed load: it fetches nothing), shows the scenario's summary and fault band
 * label, and its PNG snapshot is a PNG. Skipped, saying how to install it, where Chromium is missing; CI installs it.
 */
class HtmlReportBrowserTest {

  @Test
  void thePageDrawsItsChartsInARealBrowserWithoutAnErrorAndSnapshotsAsAPng(@TempDir Path dir) throws Exception {
    Optional<Path> chromium = HeadlessChromium.find();
    Assumptions.assumeTrue(chromium.isPresent(), "no Chromium: " + HeadlessChromium.INSTALL);
    Path html = dir.resolve("kill9.html");
    Files.writeString(html, HtmlReport.render(HtmlReportTest.result()), StandardCharsets.UTF_8);
    Path png = dir.resolve("kill9.png");
    try (HeadlessChromium browser = new HeadlessChromium(chromium.get(), dir.resolve("profile"))) {
      List<String> errors = ReportSnapshot.render(browser, html, png);
      assertEquals(List.of(), errors, "the page's errors in the browser");
      String text = (String) browser.evaluate("document.body.innerText");
      assertTrue(text.contains("kill9"), "the scenario is named on the page: " + text);
      Object canvases = browser.evaluate("document.querySelectorAll('canvas').length");
      assertTrue(((Number) canvases).intValue() >= ReportSnapshot.CHARTS.size(), "a canvas per chart: " + canvases);
    }
    byte[] head = Arrays.copyOf(Files.readAllBytes(png), 8);
    assertArrayEquals(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, head, "a PNG");
    assertTrue(Files.size(png) > 10_000, "a picture, not an empty page: " + Files.size(png) + " bytes");
  }
}
