//! Time-stamp records: batches stored and refused whole, concurrent group commits, and a batch
//! and its audit record committed together or not at all.

use qtsp::storage::{Storage, StorageError};
use sha2::{Digest, Sha256};

use crate::storage_test;
use crate::support::{append, assert_valid_chain, chained, insert_timestamps, ts_record};

storage_test!(timestamp_batch_of_1000);
async fn timestamp_batch_of_1000(storage: Storage) {
    let mut batch: Vec<_> = (1..=1000).map(ts_record).collect();
    // Text that JSON must escape (SQLite receives a batch's rows as one JSON array), and no
    // requester or node.
    batch[1].requester = Some("\"proxy\" \\ für\n\u{1}".into());
    batch[1].node_id = Some("node \"β\"".into());
    batch[2].requester = None;
    batch[2].node_id = None;
    batch[3].message_imprint = vec![0x00, 0xff, 0x10];
    insert_timestamps(&storage, &batch).await.unwrap();
    assert_eq!(storage.count_timestamps().await.unwrap(), 1000);
    for r in &batch {
        assert_eq!(
            storage.timestamp(&r.serial).await.unwrap().as_ref(),
            Some(r)
        );
    }
    // Each row names its batch (the first serial) and its place in it: the database renders
    // the batch as the lines the journal's digest covers, in batch order. A serial that starts
    // no batch has none.
    let lines = storage
        .timestamp_batch_lines(&[batch[0].serial.clone(), batch[1].serial.clone()])
        .await
        .unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(
        (&lines[0].first_serial, lines[0].rows),
        (&batch[0].serial, 1000)
    );
    let digest: [u8; 32] = Sha256::digest(lines[0].lines.as_bytes()).into();
    assert_eq!(digest, qtsp::audit::timestamp_batch_digest(&batch));
    assert_eq!(storage.timestamp_batch_lines(&[]).await.unwrap(), []);

    // A batch with one serial already stored is refused whole.
    let mut again: Vec<_> = (1001..=1010).map(ts_record).collect();
    again.push(ts_record(500));
    let err = insert_timestamps(&storage, &again).await.unwrap_err();
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
    let err = insert_timestamps(&storage, &twice).await.unwrap_err();
    assert!(
        matches!(err, StorageError::DuplicateTimestampSerial { .. }),
        "{err}"
    );
    let mut bad = ts_record(2001);
    bad.policy_oid = "not an oid".into();
    let err = insert_timestamps(&storage, &[bad]).await.unwrap_err();
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
                insert_timestamps(&storage, &batch).await.unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(storage.count_timestamps().await.unwrap(), 2000);
}

storage_test!(timestamp_batch_and_its_audit_record_commit_together);
async fn timestamp_batch_and_its_audit_record_commit_together(storage: Storage) {
    let batch_event = |payload: &str| chained("timestamp_batch", "tsa", payload.to_owned());
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
