//! The checkpointer's schedule: by count, by time, and the schedules it refuses.

use std::time::Duration;

use qtsp::audit::{Journal, verify_storage};
use qtsp::storage::Storage;

use crate::audit_db_test;
use crate::common;
use crate::common::audit::{TestDb, audit_signer, hsm, journal, sample_event};
use crate::helpers::trusted;

async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn latest_checkpoint(storage: &Storage) -> Option<u64> {
    storage
        .latest_audit_checkpoint()
        .await
        .unwrap()
        .map(|c| c.seq)
}

async fn checkpointer_schedule(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let storage = db.storage.clone();

    // Every 10 records (time far away): each batch of 10 events gets its checkpoint...
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let by_count = journal
        .spawn_checkpointer(10, Duration::from_secs(3600), async move {
            let _ = stopped.await;
        })
        .unwrap();
    for round in 0..3u64 {
        let before = latest_checkpoint(&storage).await.unwrap_or(0);
        for i in 0..10 {
            journal
                .append(&sample_event(round * 10 + i), "admin:alice")
                .await
                .unwrap();
        }
        // The checkpointer may wake while the tenth is being appended and cover nine.
        wait_for("a checkpoint after 10 records", async || {
            latest_checkpoint(&storage)
                .await
                .is_some_and(|cp| cp >= before + 9)
        })
        .await;
    }
    // ...fewer than 10 do not get one (the checkpointer polls every second)...
    let checkpointed = latest_checkpoint(&storage).await;
    for i in 0..5 {
        journal
            .append(&sample_event(i), "admin:alice")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(latest_checkpoint(&storage).await, checkpointed);
    // ...until the checkpointer stops: its last checkpoint covers everything appended.
    stop.send(()).unwrap();
    by_count.await.unwrap();
    let head = storage.audit_head().await.unwrap();
    assert_eq!(latest_checkpoint(&storage).await, Some(head.seq - 1));

    // Every 300 ms (count far away), only when something new was journaled.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let by_time = journal
        .spawn_checkpointer(1_000_000, Duration::from_millis(300), async move {
            let _ = stopped.await;
        })
        .unwrap();
    let record = journal
        .append(&sample_event(1), "admin:alice")
        .await
        .unwrap();
    wait_for("a checkpoint by time, and its announcement", async || {
        let head = storage.audit_head().await.unwrap().seq;
        latest_checkpoint(&storage).await == Some(record.seq) && head == record.seq + 1
    })
    .await;
    let head = storage.audit_head().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        storage.audit_head().await.unwrap(),
        head,
        "nothing new: no checkpoint, no announcement"
    );
    assert_eq!(latest_checkpoint(&storage).await, Some(record.seq));
    stop.send(()).unwrap();
    by_time.await.unwrap();

    let report = verify_storage(&storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");

    // Refused schedules.
    for (n, t) in [(0, Duration::from_secs(1)), (1, Duration::ZERO)] {
        let err = journal.spawn_checkpointer(n, t, async {}).unwrap_err();
        assert_eq!(err.code(), "AUD012");
    }
    let unsigned = Journal::new(
        storage.clone(),
        common::audit::stepping_clock(),
        qtsp::audit::NodeInfo::new("n2"),
    );
    assert_eq!(
        unsigned.checkpoint_now().await.unwrap_err().code(),
        "AUD006"
    );
}
audit_db_test!(checkpointer_schedule);
