//! Storage layer: the only module that imports sqlx.
//!
//! [`Storage`] is a cheap-to-clone handle over either an embedded SQLite file (the default) or a
//! PostgreSQL database shared by several qtsp nodes. Repositories take and return the plain
//! domain types of [`records`]; no sqlx type crosses this module's public API (except as the
//! `#[source]` of a [`StorageError`]). Times are always passed in by the caller: this module
//! never reads the clock.
//!
//! Schema: `migrations/sqlite/NNNN_*.sql` and `migrations/postgres/NNNN_*.sql` (same logical
//! schema: 0001 initial, 0002 CRL numbers), embedded in the binary and applied by
//! [`Storage::migrate`].
//!
//! Portability: each query is written once where the SQL is portable and run on the right pool
//! by the internal `with_db!` macro. Times are INTEGER microseconds since the Unix epoch on
//! SQLite and TIMESTAMPTZ on PostgreSQL; both keep microseconds exactly.

mod audit;
mod certificates;
mod crls;
mod db;
mod error;
mod migrations;
pub mod records;
mod revocations;
mod timestamps;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Mutex, MutexGuard};

use db::{Db, redact_url, with_db};

pub use error::StorageError;
pub use records::{
    AuditCheckpoint, AuditHead, AuditRecord, Backend, BatchLines, BatchPlace, CertificateRecord,
    CertificateSerial, CertificateState, IssuedStatus, NewAuditRecord, NewCertificateIntent,
    RevocationReason, RevocationRecord, RevocationRequest, SerialError, TimestampRecord,
    TimestampRowCounts, TimestampSerial,
};

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageOptions {
    /// Maximum number of pooled connections.
    pub max_connections: u32,
    /// How long an operation waits for a free pooled connection.
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for another process's write lock.
    pub sqlite_busy_timeout: Duration,
    /// PostgreSQL only: `application_name` shown in `pg_stat_activity`.
    pub application_name: String,
}

impl Default for StorageOptions {
    fn default() -> Self {
        StorageOptions {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
            sqlite_busy_timeout: Duration::from_secs(30),
            application_name: "qtsp".to_owned(),
        }
    }
}

/// Handle to the database. Clone it freely: clones share one pool.
#[derive(Clone)]
pub struct Storage {
    db: Db,
    /// SQLite allows one writer at a time. The writes of this process queue on this fair async
    /// mutex instead of polling in SQLite's busy handler; `BEGIN IMMEDIATE` and busy_timeout
    /// still guard against other processes. Unused on PostgreSQL.
    sqlite_writer: Arc<Mutex<()>>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend())
            .finish_non_exhaustive()
    }
}

impl Storage {
    /// Opens the database named by `url`: `sqlite:PATH` / `sqlite://PATH` (file created if
    /// missing) or `postgres://...` / `postgresql://...`. Does not migrate: call
    /// [`Storage::migrate`]. The URL's password never appears in errors or logs.
    pub async fn connect(url: &str, options: StorageOptions) -> Result<Storage, StorageError> {
        let scheme = url
            .split_once(':')
            .map(|(scheme, _)| scheme.to_ascii_lowercase())
            .unwrap_or_default();
        if scheme == "sqlite" {
            let connect =
                SqliteConnectOptions::from_str(url).map_err(|source| StorageError::Connect {
                    backend: Backend::Sqlite.as_str(),
                    url: redact_url(url),
                    source,
                })?;
            Self::open_sqlite_with(connect, url, &options).await
        } else if scheme == "postgres" || scheme == "postgresql" {
            Self::open_postgres(url, &options).await
        } else {
            Err(StorageError::UnsupportedUrl {
                url: redact_url(url),
            })
        }
    }

    /// Opens (creating if missing) the SQLite database file at `path`. The parent directory
    /// must exist.
    pub async fn open_sqlite(
        path: &Path,
        options: StorageOptions,
    ) -> Result<Storage, StorageError> {
        let connect = SqliteConnectOptions::new().filename(path);
        let shown = format!("sqlite://{}", path.display());
        Self::open_sqlite_with(connect, &shown, &options).await
    }

    async fn open_sqlite_with(
        connect: SqliteConnectOptions,
        url: &str,
        options: &StorageOptions,
    ) -> Result<Storage, StorageError> {
        // WAL: readers never block the writer and vice versa.
        // synchronous=FULL: in WAL mode NORMAL may lose the last committed transactions on power
        // loss (the database stays consistent but forgets them). A QTSP writes ahead (intent,
        // audit event) before the HSM signs and relies on that record surviving, so every commit
        // is made durable. The cost is one fsync of the WAL per commit, which the TSA amortizes
        // by group-committing its tokens.
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.sqlite_busy_timeout);
        // No liveness ping before each use: the connection is a file opened in this process (its
        // failures show on the statement itself), and the ping is one more round trip to SQLite's
        // worker thread per transaction.
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .connect_with(connect)
            .await
            .map_err(|source| StorageError::Connect {
                backend: Backend::Sqlite.as_str(),
                url: redact_url(url),
                source,
            })?;
        tracing::info!(backend = "sqlite", url = %redact_url(url), "database opened");
        Ok(Storage {
            db: Db::Sqlite(pool),
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    async fn open_postgres(url: &str, options: &StorageOptions) -> Result<Storage, StorageError> {
        let connect_err = |source| StorageError::Connect {
            backend: Backend::Postgres.as_str(),
            url: redact_url(url),
            source,
        };
        let connect = PgConnectOptions::from_str(url)
            .map_err(connect_err)?
            .application_name(&options.application_name);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(connect_err)?;
        tracing::info!(backend = "postgres", url = %redact_url(url), "database opened");
        Ok(Storage {
            db: Db::Postgres(pool),
            sqlite_writer: Arc::new(Mutex::new(())),
        })
    }

    /// Applies the embedded migrations of this back end that are not applied yet. Idempotent;
    /// on PostgreSQL, concurrent callers are serialized by an advisory lock. Fails if an applied
    /// migration's checksum differs from the embedded one.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        let result = match &self.db {
            Db::Sqlite(pool) => migrations::sqlite().run(pool).await,
            Db::Postgres(pool) => migrations::postgres().run(pool).await,
        };
        result.map_err(|source| StorageError::Migrate { source })?;
        tracing::info!(backend = %self.backend(), "database schema is up to date");
        Ok(())
    }

    /// Round trip to the database (for `/health/ready`).
    pub async fn ping(&self) -> Result<(), StorageError> {
        with_db!(&self.db, |pool, DB| {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .map(|_| ())
                .map_err(db::query_err("ping"))
        })
    }

    /// Which back end this storage uses.
    pub fn backend(&self) -> Backend {
        match &self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the pool: waits for checked-out connections to come back and closes them. Every
    /// clone of this storage is closed too.
    pub async fn close(&self) {
        match &self.db {
            Db::Sqlite(pool) => pool.close().await,
            Db::Postgres(pool) => pool.close().await,
        }
    }

    /// On SQLite, queues this task behind the other writers of this process.
    async fn write_guard(&self) -> Option<MutexGuard<'_, ()>> {
        match self.db {
            Db::Sqlite(_) => Some(self.sqlite_writer.lock().await),
            Db::Postgres(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    /// The SQLite connection settings that durability and integrity rely on are in effect on
    /// pooled connections.
    #[tokio::test]
    async fn sqlite_pragmas_in_effect() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::open_sqlite(&dir.path().join("p.db"), StorageOptions::default())
            .await
            .unwrap();
        let Db::Sqlite(pool) = &storage.db else {
            panic!("not SQLite");
        };
        let mut conn = pool.acquire().await.unwrap();
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(journal, "wal");
        let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(synchronous, 2, "synchronous=FULL");
        let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(foreign_keys, 1);
        let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(busy_timeout, 30_000);
        drop(conn);
        storage.close().await;
    }

    #[tokio::test]
    async fn unsupported_scheme() {
        let err = Storage::connect("mysql://u:pw@h/db", StorageOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.code(), "DB001");
        assert_eq!(
            err.to_string(),
            "DB001 unsupported database URL mysql://u:***@h/db: expected sqlite:, postgres: or postgresql:"
        );
    }
}
