package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.HistoryChecker;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * The page's data and structure (the browser check of its drawing is the Chromium driver's): the result's JSON
 * embedded whole and parseable back, uPlot and its licence inlined, nothing fetched from the network; and the
 * timeline's one-second series and bands it draws from.
 */
class HtmlReportTest {

  static JsonObject result() {
    Timeline t = new Timeline();
    t.intended(0);
    t.intended(500_000_000L);
    t.acked(0, 20_000_000L, 2);
    t.acked(500_000_000L, 2_600_000_000L, 2); // acknowledged in second 2, 2.1 s after its intended time
    t.delivered(0, 1_100_000_000L);
    int band = t.open("kill -9 of the cluster, restart </script><b>", 1_000);
    t.close(band, 2_500);
    return new JsonObject().put("scenario", "kill9").put("startedAt", "2026-12-02T16:00:00Z")
        .put("machine", new JsonObject().put("cores", 2)).put("cluster", new JsonObject().put("what", "test")
            .put("nodesBefore", 1).put("nodesAfter", 1))
        .put("options", new JsonObject().put("eventsPerRequest", 2).put("users", 1).put("eventsPerSecond", 4)
            .put("payloadBytes", 10).put("gzip", false).put("seconds", 1))
        .put("sink", new JsonObject().put("capacityEventsPerSecond", 1000))
        .put("totals", new JsonObject().put("eventsAcked", 4).put("eventsDelivered", 1).put("ackedEventsPerSecond", 4)
            .put("ackMs", new JsonObject().put("p50", 20)).put("lagMs", new JsonObject().put("p50", 1100)))
        .put("series", t.series()).put("bands", t.bandsJson(3_000))
        .put("verdict", ScenarioRunner.verdict(Scenario.KILL9, new HistoryChecker(() -> 0)));
  }

  @Test
  void thePageEmbedsTheResultWholeAndTheChartingLibraryAndFetchesNothing() {
    JsonObject r = result();
    String page = HtmlReport.render(r);
    Matcher m = Pattern.compile(Pattern.quote(HtmlReport.RESULT_ELEMENT) + "(.*?)</script>", Pattern.DOTALL).matcher(page);
    assertTrue(m.find(), "the result element");
    assertEquals(r, new JsonObject(m.group(1)), "a label holding </script> stays inside the element, and the JSON parses back");
    assertTrue(page.contains("/*! https://github.com/leeoniya/uPlot (v1.6.32) */"), "uPlot inlined");
    assertTrue(page.contains("new uPlot("), "the charts are drawn by it");
    assertTrue(page.contains("The MIT License"), "with its licence");
    assertFalse(Pattern.compile("<(script|link|img)[^>]+(src|href)=", Pattern.CASE_INSENSITIVE).matcher(page).find(),
        "nothing loaded from elsewhere: the page works offline");
    for (String id : new String[] {"throughput", "ack", "lag", "summary"}) {
      assertTrue(page.contains("id=\"" + id + "\""), id);
    }
  }

  @Test
  void theSeriesHasOneEntryPerSecondWithTheBandsInSeconds() {
    JsonObject r = result();
    JsonObject s = r.getJsonObject("series");
    assertEquals(new JsonArray().add(0).add(1).add(2), s.getJsonArray("t"));
    assertEquals(new JsonArray().add(2).add(0).add(0), s.getJsonArray("intended"));
    assertEquals(new JsonArray().add(2).add(0).add(2), s.getJsonArray("acked"), "events, in the second they were acknowledged");
    assertEquals(20.0, s.getJsonArray("ackP50").getDouble(0), 0.1);
    assertEquals(null, s.getJsonArray("ackP50").getValue(1), "a second without acknowledgements has no percentile");
    assertEquals(2100.0, s.getJsonArray("ackMax").getDouble(2), 2.1, "from the intended time");
    assertEquals(1, s.getJsonArray("delivered").getInteger(1));
    assertEquals(1100.0, s.getJsonArray("lagP50").getDouble(1), 1.1);
    JsonObject band = r.getJsonArray("bands").getJsonObject(0);
    assertEquals(1.0, band.getDouble("from"));
    assertEquals(2.5, band.getDouble("to"));
  }
}
