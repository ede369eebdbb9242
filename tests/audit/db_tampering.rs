//! Tampering with the database (triggers dropped through a raw connection, as a DBA could).

use qtsp::audit::{AuditEvent, BrokenReason, verify_storage};

use crate::audit_db_test;
use crate::common::audit::{TestDb, all_records, documented_hash, documented_time, tamper};
use crate::helpers::{expect_detected, small_journal, trusted};

async fn db_edited_payload(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    // Record 8 is a certificate intent for "CN=Zoë ...".
    tamper(
        &db,
        &["UPDATE audit_records SET payload = replace(payload, 'Zo', 'Jo') WHERE seq = 8".into()],
    )
    .await;
    let record = db.storage.audit_records(8, 1).await.unwrap().remove(0);
    assert!(record.payload.contains("CN=Joë"), "{}", record.payload);
    expect_detected(
        &db,
        &journal,
        8,
        BrokenReason::HashMismatch,
        None,
        "edited payload",
    )
    .await;
}
audit_db_test!(db_edited_payload);

async fn db_edited_payload_later(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        // Record 90 is a revocation.
        &[
            "UPDATE audit_records SET payload = replace(payload, 'keyCompromise', 'superseded') \
           WHERE seq = 90"
                .into(),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        90,
        BrokenReason::HashMismatch,
        None,
        "edited payload",
    )
    .await;
}
audit_db_test!(db_edited_payload_later);

async fn db_deleted_record(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(&db, &["DELETE FROM audit_records WHERE seq = 37".into()]).await;
    expect_detected(
        &db,
        &journal,
        37,
        BrokenReason::Gap {
            expected: 37,
            found: 38,
        },
        None,
        "deleted record",
    )
    .await;
}
audit_db_test!(db_deleted_record);

/// A forged record 41 that links to record 40 and carries a correct hash (the formula is
/// public); the records after it are renumbered to make room.
async fn db_inserted_record(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    let before = &records[39];
    assert_eq!(before.seq, 40);
    let payload = AuditEvent::AdminAction {
        action: "forged".into(),
        target: None,
        detail: None,
    }
    .to_payload()
    .unwrap();
    let recorded_at = before.recorded_at + time::Duration::microseconds(1);
    let hash = documented_hash(
        41,
        &documented_time(recorded_at),
        "admin_action",
        "admin:mallory",
        &hex::encode(&before.hash),
        &payload,
    );
    let time_sql = if db.is_sqlite() {
        (recorded_at.unix_timestamp_nanos() / 1000).to_string()
    } else {
        format!("'{}'", documented_time(recorded_at))
    };
    tamper(
        &db,
        &[
            "UPDATE audit_records SET seq = seq + 1000000 WHERE seq >= 41".into(),
            "UPDATE audit_records SET seq = seq - 999999 WHERE seq >= 1000000".into(),
            format!(
                "INSERT INTO audit_records (seq, recorded_at, event_type, actor, payload, prev_hash, hash) \
                 VALUES (41, {time_sql}, 'admin_action', 'admin:mallory', '{payload}', {}, {})",
                db.bytes_sql(&before.hash),
                db.bytes_sql(&hex::decode(hash).unwrap())
            ),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        41,
        BrokenReason::Inserted,
        None,
        "inserted record",
    )
    .await;
}
audit_db_test!(db_inserted_record);

async fn db_swapped_records(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        &[
            "UPDATE audit_records SET seq = 1000045 WHERE seq = 45".into(),
            "UPDATE audit_records SET seq = 45 WHERE seq = 46".into(),
            "UPDATE audit_records SET seq = 46 WHERE seq = 1000045".into(),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        45,
        BrokenReason::OutOfOrder {
            expected: 45,
            found: 46,
        },
        None,
        "swapped records",
    )
    .await;
}
audit_db_test!(db_swapped_records);

async fn db_altered_checkpoint_signature(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    // A genuine signature, of another checkpoint.
    tamper(
        &db,
        &["UPDATE audit_checkpoints SET signature = \
           (SELECT signature FROM audit_checkpoints WHERE seq = 21) WHERE seq = 32"
            .into()],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        32,
        BrokenReason::CheckpointSignatureInvalid { seq: 32 },
        None,
        "altered checkpoint signature",
    )
    .await;
}
audit_db_test!(db_altered_checkpoint_signature);

/// The journal rewritten from record 25 on with every hash recomputed, head included: the chain
/// holds, and the checkpoint over 32 (the first at or after 25) vouches for the old hash.
async fn db_rewritten_journal(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    let mut statements = Vec::new();
    let mut prev = hex::encode(&records[23].hash);
    for record in &records[24..] {
        let actor = if record.seq == 25 {
            "admin:mallory"
        } else {
            record.actor.as_str()
        };
        let hash = documented_hash(
            record.seq,
            &documented_time(record.recorded_at),
            &record.event_type,
            actor,
            &prev,
            &record.payload,
        );
        statements.push(format!(
            "UPDATE audit_records SET actor = '{actor}', prev_hash = {}, hash = {} WHERE seq = {}",
            db.bytes_sql(&hex::decode(&prev).unwrap()),
            db.bytes_sql(&hex::decode(&hash).unwrap()),
            record.seq
        ));
        prev = hash;
    }
    statements.push(format!(
        "UPDATE audit_head SET hash = {} WHERE id = 1",
        db.bytes_sql(&hex::decode(&prev).unwrap())
    ));
    tamper(&db, &statements).await;
    // The export rebuilds the statement from the (rewritten) database, so the bundle can only
    // say that the signature does not verify; a bundle exported before the rewrite says more
    // (see bundle_tampering_is_detected).
    expect_detected(
        &db,
        &journal,
        32,
        BrokenReason::CheckpointHashMismatch { seq: 32 },
        Some(BrokenReason::CheckpointSignatureInvalid { seq: 32 }),
        "journal rewritten after a checkpoint",
    )
    .await;
}
audit_db_test!(db_rewritten_journal);

async fn db_deleted_checkpoint(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        &["DELETE FROM audit_checkpoints WHERE seq = 43".into()],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        43,
        BrokenReason::CheckpointMissing {
            seq: 43,
            journaled_in: 44,
        },
        None,
        "deleted checkpoint",
    )
    .await;
}
audit_db_test!(db_deleted_checkpoint);

/// Cutting records off the end is detected while the head or a checkpoint still refers to
/// them, and is not detectable once the last checkpoint over them is gone too.
async fn db_truncated_tail(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    tamper(&db, &["DELETE FROM audit_records WHERE seq > 100".into()]).await;
    expect_detected(
        &db,
        &journal,
        101,
        BrokenReason::Truncated {
            expected_last: 110,
            found_last: 100,
        },
        None,
        "tail cut off, head left",
    )
    .await;

    tamper(
        &db,
        &[format!(
            "UPDATE audit_head SET seq = 100, hash = {} WHERE id = 1",
            db.bytes_sql(&records[99].hash)
        )],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        109,
        BrokenReason::CheckpointUnknownSeq { seq: 109 },
        None,
        "tail and head cut back under a checkpoint",
    )
    .await;

    tamper(
        &db,
        &[
            "DELETE FROM audit_checkpoints WHERE seq = 109".into(),
            "DELETE FROM audit_records WHERE seq > 98".into(),
            format!(
                "UPDATE audit_head SET seq = 98, hash = {} WHERE id = 1",
                db.bytes_sql(&records[97].hash)
            ),
        ],
    )
    .await;
    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(
        report.is_intact(),
        "cut back to the last checkpoint: undetectable without an external anchor\n{report}"
    );
    assert_eq!(
        (report.last_seq, report.last_checkpoint_seq),
        (98, Some(98))
    );
}
audit_db_test!(db_truncated_tail);
