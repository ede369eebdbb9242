//! Helpers for the audit journal tests: a clock that moves, the audit key on the shared SoftHSM2
//! test token, databases with their URL (for raw access as a DBA would have), and a record hash
//! written here from the documented formula, independently of `qtsp::audit`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use qtsp::audit::{AuditEvent, CheckpointSigner, Journal, KeyPurpose, NodeInfo};
use qtsp::clock::{Clock, SharedClock};
use qtsp::storage::{AuditRecord, CertificateSerial, RevocationReason, Storage, TimestampSerial};
use qtsp_hsm::testing::{TestToken, default_test_dir, prepare_test_token};
use qtsp_hsm::{Hsm, HsmError, KeyId, KeyRef};
use sha2::{Digest, Sha256};
use sqlx::Connection;
use tempfile::TempDir;
use time::OffsetDateTime;
use time::macros::datetime;

/// A clock that moves 1.5 ms forward each time it is read (records get distinct times).
#[derive(Debug)]
pub struct SteppingClock {
    start: OffsetDateTime,
    reads: AtomicU64,
}

impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let n = self.reads.fetch_add(1, Ordering::Relaxed);
        self.start + time::Duration::microseconds(1_500 * n as i64)
    }
}

pub fn stepping_clock() -> SharedClock {
    Arc::new(SteppingClock {
        start: datetime!(2026-11-23 08:00:00.000001 UTC),
        reads: AtomicU64::new(0),
    })
}

/// The shared test token, prepared once per process.
pub fn token() -> &'static TestToken {
    static TOKEN: OnceLock<TestToken> = OnceLock::new();
    TOKEN.get_or_init(|| prepare_test_token(&default_test_dir()).expect("prepare test token"))
}

/// CKA_ID of the audit key every audit test uses (kept on the test token between runs).
pub const AUDIT_KEY_ID: &[u8] = b"qtsp-test-audit-checkpoint-key";

/// A pool on the shared token.
pub async fn hsm() -> Hsm {
    let token = tokio::task::spawn_blocking(token).await.unwrap();
    Hsm::start(&token.config(2)).await.expect("start HSM pool")
}

/// The audit key: found on the token, or generated there by the first test that needs it.
pub async fn audit_signer(hsm: &Hsm) -> CheckpointSigner {
    audit_signer_with_id(hsm, AUDIT_KEY_ID, "qtsp-test-audit").await
}

/// An audit key with another CKA_ID (a second node, an attacker's key...).
pub async fn audit_signer_with_id(hsm: &Hsm, id: &[u8], label: &str) -> CheckpointSigner {
    let id = KeyId::new(id).unwrap();
    let key: KeyRef = match hsm.find_key(&id).await.unwrap() {
        Some(key) => key,
        None => match CheckpointSigner::generate(hsm.clone(), label, &id).await {
            Ok(signer) => return signer,
            // Another test process generated it at the same moment.
            Err(qtsp::audit::AuditError::Hsm {
                source: HsmError::KeyExists { .. },
                ..
            }) => hsm.find_key(&id).await.unwrap().expect("key exists"),
            Err(e) => panic!("generate audit key: {e}"),
        },
    };
    CheckpointSigner::new(hsm.clone(), key).await.unwrap()
}

/// A journal with the stepping clock and `signer`.
pub fn journal(storage: &Storage, signer: CheckpointSigner, node: &str) -> Journal {
    Journal::new(storage.clone(), stepping_clock(), NodeInfo::new(node))
        .with_checkpoint_signer(signer)
}

/// Event number `i` of a varied journal (every type except announcements, odd characters in
/// strings).
pub fn sample_event(i: u64) -> AuditEvent {
    let serial = CertificateSerial::from_unsigned_be(&(i + 1).to_be_bytes()).unwrap();
    match i % 8 {
        0 => AuditEvent::CertificateIntent {
            serial,
            issuer: "qtsp-qualified-ca-1".into(),
            profile: "qc-natural-person".into(),
            subject: format!("CN=Zoë \"Q\" Ångström {i}\\,O=Ex/ample,C=FR"),
        },
        1 => AuditEvent::CertificateIssued {
            serial,
            issuer: "qtsp-qualified-ca-1".into(),
            certificate_sha256: Sha256::digest(i.to_be_bytes()).into(),
        },
        2 => AuditEvent::Revocation {
            serial,
            issuer: "qtsp-qualified-ca-1".into(),
            reason: RevocationReason::KeyCompromise,
        },
        3 => AuditEvent::TimestampBatch {
            first_serial: TimestampSerial::from_unsigned_be(&(i * 100 + 1).to_be_bytes()).unwrap(),
            count: 100,
            from: datetime!(2026-11-23 09:00:00.000001 UTC),
            to: datetime!(2026-11-23 09:00:00.999999 UTC),
            records_sha256: Sha256::digest(i.to_le_bytes()).into(),
            // No rows behind it: a batch from before the rows named their batch.
            batch_columns: false,
        },
        4 => AuditEvent::KeyGenerated {
            key_label: format!("tsu-{i}"),
            key_id_hex: hex::encode(i.to_be_bytes()),
            algorithm: "ec-p256".into(),
            purpose: KeyPurpose::TimeStamping,
            spki_sha256: [0x5a; 32],
        },
        5 => AuditEvent::ConfigurationChanged {
            setting: "tsa.accuracy_ms".into(),
            old_value: Some("1000".into()),
            new_value: Some(format!("{i}\ttab\nnewline\u{1}")),
        },
        6 => AuditEvent::ClockResynchronized {
            source: "nts.example".into(),
            detail: format!("maxerror {i} us"),
        },
        _ => AuditEvent::AdminAction {
            action: "hsm_check".into(),
            target: None,
            detail: Some(format!("run {i} ✓ 😀")),
        },
    }
}

/// Appends `events` sample events, with a checkpoint after every `every` events. With
/// `every = 10` and 100 events: records 1..=110, checkpoints over 10, 21, 32, ..., 109, each
/// followed by its `checkpoint_signed` announcement.
pub async fn fill(journal: &Journal, events: u64, every: u64) {
    for i in 1..=events {
        journal
            .append(&sample_event(i), &format!("admin:opérateur-{}", i % 3))
            .await
            .unwrap();
        if i % every == 0 {
            journal
                .checkpoint_now()
                .await
                .unwrap()
                .expect("a checkpoint");
        }
    }
}

/// Every record, read in pages.
pub async fn all_records(storage: &Storage) -> Vec<AuditRecord> {
    let mut out = Vec::new();
    loop {
        let from = out.last().map_or(1, |r: &AuditRecord| r.seq + 1);
        let page = storage.audit_records(from, 1000).await.unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

// ---------------------------------------------------------------------------------------------
// The documented record hash, written again here
// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`, with the `time` crate's formatter (not the module's).
pub fn documented_time(t: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    t.to_offset(time::UtcOffset::UTC).format(&format).unwrap()
}

/// SHA-256("qtsp-audit-v1" LF seq LF recorded_at LF event_type LF actor LF hex(prev) LF payload)
pub fn documented_hash(
    seq: u64,
    recorded_at: &str,
    event_type: &str,
    actor: &str,
    prev_hash_hex: &str,
    payload: &str,
) -> String {
    let input = format!(
        "qtsp-audit-v1\n{seq}\n{recorded_at}\n{event_type}\n{actor}\n{prev_hash_hex}\n{payload}"
    );
    hex::encode(Sha256::digest(input.as_bytes()))
}

pub fn documented_hash_of(record: &AuditRecord) -> String {
    documented_hash(
        record.seq,
        &documented_time(record.recorded_at),
        &record.event_type,
        &record.actor,
        &hex::encode(&record.prev_hash),
        &record.payload,
    )
}

// ---------------------------------------------------------------------------------------------
// Databases, and raw access to them
// ---------------------------------------------------------------------------------------------

/// A fresh, migrated database and the URL to reach it directly.
pub struct TestDb {
    pub storage: Storage,
    pub url: String,
    _dir: Option<TempDir>,
}

impl TestDb {
    pub fn is_sqlite(&self) -> bool {
        self.url.starts_with("sqlite:")
    }

    /// A bytes literal in this database's SQL.
    pub fn bytes_sql(&self, bytes: &[u8]) -> String {
        if self.is_sqlite() {
            format!("X'{}'", hex::encode(bytes))
        } else {
            format!("decode('{}', 'hex')", hex::encode(bytes))
        }
    }
}

pub async fn sqlite_db() -> TestDb {
    let (storage, dir) = crate::common::db::sqlite_storage().await;
    let url = format!("sqlite://{}", dir.path().join("qtsp.db").display());
    TestDb {
        storage,
        url,
        _dir: Some(dir),
    }
}

pub async fn postgres_db() -> Option<TestDb> {
    let (storage, url) = crate::common::db::postgres_storage_with_url().await?;
    Some(TestDb {
        storage,
        url,
        _dir: None,
    })
}

/// Like `storage_test!`, for bodies that take a [`TestDb`] (they need the URL).
#[macro_export]
macro_rules! audit_db_test {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::common::audit::sqlite_db().await;
                let storage = db.storage.clone();
                super::$name(db).await;
                storage.close().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::common::audit::postgres_db().await {
                    let storage = db.storage.clone();
                    super::$name(db).await;
                    storage.close().await;
                }
            }
        }
    };
}

/// The tables whose guard triggers `tamper` drops: the journal's and the time-stamp records'.
const AUDIT_TABLES: [&str; 4] = [
    "audit_records",
    "audit_head",
    "audit_checkpoints",
    "timestamps",
];

/// Runs `statements` on a separate raw connection, as a DBA would: first drops the guard
/// triggers of the audit and time-stamp tables and the checkpoints' foreign key (SQLite: turned off for this
/// connection), then runs each statement.
pub async fn tamper(db: &TestDb, statements: &[String]) {
    if db.is_sqlite() {
        let mut conn = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
        sqlx::raw_sql("PRAGMA foreign_keys = OFF")
            .execute(&mut conn)
            .await
            .unwrap();
        let triggers: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' \
             AND tbl_name IN ('audit_records', 'audit_head', 'audit_checkpoints', 'timestamps')",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for trigger in triggers {
            run(&mut conn, format!("DROP TRIGGER {trigger}")).await;
        }
        for sql in statements {
            run(&mut conn, sql.clone()).await;
        }
        conn.close().await.unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.unwrap();
        let triggers: Vec<(String, String)> = sqlx::query_as(
            "SELECT t.tgname::text, c.relname::text FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid \
             WHERE NOT t.tgisinternal AND c.relname = ANY($1)",
        )
        .bind(AUDIT_TABLES.map(str::to_owned).to_vec())
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for (trigger, table) in triggers {
            run(&mut conn, format!("DROP TRIGGER {trigger} ON {table}")).await;
        }
        let foreign_keys: Vec<String> = sqlx::query_scalar(
            "SELECT constraint_name::text FROM information_schema.table_constraints \
             WHERE table_name = 'audit_checkpoints' AND constraint_type = 'FOREIGN KEY'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for fk in foreign_keys {
            run(
                &mut conn,
                format!("ALTER TABLE audit_checkpoints DROP CONSTRAINT {fk}"),
            )
            .await;
        }
        for sql in statements {
            run(&mut conn, sql.clone()).await;
        }
        conn.close().await.unwrap();
    }
}

async fn run<C>(conn: &mut C, sql: String)
where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Copies a directory tree (bundles are small and flat).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
