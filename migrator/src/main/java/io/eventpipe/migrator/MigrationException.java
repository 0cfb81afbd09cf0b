package io.eventpipe.migrator;

/** A migration could not go on; the message says why and what to do. A rerun resumes from the last recorded step. */
public class MigrationException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public MigrationException(String message) {
    super(message);
  }

  public MigrationException(String message, Throwable cause) {
    super(message, cause);
  }
}
