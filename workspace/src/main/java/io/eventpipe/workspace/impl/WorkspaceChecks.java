package io.eventpipe.workspace.impl;

import io.eventpipe.workspace.Destination;
import io.eventpipe.workspace.Source;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Validation rules of a workspace that span entries. */
public final class WorkspaceChecks {

  private WorkspaceChecks() {}

  /**
   * Checks unique source ids, unique write keys, unique destination ids, and destinations that reference existing
   * sources once each. Null entries (already reported as malformed) are skipped.
   *
   * @param problems where to add one message per problem, naming its path
   */
  public static void crossCheck(List<Source> sources, List<Destination> destinations, List<String> problems) {
    Map<String, Integer> ids = new LinkedHashMap<>();
    Map<String, Integer> keys = new HashMap<>();
    for (int i = 0; i < sources.size(); i++) {
      Source s = sources.get(i);
      if (s == null) {
        continue;
      }
      Integer first = ids.putIfAbsent(s.id(), i);
      if (first != null) {
        problems.add("sources[" + i + "].id: duplicate id '" + s.id() + "' (also sources[" + first + "])");
      }
      Integer sameKey = keys.putIfAbsent(s.writeKey(), i);
      if (sameKey != null) {
        problems.add("sources[" + i + "].writeKey: same write key as sources[" + sameKey + "] ('"
            + sources.get(sameKey).id() + "'); every source needs its own write key");
      }
    }
    Map<String, Integer> destinationIds = new HashMap<>();
    for (int i = 0; i < destinations.size(); i++) {
      Destination d = destinations.get(i);
      if (d == null) {
        continue;
      }
      Integer first = destinationIds.putIfAbsent(d.id(), i);
      if (first != null) {
        problems.add("destinations[" + i + "].id: duplicate id '" + d.id() + "' (also destinations[" + first + "])");
      }
      List<String> seen = new ArrayList<>();
      for (int j = 0; j < d.sources().size(); j++) {
        String ref = d.sources().get(j);
        if (!ids.containsKey(ref)) {
          problems.add("destinations[" + i + "].sources[" + j + "]: unknown source '" + ref + "' (known: "
              + (ids.isEmpty() ? "none" : String.join(", ", ids.keySet())) + ")");
        } else if (seen.contains(ref)) {
          problems.add("destinations[" + i + "].sources[" + j + "]: source '" + ref + "' is listed twice");
        }
        seen.add(ref);
      }
    }
  }
}
