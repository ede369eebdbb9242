//! The audit journal: concurrent appends form one chain (also from two pools on one PostgreSQL
//! database), paging and content of the records, and signed checkpoints.

use std::collections::BTreeSet;

use qtsp::storage::{AuditCheckpoint, NewAuditRecord, Storage, StorageError};
use time::Duration;

use crate::common::db::{postgres_storage_with_url, test_options};
use crate::storage_test;
use crate::support::{T0, append, assert_valid_chain};

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
