package io.eventpipe.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token files are owner-only and replaced atomically; a short token is refused at start, naming the flag only. */
class SecretFilesTest {

  @Test
  void generatedTokensAreOwnerOnlyAndKept(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("admin-token");
    String token = SecretFiles.readOrCreate(file);
    assertEquals(32, token.length());
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)),
        "the old code wrote it with the umask's permissions (rw-r--r--): any local user could read the admin token");
    assertEquals(token, SecretFiles.readOrCreate(file), "a restart keeps it");
  }

  @Test
  void aTokenFileOfAnOlderVersionBecomesOwnerOnly(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("ingest-token");
    Files.writeString(file, "0123456789abcdef0123456789abcdef\n");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    assertEquals("0123456789abcdef0123456789abcdef", SecretFiles.readOrCreate(file));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
  }

  @Test
  void aWriteReplacesTheFileWholeAndLeavesNoTemporaryFile(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("local.json");
    Files.writeString(file, "old");
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-r--r--"));
    String big = "x".repeat(1 << 20);
    SecretFiles.write(file, big);
    assertEquals(big, Files.readString(file));
    assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)), "the new inode is owner-only");
    try (Stream<Path> files = Files.list(dir)) {
      assertEquals(List.of(file), files.toList());
    }
  }

  @Test
  void aShortTokenIsRefusedAtStartNamingTheFlagNotTheValue(@TempDir Path dir) throws Exception {
    String shortToken = "hunter2-is-not-a-token";
    Files.writeString(dir.resolve("ws.yaml"), "sources: []\ndestinations: []\n");
    for (List<String> args : List.of(
        List.of("proxy", "--control-url", "postgresql://u@127.0.0.1:1/control", "--config", dir.resolve("ws.yaml").toString(),
            "--ingest-token", shortToken),
        List.of("local", "--data-dir", dir.resolve("data").toString(), "--admin-token", shortToken))) {
      String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
      List<String> cmd = new java.util.ArrayList<>(List.of(java, "-cp", System.getProperty("java.class.path"),
          "io.eventpipe.launcher.Main"));
      cmd.addAll(args);
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
      assertTrue(p.waitFor(60, TimeUnit.SECONDS));
      assertEquals(2, p.exitValue(), out);
      String flag = args.get(0).equals("proxy") ? "--ingest-token" : "--admin-token";
      assertTrue(out.contains(flag + " is 22 characters long; a token needs at least 32"), out);
      assertFalse(out.contains(shortToken), "the value never appears: " + out);
    }
  }
}
