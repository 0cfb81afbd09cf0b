package io.eventpipe.gateway;

import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.testing.PgDatabase;
import io.eventpipe.workspace.Source;
import io.vertx.core.Future;
import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * What every {@link EventSink} promises, run against each implementation (a subclass per sink, like vertx's
 * {@code tck/}): the future succeeds only once every event is stored, each user's events in the order given, and a
 * retried request is acknowledged without a second copy.
 *
 * <p>Subclasses set {@link #sink} (started) and {@link #databases} (where its events land: the {@code gw} queue of
 * each) before the tests run. Each test uses its own users.
 */
public abstract class EventSinkContract {

  /** The sink under test, ready to store. */
  protected EventSink sink;
  /** The databases whose {@code gw} queue the sink stores into (a user's jobs are in one of them). */
  protected final List<PgDatabase> databases = new ArrayList<>();

  /** The messageIds stored for {@code routingKey}, in the order the sink stored them. */
  protected List<String> storedMessageIds(String routingKey) throws SQLException {
    List<String> ids = new ArrayList<>();
    for (PgDatabase db : databases) {
      ids.addAll(gwMessageIds(db, routingKey));
    }
    return ids;
  }

  /** The source events are accepted for. */
  protected Source source() {
    return Source.of("contract-source", "contract-write-key");
  }

  /** The messageIds of {@code routingKey}'s jobs in the {@code gw} queue of {@code db}, in job order. */
  public static List<String> gwMessageIds(PgDatabase db, String routingKey) throws SQLException {
    List<String> ids = new ArrayList<>();
    try (Connection c = db.connect();
         PreparedStatement s = c.prepareStatement("SELECT message_id FROM jobs_gw.jobs WHERE routing_key = ? ORDER BY job_id")) {
      s.setString(1, routingKey);
      try (ResultSet rs = s.executeQuery()) {
        while (rs.next()) {
          ids.add(rs.getString(1));
        }
      }
    }
    return ids;
  }

  public static Event event(String user, String messageId) {
    String json = "{\"type\":\"track\",\"event\":\"Contract\",\"userId\":\"" + user + "\",\"messageId\":\"" + messageId + "\"}";
    return new Event(messageId, EventType.TRACK, null, user, user, json.getBytes(StandardCharsets.UTF_8));
  }

  @Test
  void everyEventIsStoredWhenTheFutureSucceedsInEachUsersOrder() throws Exception {
    List<Event> events = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      events.add(event("contract-a", "a-" + i));
      events.add(event("contract-b", "b-" + i));
    }
    await(sink.accept(source(), events));
    assertEquals(List.of("a-0", "a-1", "a-2", "a-3", "a-4"), storedMessageIds("contract-a"));
    assertEquals(List.of("b-0", "b-1", "b-2", "b-3", "b-4"), storedMessageIds("contract-b"));
  }

  @Test
  void aRetriedRequestIsAcknowledgedAndStoredOnce() throws Exception {
    List<Event> events = List.of(event("contract-retry", "r-1"), event("contract-retry", "r-2"));
    await(sink.accept(source(), events));
    await(sink.accept(source(), events));
    assertEquals(List.of("r-1", "r-2"), storedMessageIds("contract-retry"));
  }

  /**
   * Issue 14: an event the store cannot keep exactly (made by hand here: the edge refuses it) fails its own request
   * with a 400, a permanent error, never a retryable 503; requests stored at the same time are stored.
   */
  @Test
  void anEventTheStoreCannotKeepExactlyFailsItsRequestAloneWithA400() throws Exception {
    List<Future<Void>> innocent = new ArrayList<>();
    List<Future<Void>> bad = new ArrayList<>();
    for (int i = 0; i < 30; i++) {
      innocent.add(sink.accept(source(), List.of(event("contract-innocent-" + i, "in-" + i))));
      if (i == 15) {
        bad.add(sink.accept(source(), List.of(event("contract-poison", "p-1"), event("contract-poison", "p-\u0000"))));
      }
    }
    for (Future<Void> f : innocent) {
      await(f);
    }
    Throwable err = assertThrows(Throwable.class, () -> await(bad.get(0)));
    while (!(err instanceof GatewayException) && err.getCause() != null) {
      err = err.getCause();
    }
    GatewayException refused = assertInstanceOf(GatewayException.class, err, err.toString());
    assertEquals(400, refused.status(), refused.getMessage());
    assertEquals(List.of(), storedMessageIds("contract-poison"), "nothing of the refused request is stored");
    for (int i = 0; i < 30; i++) {
      assertEquals(List.of("in-" + i), storedMessageIds("contract-innocent-" + i));
    }
  }

  @Test
  void anEmptyRequestSucceeds() {
    await(sink.accept(source(), List.of()));
  }

  @Test
  void itIsHealthyWhileItCanStore() {
    assertTrue(await(sink.healthy()));
  }
}
