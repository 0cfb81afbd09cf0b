-- One row: how long the process that serves this database goes on delivering once it can no longer reach it.
-- A node renews its hold on the database (a query on the connection that holds the instance lock) and, when no renewal
-- has succeeded for self_fence_ms, stops delivering and aborts its requests in flight, whatever its lock connection
-- still looks like. The migrator, confirming the fence of a node that is down, waits at least this long after it saw
-- the lock free (plus a margin), so no delivery of the old owner can still be open when the new owner starts.
-- Written by the node each time it takes the lock; a database without the row was served by an older version.
CREATE TABLE self_fence (
  id            int         PRIMARY KEY CHECK (id = 1),
  self_fence_ms int         NOT NULL CHECK (self_fence_ms > 0),
  node          text        NOT NULL,
  since         timestamptz NOT NULL DEFAULT now()
);
