package io.eventpipe.workspace;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Which environment variables and files a workspace's secret references ({@code ${env:NAME}}, {@code ${file:/path}})
 * may read. Whoever edits the workspace must not get the process's own secrets by pointing a webhook header at them,
 * so a reference resolves only when the operator allowed it ({@code --secret-env-allow}, {@code --secret-file-allow};
 * nothing by default), and never, whatever the allow list says, when it names one of the process's own secrets:
 * variables starting with {@code PIPELINE_} (tokens, database URLs), ending in {@code _DB_PASSWORD} (the chart's
 * database passwords), libpq's {@code PG*} variables and {@code DATABASE_URL}; files under {@code /proc}, {@code /sys},
 * {@code /dev} or a denied directory (the launcher adds its data directory, where the tokens are). Files are judged by
 * their real path, so neither {@code ..} nor a symbolic link leads out of an allowed directory.
 *
 * <p>The policy is the process's ({@link #install}): every workspace the process loads follows the operator's flags.
 *
 * @param envAllow names, or prefixes ending in {@code *} ({@code HOOK_*}; {@code *} alone: every name not denied)
 * @param fileAllow directories whose files (at any depth) may be read
 * @param fileDeny directories never read, in addition to the built-in ones
 */
public record SecretPolicy(List<String> envAllow, List<Path> fileAllow, List<Path> fileDeny) {

  private static final List<Path> ALWAYS_DENIED_DIRS = List.of(Path.of("/proc"), Path.of("/sys"), Path.of("/dev"));

  private static volatile SecretPolicy current = new SecretPolicy(List.of(), List.of(), List.of());

  public SecretPolicy {
    envAllow = List.copyOf(envAllow);
    fileAllow = fileAllow.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    fileDeny = fileDeny.stream().map(p -> p.toAbsolutePath().normalize()).toList();
    for (String pattern : envAllow) {
      if (!pattern.matches("[A-Za-z_][A-Za-z0-9_]*\\*?|\\*")) {
        throw new IllegalArgumentException("--secret-env-allow: '" + pattern + "' is not a variable name or a prefix ending in *");
      }
    }
  }

  /** Parses the flags' comma-separated lists (null or blank: nothing allowed). */
  public static SecretPolicy parse(String envAllow, String fileAllow, List<Path> fileDeny) {
    List<Path> dirs = new ArrayList<>();
    for (String d : split(fileAllow)) {
      if (!d.startsWith("/")) {
        throw new IllegalArgumentException("--secret-file-allow: '" + d + "' is not an absolute directory");
      }
      dirs.add(Path.of(d));
    }
    return new SecretPolicy(split(envAllow), dirs, fileDeny);
  }

  private static List<String> split(String list) {
    List<String> out = new ArrayList<>();
    if (list != null) {
      for (String s : list.split(",")) {
        if (!s.isBlank()) {
          out.add(s.trim());
        }
      }
    }
    return out;
  }

  /** Makes {@code policy} the one every workspace of this process is read with. */
  public static void install(SecretPolicy policy) {
    current = policy;
  }

  /** The process's policy (nothing allowed until {@link #install}). */
  public static SecretPolicy current() {
    return current;
  }

  /**
   * Why the reference {@code ${kind:name}} may not be resolved, or null when it may: the text of a destination's
   * problem, naming the flag that would allow it (when one can).
   */
  public String refusal(String kind, String name) {
    if (kind.equals("env")) {
      String upper = name.toUpperCase(Locale.ROOT);
      if (upper.startsWith("PIPELINE_") || upper.endsWith("_DB_PASSWORD") || upper.startsWith("PG") || upper.equals("DATABASE_URL")) {
        return "the environment variable " + name + " is one of the process's own secrets and is never readable by the workspace";
      }
      for (String p : envAllow) {
        if (p.endsWith("*") ? name.startsWith(p.substring(0, p.length() - 1)) : name.equals(p)) {
          return null;
        }
      }
      return "the environment variable " + name + " is not allowed (--secret-env-allow)";
    }
    Path real;
    try {
      real = Path.of(name).toRealPath();
    } catch (IOException | RuntimeException e) {
      return null; // missing: reported as unresolvable, which names the file
    }
    for (List<Path> denied : List.of(ALWAYS_DENIED_DIRS, fileDeny)) {
      for (Path d : denied) {
        if (real.startsWith(d) || real.startsWith(realOrSelf(d))) {
          return "the file " + name + " is in " + d + ", which is never readable by the workspace";
        }
      }
    }
    for (Path d : fileAllow) {
      if (real.startsWith(realOrSelf(d))) {
        return null;
      }
    }
    return "the file " + name + " is not in an allowed directory (--secret-file-allow)";
  }

  private static Path realOrSelf(Path dir) {
    try {
      return dir.toRealPath();
    } catch (IOException e) {
      return dir;
    }
  }
}
