package io.eventpipe.gateway.http;

import io.eventpipe.gateway.EventSinkContract;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PostgresExtension;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.extension.ExtendWith;

/** The gateway tests' own sink keeps the promises of a real one, so the server tests that use it hold for those. */
@ExtendWith(PostgresExtension.class)
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class JobsDbTestSinkContractTest extends EventSinkContract {

  private GatewayFixture fx;

  @BeforeAll
  void start(PgDatabase db) {
    fx = new GatewayFixture(db);
    sink = fx.sink();
    databases.add(db);
  }

  @AfterAll
  void stop() {
    fx.close();
  }
}
