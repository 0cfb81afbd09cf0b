-- The dead-letter retention (JobsDbOptions.deadLetterRetention, node flag --retention-dead-letter-days): maintenance
-- deletes dead letters aborted before the cutoff, oldest first, through this index. A row without its abort time
-- counts from its receipt.
CREATE INDEX dead_letter_expiry ON dead_letter ((coalesce(aborted_at, received_at)));
