//! Certificates: an intent then its issuance, the refused transitions, globally unique serials
//! (also under concurrency), paging by issuer, and the rules of serial numbers.

use qtsp::storage::{CertificateSerial, CertificateState, Storage, StorageError};
use time::Duration;

use crate::storage_test;
use crate::support::{ISSUER, T0, der_for, intent, issue, serial};

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
