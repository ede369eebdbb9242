//! Concurrency: many tasks, and two instances on one PostgreSQL database, append and checkpoint.

use std::time::Duration;

use qtsp::audit::{self, AuditEvent, verify_storage};
use qtsp::storage::AuditRecord;

use crate::audit_db_test;
use crate::common;
use crate::common::audit::{
    TestDb, all_records, audit_signer, audit_signer_with_id, hsm, journal, sample_event,
};
use crate::helpers::trusted;

/// 32 tasks append concurrently while the checkpointer runs: one valid chain, every event
/// present once, the final checkpoint covers the last event.
async fn concurrent_appends(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let checkpointer = journal
        .spawn_checkpointer(25, Duration::from_millis(50), async move {
            let _ = stopped.await;
        })
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..32u64 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20u64 {
                let event = AuditEvent::AdminAction {
                    action: "concurrent".into(),
                    target: Some(format!("{task}-{i}")),
                    detail: None,
                };
                journal
                    .append(&event, &format!("task:{task}"))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    stop.send(()).unwrap();
    checkpointer.await.unwrap();

    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    let records = all_records(&db.storage).await;
    let events: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.event_type == "admin_action")
        .collect();
    assert_eq!(events.len(), 640);
    let distinct: std::collections::BTreeSet<&str> =
        events.iter().map(|r| r.payload.as_str()).collect();
    assert_eq!(distinct.len(), 640);
    assert!(report.checkpoints >= 1, "{report}");
    assert_eq!(
        report.records_after_last_checkpoint(),
        1,
        "only the final announcement is after the last checkpoint\n{report}"
    );
}
audit_db_test!(concurrent_appends);

/// Two storage pools on one PostgreSQL database (two processes, two nodes with their own audit
/// keys) append and checkpoint concurrently: one valid chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_postgres() {
    let Some(first) = common::audit::postgres_db().await else {
        return;
    };
    let second = qtsp::storage::Storage::connect(&first.url, common::db::test_options())
        .await
        .unwrap();
    let hsm = hsm().await;
    let key_a = audit_signer(&hsm).await;
    let key_b = audit_signer_with_id(&hsm, b"qtsp-test-audit-node-b-key", "qtsp-test-b").await;
    let trusted_keys = vec![
        key_a.public_key_spki_der().to_vec(),
        key_b.public_key_spki_der().to_vec(),
    ];
    let journals = [
        journal(&first.storage, key_a, "node-a"),
        journal(&second, key_b, "node-b"),
    ];
    let mut stops = Vec::new();
    let mut checkpointers = Vec::new();
    for journal in &journals {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        checkpointers.push(
            journal
                .spawn_checkpointer(30, Duration::from_millis(40), async move {
                    let _ = stopped.await;
                })
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for (n, journal) in journals.iter().enumerate() {
        for task in 0..16u64 {
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20u64 {
                    journal
                        .append(&sample_event(i), &format!("node{n}:task{task}"))
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for stop in stops {
        stop.send(()).unwrap();
    }
    for checkpointer in checkpointers {
        checkpointer.await.unwrap();
    }
    let report = verify_storage(&first.storage, &trusted_keys).await.unwrap();
    assert!(report.is_intact(), "{report}");
    let records = all_records(&second).await;
    let events = records
        .iter()
        .filter(|r| r.event_type != audit::CHECKPOINT_SIGNED)
        .count();
    assert_eq!(events, 640);
    assert!(report.checkpoints >= 2, "{report}");
    second.close().await;
    first.storage.close().await;
}
