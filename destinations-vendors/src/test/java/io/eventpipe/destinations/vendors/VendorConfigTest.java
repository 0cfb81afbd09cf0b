package io.eventpipe.destinations.vendors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.destinations.DestinationType;
import io.eventpipe.workspace.ConfigReader;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every config field of the amplitude and mixpanel destinations, each made bad on its own in an otherwise valid config:
 * the load reports a problem on that field, naming the destination and the key, and on no other field. (Unknown
 * top-level keys are the router's to refuse, from {@code configKeys()}: processor-node's DeliverySettings.)
 */
class VendorConfigTest {

  private static final Map<String, Object> AMPLITUDE = Map.of("apiKey", "k", "url", "http://127.0.0.1:9/2/httpapi");
  private static final Map<String, Object> MIXPANEL = Map.of("token", "t", "url", "http://127.0.0.1:9/import");
  private static final Map<String, Object> ACCOUNT = Map.of("serviceAccount", Map.of("username", "u", "secret", "s"),
      "projectId", "42", "url", "http://127.0.0.1:9/import");

  static Stream<Arguments> badFields() {
    DestinationType amp = new AmplitudeDestination();
    DestinationType mp = new MixpanelDestination();
    return Stream.of(
        bad(amp, AMPLITUDE, "apiKey", null, "missing"),
        bad(amp, AMPLITUDE, "apiKey", "  ", "must not be empty"),
        bad(amp, AMPLITUDE, "apiKey", 42, "must be a string"),
        bad(amp, AMPLITUDE, "url", "ftp://x/2/httpapi", "absolute http or https URL"),
        bad(amp, AMPLITUDE, "url", "http://169.254.169.254/2/httpapi", "egress policy denies"),
        bad(amp, AMPLITUDE, "url", List.of("x"), "must be a string"),
        bad(amp, AMPLITUDE, "groupType", "", "must not be empty"),
        bad(amp, AMPLITUDE, "groupType", 7, "must be a string"),
        bad(amp, AMPLITUDE, "timeoutMs", 0, "must be in 1..600000"),
        bad(amp, AMPLITUDE, "timeoutMs", "fast", "must be a whole number"),
        bad(amp, AMPLITUDE, "batch", "big", "must be a mapping"),
        bad(amp, AMPLITUDE, "batch", Map.of("maxEvents", 2001), "maxEvents: must be in 1..2000"),
        bad(amp, AMPLITUDE, "batch", Map.of("maxBytes", 5), "maxBytes: unknown setting"),
        bad(mp, MIXPANEL, "token", null, "missing"),
        bad(mp, MIXPANEL, "token", "", "missing"),
        bad(mp, MIXPANEL, "token", 5, "must be a string"),
        bad(mp, ACCOUNT, "token", "t", "either token or serviceAccount"),
        bad(mp, ACCOUNT, "serviceAccount", Map.of("username", "u"), "needs username and secret"),
        bad(mp, ACCOUNT, "serviceAccount", Map.of("username", "u", "secret", ""), "needs username and secret"),
        bad(mp, ACCOUNT, "serviceAccount", Map.of("username", "u", "secret", "s", "pwd", "x"), "pwd: unknown setting"),
        bad(mp, ACCOUNT, "serviceAccount", "u:s", "must be a mapping"),
        bad(mp, ACCOUNT, "projectId", null, "missing"),
        bad(mp, ACCOUNT, "projectId", " ", "must not be empty"),
        bad(mp, ACCOUNT, "projectId", 42, "must be a string"),
        bad(mp, MIXPANEL, "url", "mailto:x@y", "absolute http or https URL"),
        bad(mp, MIXPANEL, "url", "http://[::1]:9/import", "egress policy denies"),
        bad(mp, MIXPANEL, "groupKey", "", "must not be empty"),
        bad(mp, MIXPANEL, "groupKey", true, "must be a string"),
        bad(mp, MIXPANEL, "timeoutMs", -1, "must be in 1..600000"),
        bad(mp, MIXPANEL, "batch", Map.of("maxEvents", 0), "maxEvents: must be in 1..2000"));
  }

  private static Arguments bad(DestinationType type, Map<String, Object> valid, String key, Object value, String says) {
    Map<String, Object> config = new HashMap<>(valid);
    if (value == null) {
      config.remove(key);
    } else {
      config.put(key, value);
    }
    return Arguments.of(type.name(), type, config, key, says);
  }

  @ParameterizedTest(name = "{0} {3}: {2}")
  @MethodSource("badFields")
  void aBadFieldIsReportedOnItsKeyAlone(String name, DestinationType type, Map<String, Object> config, String key,
      String says) {
    List<String> problems = problems(type, config);
    assertFalse(problems.isEmpty(), "a problem for " + key + " = " + config.get(key));
    String prefix = "destinations[d].config." + key;
    for (String p : problems) {
      assertTrue(p.startsWith(prefix + ":") || p.startsWith(prefix + "."), "on " + key + " alone: " + problems);
    }
    assertTrue(problems.stream().anyMatch(p -> p.contains(says)), "says '" + says + "': " + problems);
  }

  @ParameterizedTest(name = "{0}")
  @MethodSource("validConfigs")
  void theValidConfigsHaveNoProblem(String name, DestinationType type, Map<String, Object> config) {
    assertEquals(List.of(), problems(type, config));
  }

  static Stream<Arguments> validConfigs() {
    return Stream.of(Arguments.of("amplitude", new AmplitudeDestination(), AMPLITUDE),
        Arguments.of("mixpanel token", new MixpanelDestination(), MIXPANEL),
        Arguments.of("mixpanel service account", new MixpanelDestination(), ACCOUNT));
  }

  private static List<String> problems(DestinationType type, Map<String, Object> config) {
    ConfigReader reader = ConfigReader.of("d", config);
    type.validate(reader, FakeVendor.LOOPBACK);
    return reader.problems();
  }
}
