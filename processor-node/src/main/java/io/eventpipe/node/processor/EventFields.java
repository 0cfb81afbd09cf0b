package io.eventpipe.node.processor;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.IOException;

/**
 * Reads an event payload's top-level {@code type} and {@code event} with a streaming parse that skips every other
 * value without building it, and stops as soon as both are found.
 */
final class EventFields {

  private static final JsonFactory JSON = new JsonFactory();

  /** The two fields; either may be null. */
  record Fields(String type, String event) {}

  private EventFields() {}

  static Fields read(byte[] payload) {
    String type = null;
    String event = null;
    try (JsonParser p = JSON.createParser(payload)) {
      if (p.nextToken() != JsonToken.START_OBJECT) {
        return new Fields(null, null);
      }
      while (p.nextToken() == JsonToken.FIELD_NAME) {
        String field = p.currentName();
        JsonToken value = p.nextToken();
        if ("type".equals(field) && value == JsonToken.VALUE_STRING) {
          type = p.getText();
        } else if ("event".equals(field) && value == JsonToken.VALUE_STRING) {
          event = p.getText();
        } else {
          p.skipChildren();
        }
        if (type != null && (event != null || !"track".equals(type))) {
          break; // only track events have a name that filters look at
        }
      }
    } catch (IOException e) {
      // not JSON: no fields; the gateway only stores valid JSON, so this is a corrupt row
    }
    return new Fields(type, event);
  }
}
