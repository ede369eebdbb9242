-- qtsp storage schema, migration 0001, PostgreSQL flavour.
-- The SQLite flavour (migrations/sqlite/0001_initial.sql) has the same tables, columns,
-- constraints and indexes; only the types differ.
--
-- Conventions (for auditors reading the database with psql):
--   * Times are TIMESTAMPTZ (microsecond precision), written in UTC.
--   * Serial numbers are the lowercase hex of the DER INTEGER content octets (positive, minimal,
--     at most 20 octets), e.g. '01f3', with the "C" collation so that they sort bytewise.
--   * Hashes, signatures and DER are BYTEA.
--   * Records that are evidence (audit journal, checkpoints, revocations, time-stamps) are
--     append-only: triggers refuse UPDATE, DELETE and TRUNCATE. A certificate row may only go
--     from 'intent' to 'issued' and is never deleted.
--   * Many qtsp nodes may share this database.

-- Raised by the append-only triggers.
CREATE FUNCTION qtsp_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'qtsp: % on % is not allowed (append-only evidence)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

-- ---------------------------------------------------------------------------------------------
-- Certificates. The CA writes ahead: a row in state 'intent' before the HSM signs, then the DER
-- and issued_at once signed. Rows left in 'intent' after a crash are found by the
-- certificates_intents index.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE certificates (
    serial_hex  TEXT COLLATE "C" NOT NULL PRIMARY KEY
                CHECK (serial_hex ~ '^[0-7][0-9a-f]([0-9a-f]{2}){0,19}$'),
    issuer      TEXT        NOT NULL CHECK (issuer <> ''),       -- CA name
    profile     TEXT        NOT NULL CHECK (profile <> ''),      -- certificate profile name
    subject     TEXT        NOT NULL,                            -- subject DN, display form
    spki_sha256 BYTEA       NOT NULL CHECK (octet_length(spki_sha256) = 32),
    not_before  TIMESTAMPTZ NOT NULL,
    not_after   TIMESTAMPTZ NOT NULL,
    state       TEXT        NOT NULL CHECK (state IN ('intent', 'issued')),
    der         BYTEA,                                           -- set when issued
    created_at  TIMESTAMPTZ NOT NULL,                            -- intent recorded
    issued_at   TIMESTAMPTZ,                                     -- DER recorded
    CHECK (not_after >= not_before),
    CHECK ((state = 'intent' AND der IS NULL AND issued_at IS NULL)
        OR (state = 'issued' AND der IS NOT NULL AND octet_length(der) > 0 AND issued_at IS NOT NULL))
);

-- Paging per issuer (certificates_by_issuer) and target of the revocations foreign key.
CREATE UNIQUE INDEX certificates_issuer_serial ON certificates (issuer, serial_hex);
-- Crash recovery: unfinished intents, oldest first.
CREATE INDEX certificates_intents ON certificates (created_at) WHERE state = 'intent';

CREATE FUNCTION qtsp_certificates_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.state = 'intent' AND NEW.state = 'issued'
       AND NEW.serial_hex = OLD.serial_hex AND NEW.issuer = OLD.issuer
       AND NEW.profile = OLD.profile AND NEW.subject = OLD.subject
       AND NEW.spki_sha256 = OLD.spki_sha256 AND NEW.not_before = OLD.not_before
       AND NEW.not_after = OLD.not_after AND NEW.created_at = OLD.created_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'qtsp: % on certificates is not allowed (only intent -> issued)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER certificates_guard BEFORE UPDATE OR DELETE ON certificates
    FOR EACH ROW EXECUTE FUNCTION qtsp_certificates_guard();
CREATE TRIGGER certificates_no_truncate BEFORE TRUNCATE ON certificates
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();

-- ---------------------------------------------------------------------------------------------
-- Revocations. Permanent (no certificateHold). id is a change number: 1, 2, 3... allocated in
-- commit order by writers serialized with a table lock, so nodes refresh their caches with
-- "id > last seen".
-- ---------------------------------------------------------------------------------------------
CREATE TABLE revocations (
    id              BIGINT      NOT NULL PRIMARY KEY CHECK (id > 0),
    serial_hex      TEXT COLLATE "C" NOT NULL UNIQUE,            -- one revocation per certificate
    issuer          TEXT        NOT NULL,                        -- copied from certificates
    reason_code     SMALLINT    NOT NULL CHECK (reason_code IN (0, 1, 2, 3, 4, 5, 9, 10)), -- RFC 5280 CRLReason
    revoked_at      TIMESTAMPTZ NOT NULL,
    invalidity_date TIMESTAMPTZ,
    FOREIGN KEY (issuer, serial_hex) REFERENCES certificates (issuer, serial_hex)
);

-- revocations(issuer): the CRL of one CA.
CREATE INDEX revocations_issuer ON revocations (issuer, id);

CREATE TRIGGER revocations_append_only BEFORE UPDATE OR DELETE ON revocations
    FOR EACH ROW EXECUTE FUNCTION qtsp_refuse_change();
CREATE TRIGGER revocations_no_truncate BEFORE TRUNCATE ON revocations
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();

-- ---------------------------------------------------------------------------------------------
-- Audit journal. seq is 1, 2, 3... without gaps; hash chains each record to the previous one
-- (computed by the audit module over the canonical payload). audit_head holds the last (seq,
-- hash) in one row; appenders lock it with SELECT ... FOR UPDATE, so the journal is strictly
-- ordered even with several nodes appending.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE audit_records (
    seq         BIGINT      NOT NULL PRIMARY KEY CHECK (seq > 0),
    recorded_at TIMESTAMPTZ NOT NULL,
    event_type  TEXT        NOT NULL CHECK (event_type <> ''),
    actor       TEXT        NOT NULL,
    payload     TEXT        NOT NULL,                            -- canonical JSON, as given
    prev_hash   BYTEA       NOT NULL CHECK (octet_length(prev_hash) > 0),
    hash        BYTEA       NOT NULL CHECK (octet_length(hash) > 0)
);

CREATE TABLE audit_head (
    id   SMALLINT NOT NULL PRIMARY KEY CHECK (id = 1),          -- exactly one row
    seq  BIGINT   NOT NULL CHECK (seq >= 0),
    hash BYTEA    NOT NULL
);

-- Genesis: seq 0, 32 zero bytes.
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- The database itself refuses a record that does not extend the head, and a head that does not
-- point at the record just appended.
CREATE FUNCTION qtsp_audit_records_extend_head() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    head_seq  BIGINT;
    head_hash BYTEA;
BEGIN
    SELECT seq, hash INTO head_seq, head_hash FROM audit_head WHERE id = 1;
    IF NEW.seq IS DISTINCT FROM head_seq + 1 OR NEW.prev_hash IS DISTINCT FROM head_hash THEN
        RAISE EXCEPTION 'qtsp: audit record % does not extend the journal head %', NEW.seq, head_seq
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER audit_records_extend_head BEFORE INSERT ON audit_records
    FOR EACH ROW EXECUTE FUNCTION qtsp_audit_records_extend_head();
CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION qtsp_refuse_change();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();

CREATE FUNCTION qtsp_audit_head_follows_records() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.id = OLD.id
       AND NEW.seq = OLD.seq + 1
       AND EXISTS (SELECT 1 FROM audit_records WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'qtsp: the audit head only moves to the next appended record'
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER audit_head_follows_records BEFORE UPDATE OR DELETE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION qtsp_audit_head_follows_records();
CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();

-- Signed checkpoints over the journal up to seq.
CREATE TABLE audit_checkpoints (
    seq         BIGINT      NOT NULL PRIMARY KEY REFERENCES audit_records (seq),
    recorded_at TIMESTAMPTZ NOT NULL,
    signature   BYTEA       NOT NULL CHECK (octet_length(signature) > 0),
    key_id      TEXT        NOT NULL CHECK (key_id <> ''),
    algorithm   TEXT        NOT NULL CHECK (algorithm <> '')
);

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION qtsp_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();

-- ---------------------------------------------------------------------------------------------
-- Time-stamp tokens issued by the TSA (one row per token; written in group commits).
-- ---------------------------------------------------------------------------------------------
CREATE TABLE timestamps (
    serial_hex      TEXT COLLATE "C" NOT NULL PRIMARY KEY
                    CHECK (serial_hex ~ '^[0-7][0-9a-f]([0-9a-f]{2}){0,19}$'),
    gen_time        TIMESTAMPTZ NOT NULL,
    policy_oid      TEXT        NOT NULL CHECK (policy_oid ~ '^[0-9.]+$'),
    hash_alg_oid    TEXT        NOT NULL CHECK (hash_alg_oid ~ '^[0-9.]+$'),
    message_imprint BYTEA       NOT NULL CHECK (octet_length(message_imprint) > 0),
    requester       TEXT,
    node_id         TEXT
);

-- Auditors ask for the tokens of a period.
CREATE INDEX timestamps_gen_time ON timestamps (gen_time);

CREATE TRIGGER timestamps_append_only BEFORE UPDATE OR DELETE ON timestamps
    FOR EACH ROW EXECUTE FUNCTION qtsp_refuse_change();
CREATE TRIGGER timestamps_no_truncate BEFORE TRUNCATE ON timestamps
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();
