package io.eventpipe.gateway.http;

/** The build's version, from the jar manifest when packaged. */
public final class Version {

  public static final String VERSION = version();

  private Version() {}

  private static String version() {
    String v = Version.class.getPackage().getImplementationVersion();
    return v == null ? "0.1.0-SNAPSHOT" : v;
  }
}
