package io.eventpipe.routing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import org.junit.jupiter.api.Test;

class RoutingKeyTest {

  @Test
  void prefersAnonymousId() {
    assertEquals("anon-1", RoutingKey.of("anon-1", "user-1"));
    assertEquals("anon-1", RoutingKey.of("anon-1", null));
    assertEquals("anon-1", RoutingKey.of("anon-1", ""));
  }

  @Test
  void fallsBackToUserIdWhenAnonymousIdIsMissingOrEmpty() {
    assertEquals("user-1", RoutingKey.of(null, "user-1"));
    assertEquals("user-1", RoutingKey.of("", "user-1"));
  }

  @Test
  void isNullWithoutAnyIdentity() {
    assertNull(RoutingKey.of(null, null));
    assertNull(RoutingKey.of("", ""));
    assertNull(RoutingKey.of(null, ""));
    assertNull(RoutingKey.of("", null));
  }

  @Test
  void keepsTheBrowserUserOnOneKeyAcrossLogin() {
    String beforeLogin = RoutingKey.of("anon-7f3a", null);
    String afterLogin = RoutingKey.of("anon-7f3a", "alice@example.com");
    assertEquals(beforeLogin, afterLogin);
  }

  @Test
  void usesValuesVerbatim() {
    assertEquals(" ", RoutingKey.of(" ", "user-1"));
    assertEquals(" Anon-1 ", RoutingKey.of(" Anon-1 ", "user-1"));
    assertEquals("User-1", RoutingKey.of(null, "User-1"));
  }
}
