package io.eventpipe.node.router;

import static io.eventpipe.testing.Waiting.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.JobState;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.time.Clock;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * An integration other than the webhook, found by its type name on the classpath, through the whole node: events of
 * many users fan out to a {@code postgres} destination (STAGED) beside a webhook whose server is down, and every event
 * lands in the warehouse table once while the webhook's users wait for their retries.
 */
@ExtendWith(PostgresExtension.class)
class StagedThroughTheRouterTest {

  private static long count(PgDatabase db, String sql) throws Exception {
    try (Connection c = db.connect(); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    } catch (java.sql.SQLException e) {
      return -1; // the table does not exist yet
    }
  }

  @Test
  void aPostgresDestinationGetsEveryEventOnceBesideAWebhookThatIsDown(PgDatabase db) throws Exception {
    String url = "postgresql://" + db.user() + "@" + db.host() + ":" + db.port() + "/" + db.database();
    String password = db.password() == null ? "" : ", \"password\": \"" + db.password() + "\"";
    String yaml = Workspaces.of(
        "  - {id: warehouse, type: postgres, sources: [web], config: {\"url\": \"" + url + "\"" + password
            + ", \"schema\": \"wh_router\", \"batch\": {\"maxEvents\": 200}}}",
        Workspaces.webhook("down", "{\"url\": \"http://127.0.0.1:1/never\", \"timeoutMs\": 500}"));
    try (NodeFixture node = new NodeFixture(db, "staged", Clock.systemUTC(), yaml)) {
      node.start();
      int users = 100;
      int perUser = 4;
      node.ingest(node.users("web", "u", users, perUser));
      eventually("every event in the warehouse table", () -> {
        try {
          return count(db, "SELECT count(*) FROM wh_router.track") == users * perUser;
        } catch (Exception e) {
          return false;
        }
      }, () -> "rows: " + safeCount(db));
      eventually("their jobs succeeded", () -> node.job("warehouse", "u7-4") != null
          && node.job("warehouse", "u7-4").state() == JobState.SUCCEEDED.code());
      assertEquals(users * perUser, count(db, "SELECT count(DISTINCT message_id) FROM wh_router.track"));
      assertEquals(perUser, count(db, "SELECT count(*) FROM wh_router.track WHERE routing_key = 'u7'"));
      eventually("the webhook's users wait for a retry", () -> node.job("down", "u7-1") != null
          && node.job("down", "u7-1").state() == JobState.FAILED.code());
    }
  }

  @Test
  void aStagedDestinationThatIsDownRetriesItsBatchWholeInsteadOfOneRequestPerUser(PgDatabase db) {
    String yaml = Workspaces.of("  - {id: whdown, type: postgres, sources: [web], config: {\"url\": "
        + "\"postgresql://x@127.0.0.1:1/db\", \"timeoutMs\": 1000, \"batch\": {\"maxEvents\": 500},"
        + " \"retry\": {\"initialBackoffMs\": 60000}}}");
    try (NodeFixture node = new NodeFixture(db, "stageddown", Clock.systemUTC(), yaml)) {
      node.start();
      int users = 100;
      node.ingest(node.users("web", "u", users, 1));
      eventually("the users' events failed and wait for their retry", () -> {
        for (int u : new int[] {0, 37, 63, users - 1}) {
          NodeFixture.JobRow row = node.job("whdown", "u" + u + "-1");
          if (row == null || row.state() != JobState.FAILED.code()) {
            return false;
          }
        }
        return true;
      });
      long requests = node.registry.find("router.request.latency").tag("destination", "whdown").timer().count();
      assertTrue(requests < users / 4, "a few batches, not a request per user: " + requests);
      assertTrue(node.job("whdown", "u0-1").lastError().startsWith("postgres: "), node.job("whdown", "u0-1").lastError());
    }
  }

  private static long safeCount(PgDatabase db) {
    try {
      return count(db, "SELECT count(*) FROM wh_router.track");
    } catch (Exception e) {
      return -1;
    }
  }
}
