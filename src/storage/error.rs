//! Storage errors. Every message starts with a stable code (`DB0nn`) so that logs can be grepped
//! and operators can look it up. sqlx types appear only as `#[source]`.

use super::records::SerialError;

/// Errors of the storage layer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL scheme is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("DB001 unsupported database URL {url}: expected sqlite:, postgres: or postgresql:")]
    UnsupportedUrl {
        /// The URL with any password removed.
        url: String,
    },

    /// The database could not be opened or reached.
    #[error("DB002 cannot connect to the {backend} database at {url}")]
    Connect {
        /// Back end name.
        backend: &'static str,
        /// The URL with any password removed.
        url: String,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },

    /// Running the embedded migrations failed.
    #[error("DB003 database migration failed")]
    Migrate {
        /// Migrator error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed (connection lost, pool timeout, constraint the layer did not expect...).
    #[error("DB004 database operation {operation} failed")]
    Query {
        /// Name of the repository operation.
        operation: &'static str,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },

    /// A certificate with this serial number already exists (for any issuer).
    #[error("DB010 duplicate certificate serial {serial_hex}")]
    DuplicateSerial {
        /// Lowercase hex serial.
        serial_hex: String,
    },

    /// A time-stamp record with this serial number already exists (the whole batch was refused).
    #[error("DB011 duplicate time-stamp serial {serial_hex}")]
    DuplicateTimestampSerial {
        /// Lowercase hex serial, or `unknown` when a concurrent writer removed the evidence.
        serial_hex: String,
    },

    /// The thing looked up does not exist (or not in the state the operation needs).
    #[error("DB012 {entity} {key} not found")]
    NotFound {
        /// What was looked up, e.g. `certificate`, `issued certificate`, `audit record`.
        entity: &'static str,
        /// Its key.
        key: String,
    },

    /// The certificate is already revoked; the first revocation record is unchanged.
    #[error("DB013 certificate {serial_hex} is already revoked")]
    AlreadyRevoked {
        /// Lowercase hex serial.
        serial_hex: String,
    },

    /// The operation is not allowed in the current state (e.g. recording a certificate twice).
    #[error("DB014 {entity} {key}: {reason}")]
    Conflict {
        /// What was changed.
        entity: &'static str,
        /// Its key.
        key: String,
        /// Why the change is refused.
        reason: &'static str,
    },

    /// The caller passed a value the schema cannot hold.
    #[error("DB015 invalid {field}: {reason}")]
    InvalidInput {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },

    /// A stored value could not be decoded (wrong column type, unexpected NULL...).
    #[error("DB020 cannot decode column {column}")]
    Decode {
        /// Column name.
        column: &'static str,
        /// Driver error.
        #[source]
        source: sqlx::Error,
    },

    /// A stored value decoded but violates the schema's rules: the database was altered outside
    /// qtsp or is damaged.
    #[error("DB021 corrupt value in column {column}: {detail}")]
    Corrupt {
        /// Column name.
        column: &'static str,
        /// What is wrong.
        detail: String,
    },

    /// A stored serial number is invalid.
    #[error("DB022 corrupt serial number in column {column}")]
    CorruptSerial {
        /// Column name.
        column: &'static str,
        /// Why it is invalid.
        #[source]
        source: SerialError,
    },
}

impl StorageError {
    /// The stable code at the start of the message, e.g. `DB010`.
    pub fn code(&self) -> &'static str {
        match self {
            StorageError::UnsupportedUrl { .. } => "DB001",
            StorageError::Connect { .. } => "DB002",
            StorageError::Migrate { .. } => "DB003",
            StorageError::Query { .. } => "DB004",
            StorageError::DuplicateSerial { .. } => "DB010",
            StorageError::DuplicateTimestampSerial { .. } => "DB011",
            StorageError::NotFound { .. } => "DB012",
            StorageError::AlreadyRevoked { .. } => "DB013",
            StorageError::Conflict { .. } => "DB014",
            StorageError::InvalidInput { .. } => "DB015",
            StorageError::Decode { .. } => "DB020",
            StorageError::Corrupt { .. } => "DB021",
            StorageError::CorruptSerial { .. } => "DB022",
        }
    }

    /// True when retrying later may succeed: database unreachable, pool exhausted, I/O error,
    /// SQLite busy/locked, PostgreSQL serialization failure, deadlock or shutdown.
    pub fn is_transient(&self) -> bool {
        let source = match self {
            StorageError::Connect { source, .. } | StorageError::Query { source, .. } => source,
            _ => return false,
        };
        match source {
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(db) => {
                if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                    matches!(pg.code(), "40001" | "40P01" | "57P01" | "57P03" | "53300")
                } else if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    // Primary result codes SQLITE_BUSY (5) and SQLITE_LOCKED (6), extended or not.
                    db.code()
                        .and_then(|c| c.parse::<i32>().ok())
                        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
                } else {
                    false
                }
            }
            _ => false,
        }
    }
}
