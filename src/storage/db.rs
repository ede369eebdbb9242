//! Internal plumbing shared by the repositories: the pool enum, the per-back-end dialect, row
//! decoding, time encoding, error mapping and URL redaction. Nothing here is public outside
//! `storage`.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Postgres, Row, Sqlite};
use time::OffsetDateTime;

use super::error::StorageError;
use super::records::{CertificateSerial, TimestampSerial};

/// The connection pool of one back end.
#[derive(Clone, Debug)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same body against whichever pool the storage holds. Inside the body, `$pool` is a
/// `&SqlitePool` or `&PgPool` and `$DB` names the database type (`Sqlite` or `Postgres`), so
/// that `<$DB as Dialect>` can supply what differs. SQL written once must be portable: both
/// back ends bind `$1, $2...` positionally (sqlx-sqlite maps `$N` to argument N).
macro_rules! with_db {
    ($db:expr, |$pool:ident, $DB:ident| $body:expr) => {
        match $db {
            $crate::storage::db::Db::Sqlite($pool) => {
                #[allow(dead_code)]
                type $DB = ::sqlx::Sqlite;
                $body
            }
            $crate::storage::db::Db::Postgres($pool) => {
                #[allow(dead_code)]
                type $DB = ::sqlx::Postgres;
                $body
            }
        }
    };
}
pub(crate) use with_db;

/// What differs between the back ends.
pub(crate) trait Dialect: sqlx::Database {
    /// How a time is bound: INTEGER microseconds on SQLite, TIMESTAMPTZ on PostgreSQL.
    type Time: Send;

    /// Statement that opens a write transaction. On SQLite, `BEGIN IMMEDIATE` takes the write
    /// lock at once (waiting up to busy_timeout), so a transaction that reads then writes can
    /// never fail half-way with SQLITE_BUSY.
    const BEGIN_WRITE: &'static str;

    /// Reads the audit head and holds it until commit.
    const SELECT_AUDIT_HEAD_FOR_UPDATE: &'static str;

    /// Serializes revocation writers so that ids are allocated in commit order (None where the
    /// write transaction already serializes everything).
    const LOCK_REVOCATIONS: Option<&'static str>;

    /// Encodes a time, already truncated to the microsecond.
    fn time(t: OffsetDateTime) -> Result<Self::Time, StorageError>;
}

impl Dialect for Sqlite {
    type Time = i64;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const SELECT_AUDIT_HEAD_FOR_UPDATE: &'static str =
        "SELECT seq, hash FROM audit_head WHERE id = 1";
    const LOCK_REVOCATIONS: Option<&'static str> = None;

    fn time(t: OffsetDateTime) -> Result<i64, StorageError> {
        to_micros(t)
    }
}

impl Dialect for Postgres {
    type Time = OffsetDateTime;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const SELECT_AUDIT_HEAD_FOR_UPDATE: &'static str =
        "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE";
    const LOCK_REVOCATIONS: Option<&'static str> =
        Some("LOCK TABLE revocations IN SHARE ROW EXCLUSIVE MODE");

    fn time(t: OffsetDateTime) -> Result<OffsetDateTime, StorageError> {
        from_micros(to_micros(t)?, "time")
    }
}

/// Microseconds since the Unix epoch, floored.
pub(crate) fn to_micros(t: OffsetDateTime) -> Result<i64, StorageError> {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000)).map_err(|_| {
        StorageError::InvalidInput {
            field: "time",
            reason: format!("{t} is out of range"),
        }
    })
}

/// The UTC time for a number of microseconds since the Unix epoch.
pub(crate) fn from_micros(us: i64, column: &'static str) -> Result<OffsetDateTime, StorageError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(us) * 1_000).map_err(|e| {
        StorageError::Corrupt {
            column,
            detail: e.to_string(),
        }
    })
}

/// Truncates a time to what the database keeps (microseconds, UTC).
pub(crate) fn truncate(t: OffsetDateTime) -> Result<OffsetDateTime, StorageError> {
    from_micros(to_micros(t)?, "time")
}

/// Truncates an optional time to what the database keeps.
pub(crate) fn truncate_opt(
    t: Option<OffsetDateTime>,
) -> Result<Option<OffsetDateTime>, StorageError> {
    t.map(truncate).transpose()
}

/// Typed column access, implemented once per back end so that record decoding is written once.
pub(crate) trait DbRow {
    fn text(&self, col: &'static str) -> Result<String, StorageError>;
    fn opt_text(&self, col: &'static str) -> Result<Option<String>, StorageError>;
    fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StorageError>;
    fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StorageError>;
    fn int(&self, col: &'static str) -> Result<i64, StorageError>;
    fn opt_int(&self, col: &'static str) -> Result<Option<i64>, StorageError>;
    fn small(&self, col: &'static str) -> Result<i16, StorageError>;
    fn time(&self, col: &'static str) -> Result<OffsetDateTime, StorageError>;
    fn opt_time(&self, col: &'static str) -> Result<Option<OffsetDateTime>, StorageError>;

    /// A non-negative integer (sequence numbers, ids).
    fn uint(&self, col: &'static str) -> Result<u64, StorageError> {
        let v = self.int(col)?;
        u64::try_from(v).map_err(|_| StorageError::Corrupt {
            column: col,
            detail: format!("negative value {v}"),
        })
    }

    fn cert_serial(&self, col: &'static str) -> Result<CertificateSerial, StorageError> {
        CertificateSerial::from_hex(&self.text(col)?).map_err(|source| {
            StorageError::CorruptSerial {
                column: col,
                source,
            }
        })
    }

    fn ts_serial(&self, col: &'static str) -> Result<TimestampSerial, StorageError> {
        TimestampSerial::from_hex(&self.text(col)?).map_err(|source| StorageError::CorruptSerial {
            column: col,
            source,
        })
    }
}

fn decode_err(column: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |source| StorageError::Decode { column, source }
}

macro_rules! impl_db_row_common {
    () => {
        fn text(&self, col: &'static str) -> Result<String, StorageError> {
            self.try_get::<String, _>(col).map_err(decode_err(col))
        }
        fn opt_text(&self, col: &'static str) -> Result<Option<String>, StorageError> {
            self.try_get::<Option<String>, _>(col)
                .map_err(decode_err(col))
        }
        fn bytes(&self, col: &'static str) -> Result<Vec<u8>, StorageError> {
            self.try_get::<Vec<u8>, _>(col).map_err(decode_err(col))
        }
        fn opt_bytes(&self, col: &'static str) -> Result<Option<Vec<u8>>, StorageError> {
            self.try_get::<Option<Vec<u8>>, _>(col)
                .map_err(decode_err(col))
        }
        fn int(&self, col: &'static str) -> Result<i64, StorageError> {
            self.try_get::<i64, _>(col).map_err(decode_err(col))
        }
        fn opt_int(&self, col: &'static str) -> Result<Option<i64>, StorageError> {
            self.try_get::<Option<i64>, _>(col).map_err(decode_err(col))
        }
        fn small(&self, col: &'static str) -> Result<i16, StorageError> {
            self.try_get::<i16, _>(col).map_err(decode_err(col))
        }
    };
}

impl DbRow for SqliteRow {
    impl_db_row_common!();

    fn time(&self, col: &'static str) -> Result<OffsetDateTime, StorageError> {
        from_micros(self.int(col)?, col)
    }
    fn opt_time(&self, col: &'static str) -> Result<Option<OffsetDateTime>, StorageError> {
        self.try_get::<Option<i64>, _>(col)
            .map_err(decode_err(col))?
            .map(|us| from_micros(us, col))
            .transpose()
    }
}

impl DbRow for PgRow {
    impl_db_row_common!();

    fn time(&self, col: &'static str) -> Result<OffsetDateTime, StorageError> {
        Ok(self
            .try_get::<OffsetDateTime, _>(col)
            .map_err(decode_err(col))?
            .to_offset(time::UtcOffset::UTC))
    }
    fn opt_time(&self, col: &'static str) -> Result<Option<OffsetDateTime>, StorageError> {
        Ok(self
            .try_get::<Option<OffsetDateTime>, _>(col)
            .map_err(decode_err(col))?
            .map(|t| t.to_offset(time::UtcOffset::UTC)))
    }
}

/// Maps a driver error to [`StorageError::Query`] for the named operation.
pub(crate) fn query_err(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StorageError {
    move |source| StorageError::Query { operation, source }
}

/// True when the error is a UNIQUE or PRIMARY KEY violation.
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

/// True when the error is a FOREIGN KEY violation.
pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.is_foreign_key_violation())
}

/// Converts a caller's u64 (sequence number, id, count) to the i64 the databases store.
pub(crate) fn to_i64(field: &'static str, v: u64) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::InvalidInput {
        field,
        reason: format!("{v} exceeds {}", i64::MAX),
    })
}

/// Removes credentials from a database URL so that it can be logged or shown in errors:
/// the password of the userinfo part and any `password`/`sslpassword` query parameter.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let tail = match url.split_once("://") {
        Some((scheme, rest)) => {
            out.push_str(scheme);
            out.push_str("://");
            // Everything before the last '@' is userinfo, even if an unencoded '/', '?' or '@'
            // hides in the password: over-redacting is harmless, leaking is not.
            match rest.rsplit_once('@') {
                Some((userinfo, tail)) => {
                    match userinfo.split_once(':') {
                        Some((user, _password)) => {
                            out.push_str(user);
                            out.push_str(":***");
                        }
                        None => out.push_str(userinfo),
                    }
                    out.push('@');
                    tail
                }
                None => rest,
            }
        }
        None => url,
    };
    match tail.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _))
                        if k.eq_ignore_ascii_case("password")
                            || k.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{k}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://qtsp:s3cr3t@db.example:5432/qtsp"),
            "postgres://qtsp:***@db.example:5432/qtsp"
        );
        assert_eq!(
            redact_url("postgresql://u:p%40ss:w@h/db?sslmode=require&password=x"),
            "postgresql://u:***@h/db?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1:5432/test"),
            "postgres://postgres@127.0.0.1:5432/test"
        );
        assert_eq!(
            redact_url("sqlite:///var/qtsp/qtsp.db"),
            "sqlite:///var/qtsp/qtsp.db"
        );
        assert_eq!(
            redact_url("sqlite:qtsp.db?mode=rwc"),
            "sqlite:qtsp.db?mode=rwc"
        );
        assert_eq!(
            redact_url("postgres://h/db?PassWord=z"),
            "postgres://h/db?PassWord=***"
        );
        assert_eq!(
            redact_url("postgres://u:pa/ss@w@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://u:p?a=b@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn micros_round_trip_and_floor() {
        let t = time::macros::datetime!(2026-03-01 12:34:56.123_456_789 UTC);
        let us = to_micros(t).unwrap();
        assert_eq!(us % 1_000_000, 123_456);
        assert_eq!(
            from_micros(us, "t").unwrap(),
            time::macros::datetime!(2026-03-01 12:34:56.123_456 UTC)
        );
        // Before the epoch the floor goes down, not toward zero.
        let t = time::macros::datetime!(1969-12-31 23:59:59.999_999_5 UTC);
        assert_eq!(to_micros(t).unwrap(), -1);
        let offset = time::macros::datetime!(2026-03-01 14:00:00 +02:00);
        assert_eq!(
            truncate(offset).unwrap(),
            time::macros::datetime!(2026-03-01 12:00:00 UTC)
        );
        assert_eq!(truncate(offset).unwrap().offset(), time::UtcOffset::UTC);
    }
}
