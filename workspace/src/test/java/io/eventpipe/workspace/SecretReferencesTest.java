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
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Destinations reference secrets ({@code ${env:NAME}}, {@code ${file:/path}}) instead of holding them. */
class SecretReferencesTest {

  private static final String TOKEN = "tok-9f8e7d6c5b4a";

  @TempDir
  Path allowed;

  @BeforeEach
  void allow() {
    SecretPolicy.install(new SecretPolicy(List.of("HOOK_*"), List.of(allowed), List.of()));
  }

  @AfterEach
  void reset() {
    SecretPolicy.install(new SecretPolicy(List.of(), List.of(), List.of()));
  }

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
  void referencesAreSubstitutedAtLoad() throws Exception {
    Path url = allowed.resolve("url");
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
  void aMissingVariableOrFileMakesOnlyItsDestinationInvalidNamingTheKeyAndTheVariable() {
    Path missing = allowed.resolve("no-such-secret");
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

  @Test
  void referencesToTheProcesssOwnSecretsAreRefusedEvenWhenAPatternAllowsThem(@TempDir Path elsewhere) throws Exception {
    Path dataDir = Files.createDirectories(allowed.resolve("data"));
    Path tokenFile = Files.writeString(dataDir.resolve("admin-token"), "admin-secret-value-0123456789abcdef\n");
    Path outside = Files.writeString(elsewhere.resolve("other"), "other-secret\n");
    Path link = Files.createSymbolicLink(allowed.resolve("link"), outside);
    Path hook = Files.writeString(allowed.resolve("hook-url"), "https://hooks.example.com/in\n");
    // a permissive operator: every variable, every file under the allowed directory and under /, but the data dir denied
    SecretPolicy.install(new SecretPolicy(List.of("*"), List.of(allowed, Path.of("/")), List.of(dataDir)));
    Map<String, String> env = Map.of("PIPELINE_ADMIN_TOKEN", "admin-secret-value-0123456789abcdef",
        "CONTROL_DB_PASSWORD", "db-secret", "PGPASSWORD", "pg-secret", "HOOK_TOKEN", TOKEN);
    List<Destination> ds = read("""
          - {id: admin, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${env:PIPELINE_ADMIN_TOKEN}"}}}
          - {id: db, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${env:CONTROL_DB_PASSWORD}", Y: "${env:PGPASSWORD}"}}}
          - {id: environ, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${file:/proc/self/environ}"}}}
          - {id: tokenfile, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${file:%s}"}}}
          - {id: dotdot, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${file:%s/data/../data/admin-token}"}}}
          - {id: good, type: webhook, sources: [web], config: {url: "${file:%s}", headers: {Authorization: "Bearer ${env:HOOK_TOKEN}"}}}
        """.formatted(tokenFile, allowed, hook), env);
    for (int i = 0; i < 5; i++) {
      Destination d = ds.get(i);
      InvalidDestinationConfigException e = problems(d);
      assertTrue(e.getMessage().contains("destination " + d.id()), e.getMessage());
      assertTrue(e.getMessage().contains("never readable by the workspace"), e.getMessage());
      assertFalse(e.getMessage().contains("secret-value") || e.getMessage().contains("db-secret")
          || e.getMessage().contains("pg-secret"), e.getMessage());
      assertFalse(d.config().toString().contains("secret-value"), d.config().toString());
    }
    assertEquals(List.of("destinations[admin].config.headers.X: ${env:PIPELINE_ADMIN_TOKEN} cannot be resolved: the environment"
        + " variable PIPELINE_ADMIN_TOKEN is one of the process's own secrets and is never readable by the workspace"
        + " (a secret reference)"), problems(ds.get(0)).problems());
    Destination good = ds.get(5);
    ConfigReader.of(good).throwIfInvalid("good");
    assertEquals("https://hooks.example.com/in", good.config().get("url"));
    assertEquals(Map.of("Authorization", "Bearer " + TOKEN), good.config().get("headers"));

    // the default operator: HOOK_* and one directory; a symlink out of it and another variable are refused
    allow();
    List<Destination> strict = read("""
          - {id: link, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${file:%s}"}}}
          - {id: other, type: webhook, sources: [web], config: {url: "https://a.example", headers: {X: "${env:AWS_SECRET_ACCESS_KEY}"}}}
        """.formatted(link), Map.of("AWS_SECRET_ACCESS_KEY", "aws-secret"));
    assertTrue(problems(strict.get(0)).getMessage().contains("not in an allowed directory (--secret-file-allow)"));
    assertTrue(problems(strict.get(1)).getMessage().contains("AWS_SECRET_ACCESS_KEY is not allowed (--secret-env-allow)"));
    assertFalse(strict.get(1).config().toString().contains("aws-secret"));
  }
}
