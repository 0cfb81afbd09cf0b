package io.eventpipe.jobsdb;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** Issue 14: a database URL that does not parse is named in the error, its password never. */
class PgConfigTest {

  private static final String SECRET = "s3cr#t-pw";

  @Test
  void aMalformedUrlIsNamedWithItsPasswordMasked() {
    for (String url : List.of(
        "postgresql://app:" + SECRET + "@db:5432/events",            // '#' unencoded: the rest is a fragment, no host
        "postgresql://app:" + SECRET + "@db:54x2/events",            // bad port
        "postgresql://app:" + SECRET + "%zz@db:5432/events",         // bad percent escape
        "postgresql://app:" + SECRET + " x@db:5432/events",          // a space: URISyntaxException with the whole input
        "mysql://app:" + SECRET + "@db:5432/events",                  // another scheme
        "jdbc:postgresql://app:p@s3cr-t@db:5432/events",             // an unencoded '@' in the password
        "postgresql://app:s3cret@db:54x2/events")) {                 // a bad port, nothing odd in the password
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PgConfig.parse(url), url);
      assertFalse(e.getMessage().contains("s3cr"), "the password is echoed: " + e.getMessage());
      assertNull(e.getCause(), "the parser's exception carries the whole URL in its message");
      assertTrue(e.getMessage().contains("***") && e.getMessage().contains("app:"), e.getMessage());
      assertTrue(e.getMessage().contains("@db:"), "the rest of the URL is shown, to find the mistake: " + e.getMessage());
    }
  }

  @Test
  void aGoodUrlStillParsesAndRedactionLeavesUrlsWithoutAPasswordAlone() {
    PgConfig c = PgConfig.parse("postgresql://app:pw%40x@db:6543/events");
    assertEquals("pw@x", c.password());
    assertEquals("postgresql://app@db:6543/events", c.redacted());
    assertEquals("postgresql://app@db/events", PgConfig.redact("postgresql://app@db/events"));
    assertEquals("postgresql://db/events", PgConfig.redact("postgresql://db/events"));
    assertEquals("postgresql://app:***@db/events", PgConfig.redact("postgresql://app:pw@db/events"));
  }
}
