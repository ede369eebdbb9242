//! Revocations: every reason round-trips, a second revocation and revoking an unknown or
//! unissued certificate are refused, gap-free ids read back since a mark, and a revocation and
//! its audit record committed together or not at all.

use std::collections::BTreeSet;

use qtsp::storage::{
    AuditHead, CertificateSerial, NewAuditRecord, RevocationReason, RevocationRequest, Storage,
    StorageError,
};
use time::Duration;

use crate::storage_test;
use crate::support::{ISSUER, T0, assert_valid_chain, chain_hash, intent, issue, serial};

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
