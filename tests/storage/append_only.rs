//! Evidence is append-only in the database itself: statements run on a raw connection to change
//! or delete certificates, revocations, audit records, checkpoints or time-stamps are refused by
//! the qtsp guard triggers, and the normal operations still work afterwards.

use qtsp::storage::{
    AuditCheckpoint, CertificateState, RevocationReason, RevocationRequest, Storage,
};

use crate::common;
use crate::common::db::postgres_storage_with_url;
use crate::support::{
    ISSUER, T0, append, assert_valid_chain, der_for, insert_timestamps, intent, issue, serial,
    ts_record,
};

/// Runs one statement on a separate raw connection, as someone with database access would.
async fn tamper(url: &str, sql: &'static str) -> Result<u64, String> {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    } else {
        let mut conn = sqlx::PgConnection::connect(url)
            .await
            .map_err(|e| e.to_string())?;
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    }
}

async fn evidence_is_append_only(storage: Storage, url: &str) {
    let s = issue(&storage, 1, ISSUER).await;
    storage
        .insert_certificate_intent(&intent(serial(2), ISSUER))
        .await
        .unwrap();
    let revocation = storage
        .revoke(&RevocationRequest {
            serial: s.clone(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: T0,
            invalidity_date: None,
        })
        .await
        .unwrap();
    for i in 0..3 {
        append(&storage, format!("{{\"i\":{i}}}")).await;
    }
    let checkpoint = AuditCheckpoint {
        seq: 3,
        recorded_at: T0,
        signature: vec![1, 2, 3],
        key_id: "k".to_owned(),
        algorithm: "a".to_owned(),
    };
    storage.insert_audit_checkpoint(&checkpoint).await.unwrap();
    insert_timestamps(&storage, &[ts_record(1)]).await.unwrap();

    let mut attempts = vec![
        "UPDATE certificates SET subject = 'CN=Mallory' WHERE serial_hex = '01'",
        "UPDATE certificates SET state = 'intent', der = NULL, issued_at = NULL WHERE serial_hex = '01'",
        "UPDATE certificates SET subject = 'CN=Mallory' WHERE serial_hex = '02'",
        "DELETE FROM certificates WHERE serial_hex = '02'",
        "UPDATE revocations SET reason_code = 0",
        "DELETE FROM revocations",
        "UPDATE audit_records SET payload = '{}' WHERE seq = 2",
        "DELETE FROM audit_records WHERE seq = 3",
        "UPDATE audit_head SET seq = 1",
        "DELETE FROM audit_head",
        "UPDATE audit_checkpoints SET key_id = 'other'",
        "DELETE FROM audit_checkpoints",
        "UPDATE timestamps SET requester = 'other'",
        "DELETE FROM timestamps",
    ];
    if url.starts_with("sqlite:") {
        attempts.push(
            "INSERT INTO audit_records (seq, recorded_at, event_type, actor, payload, prev_hash, hash) \
             VALUES (5, 0, 'x', 'x', '{}', x'00', x'01')",
        );
    } else {
        attempts.extend([
            "INSERT INTO audit_records (seq, recorded_at, event_type, actor, payload, prev_hash, hash) \
             VALUES (5, now(), 'x', 'x', '{}', '\\x00', '\\x01')",
            "TRUNCATE timestamps",
            "TRUNCATE revocations",
        ]);
    }
    for sql in attempts {
        match tamper(url, sql).await {
            Ok(n) => panic!("the database accepted: {sql} ({n} rows)"),
            // Refused by a qtsp guard trigger, not by some unrelated error.
            Err(e) => assert!(e.contains("qtsp: "), "{sql}: unexpected error {e}"),
        }
    }

    // Everything is as it was, and the normal operations still work.
    let cert = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(cert.subject, "CN=Jeanne Dupont,C=FR");
    assert_eq!(cert.revocation, Some(revocation));
    assert_eq!(
        storage
            .certificate(&serial(2))
            .await
            .unwrap()
            .unwrap()
            .state,
        CertificateState::Intent
    );
    // Three appends and the time-stamp batch's record.
    assert_valid_chain(&storage, 4).await;
    assert_eq!(
        storage.latest_audit_checkpoint().await.unwrap(),
        Some(checkpoint)
    );
    assert_eq!(
        storage.timestamp(&ts_record(1).serial).await.unwrap(),
        Some(ts_record(1))
    );
    append(&storage, "{}".to_owned()).await;
    assert_valid_chain(&storage, 5).await;
    storage
        .record_issued_certificate(&serial(2), &der_for(2), T0)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evidence_is_append_only_sqlite() {
    let (storage, dir) = common::db::sqlite_storage().await;
    let url = format!("sqlite://{}", dir.path().join("qtsp.db").display());
    evidence_is_append_only(storage, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn evidence_is_append_only_postgres() {
    if let Some((storage, url)) = postgres_storage_with_url().await {
        evidence_is_append_only(storage, &url).await;
    }
}
