package io.eventpipe.loadtests.harness;

import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * One self-contained HTML page per run: the result's JSON in a {@code <script type="application/json" id="result">}
 * element, the vendored uPlot (1.6.32, MIT; resources {@code harness/uPlot.*}) inlined with its licence, and a script
 * that draws throughput, acknowledgement latency and delivery lag per second with the faults and resizes as shaded
 * bands. No network: the page opens from a file, offline.
 */
public final class HtmlReport {

  /** The element whose text is the result's JSON. */
  public static final String RESULT_ELEMENT = "<script type=\"application/json\" id=\"result\">";

  private HtmlReport() {}

  public static String render(JsonObject result) {
    // inside <script>, "</" would end the element early: JSON allows "<" escaped as \u003c, so the text stays valid JSON
    String json = result.encode().replace("<", "\\u003c");
    String page = resource("report.html");
    return page.replace("/*UPLOT_CSS*/", resource("uPlot.min.css"))
        .replace("/*UPLOT_LICENSE*/", resource("uPlot.LICENSE").replace("--", "- -"))
        .replace("/*UPLOT_JS*/", resource("uPlot.iife.min.js").replace("</script", "<\\/script"))
        .replace("/*RESULT_JSON*/", json); // last: nothing in the result is read as a placeholder
  }

  static String resource(String name) {
    try (InputStream in = HtmlReport.class.getResourceAsStream("/harness/" + name)) {
      if (in == null) {
        throw new IllegalStateException("resource harness/" + name + " is missing from the classpath");
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
