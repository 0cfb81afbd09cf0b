-- A staged destination's batch (destinations-s3: one object), fixed here before its upload: the jobs it holds, its
-- object key and its content. A retried upload (after a failure or a crash) finds the batch of its jobs and writes
-- the same object with the same content, so an event is never in two objects and never lost; jobs of an uploaded
-- batch that come again (their outcome was not written before a crash) are delivered without a second upload.
-- The content is cleared once uploaded; uploaded rows are kept for an hour, rows never uploaded (their jobs were
-- aborted) for a week.
CREATE TABLE staged_batches (
  destination_id text NOT NULL,
  object_key text NOT NULL,
  job_ids bigint[] NOT NULL,
  first_job_id bigint NOT NULL,
  last_job_id bigint NOT NULL,
  events int NOT NULL,
  content bytea,
  created_at timestamptz NOT NULL DEFAULT now(),
  uploaded_at timestamptz,
  PRIMARY KEY (destination_id, object_key)
);
CREATE INDEX staged_batches_job_ids ON staged_batches USING gin (job_ids);
