package io.eventpipe.launcher;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Command-line flags ({@code --name value} or {@code --name=value}) with environment fallbacks
 * ({@code --admin-port} falls back to {@code PIPELINE_ADMIN_PORT}). Every accessor validates and names the bad
 * value and where it came from.
 */
final class Flags {

  /** A bad flag or environment value; the message says which and why. */
  static final class BadFlag extends RuntimeException {
    private static final long serialVersionUID = 1L;

    BadFlag(String message) {
      super(message);
    }
  }

  private final Map<String, String> values = new LinkedHashMap<>();
  private final Map<String, String> env;

  Flags(String[] args, Set<String> known, Map<String, String> env) {
    this.env = env;
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      if (!a.startsWith("--")) {
        throw new BadFlag("unexpected argument '" + a + "' (flags look like --name value)");
      }
      String name = a.substring(2);
      String value;
      int eq = name.indexOf('=');
      if (eq >= 0) {
        value = name.substring(eq + 1);
        name = name.substring(0, eq);
      } else if (i + 1 < args.length && !args[i + 1].startsWith("--")) {
        value = args[++i];
      } else {
        value = "true";
      }
      if (!known.contains(name)) {
        throw new BadFlag("unknown flag --" + name + " (known: --" + String.join(", --", known) + ")");
      }
      values.put(name, value);
    }
  }

  static String envName(String flag) {
    return "PIPELINE_" + flag.toUpperCase(Locale.ROOT).replace('-', '_');
  }

  String raw(String name) {
    String v = values.get(name);
    return v != null ? v : env.get(envName(name));
  }

  private String origin(String name) {
    return values.containsKey(name) ? "--" + name : envName(name);
  }

  String string(String name, String def) {
    String v = raw(name);
    return v == null || v.isEmpty() ? def : v;
  }

  String required(String name) {
    String v = raw(name);
    if (v == null || v.isEmpty()) {
      throw new BadFlag("--" + name + " (or " + envName(name) + ") is required");
    }
    return v;
  }

  int integer(String name, int def, int min, int max) {
    String v = raw(name);
    if (v == null || v.isEmpty()) {
      return def;
    }
    try {
      int n = Integer.parseInt(v.trim());
      if (n < min || n > max) {
        throw new BadFlag(origin(name) + "=" + v + " is out of range " + min + ".." + max);
      }
      return n;
    } catch (NumberFormatException e) {
      throw new BadFlag(origin(name) + "=" + v + " is not a whole number");
    }
  }

  /** A decimal number above {@code above} and at most {@code max}. */
  double decimal(String name, double def, double above, double max) {
    String v = raw(name);
    if (v == null || v.isEmpty()) {
      return def;
    }
    try {
      double d = Double.parseDouble(v.trim());
      if (!(d > above && d <= max)) {
        throw new BadFlag(origin(name) + "=" + v + " must be above " + above + " and at most " + max);
      }
      return d;
    } catch (NumberFormatException e) {
      throw new BadFlag(origin(name) + "=" + v + " is not a number");
    }
  }

  int port(String name, int def) {
    return integer(name, def, 0, 65535);
  }

  boolean bool(String name, boolean def) {
    String v = raw(name);
    if (v == null || v.isEmpty()) {
      return def;
    }
    return switch (v.toLowerCase(Locale.ROOT)) {
      case "true", "yes", "1" -> true;
      case "false", "no", "0" -> false;
      default -> throw new BadFlag(origin(name) + "=" + v + " is not a boolean (true or false)");
    };
  }

  Path path(String name, Path def) {
    String v = raw(name);
    return v == null || v.isEmpty() ? def : Path.of(v);
  }

  Path existingFile(String name) {
    String v = raw(name);
    if (v == null || v.isEmpty()) {
      return null;
    }
    Path p = Path.of(v);
    if (!java.nio.file.Files.isRegularFile(p)) {
      throw new BadFlag(origin(name) + "=" + v + ": no such file");
    }
    return p.toAbsolutePath();
  }
}
