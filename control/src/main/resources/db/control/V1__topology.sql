-- The cluster's topology. Every change is a new epoch; the row with the highest epoch is current.
CREATE TABLE topology (
  epoch           bigint      PRIMARY KEY,
  partition_count int         NOT NULL,
  owners          int[]       NOT NULL,    -- owners[p + 1] is the node that owns partition p (SQL arrays are 1-based)
  node_count      int         NOT NULL,
  migration       text,                    -- the migration this epoch belongs to, if any
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- Where each node listens for internal traffic (ingest from proxies, admin, metrics).
CREATE TABLE nodes (
  node_id     int         PRIMARY KEY,
  address     text        NOT NULL,       -- host:port of the internal endpoint
  updated_at  timestamptz NOT NULL DEFAULT now()
);
