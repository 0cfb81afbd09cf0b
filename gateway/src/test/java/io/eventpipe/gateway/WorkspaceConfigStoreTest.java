package io.eventpipe.gateway;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.workspace.AuthResult;
import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.InvalidWorkspaceConfigException;
import io.eventpipe.workspace.RateLimit;
import io.eventpipe.workspace.Source;
import io.eventpipe.workspace.WorkspaceConfig;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.workspace.WriteKeys;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WorkspaceConfigStoreTest {

  static final Duration POLL = Duration.ofMillis(20);

  static final String V1 = """
      sources:
        - {id: web, writeKey: webKey1111111}
        - {id: off, writeKey: offKey1111111, enabled: false}
        - {id: app, writeKey: appKey1111111, rateLimit: {eventsPerSecond: 5}}
      destinations:
        - {id: hook, type: webhook, sources: [web, app], config: {url: "http://127.0.0.1:9000/a"}}
      """.replace("id: off", "id: \"off\"");

  static final String V2 = """
      sources:
        - {id: web, writeKey: webKey2222222}
        - {id: mobile, writeKey: mobileKey22222}
      destinations:
        - {id: hook, type: webhook, sources: [mobile], config: {url: "http://127.0.0.1:9000/b"}}
      """;

  @TempDir
  Path dir;

  @Test
  void authenticatesAgainstAFixedConfig() {
    WorkspaceConfigStore store = WorkspaceConfigStore.fixed(WorkspaceConfig.parse(V1));
    AuthResult web = Authenticator.authenticate(store, "webKey1111111");
    assertEquals("web", web.sourceId());
    assertEquals(List.of("hook"), web.destinations().stream().map(Destination::id).toList());
    assertEquals("web", Authenticator.authenticate(store, "webKey1111111").sourceId(), "cached answer is the same");

    GatewayException unknown = assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, "nope"));
    assertEquals(401, unknown.status());
    assertTrue(unknown.getMessage().contains("unknown write key"), unknown.getMessage());
    assertFalse(unknown.getMessage().contains("nope"), "the key is not echoed");

    GatewayException missing = assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, null));
    assertEquals(401, missing.status());
    assertTrue(missing.getMessage().contains("missing write key"), missing.getMessage());
    assertEquals(401, assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, "")).status());

    GatewayException disabled = assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, "offKey1111111"));
    assertEquals(404, disabled.status());
    assertTrue(disabled.getMessage().contains("'off' is disabled"), disabled.getMessage());
    assertEquals("off", ((SourceDisabledException) disabled).sourceId());

    assertEquals(RateLimit.perSecond(5), store.rateLimitFor("app").orElseThrow());
    assertTrue(store.rateLimitFor("web").isEmpty());
    assertTrue(store.sourceByWriteKey("offKey1111111").isPresent());
    assertFalse(store.reloadNow());
    assertEquals(1, store.version());
    store.close();
  }

  @Test
  void hotReloadSwapsTheConfigAndTheCache() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, V1);
    try (WorkspaceConfigStore store = WorkspaceConfigStore.watch(file, POLL, 100)) {
      BlockingQueue<WorkspaceConfig> changes = new LinkedBlockingQueue<>();
      store.addListener(changes::add);
      assertEquals("web", Authenticator.authenticate(store, "webKey1111111").sourceId());
      assertEquals(401, assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, "mobileKey22222")).status());

      replace(file, V2);
      WorkspaceConfig next = changes.poll(10, TimeUnit.SECONDS);
      assertNotNull(next, "listener notified of the reload");
      assertEquals(2, store.version());
      assertEquals(next, store.current());
      assertEquals("mobile", Authenticator.authenticate(store, "mobileKey22222").sourceId(), "negative cache entry dropped");
      assertEquals(401, assertThrows(GatewayException.class, () -> Authenticator.authenticate(store, "webKey1111111")).status(),
          "positive cache entry dropped");
      assertEquals(List.of("hook"), store.destinationsFor("mobile").stream().map(Destination::id).toList());
      assertEquals(List.of(), store.destinationsFor("web"));
      assertTrue(store.lastError().isEmpty());
    }
  }

  @Test
  void inPlaceRewritesAreFollowedToo() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, V1);
    try (WorkspaceConfigStore store = WorkspaceConfigStore.watch(file, POLL, 100)) {
      Files.writeString(file, V2); // truncate and write: same inode, other size
      eventually("store.version() == 2", () -> store.version() == 2);
      assertEquals("mobile", Authenticator.authenticate(store, "mobileKey22222").sourceId());
    }
  }

  @Test
  void aBadFileKeepsTheLastGoodConfig() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, V1);
    try (WorkspaceConfigStore store = WorkspaceConfigStore.watch(file, POLL, 100)) {
      WorkspaceConfig good = store.current();

      replace(file, "sources:\n  - {id: web}\n");
      eventually("store.lastError().isPresent()", () -> store.lastError().isPresent());
      assertTrue(store.lastError().get().contains("sources[0].writeKey: missing"), store.lastError().get());
      assertEquals(good, store.current());
      assertEquals(1, store.version());
      assertEquals("web", Authenticator.authenticate(store, "webKey1111111").sourceId());

      replace(file, "sources: [\n");
      eventually("store.lastError().orElse(\"\").contains(\"not valid YAML\")", () -> store.lastError().orElse("").contains("not valid YAML"));
      assertEquals(good, store.current());

      replace(file, "");
      eventually("store.lastError().orElse(\"\").contains(\"empty\")", () -> store.lastError().orElse("").contains("empty"));
      assertEquals(good, store.current());

      Files.delete(file);
      eventually("store.lastError().orElse(\"\").contains(\"file not found\")", () -> store.lastError().orElse("").contains("file not found"));
      assertEquals("web", Authenticator.authenticate(store, "webKey1111111").sourceId());

      replace(file, V2);
      eventually("store.version() == 2", () -> store.version() == 2);
      assertTrue(store.lastError().isEmpty());
      assertEquals("mobile", Authenticator.authenticate(store, "mobileKey22222").sourceId());
    }
  }

  @Test
  void reloadNowReadsAtOnce() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, V1);
    try (WorkspaceConfigStore store = WorkspaceConfigStore.watch(file, Duration.ofHours(1), 100)) {
      replace(file, V2);
      assertTrue(store.reloadNow());
      assertEquals("mobile", Authenticator.authenticate(store, "mobileKey22222").sourceId());
      replace(file, "sources: 5\n");
      assertFalse(store.reloadNow());
      assertTrue(store.lastError().orElseThrow().contains("sources: must be a list"));
      assertEquals("mobile", Authenticator.authenticate(store, "mobileKey22222").sourceId());
    }
  }

  @Test
  void aListenerThatThrowsDoesNotStopReloads() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, V1);
    try (WorkspaceConfigStore store = WorkspaceConfigStore.watch(file, POLL, 100)) {
      AutoCloseable handle = store.addListener(c -> {
        throw new IllegalStateException("boom");
      });
      replace(file, V2);
      eventually("store.version() == 2", () -> store.version() == 2);
      handle.close();
      replace(file, V1);
      eventually("store.version() == 3", () -> store.version() == 3);
    }
  }

  @Test
  void startingWithABadFileFails() throws Exception {
    Path file = dir.resolve("workspace.yaml");
    Files.writeString(file, "sources:\n  - {id: a, writeKey: k}\n  - {id: a, writeKey: k2}\n");
    InvalidWorkspaceConfigException e = assertThrows(InvalidWorkspaceConfigException.class,
        () -> WorkspaceConfigStore.watch(file, POLL, 100));
    assertTrue(e.getMessage().contains("sources[1].id: duplicate id 'a'"), e.getMessage());
    assertThrows(InvalidWorkspaceConfigException.class, () -> WorkspaceConfigStore.watch(dir.resolve("none.yaml")));
    assertThrows(IllegalArgumentException.class, () -> WorkspaceConfigStore.watch(file, Duration.ZERO, 100));
  }

  @Test
  void fixedStoreWithCodeBuiltConfig() {
    WorkspaceConfig config = WorkspaceConfig.of(List.of(Source.of("demo", "demoWriteKey")),
        List.of(new Destination("sink", "webhook", true, List.of("demo"), Map.of("url", "http://localhost:1/"))));
    WorkspaceConfigStore store = WorkspaceConfigStore.fixed(config);
    assertEquals("demo", Authenticator.authenticate(store, WriteKeys.fromBasicAuth(WriteKeys.basicAuthHeader("demoWriteKey"))
        .orElseThrow()).sourceId());
  }

  /** Writes a complete file and renames it into place, as careful writers (and Kubernetes) do. */
  static void replace(Path file, String content) throws IOException {
    Path temp = Files.createTempFile(file.getParent(), "next", ".yaml");
    Files.writeString(temp, content);
    Files.move(temp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
  }

}
