package io.eventpipe.gateway;

/**
 * 400: one event of the request breaks a rule of the RudderStack/Segment contract; the whole request is
 * rejected. Names the event (its index in {@code batch}, or none for a single-event endpoint) and the field.
 */
public class InvalidEventException extends InvalidRequestException {

  private static final long serialVersionUID = 1L;

  private final String field;

  /**
   * @param index zero-based index in the {@code batch} array, or null for a single-event request
   * @param field the offending top-level field of the event (e.g. {@code userId}), or null for the event itself
   * @param problem what is wrong with it and how to fix it
   */
  public InvalidEventException(Integer index, String field, String problem) {
    super(describe(index, field, problem), index, null);
    this.field = field;
  }

  /** The offending field, e.g. {@code userId} or {@code context}, or null if the event as a whole is wrong. */
  public String field() {
    return field;
  }

  static String describe(Integer index, String field, String problem) {
    StringBuilder sb = new StringBuilder();
    if (index != null) {
      sb.append("batch[").append(index).append(']');
      if (field != null) {
        sb.append('.').append(field);
      }
    } else if (field != null) {
      sb.append(field);
    } else {
      sb.append("event");
    }
    return sb.append(": ").append(problem).toString();
  }
}
