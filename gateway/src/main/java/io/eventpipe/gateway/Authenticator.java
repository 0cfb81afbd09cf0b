package io.eventpipe.gateway;

import io.eventpipe.workspace.AuthResult;
import io.eventpipe.workspace.Source;
import io.eventpipe.workspace.WorkspaceConfigStore;
import io.eventpipe.workspace.WriteKeys;

/** Write-key authentication with the SDK contract's answers: 401 for a missing or unknown key, 404 for a disabled source. */
public final class Authenticator {

  private Authenticator() {}

  /**
   * Authenticates a write key.
   *
   * @param writeKey the write key, from HTTP Basic auth ({@link io.eventpipe.workspace.WriteKeys#fromBasicAuth}), the
   *     body or the query
   * @return the enabled source and the snapshot it was found in
   * @throws UnauthorizedException (401) if the key is missing, unknown, or longer than any key
   *     ({@link WriteKeys#MAX_CHARS}: refused before it is looked up)
   * @throws SourceDisabledException (404) if the key belongs to a disabled source
   */
  public static AuthResult authenticate(WorkspaceConfigStore store, String writeKey) {
    if (writeKey == null || writeKey.isEmpty()) {
      throw new UnauthorizedException("missing write key; send it as the username of HTTP Basic auth "
          + "(Authorization: Basic base64(writeKey:))");
    }
    if (WriteKeys.tooLong(writeKey)) {
      throw new UnauthorizedException("unknown write key: it is " + writeKey.length() + " characters long, and no write key"
          + " is longer than " + WriteKeys.MAX_CHARS + "; use the write key of a source of this workspace");
    }
    AuthResult found = store.findByWriteKey(writeKey).orElseThrow(() ->
        new UnauthorizedException("unknown write key; use the write key of a source of this workspace"));
    Source source = found.source();
    if (!source.enabled()) {
      throw new SourceDisabledException(source.id());
    }
    return found;
  }
}
