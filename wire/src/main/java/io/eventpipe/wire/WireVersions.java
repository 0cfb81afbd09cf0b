package io.eventpipe.wire;

/**
 * The wire versions one side speaks, oldest to newest, so that proxies and nodes of adjacent releases work together
 * during a rolling upgrade.
 *
 * <p>A proxy names the version of an internal batch in the {@link #HEADER} request header; a request without it comes
 * from a proxy older than versioning and is version 1 (today's {@link IngestBatch} encoding, "EPB1"). A node answers
 * every request on its internal port with the {@link #RANGE_HEADER} header ({@code oldest-newest}) and refuses a batch
 * of a version outside its range with a 400 naming both ends. A proxy caches the node's range per node and sends the
 * newest version both sides speak; when it has none cached, or the cache is stale, it learns the range from the
 * refusal and resends at once.
 *
 * <p>A release that changes the encoding bumps {@link #NEWEST} and keeps decoding the previous version for one
 * release ({@link #OLDEST} follows one release later), so any two adjacent releases share a version.
 */
public record WireVersions(int oldest, int newest) {

  /** The request header naming the batch's wire version. */
  public static final String HEADER = "X-Eventpipe-Wire";
  /** The answer header naming the versions a node accepts, {@code oldest-newest}. */
  public static final String RANGE_HEADER = "X-Eventpipe-Wire-Versions";
  /** The version of a request without {@link #HEADER}. */
  public static final int UNVERSIONED = 1;
  public static final int OLDEST = 1;
  public static final int NEWEST = 1;
  /** What this build speaks. */
  public static final WireVersions CURRENT = new WireVersions(OLDEST, NEWEST);

  public WireVersions {
    if (oldest < 1 || newest < oldest) {
      throw new IllegalArgumentException("wire versions " + oldest + "-" + newest + " are not a range of versions from 1");
    }
  }

  public boolean accepts(int version) {
    return version >= oldest && version <= newest;
  }

  /** The newest version both sides speak, or -1 if they share none. */
  public int newestShared(WireVersions other) {
    int v = Math.min(newest, other.newest);
    return v >= Math.max(oldest, other.oldest) ? v : -1;
  }

  /** The {@link #RANGE_HEADER} value. */
  public String header() {
    return oldest + "-" + newest;
  }

  /** A {@link #RANGE_HEADER} value, or null if absent or malformed (a node older than versioning speaks version 1 only). */
  public static WireVersions parseRange(String header) {
    if (header == null) {
      return null;
    }
    String[] parts = header.trim().split("-", 2);
    try {
      return new WireVersions(Integer.parseInt(parts[0].trim()), Integer.parseInt(parts[parts.length - 1].trim()));
    } catch (IllegalArgumentException e) {
      return null;
    }
  }

  /**
   * The version a request names in {@link #HEADER}: {@link #UNVERSIONED} when absent, -1 when it is not a number.
   */
  public static int ofRequest(String header) {
    if (header == null || header.isBlank()) {
      return UNVERSIONED;
    }
    try {
      return Integer.parseInt(header.trim());
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** The refusal's message: names the version asked for and both ends of the range. */
  public String refusal(String asked) {
    return "unsupported wire version " + asked + " (" + HEADER + "): this node accepts versions " + oldest + " to " + newest
        + "; upgrade or downgrade the proxy to a release that speaks one of them";
  }

  @Override
  public String toString() {
    return header();
  }
}
