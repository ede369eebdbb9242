-- qtsp storage schema, migration 0002, PostgreSQL flavour: CRL numbers.
-- The SQLite flavour (migrations/sqlite/0002_crl_numbers.sql) has the same table, columns and
-- constraints; only the types differ. Conventions as in 0001_initial.sql.

-- ---------------------------------------------------------------------------------------------
-- The last cRLNumber (RFC 5280 section 5.2.3) allocated for each CA, so that CRL numbers only
-- increase, across restarts and across the nodes that share this database. A number is allocated
-- (and made durable) before the HSM signs the CRL; a CRL that then fails leaves a gap, never a
-- number used twice. The row only moves forward and is never deleted.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE crl_numbers (
    issuer      TEXT        NOT NULL PRIMARY KEY CHECK (issuer <> ''), -- CA name
    last_number BIGINT      NOT NULL CHECK (last_number > 0),
    updated_at  TIMESTAMPTZ NOT NULL                                   -- last allocation
);

CREATE FUNCTION qtsp_crl_numbers_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.issuer = OLD.issuer AND NEW.last_number > OLD.last_number THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'qtsp: % on crl_numbers is not allowed (a CRL number only increases)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;

CREATE TRIGGER crl_numbers_guard BEFORE UPDATE OR DELETE ON crl_numbers
    FOR EACH ROW EXECUTE FUNCTION qtsp_crl_numbers_guard();
CREATE TRIGGER crl_numbers_no_truncate BEFORE TRUNCATE ON crl_numbers
    FOR EACH STATEMENT EXECUTE FUNCTION qtsp_refuse_change();
