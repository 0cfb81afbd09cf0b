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
}
