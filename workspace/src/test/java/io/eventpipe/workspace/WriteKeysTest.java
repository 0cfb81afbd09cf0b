package io.eventpipe.workspace;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class WriteKeysTest {

  static String basic(String credentials) {
    return "Basic " + Base64.getEncoder().encodeToString(credentials.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void usernameIsTheWriteKey() {
    assertEquals(Optional.of("2x9Lk"), WriteKeys.fromBasicAuth(basic("2x9Lk:")));
    assertEquals(Optional.of("2x9Lk"), WriteKeys.fromBasicAuth(basic("2x9Lk")), "no colon at all");
    assertEquals(Optional.of("2x9Lk"), WriteKeys.fromBasicAuth(basic("2x9Lk:ignored:password")));
    assertEquals(Optional.of("2x9Lk"), WriteKeys.fromBasicAuth("basic " + basic("2x9Lk:").substring(6)));
    assertEquals(Optional.of("2x9Lk"), WriteKeys.fromBasicAuth("  BASIC   " + basic("2x9Lk:").substring(6) + "  "));
    assertEquals(Optional.of("k\u00e9y"), WriteKeys.fromBasicAuth(basic("k\u00e9y:")));
    assertEquals(Optional.of("abcd"), WriteKeys.fromBasicAuth("Basic YWJjZA"), "missing padding tolerated");
    assertEquals(Optional.of("wk"), WriteKeys.fromBasicAuth(WriteKeys.basicAuthHeader("wk")));
  }

  @Test
  void anythingElseIsEmpty() {
    for (String header : new String[] {null, "", "Basic", "Basic ", "Bearer abc", "Basicabc", "Basic !!!!",
        basic(":password"), basic(""), "Basic YWJjZ"}) {
      assertEquals(Optional.empty(), WriteKeys.fromBasicAuth(header), String.valueOf(header));
    }
  }

  @Test
  void masking() {
    assertEquals("2x9L...", WriteKeys.mask("2x9LkAbCdEfGhIj"));
    assertEquals("****", WriteKeys.mask("short"));
    assertEquals("null", WriteKeys.mask(null));
  }

  /** Issue 14: one limit for keys, in the workspace and at the gateway (which refuses longer ones before any lookup). */
  @Test
  void aConfiguredWriteKeyOverTheLimitIsRefusedNamingTheLimitAndOneAtItIsKept() {
    String at = "k".repeat(WriteKeys.MAX_CHARS);
    WorkspaceConfig ok = WorkspaceConfig.parse("sources:\n  - id: s\n    writeKey: " + at + "\n");
    assertEquals("s", ok.sourceByWriteKey(at).orElseThrow().id());
    InvalidWorkspaceConfigException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidWorkspaceConfigException.class,
        () -> WorkspaceConfig.parse("sources:\n  - id: s\n    writeKey: " + at + "x\n"));
    String problem = String.join("; ", e.problems());
    org.junit.jupiter.api.Assertions.assertTrue(problem.contains("writeKey") && problem.contains(String.valueOf(WriteKeys.MAX_CHARS)),
        problem);
  }

  @Test
  void theStoreNeitherLooksUpNorKeepsUnknownOrOverlongKeys() {
    WorkspaceConfigStore store = WorkspaceConfigStore.fixed(WorkspaceConfig.of(java.util.List.of(Source.of("web", "wk-web")),
        java.util.List.of()));
    assertEquals("web", store.findByWriteKey("wk-web").orElseThrow().source().id());
    for (int i = 0; i < 1000; i++) {
      assertEquals(Optional.empty(), store.findByWriteKey("unknown-" + i));
      assertEquals(Optional.empty(), store.sourceByWriteKey("x".repeat(WriteKeys.MAX_CHARS + 1 + i)));
    }
    assertEquals(1, store.cachedWriteKeys(), "only the known key is kept");
  }
}
