package io.eventpipe.workspace;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.workspace.impl.WorkspaceConfigReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Destinations reference secrets ({@code ${env:NAME}}, {@code ${file:/path}}) instead of holding them. */
class SecretReferencesTest {

  private static final String TOKEN = "tok-9f8e7d6c5b4a";

  private static List<Destination> read(String yaml, Map<String, String> env) {
    return WorkspaceConfigReader.read(("sources:\n  - {id: web, writeKey: webWriteKey}\ndestinations:\n" + yaml)
        .getBytes(StandardCharsets.UTF_8), "test", env::get).destinations();
  }

  private static InvalidDestinationConfigException problems(Destination d) {
    ConfigReader config = ConfigReader.of(d);
    config.integer("maxInFlight", 64, 1, 4096);
    return assertThrows(InvalidDestinationConfigException.class, () -> config.throwIfInvalid(d.id()));
  }

  @Test
  void referencesAreSubstitutedAtLoad(@TempDir Path dir) throws Exception {
    Path url = dir.resolve("url");
    Files.writeString(url, "https://hooks.example.com/in\n");
    Destination d = read("""
          - id: hook
            type: webhook
            sources: [web]
            config:
              url: "${file:%s}"
              headers: {Authorization: "Bearer ${env:HOOK_TOKEN}", X-Plain: "$not-a-reference"}
        """.formatted(url), Map.of("HOOK_TOKEN", TOKEN)).get(0);
    assertEquals("https://hooks.example.com/in", d.config().get("url"));
    assertEquals(Map.of("Authorization", "Bearer " + TOKEN, "X-Plain", "$not-a-reference"), d.config().get("headers"));
    assertFalse(d.toString().contains(TOKEN), d.toString());
    ConfigReader.of(d).throwIfInvalid(d.id()); // resolved: no problem
  }

  @Test
  void aMissingVariableOrFileMakesOnlyItsDestinationInvalidNamingTheKeyAndTheVariable(@TempDir Path dir) {
    Path missing = dir.resolve("no-such-secret");
    List<Destination> ds = read("""
          - {id: hook, type: webhook, sources: [web], config: {url: "https://a.example", headers: {Authorization: "${env:HOOK_TOKEN}"}}}
          - {id: filed, type: webhook, sources: [web], config: {url: "${file:%s}"}}
          - {id: fine, type: webhook, sources: [web], config: {url: "https://b.example"}}
        """.formatted(missing), Map.of());
    assertEquals(3, ds.size(), "the file loads: the problem is the destinations'");
    InvalidDestinationConfigException env = problems(ds.get(0));
    assertEquals(List.of("destinations[hook].config.headers.Authorization: ${env:HOOK_TOKEN} cannot be resolved: the "
        + "environment variable HOOK_TOKEN is not set (a secret reference)"), env.problems());
    assertTrue(env.getMessage().contains("destination hook"), env.getMessage());
    InvalidDestinationConfigException file = problems(ds.get(1));
    assertEquals(1, file.problems().size());
    assertTrue(file.problems().get(0).startsWith("destinations[filed].config.url: ${file:" + missing + "} cannot be resolved"),
        file.problems().get(0));
    ConfigReader.of(ds.get(2)).throwIfInvalid("fine");
  }

  @Test
  void aProblemNamesOnlyTheUnresolvedReferenceAndNoResolvedValue() {
    Destination d = read("""
          - {id: hook, type: webhook, sources: [web], config: {headers: {Authorization: "${env:HOOK_TOKEN}:${env:NOPE}"}}}
        """, Map.of("HOOK_TOKEN", TOKEN)).get(0);
    InvalidDestinationConfigException e = problems(d);
    assertEquals(1, e.problems().size(), e.getMessage());
    assertTrue(e.getMessage().contains("NOPE"), e.getMessage());
    assertFalse(e.getMessage().contains(TOKEN), e.getMessage());
  }

  @Test
  void problemsWithAResolvedValueNameTheReferenceNotTheSecret() {
    String longSecret = "x".repeat(30) + TOKEN + "y".repeat(40);
    for (String secret : List.of(TOKEN, longSecret)) {
      Destination d = read("""
            - {id: hook, type: webhook, sources: [web], config: {maxInFlight: "${env:IN_FLIGHT}"}}
          """, Map.of("IN_FLIGHT", secret)).get(0);
      InvalidDestinationConfigException e = problems(d);
      assertTrue(e.getMessage().contains("${env:IN_FLIGHT}"), e.getMessage());
      assertFalse(e.getMessage().contains(TOKEN), e.getMessage());
      assertFalse(e.problems().get(0).contains(secret.substring(0, 16)), e.problems().get(0));
    }
  }
}
