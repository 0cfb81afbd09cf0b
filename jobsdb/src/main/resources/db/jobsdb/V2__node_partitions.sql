-- Moving partitions are recorded once per node, in the "node" schema (node.partition_state), and checked where
-- writes commit; the per-queue flags are gone.
DROP TABLE partition_flags;
