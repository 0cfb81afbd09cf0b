package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.migrator.MigratorOptions;
import io.eventpipe.migrator.Progress;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The migrator's progress lines and its throttle flags. */
class ProgressPrinterTest {

  private static Progress progress(String step, double limit, boolean waiting, String reason) {
    return new Progress("m2-1to2", step, 3, 512, 40_000, 100_000, 1990, waiting, limit, reason);
  }

  @Test
  void eachNewThrottleReasonGetsALineAndTheLimitIsOnEveryLine() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ProgressPrinter printer = new ProgressPrinter(new PrintStream(bytes, true, StandardCharsets.UTF_8), "plain");
    printer.accept(progress("copied", 0, false, "steady state: ingest p99 12 ms on node 0; copying at no limit"));
    printer.accept(progress("copied", 2000, true, "slowing to 2,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 1"));
    printer.accept(progress("copied", 2000, true, "slowing to 2,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 1"));
    printer.accept(progress("released", 2000, false, "slowing to 2,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 1"));
    List<String> lines = bytes.toString(StandardCharsets.UTF_8).lines().toList();
    assertEquals(List.of(
        "throttle: steady state: ingest p99 12 ms on node 0; copying at no limit",
        "m2-1to2  partitions 3/512  jobs 40,000/100,000  1,990 jobs/s  left 31 s  [copied]",
        "throttle: slowing to 2,000 jobs/s: ingest p99 38 ms vs 12 ms steady on node 1",
        "m2-1to2  partitions 3/512  jobs 40,000/100,000  1,990 jobs/s  left 31 s  [released]".replace("  left", " (limit 2,000)  left")),
        lines);
  }

  @Test
  void theBarFillsByPartitionsWhenNoJobMovesAndIsFullWhenFinished() {
    // an idle cluster: nothing to copy; the bar used to stay empty at 100 %
    assertEquals(0.5, ProgressPrinter.fraction(new Progress("m", "copied", 2, 4, 0, 0, 0, false, 0, null)));
    assertEquals(1.0, ProgressPrinter.fraction(new Progress("m", "released", 4, 4, 0, 0, 0, false, 0, null)));
    assertEquals(0.4, ProgressPrinter.fraction(progress("copied", 0, false, null)));
    assertEquals(1.0, ProgressPrinter.fraction(new Progress("m", "finished", 3, 4, 10, 20, 0, false, 0, null)));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ProgressPrinter printer = new ProgressPrinter(new PrintStream(bytes, true, StandardCharsets.UTF_8), "bar");
    printer.accept(new Progress("m", "finished", 4, 4, 0, 0, 0, false, 0, null));
    printer.done();
    assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("[" + "#".repeat(30) + "]"), bytes.toString(StandardCharsets.UTF_8));
  }

  @Test
  void aLogLineWhileTheBarIsDrawnGoesAboveItAndTheBarIsDrawnAgain() {
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    StatusLine bar = new StatusLine(out, "bar");
    bar.draw(0.5, "half");
    StatusLine.log(out, "12:00:00.000 INFO  migrator - step copied done\n");
    bar.done();
    StatusLine.log(out, "after\n");
    String bar15 = "[" + "#".repeat(15) + " ".repeat(15) + "] half";
    assertEquals("\r" + bar15 + "\u001b[K" + "\r\u001b[K12:00:00.000 INFO  migrator - step copied done\n" + bar15 + "\u001b[K"
        + System.lineSeparator() + "after\n", bytes.toString(StandardCharsets.UTF_8));
  }

  @Test
  void throttleFlagsAreValidatedNamingTheBadValue() {
    Flags.BadFlag mode = assertThrows(Flags.BadFlag.class, () -> Migrate.options(flags("--throttle", "sometimes")));
    assertTrue(mode.getMessage().contains("--throttle=sometimes must be auto"), mode.getMessage());
    for (String bad : new String[] {"1", "0.5", "101", "-2"}) {
      Flags.BadFlag ratio = assertThrows(Flags.BadFlag.class, () -> Migrate.options(flags("--target-latency-ratio", bad)));
      assertTrue(ratio.getMessage().startsWith("--target-latency-ratio=" + bad + " must be above 1.0"), ratio.getMessage());
    }
    Flags.BadFlag nan = assertThrows(Flags.BadFlag.class, () -> Migrate.options(flags("--target-latency-ratio", "fast")));
    assertEquals("--target-latency-ratio=fast is not a number", nan.getMessage());

    MigratorOptions.Throttling auto = Migrate.options(flags("--target-latency-ratio", "2.5")).throttling();
    assertTrue(auto.adaptive());
    assertEquals(2.5, auto.targetLatencyRatio());
    assertTrue(Migrate.options(flags()).throttling().adaptive(), "auto by default");
    assertEquals(1.5, Migrate.options(flags()).throttling().targetLatencyRatio());
    Flags.BadFlag moot = assertThrows(Flags.BadFlag.class,
        () -> Migrate.options(flags("--throttle", "off", "--target-latency-ratio", "2")));
    assertEquals("--target-latency-ratio=2 has no effect with --throttle off (drop one of them)", moot.getMessage());
    MigratorOptions off = Migrate.options(flags("--throttle", "off", "--max-jobs-per-second", "5000"));
    assertTrue(!off.throttling().adaptive());
    assertEquals(5000, off.maxJobsPerSecond());
  }

  private static Flags flags(String... args) {
    return new Flags(args, Main.flagsOf("migrator"), Map.of());
  }
}
