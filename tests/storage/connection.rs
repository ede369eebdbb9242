//! Connecting and migrating: idempotent migrations, a SQLite URL and reopening the file, and
//! connection errors that never show the password.

use qtsp::storage::{AuditHead, Backend, CertificateState, Storage, StorageError, StorageOptions};

use crate::common::db::test_options;
use crate::storage_test;
use crate::support::{ISSUER, issue, serial};

storage_test!(migrations_idempotent_and_ping);
async fn migrations_idempotent_and_ping(storage: Storage) {
    storage.migrate().await.unwrap();
    storage.migrate().await.unwrap();
    storage.ping().await.unwrap();
    assert_eq!(storage.audit_head().await.unwrap(), AuditHead::genesis());
    assert_eq!(storage.count_timestamps().await.unwrap(), 0);
    assert!(storage.unfinished_intents().await.unwrap().is_empty());
    assert_eq!(storage.last_revocation_id().await.unwrap(), 0);
    // A clone shares the pool.
    storage.clone().ping().await.unwrap();
    assert!(matches!(
        storage.backend(),
        Backend::Sqlite | Backend::Postgres
    ));
}

#[tokio::test]
async fn sqlite_url_and_reopen_keep_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("via-url.db");
    let url = format!("sqlite://{}", path.display());
    let storage = Storage::connect(&url, test_options()).await.unwrap();
    assert_eq!(storage.backend(), Backend::Sqlite);
    storage.migrate().await.unwrap();
    issue(&storage, 42, ISSUER).await;
    storage.close().await;

    let reopened = Storage::open_sqlite(&path, StorageOptions::default())
        .await
        .unwrap();
    reopened.migrate().await.unwrap();
    let cert = reopened.certificate(&serial(42)).await.unwrap().unwrap();
    assert_eq!(cert.state, CertificateState::Issued);
    reopened.close().await;
}

#[tokio::test]
async fn errors_never_show_passwords() {
    // Nothing listens on port 1: the connection is refused at once.
    let quick = StorageOptions {
        acquire_timeout: std::time::Duration::from_secs(2),
        ..test_options()
    };
    let err = Storage::connect("postgres://qtsp:hunter2-secret@127.0.0.1:1/qtsp", quick)
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DB002");
    assert_no_secret(&err, "hunter2-secret");
    assert!(err.to_string().contains("qtsp:***@127.0.0.1:1"), "{err}");

    let err = Storage::connect("mysql://root:hunter2-secret@db/qtsp", test_options())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "DB001");
    assert_no_secret(&err, "hunter2-secret");

    let err = Storage::connect(
        "postgres://u:hunter2-secret@h/db?sslmode=bogus",
        test_options(),
    )
    .await
    .unwrap_err();
    assert_no_secret(&err, "hunter2-secret");
}

fn assert_no_secret(err: &StorageError, secret: &str) {
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        texts.push(s.to_string());
        texts.push(format!("{s:?}"));
        source = s.source();
    }
    for t in texts {
        assert!(!t.contains(secret), "secret leaked in: {t}");
    }
}
