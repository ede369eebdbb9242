-- qtsp storage schema, migration 0002, SQLite flavour: CRL numbers.
-- The PostgreSQL flavour (migrations/postgres/0002_crl_numbers.sql) has the same table, columns and
-- constraints; only the types differ. Conventions as in 0001_initial.sql.

-- ---------------------------------------------------------------------------------------------
-- The last cRLNumber (RFC 5280 section 5.2.3) allocated for each CA, so that CRL numbers only
-- increase, across restarts and across the nodes that share this database. A number is allocated
-- (and made durable) before the HSM signs the CRL; a CRL that then fails leaves a gap, never a
-- number used twice. The row only moves forward and is never deleted.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE crl_numbers (
    issuer      TEXT    NOT NULL PRIMARY KEY CHECK (length(issuer) > 0), -- CA name
    last_number INTEGER NOT NULL CHECK (last_number > 0),
    updated_at  INTEGER NOT NULL                                          -- last allocation
) STRICT;

CREATE TRIGGER crl_numbers_only_increase BEFORE UPDATE ON crl_numbers
WHEN NEW.issuer IS NOT OLD.issuer OR NEW.last_number <= OLD.last_number
BEGIN
    SELECT RAISE(ABORT, 'qtsp: a CRL number only increases');
END;

CREATE TRIGGER crl_numbers_no_delete BEFORE DELETE ON crl_numbers
BEGIN
    SELECT RAISE(ABORT, 'qtsp: CRL numbers are never deleted');
END;
