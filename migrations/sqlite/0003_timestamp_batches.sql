-- qtsp storage schema, migration 0003, SQLite flavour: each time-stamp row names its batch.
-- The PostgreSQL flavour (migrations/postgres/0003_timestamp_batches.sql) has the same columns,
-- constraints and index; only the types differ. Conventions as in 0001_initial.sql.

-- ---------------------------------------------------------------------------------------------
-- The TSA records its tokens in group commits, each journaled as one `timestamp_batch` audit
-- event whose `records_sha256` covers the batch's rows in batch order. Each row now says which
-- batch it belongs to (the serial of the batch's first token, the event's `first_serial`) and
-- where in it (0 for the first token), so that `qtsp audit verify`, or an auditor with SQL,
-- recomputes every event's digest from this table. Rows written before this migration have
-- neither column; their events say so (no `batch_columns` member).
-- ---------------------------------------------------------------------------------------------
ALTER TABLE timestamps ADD COLUMN batch_first_serial TEXT
    CHECK (length(batch_first_serial) BETWEEN 2 AND 40
           AND length(batch_first_serial) % 2 = 0
           AND batch_first_serial NOT GLOB '*[^0-9a-f]*'
           AND substr(batch_first_serial, 1, 1) BETWEEN '0' AND '7');

ALTER TABLE timestamps ADD COLUMN batch_position INTEGER
    -- Both columns or neither.
    CHECK ((batch_position IS NULL) = (batch_first_serial IS NULL)
           AND (batch_position IS NULL OR batch_position >= 0));

-- The verifier reads each batch's rows in order.
CREATE INDEX timestamps_batch ON timestamps (batch_first_serial, batch_position);
