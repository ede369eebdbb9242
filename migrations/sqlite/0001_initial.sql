-- qtsp storage schema, migration 0001, SQLite flavour.
-- The PostgreSQL flavour (migrations/postgres/0001_initial.sql) has the same tables, columns,
-- constraints and indexes; only the types differ.
--
-- Conventions (for auditors reading the file with the sqlite3 shell):
--   * Times are INTEGER microseconds since 1970-01-01T00:00:00Z (UTC). To read one:
--       SELECT strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000000.0, 'unixepoch') FROM certificates;
--     (strftime shows milliseconds; the column keeps microseconds exactly.)
--   * Serial numbers are the lowercase hex of the DER INTEGER content octets (positive, minimal,
--     at most 20 octets), e.g. '01f3'.
--   * Hashes, signatures and DER are BLOBs; read them with hex(column).
--   * Tables are STRICT: SQLite refuses values of the wrong type.
--   * Records that are evidence (audit journal, checkpoints, revocations, time-stamps) are
--     append-only: triggers refuse UPDATE and DELETE. A certificate row may only go from
--     'intent' to 'issued' and is never deleted.

-- ---------------------------------------------------------------------------------------------
-- Certificates. The CA writes ahead: a row in state 'intent' before the HSM signs, then the DER
-- and issued_at once signed. Rows left in 'intent' after a crash are found by the
-- certificates_intents index.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE certificates (
    serial_hex  TEXT    NOT NULL PRIMARY KEY
                CHECK (length(serial_hex) BETWEEN 2 AND 40
                       AND length(serial_hex) % 2 = 0
                       AND serial_hex NOT GLOB '*[^0-9a-f]*'
                       AND substr(serial_hex, 1, 1) BETWEEN '0' AND '7'),
    issuer      TEXT    NOT NULL CHECK (length(issuer) > 0),     -- CA name
    profile     TEXT    NOT NULL CHECK (length(profile) > 0),    -- certificate profile name
    subject     TEXT    NOT NULL,                                -- subject DN, display form
    spki_sha256 BLOB    NOT NULL CHECK (length(spki_sha256) = 32),
    not_before  INTEGER NOT NULL,
    not_after   INTEGER NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('intent', 'issued')),
    der         BLOB,                                            -- set when issued
    created_at  INTEGER NOT NULL,                                -- intent recorded
    issued_at   INTEGER,                                         -- DER recorded
    CHECK (not_after >= not_before),
    CHECK ((state = 'intent' AND der IS NULL AND issued_at IS NULL)
        OR (state = 'issued' AND der IS NOT NULL AND length(der) > 0 AND issued_at IS NOT NULL))
) STRICT;

-- Paging per issuer (certificates_by_issuer) and target of the revocations foreign key.
CREATE UNIQUE INDEX certificates_issuer_serial ON certificates (issuer, serial_hex);
-- Crash recovery: unfinished intents, oldest first.
CREATE INDEX certificates_intents ON certificates (created_at) WHERE state = 'intent';

CREATE TRIGGER certificates_no_delete BEFORE DELETE ON certificates
BEGIN
    SELECT RAISE(ABORT, 'qtsp: certificates are never deleted');
END;

CREATE TRIGGER certificates_only_intent_to_issued BEFORE UPDATE ON certificates
WHEN NOT (OLD.state = 'intent' AND NEW.state = 'issued'
          AND NEW.serial_hex = OLD.serial_hex AND NEW.issuer = OLD.issuer
          AND NEW.profile = OLD.profile AND NEW.subject = OLD.subject
          AND NEW.spki_sha256 = OLD.spki_sha256 AND NEW.not_before = OLD.not_before
          AND NEW.not_after = OLD.not_after AND NEW.created_at = OLD.created_at)
BEGIN
    SELECT RAISE(ABORT, 'qtsp: a certificate may only change from intent to issued');
END;

-- ---------------------------------------------------------------------------------------------
-- Revocations. Permanent (no certificateHold). id is a change number: 1, 2, 3... allocated in
-- commit order by serialized writers, so nodes refresh their caches with "id > last seen".
-- ---------------------------------------------------------------------------------------------
CREATE TABLE revocations (
    id              INTEGER NOT NULL PRIMARY KEY CHECK (id > 0),
    serial_hex      TEXT    NOT NULL UNIQUE,                     -- one revocation per certificate
    issuer          TEXT    NOT NULL,                            -- copied from certificates
    reason_code     INTEGER NOT NULL CHECK (reason_code IN (0, 1, 2, 3, 4, 5, 9, 10)), -- RFC 5280 CRLReason
    revoked_at      INTEGER NOT NULL,
    invalidity_date INTEGER,
    FOREIGN KEY (issuer, serial_hex) REFERENCES certificates (issuer, serial_hex)
) STRICT;

-- revocations(issuer): the CRL of one CA.
CREATE INDEX revocations_issuer ON revocations (issuer, id);

CREATE TRIGGER revocations_no_update BEFORE UPDATE ON revocations
BEGIN
    SELECT RAISE(ABORT, 'qtsp: revocations are permanent');
END;

CREATE TRIGGER revocations_no_delete BEFORE DELETE ON revocations
BEGIN
    SELECT RAISE(ABORT, 'qtsp: revocations are permanent');
END;

-- ---------------------------------------------------------------------------------------------
-- Audit journal. seq is 1, 2, 3... without gaps; hash chains each record to the previous one
-- (computed by the audit module over the canonical payload). audit_head holds the last (seq,
-- hash) in one row; appenders lock it (BEGIN IMMEDIATE here, SELECT ... FOR UPDATE on
-- PostgreSQL), so the journal is strictly ordered even with several writers.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE audit_records (
    seq         INTEGER NOT NULL PRIMARY KEY CHECK (seq > 0),
    recorded_at INTEGER NOT NULL,
    event_type  TEXT    NOT NULL CHECK (length(event_type) > 0),
    actor       TEXT    NOT NULL,
    payload     TEXT    NOT NULL,                                -- canonical JSON, as given
    prev_hash   BLOB    NOT NULL CHECK (length(prev_hash) > 0),
    hash        BLOB    NOT NULL CHECK (length(hash) > 0)
) STRICT;

CREATE TABLE audit_head (
    id   INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),            -- exactly one row
    seq  INTEGER NOT NULL CHECK (seq >= 0),
    hash BLOB    NOT NULL
) STRICT;

-- Genesis: seq 0, 32 zero bytes.
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, zeroblob(32));

-- The database itself refuses a record that does not extend the head...
CREATE TRIGGER audit_records_extend_head BEFORE INSERT ON audit_records
WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_head WHERE id = 1)
  OR NEW.prev_hash IS NOT (SELECT hash FROM audit_head WHERE id = 1)
BEGIN
    SELECT RAISE(ABORT, 'qtsp: audit record does not extend the journal head');
END;

CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'qtsp: the audit journal is append-only');
END;

CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN
    SELECT RAISE(ABORT, 'qtsp: the audit journal is append-only');
END;

-- ...and a head that does not point at the record just appended.
CREATE TRIGGER audit_head_follows_records BEFORE UPDATE ON audit_head
WHEN NEW.id IS NOT OLD.id
  OR NEW.seq IS NOT OLD.seq + 1
  OR NOT EXISTS (SELECT 1 FROM audit_records WHERE seq = NEW.seq AND hash = NEW.hash)
BEGIN
    SELECT RAISE(ABORT, 'qtsp: the audit head only moves to the next appended record');
END;

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'qtsp: the audit head is never deleted');
END;

-- Signed checkpoints over the journal up to seq.
CREATE TABLE audit_checkpoints (
    seq         INTEGER NOT NULL PRIMARY KEY REFERENCES audit_records (seq),
    recorded_at INTEGER NOT NULL,
    signature   BLOB    NOT NULL CHECK (length(signature) > 0),
    key_id      TEXT    NOT NULL CHECK (length(key_id) > 0),
    algorithm   TEXT    NOT NULL CHECK (length(algorithm) > 0)
) STRICT;

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'qtsp: audit checkpoints are append-only');
END;

CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'qtsp: audit checkpoints are append-only');
END;

-- ---------------------------------------------------------------------------------------------
-- Time-stamp tokens issued by the TSA (one row per token; written in group commits).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE timestamps (
    serial_hex      TEXT    NOT NULL PRIMARY KEY
                    CHECK (length(serial_hex) BETWEEN 2 AND 40
                           AND length(serial_hex) % 2 = 0
                           AND serial_hex NOT GLOB '*[^0-9a-f]*'
                           AND substr(serial_hex, 1, 1) BETWEEN '0' AND '7'),
    gen_time        INTEGER NOT NULL,
    policy_oid      TEXT    NOT NULL CHECK (length(policy_oid) > 0 AND policy_oid NOT GLOB '*[^0-9.]*'),
    hash_alg_oid    TEXT    NOT NULL CHECK (length(hash_alg_oid) > 0 AND hash_alg_oid NOT GLOB '*[^0-9.]*'),
    message_imprint BLOB    NOT NULL CHECK (length(message_imprint) > 0),
    requester       TEXT,
    node_id         TEXT
) STRICT;

-- Auditors ask for the tokens of a period.
CREATE INDEX timestamps_gen_time ON timestamps (gen_time);

CREATE TRIGGER timestamps_no_update BEFORE UPDATE ON timestamps
BEGIN
    SELECT RAISE(ABORT, 'qtsp: time-stamp records are append-only');
END;

CREATE TRIGGER timestamps_no_delete BEFORE DELETE ON timestamps
BEGIN
    SELECT RAISE(ABORT, 'qtsp: time-stamp records are append-only');
END;
