//! Storage layer tests. The same test bodies run on SQLite and on PostgreSQL
//! (`storage_test!` makes `NAME::sqlite` and `NAME::postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;

use qtsp::storage::{
    AuditCheckpoint, AuditHead, Backend, CertificateSerial, CertificateState, NewAuditRecord,
    NewCertificateIntent, RevocationReason, RevocationRequest, Storage, StorageError,
    StorageOptions, TimestampRecord, TimestampSerial,
};
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use common::db::{postgres_storage_with_url, test_options};

const ISSUER: &str = "qtsp-qualified-ca-1";
const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00.123456 UTC);

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn serial(n: u64) -> CertificateSerial {
    CertificateSerial::from_unsigned_be(&n.to_be_bytes()).unwrap()
}

fn intent(serial: CertificateSerial, issuer: &str) -> NewCertificateIntent {
    NewCertificateIntent {
        serial,
        issuer: issuer.to_owned(),
        profile: "qcp-n-qscd".to_owned(),
        subject: "CN=Jeanne Dupont,C=FR".to_owned(),
        spki_sha256: [7; 32],
        not_before: T0,
        not_after: T0 + Duration::days(3),
        created_at: T0,
    }
}

async fn issue(storage: &Storage, n: u64, issuer: &str) -> CertificateSerial {
    let s = serial(n);
    storage
        .insert_certificate_intent(&intent(s.clone(), issuer))
        .await
        .unwrap();
    storage
        .record_issued_certificate(&s, &der_for(n), T0 + Duration::seconds(1))
        .await
        .unwrap();
    s
}

fn der_for(n: u64) -> Vec<u8> {
    let mut der = vec![0x30, 0x82, 0x01, 0x00];
    der.extend_from_slice(&n.to_be_bytes());
    der
}

fn chain_hash(prev_hash: &[u8], payload: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(prev_hash)
        .chain_update(payload.as_bytes())
        .finalize()
        .to_vec()
}

/// Appends one record whose hash is sha256(prev_hash || payload).
async fn append(storage: &Storage, payload: String) -> qtsp::storage::AuditRecord {
    storage
        .append_audit(move |head: &AuditHead| NewAuditRecord {
            recorded_at: T0,
            event_type: "test.event".to_owned(),
            actor: "tester".to_owned(),
            hash: chain_hash(&head.hash, &payload),
            payload,
        })
        .await
        .unwrap()
}

/// Checks seq 1..=n without gaps, the links and the hashes of the whole journal.
async fn assert_valid_chain(storage: &Storage, n: u64) {
    let records = storage.audit_records(1, 100_000).await.unwrap();
    assert_eq!(records.len() as u64, n);
    let mut prev = vec![0u8; 32];
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r.seq, i as u64 + 1, "gap or disorder at index {i}");
        assert_eq!(r.prev_hash, prev, "broken link at seq {}", r.seq);
        assert_eq!(
            r.hash,
            chain_hash(&r.prev_hash, &r.payload),
            "bad hash at seq {}",
            r.seq
        );
        prev = r.hash.clone();
    }
    let head = storage.audit_head().await.unwrap();
    assert_eq!(head.seq, n);
    assert_eq!(head.hash, prev);
}

fn ts_record(n: u64) -> TimestampRecord {
    TimestampRecord {
        serial: TimestampSerial::from_unsigned_be(&n.to_be_bytes()).unwrap(),
        gen_time: T0 + Duration::microseconds(n as i64),
        policy_oid: "0.4.0.2023.1.1".into(),
        hash_alg_oid: "2.16.840.1.101.3.4.2.1".into(),
        message_imprint: Sha256::digest(n.to_be_bytes()).to_vec(),
        requester: n.is_multiple_of(2).then(|| format!("client-{n}")),
        node_id: n.is_multiple_of(3).then(|| "node-a".into()),
    }
}

// ---------------------------------------------------------------------------------------------
// Connection, migrations
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

storage_test!(intent_then_issued);
async fn intent_then_issued(storage: Storage) {
    let s = serial(0x1234);
    storage
        .insert_certificate_intent(&intent(s.clone(), ISSUER))
        .await
        .unwrap();

    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.serial, s);
    assert_eq!(rec.issuer, ISSUER);
    assert_eq!(rec.profile, "qcp-n-qscd");
    assert_eq!(rec.subject, "CN=Jeanne Dupont,C=FR");
    assert_eq!(rec.spki_sha256, [7; 32]);
    assert_eq!(rec.state, CertificateState::Intent);
    assert_eq!(rec.der, None);
    assert_eq!(rec.issued_at, None);
    assert_eq!(rec.created_at, T0);
    assert_eq!(rec.not_before, T0);
    assert_eq!(rec.not_after, T0 + Duration::days(3));
    assert_eq!(rec.revocation, None);

    let unfinished = storage.unfinished_intents().await.unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].serial, s);

    let issued_at = T0 + Duration::milliseconds(1500);
    storage
        .record_issued_certificate(&s, &der_for(0x1234), issued_at)
        .await
        .unwrap();
    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.state, CertificateState::Issued);
    assert_eq!(rec.der.as_deref(), Some(&der_for(0x1234)[..]));
    assert_eq!(rec.issued_at, Some(issued_at));
    assert!(storage.unfinished_intents().await.unwrap().is_empty());
    assert_eq!(storage.certificate(&serial(0x9999)).await.unwrap(), None);
}

storage_test!(invalid_certificate_transitions);
async fn invalid_certificate_transitions(storage: Storage) {
    // Unknown serial.
    let err = storage
        .record_issued_certificate(&serial(1), b"\x30\x00", T0)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    assert!(err.to_string().starts_with("DB012"), "{err}");

    // Issued twice: refused, first DER kept.
    let s = issue(&storage, 2, ISSUER).await;
    let err = storage
        .record_issued_certificate(&s, b"\x30\x01\x00", T0 + Duration::hours(1))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.der, Some(der_for(2)));
    assert_eq!(rec.issued_at, Some(T0 + Duration::seconds(1)));

    // Empty DER.
    let s3 = serial(3);
    storage
        .insert_certificate_intent(&intent(s3.clone(), ISSUER))
        .await
        .unwrap();
    let err = storage
        .record_issued_certificate(&s3, b"", T0)
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::InvalidInput { field: "der", .. }),
        "{err}"
    );
    assert_eq!(
        storage.certificate(&s3).await.unwrap().unwrap().state,
        CertificateState::Intent
    );

    // Validity inverted.
    let mut bad = intent(serial(4), ISSUER);
    bad.not_after = bad.not_before - Duration::seconds(1);
    let err = storage.insert_certificate_intent(&bad).await.unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err}");
    assert_eq!(storage.certificate(&serial(4)).await.unwrap(), None);

    // Empty issuer.
    let err = storage
        .insert_certificate_intent(&intent(serial(5), ""))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::InvalidInput {
                field: "issuer",
                ..
            }
        ),
        "{err}"
    );
}

storage_test!(duplicate_serial_rejected);
async fn duplicate_serial_rejected(storage: Storage) {
    let s = serial(0xabcdef);
    storage
        .insert_certificate_intent(&intent(s.clone(), ISSUER))
        .await
        .unwrap();
    // Same issuer, and another issuer: serials are globally unique.
    for issuer in [ISSUER, "another-ca"] {
        let err = storage
            .insert_certificate_intent(&intent(s.clone(), issuer))
            .await
            .unwrap_err();
        match &err {
            StorageError::DuplicateSerial { serial_hex } => assert_eq!(serial_hex, "00abcdef"),
            other => panic!("expected DuplicateSerial, got {other:?}"),
        }
        assert_eq!(err.code(), "DB010");
    }
    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.issuer, ISSUER);
}

storage_test!(duplicate_serial_concurrent);
async fn duplicate_serial_concurrent(storage: Storage) {
    let s = serial(0x77);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let storage = storage.clone();
            let s = s.clone();
            tokio::spawn(async move {
                let mut it = intent(s, ISSUER);
                it.subject = format!("CN=task {i}");
                storage.insert_certificate_intent(&it).await
            })
        })
        .collect();
    let mut ok = 0;
    let mut duplicates = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StorageError::DuplicateSerial { .. }) => duplicates += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((ok, duplicates), (1, 19));
    assert_eq!(storage.unfinished_intents().await.unwrap().len(), 1);
}

storage_test!(certificates_by_issuer_paging);
async fn certificates_by_issuer_paging(storage: Storage) {
    for n in 1..=25u64 {
        storage
            .insert_certificate_intent(&intent(serial(n * 1000), ISSUER))
            .await
            .unwrap();
    }
    for n in 1..=5u64 {
        issue(&storage, n * 1000 + 1, "other-ca").await;
    }
    let mut seen = Vec::new();
    let mut after: Option<CertificateSerial> = None;
    loop {
        let page = storage
            .certificates_by_issuer(ISSUER, after.as_ref(), 10)
            .await
            .unwrap();
        assert!(page.len() <= 10);
        if page.is_empty() {
            break;
        }
        assert!(page.iter().all(|c| c.issuer == ISSUER));
        after = page.last().map(|c| c.serial.clone());
        seen.extend(page.into_iter().map(|c| c.serial.to_hex()));
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted, "pages are ordered and disjoint");
    let other = storage
        .certificates_by_issuer("other-ca", None, 100)
        .await
        .unwrap();
    assert_eq!(other.len(), 5);
    assert!(other.iter().all(|c| c.state == CertificateState::Issued));
}

// ---------------------------------------------------------------------------------------------
// Revocations
// ---------------------------------------------------------------------------------------------

storage_test!(revocation_reasons_round_trip);
async fn revocation_reasons_round_trip(storage: Storage) {
    for (i, reason) in RevocationReason::ALL.into_iter().enumerate() {
        let n = 100 + i as u64;
        let s = issue(&storage, n, ISSUER).await;
        let revoked_at = T0 + Duration::minutes(i as i64) + Duration::microseconds(1);
        let invalidity_date = (i % 2 == 0).then(|| T0 - Duration::days(1));
        let rec = storage
            .revoke(&RevocationRequest {
                serial: s.clone(),
                reason,
                revoked_at,
                invalidity_date,
            })
            .await
            .unwrap();
        assert_eq!(rec.id, i as u64 + 1);
        assert_eq!(rec.reason, reason);
        assert_eq!(rec.issuer, ISSUER);
        let stored = storage.certificate(&s).await.unwrap().unwrap();
        assert_eq!(stored.revocation.as_ref(), Some(&rec));
        assert_eq!(stored.revocation.unwrap().revoked_at, revoked_at);
        assert_eq!(rec.invalidity_date, invalidity_date);
        assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
    }
    let all = storage.revocations(ISSUER).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.reason).collect::<Vec<_>>(),
        RevocationReason::ALL.to_vec()
    );
    assert!(storage.revocations("other-ca").await.unwrap().is_empty());
    // certificateHold and removeFromCRL do not exist here.
    assert_eq!(RevocationReason::from_code(6), None);
    assert_eq!(RevocationReason::from_code(8), None);
}

storage_test!(revoke_twice_keeps_first_record);
async fn revoke_twice_keeps_first_record(storage: Storage) {
    let s = issue(&storage, 7, ISSUER).await;
    let first = storage
        .revoke(&RevocationRequest {
            serial: s.clone(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: T0,
            invalidity_date: Some(T0 - Duration::hours(2)),
        })
        .await
        .unwrap();
    let err = storage
        .revoke(&RevocationRequest {
            serial: s.clone(),
            reason: RevocationReason::Superseded,
            revoked_at: T0 + Duration::days(1),
            invalidity_date: None,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyRevoked { .. }), "{err}");
    assert_eq!(err.code(), "DB013");
    let stored = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(stored.revocation, Some(first.clone()));
    assert_eq!(storage.revocations(ISSUER).await.unwrap(), vec![first]);
    assert_eq!(storage.last_revocation_id().await.unwrap(), 1);
}

storage_test!(revoke_unknown_or_intent_refused);
async fn revoke_unknown_or_intent_refused(storage: Storage) {
    let request = |s: CertificateSerial| RevocationRequest {
        serial: s,
        reason: RevocationReason::Unspecified,
        revoked_at: T0,
        invalidity_date: None,
    };
    let err = storage.revoke(&request(serial(404))).await.unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");

    let s = serial(405);
    storage
        .insert_certificate_intent(&intent(s.clone(), ISSUER))
        .await
        .unwrap();
    let err = storage.revoke(&request(s.clone())).await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::NotFound {
                entity: "issued certificate",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        storage.certificate(&s).await.unwrap().unwrap().revocation,
        None
    );
    assert!(storage.revocations(ISSUER).await.unwrap().is_empty());
    assert_eq!(storage.last_revocation_id().await.unwrap(), 0);
}

storage_test!(revocations_changed_since);
async fn revocations_changed_since(storage: Storage) {
    for n in 1..=10u64 {
        issue(&storage, n, if n % 2 == 0 { ISSUER } else { "other-ca" }).await;
    }
    // Concurrent revocations still get ids 1..=10 without gaps.
    let tasks: Vec<_> = (1..=10u64)
        .map(|n| {
            let storage = storage.clone();
            tokio::spawn(async move {
                storage
                    .revoke(&RevocationRequest {
                        serial: serial(n),
                        reason: RevocationReason::CessationOfOperation,
                        revoked_at: T0 + Duration::seconds(n as i64),
                        invalidity_date: None,
                    })
                    .await
                    .unwrap()
                    .id
            })
        })
        .collect();
    let mut ids = BTreeSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap());
    }
    assert_eq!(ids, (1..=10).collect());

    let all = storage.revocations_changed_since(0, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        (1..=10).collect::<Vec<_>>()
    );
    let tail = storage.revocations_changed_since(7, 100).await.unwrap();
    assert_eq!(
        tail.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![8, 9, 10]
    );
    let page = storage.revocations_changed_since(2, 3).await.unwrap();
    assert_eq!(page.iter().map(|r| r.id).collect::<Vec<_>>(), vec![3, 4, 5]);
    assert!(
        storage
            .revocations_changed_since(10, 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(storage.last_revocation_id().await.unwrap(), 10);
    assert_eq!(storage.revocations(ISSUER).await.unwrap().len(), 5);
    assert_eq!(storage.revocations("other-ca").await.unwrap().len(), 5);

    // A new revocation shows up after the last id seen.
    issue(&storage, 11, ISSUER).await;
    storage
        .revoke(&RevocationRequest {
            serial: serial(11),
            reason: RevocationReason::AffiliationChanged,
            revoked_at: T0,
            invalidity_date: None,
        })
        .await
        .unwrap();
    let news = storage.revocations_changed_since(10, 100).await.unwrap();
    assert_eq!(news.len(), 1);
    assert_eq!(news[0].id, 11);
    assert_eq!(news[0].serial, serial(11));
}

// ---------------------------------------------------------------------------------------------
// Audit journal
// ---------------------------------------------------------------------------------------------

storage_test!(audit_concurrent_appends_form_a_chain);
async fn audit_concurrent_appends_form_a_chain(storage: Storage) {
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let storage = storage.clone();
            tokio::spawn(async move { append(&storage, format!("{{\"i\":{i}}}")).await.seq })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in tasks {
        assert!(seqs.insert(t.await.unwrap()), "a seq was handed out twice");
    }
    assert_eq!(seqs, (1..=200).collect());
    assert_valid_chain(&storage, 200).await;
}

storage_test!(audit_records_paging_and_content);
async fn audit_records_paging_and_content(storage: Storage) {
    let first = append(&storage, r#"{"a":1}"#.to_owned()).await;
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, vec![0u8; 32]);
    assert_eq!(first.recorded_at, T0);
    for i in 2..=30 {
        append(&storage, format!("{{\"a\":{i}}}")).await;
    }
    let page = storage.audit_records(11, 10).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (11..=20).collect::<Vec<_>>()
    );
    assert_eq!(page[0].payload, r#"{"a":11}"#);
    assert_eq!(page[0].event_type, "test.event");
    assert_eq!(page[0].actor, "tester");
    assert!(storage.audit_records(31, 10).await.unwrap().is_empty());
    assert_eq!(storage.audit_records(0, 1).await.unwrap()[0], first);
    assert_valid_chain(&storage, 30).await;

    // A builder that returns an unusable record leaves the journal untouched.
    let err = storage
        .append_audit(|_| NewAuditRecord {
            recorded_at: T0,
            event_type: String::new(),
            actor: "x".to_owned(),
            payload: "{}".to_owned(),
            hash: vec![1],
        })
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err}");
    assert_eq!(storage.audit_head().await.unwrap().seq, 30);
    assert_eq!(append(&storage, "{}".to_owned()).await.seq, 31);
}

storage_test!(audit_checkpoints);
async fn audit_checkpoints(storage: Storage) {
    for i in 0..5 {
        append(&storage, format!("{{\"n\":{i}}}")).await;
    }
    assert_eq!(storage.latest_audit_checkpoint().await.unwrap(), None);
    let checkpoint = |seq| AuditCheckpoint {
        seq,
        recorded_at: T0 + Duration::seconds(seq as i64),
        signature: vec![0x30, 0x45, seq as u8],
        key_id: "audit-key-1".to_owned(),
        algorithm: "ecdsa-with-SHA256".to_owned(),
    };
    assert_eq!(
        storage
            .insert_audit_checkpoint(&checkpoint(2))
            .await
            .unwrap(),
        checkpoint(2)
    );
    storage
        .insert_audit_checkpoint(&checkpoint(5))
        .await
        .unwrap();

    let err = storage
        .insert_audit_checkpoint(&checkpoint(5))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
    let err = storage
        .insert_audit_checkpoint(&checkpoint(6))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    let mut empty_sig = checkpoint(3);
    empty_sig.signature.clear();
    let err = storage
        .insert_audit_checkpoint(&empty_sig)
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err}");

    assert_eq!(
        storage.audit_checkpoints(0, 10).await.unwrap(),
        vec![checkpoint(2), checkpoint(5)]
    );
    assert_eq!(
        storage.audit_checkpoints(3, 10).await.unwrap(),
        vec![checkpoint(5)]
    );
    assert_eq!(
        storage.latest_audit_checkpoint().await.unwrap(),
        Some(checkpoint(5))
    );
}

/// Two independent pools on one PostgreSQL database behave like two qtsp processes: their
/// concurrent appends still form one gap-free chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_two_instances_postgres() {
    let Some((a, url)) = postgres_storage_with_url().await else {
        return;
    };
    let b = Storage::connect(&url, test_options()).await.unwrap();
    b.migrate().await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let storage = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { append(&storage, format!("{{\"p\":{i}}}")).await.seq })
        })
        .collect();
    let mut seqs = BTreeSet::new();
    for t in tasks {
        assert!(seqs.insert(t.await.unwrap()));
    }
    assert_eq!(seqs, (1..=200).collect());
    assert_valid_chain(&a, 200).await;
    assert_valid_chain(&b, 200).await;
    a.close().await;
    b.close().await;
}

// ---------------------------------------------------------------------------------------------
// Time-stamps
// ---------------------------------------------------------------------------------------------

storage_test!(timestamp_batch_of_1000);
async fn timestamp_batch_of_1000(storage: Storage) {
    let batch: Vec<_> = (1..=1000).map(ts_record).collect();
    storage.insert_timestamp_records(&batch).await.unwrap();
    assert_eq!(storage.count_timestamps().await.unwrap(), 1000);
    for r in &batch {
        assert_eq!(
            storage.timestamp(&r.serial).await.unwrap().as_ref(),
            Some(r)
        );
    }
    storage.insert_timestamp_records(&[]).await.unwrap();

    // A batch with one serial already stored is refused whole.
    let mut again: Vec<_> = (1001..=1010).map(ts_record).collect();
    again.push(ts_record(500));
    let err = storage.insert_timestamp_records(&again).await.unwrap_err();
    match &err {
        StorageError::DuplicateTimestampSerial { serial_hex } => {
            assert_eq!(serial_hex, &ts_record(500).serial.to_hex());
        }
        other => panic!("expected DuplicateTimestampSerial, got {other:?}"),
    }
    assert_eq!(storage.count_timestamps().await.unwrap(), 1000);
    assert_eq!(
        storage.timestamp(&ts_record(1001).serial).await.unwrap(),
        None
    );

    // A serial twice in one batch, and a malformed OID, are refused before writing.
    let twice = vec![ts_record(2000), ts_record(2000)];
    let err = storage.insert_timestamp_records(&twice).await.unwrap_err();
    assert!(
        matches!(err, StorageError::DuplicateTimestampSerial { .. }),
        "{err}"
    );
    let mut bad = ts_record(2001);
    bad.policy_oid = "not an oid".into();
    let err = storage.insert_timestamp_records(&[bad]).await.unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::InvalidInput {
                field: "policy_oid",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(storage.count_timestamps().await.unwrap(), 1000);

    // Concurrent group commits.
    let tasks: Vec<_> = (0..4u64)
        .map(|k| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let batch: Vec<_> = (0..250).map(|i| ts_record(10_000 + k * 1000 + i)).collect();
                storage.insert_timestamp_records(&batch).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(storage.count_timestamps().await.unwrap(), 2000);
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

storage_test!(times_round_trip_to_the_microsecond);
async fn times_round_trip_to_the_microsecond(storage: Storage) {
    let cases = [
        datetime!(2026-11-23 10:00:00.000001 UTC),
        datetime!(2026-11-23 10:00:00.999999 UTC),
        datetime!(1969-12-31 23:59:59.999999 UTC),
        datetime!(1950-01-01 00:00:00 UTC),
        datetime!(2049-12-31 23:59:59.999999 UTC),
        datetime!(9999-12-31 23:59:59.999999 UTC),
        datetime!(2000-01-01 00:00:00 UTC),
    ];
    for (i, t) in cases.into_iter().enumerate() {
        let s = serial(5000 + i as u64);
        let mut it = intent(s.clone(), ISSUER);
        it.not_before = t;
        it.not_after = t;
        it.created_at = t;
        storage.insert_certificate_intent(&it).await.unwrap();
        let rec = storage.certificate(&s).await.unwrap().unwrap();
        assert_eq!(
            (rec.not_before, rec.not_after, rec.created_at),
            (t, t, t),
            "case {t}"
        );
        assert_eq!(rec.created_at.offset(), time::UtcOffset::UTC);
    }

    // Sub-microsecond parts are floored; other offsets come back as the same instant in UTC.
    let s = serial(6000);
    let mut it = intent(s.clone(), ISSUER);
    it.created_at = datetime!(2026-11-23 12:00:00.123456789 +02:00);
    storage.insert_certificate_intent(&it).await.unwrap();
    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.created_at, datetime!(2026-11-23 10:00:00.123456 UTC));
    assert_eq!(rec.created_at.offset(), time::UtcOffset::UTC);

    // Ordering holds at one-microsecond distance (unfinished intents are oldest first).
    let base = datetime!(2030-01-01 00:00:00 UTC);
    for (k, n) in [3u64, 1, 2].into_iter().enumerate() {
        let mut it = intent(serial(7000 + k as u64), "ordering-ca");
        it.created_at = base + Duration::microseconds(n as i64);
        storage.insert_certificate_intent(&it).await.unwrap();
    }
    let order: Vec<_> = storage
        .unfinished_intents()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.issuer == "ordering-ca")
        .map(|c| (c.created_at - base).whole_microseconds())
        .collect();
    assert_eq!(order, vec![1, 2, 3]);

    // Time-stamp genTime and audit recorded_at keep microseconds too.
    let mut ts = ts_record(1);
    ts.gen_time = datetime!(2026-11-23 10:00:00.654321 UTC);
    storage
        .insert_timestamp_records(std::slice::from_ref(&ts))
        .await
        .unwrap();
    assert_eq!(
        storage
            .timestamp(&ts.serial)
            .await
            .unwrap()
            .unwrap()
            .gen_time,
        ts.gen_time
    );
    let rec = storage
        .append_audit(|head| NewAuditRecord {
            recorded_at: datetime!(2026-11-23 10:00:00.000007 UTC),
            event_type: "t".to_owned(),
            actor: "a".to_owned(),
            payload: "{}".to_owned(),
            hash: chain_hash(&head.hash, "{}"),
        })
        .await
        .unwrap();
    assert_eq!(
        storage.audit_records(rec.seq, 1).await.unwrap()[0].recorded_at,
        datetime!(2026-11-23 10:00:00.000007 UTC)
    );
}

// ---------------------------------------------------------------------------------------------
// Serial numbers
// ---------------------------------------------------------------------------------------------

#[test]
fn serial_rules() {
    assert_eq!(serial(0x80).to_hex(), "0080");
    assert_eq!(serial(0x7f).to_hex(), "7f");
    assert_eq!(
        CertificateSerial::from_hex("0080").unwrap().as_bytes(),
        &[0, 0x80]
    );
    assert!(CertificateSerial::from_unsigned_be(&[0, 0, 0]).is_err());
    assert!(CertificateSerial::from_der_content(vec![]).is_err());
    assert!(CertificateSerial::from_der_content(vec![0x80]).is_err());
    assert!(CertificateSerial::from_der_content(vec![0x00]).is_err());
    assert!(CertificateSerial::from_der_content(vec![0x00, 0x7f]).is_err());
    assert!(CertificateSerial::from_der_content(vec![0x01; 21]).is_err());
    assert!(CertificateSerial::from_der_content(vec![0x01; 20]).is_ok());
    assert!(CertificateSerial::from_unsigned_be(&[0xff; 20]).is_err());
    assert!(CertificateSerial::from_unsigned_be(&[0x7f; 20]).is_ok());
    assert!(CertificateSerial::from_hex("0A").is_err());
    assert!(CertificateSerial::from_hex("abc").is_err());
    let json = serde_json::to_string(&serial(0xbeef)).unwrap();
    assert_eq!(json, "\"00beef\"");
    let back: CertificateSerial = serde_json::from_str(&json).unwrap();
    assert_eq!(back, serial(0xbeef));
    assert_eq!(format!("{}", serial(0x10)), "10");
}

// ---------------------------------------------------------------------------------------------
// Evidence is append-only in the database itself
// ---------------------------------------------------------------------------------------------

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
    storage
        .insert_timestamp_records(&[ts_record(1)])
        .await
        .unwrap();

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
    assert_valid_chain(&storage, 3).await;
    assert_eq!(
        storage.latest_audit_checkpoint().await.unwrap(),
        Some(checkpoint)
    );
    assert_eq!(
        storage.timestamp(&ts_record(1).serial).await.unwrap(),
        Some(ts_record(1))
    );
    append(&storage, "{}".to_owned()).await;
    assert_valid_chain(&storage, 4).await;
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

storage_test!(timestamp_batch_and_its_audit_record_commit_together);
async fn timestamp_batch_and_its_audit_record_commit_together(storage: Storage) {
    let batch_event = |payload: &'static str| {
        move |head: &AuditHead| NewAuditRecord {
            recorded_at: T0,
            event_type: "timestamp_batch".to_owned(),
            actor: "tsa".to_owned(),
            hash: chain_hash(&head.hash, payload),
            payload: payload.to_owned(),
        }
    };
    let first: Vec<_> = (1..=300).map(ts_record).collect();
    let record = storage
        .insert_timestamp_batch(&first, batch_event("batch 1"))
        .await
        .unwrap();
    assert_eq!(record.seq, 1);
    assert_eq!(storage.count_timestamps().await.unwrap(), 300);
    assert_valid_chain(&storage, 1).await;

    // A duplicate serial refuses the rows *and* the audit record: neither is written.
    let mut again: Vec<_> = (301..=310).map(ts_record).collect();
    again.push(ts_record(7));
    let err = storage
        .insert_timestamp_batch(&again, batch_event("batch 2"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::DuplicateTimestampSerial { ref serial_hex } if *serial_hex == ts_record(7).serial.to_hex()),
        "{err}"
    );
    assert_eq!(storage.count_timestamps().await.unwrap(), 300);
    assert_valid_chain(&storage, 1).await;

    // An empty batch is a caller's mistake, not a silent audit record.
    assert!(matches!(
        storage
            .insert_timestamp_batch(&[], batch_event("empty"))
            .await
            .unwrap_err(),
        StorageError::InvalidInput { .. }
    ));

    // Concurrent batches and plain appends form one chain.
    let tasks: Vec<_> = (0..4u64)
        .map(|k| {
            let storage = storage.clone();
            tokio::spawn(async move {
                let batch: Vec<_> = (0..50).map(|i| ts_record(20_000 + k * 100 + i)).collect();
                storage
                    .insert_timestamp_batch(&batch, batch_event("concurrent"))
                    .await
                    .unwrap();
                append(&storage, format!("plain {k}")).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(storage.count_timestamps().await.unwrap(), 500);
    assert_valid_chain(&storage, 9).await;
}

// ---------------------------------------------------------------------------------------------
// CRL numbers
// ---------------------------------------------------------------------------------------------

storage_test!(crl_numbers_only_increase_per_issuer);
async fn crl_numbers_only_increase_per_issuer(storage: Storage) {
    assert_eq!(storage.last_crl_number(ISSUER).await.unwrap(), 0);
    assert_eq!(storage.next_crl_number(ISSUER, T0).await.unwrap(), 1);
    assert_eq!(storage.next_crl_number(ISSUER, T0).await.unwrap(), 2);
    // Each CA counts on its own.
    assert_eq!(storage.next_crl_number("other-ca", T0).await.unwrap(), 1);
    assert_eq!(storage.last_crl_number(ISSUER).await.unwrap(), 2);
    assert_eq!(storage.last_crl_number("other-ca").await.unwrap(), 1);

    // Concurrent allocations get distinct numbers, without gaps.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { storage.next_crl_number(ISSUER, T0).await.unwrap() })
        })
        .collect();
    let mut numbers = BTreeSet::new();
    for t in tasks {
        assert!(numbers.insert(t.await.unwrap()), "a number was given twice");
    }
    assert_eq!(numbers, (3..=18).collect());
    assert_eq!(storage.last_crl_number(ISSUER).await.unwrap(), 18);

    let err = storage.next_crl_number("", T0).await.unwrap_err();
    assert_eq!(err.code(), "DB015");
}

storage_test!(last_revocation_id_per_issuer);
async fn last_revocation_id_per_issuer(storage: Storage) {
    assert_eq!(storage.last_revocation_id_of(ISSUER).await.unwrap(), 0);
    for n in 1..=3u64 {
        issue(&storage, n, if n == 2 { "other-ca" } else { ISSUER }).await;
        storage
            .revoke(&RevocationRequest {
                serial: serial(n),
                reason: RevocationReason::KeyCompromise,
                revoked_at: T0,
                invalidity_date: None,
            })
            .await
            .unwrap();
    }
    assert_eq!(storage.last_revocation_id_of(ISSUER).await.unwrap(), 3);
    assert_eq!(storage.last_revocation_id_of("other-ca").await.unwrap(), 2);
    assert_eq!(storage.last_revocation_id_of("nobody").await.unwrap(), 0);
}

storage_test!(revocations_of_one_issuer_since_a_mark);
async fn revocations_of_one_issuer_since_a_mark(storage: Storage) {
    assert!(
        storage
            .revocations_of_since(ISSUER, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Ids 1..=6, alternating between two CAs.
    for n in 1..=6u64 {
        issue(&storage, n, if n % 2 == 0 { "other-ca" } else { ISSUER }).await;
        storage
            .revoke(&RevocationRequest {
                serial: serial(n),
                reason: RevocationReason::Superseded,
                revoked_at: T0,
                invalidity_date: None,
            })
            .await
            .unwrap();
    }
    let ids = |records: Vec<qtsp::storage::RevocationRecord>| {
        records.iter().map(|r| r.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(storage.revocations_of_since(ISSUER, 0, 10).await.unwrap()),
        vec![1, 3, 5]
    );
    // Strictly after the mark, only this CA's, in id order.
    let since = storage.revocations_of_since(ISSUER, 3, 10).await.unwrap();
    assert_eq!(since.len(), 1);
    assert_eq!((since[0].id, &since[0].serial), (5, &serial(5)));
    assert_eq!(since[0].issuer, ISSUER);
    assert_eq!(
        ids(storage
            .revocations_of_since("other-ca", 1, 10)
            .await
            .unwrap()),
        vec![2, 4, 6]
    );
    // The limit keeps the oldest first: a caller asking for limit + 1 sees that more exist.
    assert_eq!(
        ids(storage
            .revocations_of_since("other-ca", 0, 2)
            .await
            .unwrap()),
        vec![2, 4]
    );
    assert!(
        storage
            .revocations_of_since(ISSUER, 5, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        storage
            .revocations_of_since("nobody", 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let error = storage
        .revocations_of_since(ISSUER, u64::MAX, 10)
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            StorageError::InvalidInput {
                field: "after_id",
                ..
            }
        ),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// Revocation and its audit record in one transaction
// ---------------------------------------------------------------------------------------------

storage_test!(revocation_and_its_audit_record_commit_together);
async fn revocation_and_its_audit_record_commit_together(storage: Storage) {
    let event = |event_type: &'static str, payload: &'static str| {
        move |head: &AuditHead| NewAuditRecord {
            recorded_at: T0,
            event_type: event_type.to_owned(),
            actor: "operator".to_owned(),
            hash: chain_hash(&head.hash, payload),
            payload: payload.to_owned(),
        }
    };
    let request = |s: CertificateSerial| RevocationRequest {
        serial: s,
        reason: RevocationReason::KeyCompromise,
        revoked_at: T0,
        invalidity_date: None,
    };
    let s = issue(&storage, 9001, ISSUER).await;

    // An audit record the journal refuses (empty event type) rolls the revocation back.
    let err = storage
        .revoke_with_audit(&request(s.clone()), ISSUER, event("", "bad"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::InvalidInput { .. }), "{err}");
    assert!(
        storage
            .certificate(&s)
            .await
            .unwrap()
            .unwrap()
            .revocation
            .is_none()
    );
    assert_eq!(storage.last_revocation_id().await.unwrap(), 0);
    assert_valid_chain(&storage, 0).await;

    // Another issuer than the one the event names: refused, nothing written.
    let err = storage
        .revoke_with_audit(
            &request(s.clone()),
            "someone-else",
            event("revocation", "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict { .. }), "{err}");
    assert_eq!(storage.last_revocation_id().await.unwrap(), 0);
    assert_valid_chain(&storage, 0).await;

    // Both, in one commit.
    let (revocation, audit) = storage
        .revoke_with_audit(&request(s.clone()), ISSUER, event("revocation", "first"))
        .await
        .unwrap();
    assert_eq!(revocation.id, 1);
    assert_eq!(revocation.issuer, ISSUER);
    assert_eq!(audit.seq, 1);
    assert_eq!(audit.event_type, "revocation");
    assert_valid_chain(&storage, 1).await;

    // Again: already revoked, and no second audit record.
    let err = storage
        .revoke_with_audit(&request(s.clone()), ISSUER, event("revocation", "second"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::AlreadyRevoked { .. }), "{err}");
    assert_valid_chain(&storage, 1).await;

    // Unknown serial: not found, no audit record.
    let err = storage
        .revoke_with_audit(&request(serial(9404)), ISSUER, event("revocation", "x"))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::NotFound { .. }), "{err}");
    assert_valid_chain(&storage, 1).await;
}
