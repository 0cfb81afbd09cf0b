package io.eventpipe.loadtests.harness;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class BenchmarksPageTest {

  private static final Path FIXTURE = Path.of("src/test/resources/benchmarks-page");

  @Test
  void rewritesOnlyTheRegionFromTheSteadyResult() throws Exception {
    String before = "# B\n\nnotes before\n" + BenchmarksPage.BEGIN + "\nstale figures\n" + BenchmarksPage.END + "\nnotes after\n";
    String after = BenchmarksPage.rewrite(before, FIXTURE);
    assertTrue(after.startsWith("# B\n\nnotes before\n" + BenchmarksPage.BEGIN + "\n"), after);
    assertTrue(after.endsWith(BenchmarksPage.END + "\nnotes after\n"), after);
    assertTrue(!after.contains("stale figures"), after);
    // docs/benchmarks/steady.json's figures, as measured
    assertTrue(after.contains("| 12,000 | 12,000 | 0 / 0 / 0 | 14.4 / 1303.6 / 1487.9 ms | 1926.1 ms | 200 events/s"
        + " | 3,146 rows/s | 6% | 35,613 events/s |"), after);
    assertTrue(after.contains("`./bench scenario steady -Dseconds=60 -DeventsPerSecond=200 -Dusers=100`"), after);
    assertTrue(after.contains("[docs/benchmarks/steady.png](docs/benchmarks/steady.png)"), after);
    assertEquals(after, BenchmarksPage.rewrite(after, FIXTURE));
  }

  /** The published page shows exactly the published results: run {@code ./bench page} after adding one. */
  @Test
  void thePublishedPageIsTheOneItsResultsGive() throws Exception {
    Path page = Path.of("../BENCHMARKS.md");
    String published = Files.readString(page, StandardCharsets.UTF_8);
    assertEquals(BenchmarksPage.rewrite(published, Path.of("../docs/benchmarks")), published,
        "BENCHMARKS.md's results are not those of docs/benchmarks/*.json: run ./bench page");
  }

  @Test
  void recordsTheCommandItRan() {
    String command = ScenarioMain.invokedCommand(Scenario.named("steady"));
    assertTrue(command.startsWith("./bench scenario steady"), command);
    assertEquals(command, BenchmarksPage.command(new io.vertx.core.json.JsonObject().put("command", command)));
  }

  @Test
  void refusesAPageWithoutTheMarkers() {
    assertThrows(IllegalArgumentException.class, () -> BenchmarksPage.rewrite("# no region\n", FIXTURE));
  }
}
