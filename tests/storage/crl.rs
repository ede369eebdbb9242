//! What a CRL issuer reads and allocates: CRL numbers that only increase per issuer, the last
//! revocation id of one issuer, and that issuer's revocations since a mark.

use std::collections::BTreeSet;

use qtsp::storage::{RevocationReason, RevocationRequest, Storage, StorageError};

use crate::storage_test;
use crate::support::{ISSUER, T0, issue, serial};

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
