package io.eventpipe.migration.model;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Walks every state of a {@link ProtocolModel} reachable within a depth, breadth first with a visited set, and stops at
 * the first state that breaks an invariant: breadth first, so the counterexample is a shortest one.
 */
public final class Explorer {

  /**
   * What a walk found.
   *
   * @param states distinct states visited
   * @param depth the deepest level reached
   * @param exhausted whether every reachable state was visited (no state was left beyond the depth bound)
   * @param violation the invariant broken, or null
   * @param trace the actions from the initial state to the violation (empty without one)
   * @param taken every kind of action taken somewhere in the walk (an action's name up to its first parenthesis or
   *     colon): a walk that never copies or never aborts proves nothing about them
   */
  public record Result(long states, int depth, boolean exhausted, String violation, List<String> trace, Set<String> taken) {

    public boolean found() {
      return violation != null;
    }

    /** The counterexample, one action a line, numbered. */
    public String printTrace() {
      StringBuilder b = new StringBuilder();
      for (int i = 0; i < trace.size(); i++) {
        b.append(String.format("%3d. %s%n", i + 1, trace.get(i)));
      }
      return b.append("  => ").append(violation).append('\n').toString();
    }
  }

  private record Parent(ProtocolModel.State previous, String action) {}

  private Explorer() {}

  /** Explores {@code model} to {@code maxDepth} actions from its initial state. */
  public static Result explore(ProtocolModel model, int maxDepth) {
    ProtocolModel.State initial = model.initial();
    Map<ProtocolModel.State, Parent> seen = new HashMap<>();
    seen.put(initial, null);
    ArrayDeque<ProtocolModel.State> level = new ArrayDeque<>();
    level.add(initial);
    Set<String> taken = new TreeSet<>();
    int depth = 0;
    while (!level.isEmpty() && depth < maxDepth) {
      ArrayDeque<ProtocolModel.State> nextLevel = new ArrayDeque<>();
      for (ProtocolModel.State s : level) {
        for (ProtocolModel.Transition t : model.next(s)) {
          taken.add(kind(t.action()));
          if (t.violation() != null) { // an action that breaks an invariant may lead to a state reached innocently too
            List<String> actions = trace(seen, s);
            actions.add(t.action());
            return new Result(seen.size(), depth + 1, false, t.violation(), actions, taken);
          }
          if (seen.containsKey(t.next())) {
            continue;
          }
          seen.put(t.next(), new Parent(s, t.action()));
          String violation = model.violation(t.next());
          if (violation != null) {
            return new Result(seen.size(), depth + 1, false, violation, trace(seen, t.next()), taken);
          }
          nextLevel.add(t.next());
        }
      }
      level = nextLevel;
      depth++;
    }
    return new Result(seen.size(), depth, level.isEmpty(), null, List.of(), taken);
  }

  private static String kind(String action) {
    int end = action.length();
    for (char c : new char[] {'(', ':'}) {
      int i = action.indexOf(c);
      if (i >= 0 && i < end) {
        end = i;
      }
    }
    return action.substring(0, end);
  }

  private static List<String> trace(Map<ProtocolModel.State, Parent> seen, ProtocolModel.State last) {
    List<String> actions = new ArrayList<>();
    for (Parent p = seen.get(last); p != null; p = seen.get(p.previous())) {
      actions.add(p.action());
    }
    Collections.reverse(actions);
    return actions;
  }
}
