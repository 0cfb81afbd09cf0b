package io.eventpipe.gateway;

/** 404: the write key belongs to a source that is disabled in the workspace configuration. */
public class SourceDisabledException extends GatewayException {

  private static final long serialVersionUID = 1L;

  private final String sourceId;

  public SourceDisabledException(String sourceId) {
    super(404, "source '" + sourceId + "' is disabled; enable it in the workspace configuration", null, null);
    this.sourceId = sourceId;
  }

  /** The id of the disabled source. */
  public String sourceId() {
    return sourceId;
  }
}
