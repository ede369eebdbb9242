//! An untouched journal verifies, in the database and as an exported bundle.

use qtsp::audit::{
    self, BrokenReason, export_bundle, verify_bundle, verify_bundle_with_keys, verify_storage,
};

use crate::audit_db_test;
use crate::common::audit::{TestDb, audit_signer, audit_signer_with_id, fill, hsm, journal};
use crate::helpers::{bundle_keys, expect_broken, trusted};

/// 500 events with a checkpoint after every 50: the database and an exported bundle verify,
/// with the trusted key and with the bundle's own key.
async fn untouched_journal_verifies(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    journal.record_service_started().await.unwrap();
    fill(&journal, 500, 50).await;
    let key = trusted(&journal);

    let report = verify_storage(&db.storage, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 511);
    assert_eq!(report.checkpoints, 10);
    assert_eq!(report.last_checkpoint_seq, Some(510));
    assert_eq!(report.records_after_last_checkpoint(), 1);
    assert_eq!(report.signing_keys, vec![audit::key_id_of_spki(&key)]);
    assert!(report.to_string().contains("INTACT"), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let summary = export_bundle(&db.storage, dir.path(), &bundle_keys(&journal))
        .await
        .unwrap();
    assert_eq!((summary.records, summary.checkpoints), (511, 10));
    assert!(summary.unknown_checkpoint_keys.is_empty());
    let lines = std::fs::read_to_string(dir.path().join("records.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 511);

    let from_bundle = verify_bundle_with_keys(dir.path(), std::slice::from_ref(&key)).unwrap();
    assert!(from_bundle.is_intact(), "{from_bundle}");
    assert_eq!(
        (
            from_bundle.records,
            from_bundle.checkpoints,
            &from_bundle.last_hash
        ),
        (511, 10, &report.last_hash)
    );
    assert!(!from_bundle.keys_from_bundle);

    let self_keyed = verify_bundle(dir.path()).unwrap();
    assert!(self_keyed.is_intact(), "{self_keyed}");
    assert!(self_keyed.keys_from_bundle);
    assert!(self_keyed.to_string().contains("WARNING"), "{self_keyed}");

    // An export never goes over another one.
    let err = export_bundle(&db.storage, dir.path(), &bundle_keys(&journal))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AUD010");

    // Another key is not trusted.
    let other = audit_signer_with_id(&hsm, b"qtsp-test-audit-other-key", "qtsp-test-other").await;
    let report = verify_storage(&db.storage, &[other.public_key_spki_der().to_vec()])
        .await
        .unwrap();
    expect_broken(
        &report,
        51,
        BrokenReason::CheckpointKeyUntrusted {
            seq: 51,
            key_id: audit::key_id_of_spki(&key),
        },
        "untrusted key",
    );
}
audit_db_test!(untouched_journal_verifies);
