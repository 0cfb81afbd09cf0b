package io.eventpipe.workspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkspaceConfigTest {

  static final String EXAMPLE = """
      sources:
        - id: web
          name: Website
          writeKey: 2x9LkWebWriteKey
          enabled: true
        - id: app
          writeKey: appWriteKey12345
          rateLimit: {eventsPerSecond: 50, perKeyEventsPerSecond: 5}
          team: growth
        - id: old
          writeKey: oldWriteKey12345
          enabled: false
          rateLimit: {eventsPerSecond: 0.5, burst: 10}
      destinations:
        - id: hook
          type: webhook
          enabled: true
          sources: [web, app]
          config:
            url: http://127.0.0.1:9000/events
            headers: {X-Api-Key: secret}
            timeoutMs: 2500
            retry: [1, 2.5, true, null]
        - id: paused
          type: webhook
          enabled: false
          sources: [web]
        - id: second
          type: webhook
          sources: [web]
      """;

  @Test
  void parsesTheContractShape() {
    WorkspaceConfig c = WorkspaceConfig.parse(EXAMPLE);
    assertEquals(List.of("web", "app", "old"), c.sources().stream().map(Source::id).toList());
    Source web = c.sourceByWriteKey("2x9LkWebWriteKey").orElseThrow();
    assertEquals("web", web.id());
    assertEquals("Website", web.name());
    assertTrue(web.enabled());
    assertNull(web.rateLimit());
    assertEquals(Map.of(), web.extra());

    Source app = c.sourceById("app").orElseThrow();
    assertEquals("app", app.name(), "name defaults to the id");
    assertTrue(app.enabled(), "enabled defaults to true");
    assertEquals(new RateLimit(50, 50, 5), app.rateLimit());
    assertEquals(Map.of("team", "growth"), app.extra());

    Source old = c.sourceById("old").orElseThrow();
    assertFalse(old.enabled());
    assertEquals(new RateLimit(0.5, 10), old.rateLimit());

    Destination hook = c.destinations().get(0);
    assertEquals("webhook", hook.type());
    assertEquals(List.of("web", "app"), hook.sources());
    assertEquals("http://127.0.0.1:9000/events", hook.config().get("url"));
    assertEquals(Map.of("X-Api-Key", "secret"), hook.config().get("headers"));
    assertEquals(2500, hook.config().get("timeoutMs"));
    assertEquals(java.util.Arrays.asList(1, 2.5, true, null), hook.config().get("retry"));
    assertThrows(UnsupportedOperationException.class, () -> hook.config().put("x", 1));

    assertEquals(List.of("hook", "second"), c.destinationsFor("web").stream().map(Destination::id).toList(),
        "enabled destinations only, in file order");
    assertEquals(List.of("hook"), c.destinationsFor("app").stream().map(Destination::id).toList());
    assertEquals(List.of(), c.destinationsFor("old"));
    assertEquals(List.of(), c.destinationsFor("nope"));
    assertTrue(c.sourceByWriteKey("unknown").isEmpty());
    assertTrue(c.sourceByWriteKey(null).isEmpty());
    assertEquals(c, WorkspaceConfig.parse(EXAMPLE));
  }

  @Test
  void secretsAreNotPrinted() {
    WorkspaceConfig c = WorkspaceConfig.parse(EXAMPLE);
    String text = c.toString();
    assertFalse(text.contains("2x9LkWebWriteKey"), text);
    assertFalse(text.contains("secret"), text);
    assertTrue(text.contains("2x9L..."), text);
  }

  @Test
  void emptySourcesListIsAllowed() {
    WorkspaceConfig c = WorkspaceConfig.parse("sources: []\n");
    assertTrue(c.sources().isEmpty());
    assertTrue(c.destinations().isEmpty());
  }

  @Test
  void crossEntryErrorsNameThePath() {
    String yaml = """
        sources:
          - {id: web, writeKey: key1}
          - {id: web, writeKey: key2}
          - {id: app, writeKey: key1}
        destinations:
          - {id: d, type: webhook, sources: [web, mobile]}
          - {id: d, type: webhook, sources: [app, app]}
        """;
    List<String> problems = problems(yaml);
    assertHas(problems, "sources[1].id: duplicate id 'web' (also sources[0])");
    assertHas(problems, "sources[2].writeKey: same write key as sources[0] ('web')");
    assertHas(problems, "destinations[0].sources[1]: unknown source 'mobile' (known: web, app)");
    assertHas(problems, "destinations[1].id: duplicate id 'd' (also destinations[0])");
    assertHas(problems, "destinations[1].sources[1]: source 'app' is listed twice");
    for (String p : problems) {
      assertFalse(p.contains("key1"), "write keys are not echoed: " + p);
    }
  }

  @Test
  void fieldErrorsNameThePathAndValue() {
    String yaml = """
        sources:
          - {name: x, writeKey: k0}
          - {id: a}
          - {id: b, writeKey: 12345}
          - {id: c, writeKey: "has:colon"}
          - {id: d, writeKey: k4, enabled: "yes"}
          - {id: "e e", writeKey: k5}
          - {id: 7, writeKey: k6}
          - {id: f, writeKey: k7, rateLimit: {eventsPerSecond: 0}}
          - {id: g, writeKey: k8, rateLimit: {eventsPerSecond: 5, burst: 0.5}}
          - {id: h, writeKey: k9, rateLimit: {perMinute: 5, eventsPerSecond: 1}}
          - just-a-string
          - {id: i, writeKey: k10, enabled: null}
          - {id: j, writeKey: k11, rateLimit: {eventsPerSecond: 5, perKeyEventsPerSecond: -1}}
        destinations:
          - {id: x, sources: [a]}
          - {type: webhook}
          - {id: y, type: webhook, sources: web}
          - {id: z, type: webhook, config: [1]}
          - {id: w, type: webhook, enabled: 1, sourcs: [a], sources: [""]}
        """;
    List<String> problems = problems(yaml);
    assertHas(problems, "sources[0].id: missing");
    assertHas(problems, "sources[1].writeKey: missing");
    assertHas(problems, "sources[2].writeKey: must be a string, got a number (quote it)");
    assertHas(problems, "sources[3].writeKey: must not contain ':'");
    assertHas(problems, "sources[4].enabled: must be true or false, got a string 'yes'");
    assertHas(problems, "sources[5].id: 'e e' contains whitespace");
    assertHas(problems, "sources[6].id: must be a string, got a number 7 (quote it)");
    assertHas(problems, "sources[7].rateLimit.eventsPerSecond: must be a positive number, got a number '0'");
    assertHas(problems, "sources[8].rateLimit.burst: must be a number >= 1, got a number '0.5'");
    assertHas(problems, "sources[9].rateLimit.perMinute: unknown key (known: burst, eventsPerSecond, perKeyEventsPerSecond)");
    assertHas(problems, "sources[12].rateLimit.perKeyEventsPerSecond: must be a positive number, got a number '-1'");
    assertHas(problems, "sources[10]: must be a mapping with id and writeKey, got a string");
    assertHas(problems, "sources[11].enabled: must be true or false, got null");
    assertHas(problems, "destinations[0].type: missing");
    assertHas(problems, "destinations[1].id: missing");
    assertHas(problems, "destinations[2].sources: must be a list of source ids, got a string");
    assertHas(problems, "destinations[3].config: must be a mapping, got a list");
    assertHas(problems, "destinations[4].enabled: must be true or false, got a number '1'");
    assertHas(problems, "destinations[4].sourcs: unknown key");
    assertHas(problems, "destinations[4].sources[0]: must be a source id");
  }

  @Test
  void documentLevelErrors() {
    assertHas(problems("sources:\n  - {id: off, writeKey: k}\n"),
        "sources[0].id: must be a string, got a boolean false (YAML reads yes/no/on/off as booleans; quote it)");
    assertHas(problems(""), "the file is empty");
    assertHas(problems("# only a comment\n"), "the file is empty");
    assertHas(problems("- a\n- b\n"), "the top level must be a mapping");
    assertHas(problems("destinations: []\n"), "sources: missing");
    assertHas(problems("sources: {}\n"), "sources: must be a list, got a mapping");
    assertHas(problems("sources: []\ndestination: []\n"), "destination: unknown key (known: destinations, egress, sources)");
    assertHas(problems("sources: []\ndestinations: 3\n"), "destinations: must be a list");
    assertHas(problems("sources: [\n"), "not valid YAML");
    assertHas(problems("sources: []\nsources: []\n"), "Duplicate field 'sources'");
    assertHas(problems("sources:\n  - id: a\n    id: b\n    writeKey: k\n"), "Duplicate field 'id'");
  }

  @Test
  void errorsCarryTheOrigin(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("workspace.yaml");
    java.nio.file.Files.writeString(file, "sources: 1\n");
    InvalidWorkspaceConfigException e = assertThrows(InvalidWorkspaceConfigException.class,
        () -> WorkspaceConfig.load(file));
    assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
    InvalidWorkspaceConfigException missing = assertThrows(InvalidWorkspaceConfigException.class,
        () -> WorkspaceConfig.load(dir.resolve("nope.yaml")));
    assertTrue(missing.getMessage().contains("file not found"), missing.getMessage());
  }

  @Test
  void builtInCodeIsValidatedToo() {
    WorkspaceConfig ok = WorkspaceConfig.of(List.of(Source.of("web", "k1")),
        List.of(new Destination("d", "webhook", true, List.of("web"), Map.of())));
    assertEquals(1, ok.destinationsFor("web").size());
    InvalidWorkspaceConfigException e = assertThrows(InvalidWorkspaceConfigException.class,
        () -> WorkspaceConfig.of(List.of(Source.of("web", "k1"), Source.of("app", "k1")), List.of()));
    assertHas(e.problems(), "sources[1].writeKey: same write key");
    assertTrue(WorkspaceConfig.empty().sources().isEmpty());
  }

  static List<String> problems(String yaml) {
    return assertThrows(InvalidWorkspaceConfigException.class, () -> WorkspaceConfig.parse(yaml)).problems();
  }

  static void assertHas(List<String> problems, String expected) {
    assertTrue(problems.stream().anyMatch(p -> p.contains(expected)),
        "expected a problem containing \"" + expected + "\" in " + problems);
  }
}
