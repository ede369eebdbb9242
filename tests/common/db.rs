//! Database helpers for integration tests: a fresh, migrated storage per test on each back end.
//!
//! * [`sqlite_storage`]: a new SQLite file in a temporary directory.
//! * [`postgres_storage`]: a new database `qtsp_t_<pid>_<random hex>` on the server named by
//!   `QTSP_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`). When the
//!   server is unreachable the test is skipped with a message on stderr, except in CI
//!   (`CI=true`), where it fails loudly: the PostgreSQL tests must run there.
//! * [`storage_test!`](crate::storage_test): one test body, run on both back ends.
//!
//! Databases left by earlier runs whose process is gone are dropped on the next run (only on a
//! server on the loopback interface, where the process ids are this machine's).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use qtsp::storage::{Storage, StorageOptions};
use sqlx::{Connection, PgConnection};
use tempfile::TempDir;
use tokio::sync::OnceCell;

/// Used when `QTSP_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// Prefix of the databases the helpers create.
const DB_PREFIX: &str = "qtsp_t_";

/// Pool settings for tests: several connections, so that concurrency is real.
pub fn test_options() -> StorageOptions {
    StorageOptions {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(60),
        sqlite_busy_timeout: Duration::from_secs(60),
        ..StorageOptions::default()
    }
}

/// A fresh SQLite database file in a new temporary directory, migrated. Keep the `TempDir`
/// alive for as long as the storage is used.
pub async fn sqlite_storage() -> (Storage, TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let storage = Storage::open_sqlite(&dir.path().join("qtsp.db"), test_options())
        .await
        .expect("open SQLite storage");
    storage.migrate().await.expect("migrate SQLite storage");
    (storage, dir)
}

/// A fresh PostgreSQL database, migrated; `None` (test skipped) when the server is unreachable
/// outside CI.
pub async fn postgres_storage() -> Option<Storage> {
    postgres_storage_with_url()
        .await
        .map(|(storage, _url)| storage)
}

/// Like [`postgres_storage`], also returning the URL of the fresh database (to open a second,
/// independent pool on it, as a second process would).
pub async fn postgres_storage_with_url() -> Option<(Storage, String)> {
    let admin_url = std::env::var("QTSP_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = match PgConnection::connect(&admin_url).await {
        Ok(conn) => conn,
        Err(e) => {
            let why = format!("cannot connect to {}: {e}", shown(&admin_url));
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "\n\n*** PostgreSQL is required in CI (CI=true) but unreachable: {why}\n\
                     *** Set QTSP_TEST_POSTGRES_URL or start PostgreSQL before the tests.\n\n"
                );
            }
            eprintln!("skipping PostgreSQL test: {why}");
            return None;
        }
    };
    if is_loopback(&admin_url) {
        drop_stale_databases(&mut admin).await;
    }
    let name = fresh_database_name();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    admin.close().await.ok();
    let url = with_database(&admin_url, &name);
    let storage = Storage::connect(&url, test_options())
        .await
        .unwrap_or_else(|e| panic!("connect to {name}: {e}"));
    storage
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate {name}: {e}"));
    Some((storage, url))
}

/// `qtsp_t_<pid>_<16 hex digits>`: unique across concurrent tests and processes.
fn fresh_database_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{DB_PREFIX}{}_{:016x}", std::process::id(), hasher.finish())
}

/// Drops `qtsp_t_<pid>_*` databases whose process no longer runs (once per test process).
async fn drop_stale_databases(admin: &mut PgConnection) {
    static DONE: OnceCell<()> = OnceCell::const_new();
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    DONE.get_or_init(|| async {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'qtsp\\_t\\_%'")
                .fetch_all(&mut *admin)
                .await
                .unwrap_or_default();
        for name in names {
            let Some(pid) = name
                .strip_prefix(DB_PREFIX)
                .and_then(|rest| rest.split('_').next())
                .and_then(|pid| pid.parse::<u32>().ok())
            else {
                continue;
            };
            let valid = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid || std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            // Best effort: another test process may be dropping it at the same time.
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut *admin)
            .await;
        }
    })
    .await;
}

/// The same URL with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").expect("URL with ://");
    let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn is_loopback(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port
            .split(']')
            .next()
            .unwrap_or_default()
            .trim_start_matches('[')
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    matches!(host, "localhost" | "::1" | "") || host.starts_with("127.")
}

/// The URL without its password, for messages.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Defines a module `$name` with two tokio tests, `$name::sqlite` and `$name::postgres`, that
/// run the same `async fn $body(storage: Storage)` on a fresh database of each back end.
/// `cargo test sqlite` or `cargo test postgres` selects one back end.
#[macro_export]
macro_rules! storage_test {
    ($name:ident) => {
        $crate::storage_test!($name, $name);
    };
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let (storage, _dir) = $crate::common::db::sqlite_storage().await;
                super::$body(storage.clone()).await;
                storage.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(storage) = $crate::common::db::postgres_storage().await {
                    super::$body(storage.clone()).await;
                    storage.close().await;
                }
            }
        }
    };
}
