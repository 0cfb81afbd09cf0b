package io.eventpipe.launcher;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;

/**
 * Secrets the launcher generates and keeps in its data directory (admin and ingest tokens, the control store's role
 * passwords, {@code local.json}): owner-only (0600) from the moment they exist, and written atomically (a temp file
 * created 0600 in the same directory, then an atomic move), so no other local user can read one and a crash never
 * leaves a half-written token that the next start would take as the real one.
 */
final class SecretFiles {

  /**
   * The shortest token accepted: 32 characters. The generated ones are 32 hex digits (128 random bits); a
   * hand-chosen token of 32 characters from even a small alphabet still has far more guesses than an online attack
   * over HTTP can try, while anything shorter invites a word or a date.
   */
  static final int MIN_TOKEN_LENGTH = 32;

  private static final SecureRandom RANDOM = new SecureRandom();

  private SecretFiles() {}

  /** The secret kept in {@code file}, or a new random one (128 bits, 32 hex digits) written there, so restarts keep it. */
  static String readOrCreate(Path file) throws IOException {
    if (Files.exists(file)) {
      restrict(file);
      return Files.readString(file, StandardCharsets.UTF_8).trim();
    }
    byte[] bytes = new byte[16];
    RANDOM.nextBytes(bytes);
    String s = HexFormat.of().formatHex(bytes);
    write(file, s + "\n");
    return s;
  }

  /** Writes {@code content} to {@code file}: owner-only, atomically replacing what was there. */
  static void write(Path file, String content) throws IOException {
    Path dir = file.toAbsolutePath().getParent();
    Path tmp = Files.createTempFile(dir, "." + file.getFileName() + ".", ".tmp", PosixFilePermissions.asFileAttribute(
        PosixFilePermissions.fromString("rw-------")));
    try {
      Files.writeString(tmp, content, StandardCharsets.UTF_8);
      try (var ch = java.nio.channels.FileChannel.open(tmp, java.nio.file.StandardOpenOption.WRITE)) {
        ch.force(true);
      }
      try {
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
      } catch (AtomicMoveNotSupportedException | FileAlreadyExistsException e) {
        throw new IOException("cannot replace " + file + " atomically", e);
      }
    } finally {
      Files.deleteIfExists(tmp);
    }
  }

  /** A file from an older version (written with the umask's permissions) becomes owner-only. */
  private static void restrict(Path file) throws IOException {
    Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
  }

  /**
   * Refuses a token shorter than {@link #MIN_TOKEN_LENGTH}, naming the flag and never the value (it would land in
   * logs and terminals).
   */
  static void checkToken(String flag, String token) {
    if (token != null && token.length() < MIN_TOKEN_LENGTH) {
      throw new Flags.BadFlag("--" + flag + " is " + token.length() + " characters long; a token needs at least "
          + MIN_TOKEN_LENGTH + " (e.g. `openssl rand -hex 16`)");
    }
  }
}
