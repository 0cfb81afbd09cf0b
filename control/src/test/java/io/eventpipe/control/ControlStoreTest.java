package io.eventpipe.control;

import static io.eventpipe.testing.Waiting.eventually;
import static io.eventpipe.testing.Waiting.await;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.eventpipe.jobsdb.PgConfig;
import io.eventpipe.routing.Assignment;
import io.eventpipe.routing.Topology;
import io.eventpipe.testing.PgDatabase;
import io.eventpipe.testing.PgServer;
import io.eventpipe.testing.TcpProxy;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ControlStoreTest {

  private final Vertx vertx = Vertx.vertx();

  @AfterEach
  void close() throws Exception {
    await(vertx.close());
  }

  @Test
  void initializeIsIdempotentAndThePartitionCountIsFixed() throws Exception {
    PgDatabase db = PgServer.get().createDatabase("control_init");
    ControlStore store = await(ControlStore.open(vertx, config(db)));
    Topology first = await(store.initialize(64, 3));
    assertEquals(1, first.epoch());
    assertEquals(Assignment.compute(64, 3).ownerOf(17), first.ownerOf(17));
    assertEquals(ControlStore.UNREGISTERED, first.addressOf(2), "nodes that have not registered have no address yet");
    assertEquals(first, await(store.initialize(64, 3)), "a second initialize returns the existing topology");
    ExecutionException e = assertThrows(ExecutionException.class,
        () -> store.initialize(128, 3).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS));
    assertTrue(e.getCause().getMessage().contains("cannot change"), e.getCause().getMessage());
    await(store.closeAsync());
  }

  /** Issue 15, hole 1: the epoch and the step SWITCHED are one transaction; an abort requested first stops the switch. */
  @Test
  void theSwitchPublishesTheEpochAndRecordsTheStepTogetherAndAnAbortRequestedFirstStopsIt() throws Exception {
    PgDatabase db = PgServer.get().createDatabase("control_switch");
    ControlStore store = await(ControlStore.open(vertx, config(db)));
    Topology first = await(store.initialize(16, 2));
    int[] owners = Assignment.compute(16, 3).owners();
    Migration m = await(store.beginMigration("m2-2to3-a", 2, 3, first, owners));
    await(store.recordStep(m.id(), Migration.Step.FENCED, null));
    assertFalse(await(store.switched(m.id())));
    Topology switched = await(store.switchEpoch(m.id(), owners, 3));
    assertEquals(2, switched.epoch());
    assertEquals(Migration.Step.SWITCHED, await(store.migration(m.id())).orElseThrow().step(), "recorded with the epoch");
    assertTrue(await(store.switched(m.id())));
    assertEquals(2, await(store.switchEpoch(m.id(), owners, 3)).epoch(), "a rerun publishes nothing more");
    // the switch step finished: the migration goes on; a new one, aborted before its switch, never switches
    for (Migration.Step step : new Migration.Step[] {Migration.Step.CONFIRMED, Migration.Step.COPIED, Migration.Step.RELEASED,
        Migration.Step.FINISHED}) {
      await(store.recordStep(m.id(), step, null));
    }
    Migration back = await(store.beginMigration("m3-3to2-b", 3, 2, switched, first.owners()));
    await(store.recordStep(back.id(), Migration.Step.FENCED, null));
    await(store.requestAbort(back.id()));
    ExecutionException refused = assertThrows(ExecutionException.class,
        () -> store.switchEpoch(back.id(), first.owners(), 2).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS));
    assertTrue(refused.getCause() instanceof ControlStore.AbortRequested, refused.getCause().toString());
    assertEquals(2, await(store.current()).orElseThrow().epoch(), "nothing published");
    assertEquals(Migration.Step.FENCED, await(store.migration(back.id())).orElseThrow().step());
    assertFalse(await(store.switched(back.id())));
    await(store.closeAsync());
  }

  @Test
  void watchersFollowNewEpochsAndKeepTheLastTopologyWhileTheStoreIsDown() throws Exception {
    PgDatabase db = PgServer.get().createDatabase("control_watch");
    PgConfig direct = config(db);
    ControlStore admin = await(ControlStore.open(vertx, direct));
    await(admin.initialize(64, 2));
    await(admin.registerNode(0, "10.0.0.1:8081"));
    try (TcpProxy cut = new TcpProxy(db.host(), db.port())) {
      ControlStore viaProxy = await(ControlStore.open(vertx,
          new PgConfig(cut.host(), cut.port(), db.database(), db.user(), db.password())));
      // a long poll interval: what arrives quickly arrives by NOTIFY
      TopologyWatcher watcher = await(TopologyWatcher.start(vertx, viaProxy, Duration.ofSeconds(30)));
      assertEquals(1, watcher.current().epoch());
      assertEquals("10.0.0.1:8081", watcher.current().addressOf(0));

      int[] owners = Assignment.compute(64, 3).owners();
      await(admin.publish(owners, 3, "m1"));
      eventually("the watcher sees epoch 2 by NOTIFY", () -> watcher.current().epoch() == 2);
      assertEquals(owners[5], watcher.current().ownerOf(5));

      cut.refuse(true);
      cut.cutAll();
      await(admin.publish(Assignment.compute(64, 2).owners(), 2, "m2"));
      assertTrue(watcher.refresh().toCompletionStage().toCompletableFuture().handle((t, err) -> err != null).get());
      assertFalse(watcher.controlStoreReachable());
      assertEquals(2, watcher.current().epoch(), "the last known topology stays in force while the store is down");

      cut.refuse(false);
      assertEquals(3, await(watcher.awaitEpoch(3, Duration.ofSeconds(20))).epoch(), "it catches up once the store is back");
      assertTrue(watcher.controlStoreReachable());
      watcher.close();
      await(viaProxy.closeAsync());
    }
    await(admin.closeAsync());
  }

  private static PgConfig config(PgDatabase db) {
    return new PgConfig(db.host(), db.port(), db.database(), db.user(), db.password());
  }

}
