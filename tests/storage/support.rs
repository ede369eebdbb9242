//! Fixtures shared by the storage tests: the issuer and base time, certificate intents and
//! issued certificates, audit records chained by SHA-256 and the check of the whole chain, and
//! time-stamp records.

use qtsp::storage::{
    AuditHead, CertificateSerial, NewAuditRecord, NewCertificateIntent, Storage, TimestampRecord,
    TimestampSerial,
};
use sha2::{Digest, Sha256};
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

pub(crate) const ISSUER: &str = "qtsp-qualified-ca-1";
pub(crate) const T0: OffsetDateTime = datetime!(2026-11-23 10:00:00.123456 UTC);

pub(crate) fn serial(n: u64) -> CertificateSerial {
    CertificateSerial::from_unsigned_be(&n.to_be_bytes()).unwrap()
}

pub(crate) fn intent(serial: CertificateSerial, issuer: &str) -> NewCertificateIntent {
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

pub(crate) async fn issue(storage: &Storage, n: u64, issuer: &str) -> CertificateSerial {
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

pub(crate) fn der_for(n: u64) -> Vec<u8> {
    let mut der = vec![0x30, 0x82, 0x01, 0x00];
    der.extend_from_slice(&n.to_be_bytes());
    der
}

pub(crate) fn chain_hash(prev_hash: &[u8], payload: &str) -> Vec<u8> {
    Sha256::new()
        .chain_update(prev_hash)
        .chain_update(payload.as_bytes())
        .finalize()
        .to_vec()
}

/// The builder of a test record whose hash is sha256(prev_hash || payload).
pub(crate) fn chained(
    event_type: &'static str,
    actor: &'static str,
    payload: String,
) -> impl FnOnce(&AuditHead) -> NewAuditRecord + Send {
    move |head: &AuditHead| NewAuditRecord {
        recorded_at: T0,
        event_type: event_type.to_owned(),
        actor: actor.to_owned(),
        hash: chain_hash(&head.hash, &payload),
        payload,
    }
}

/// Inserts time-stamp records as one batch, with a test record (`timestamp_batch`, chained like
/// [`append`]) standing for its journal entry.
pub(crate) async fn insert_timestamps(
    storage: &Storage,
    records: &[TimestampRecord],
) -> Result<qtsp::storage::AuditRecord, qtsp::storage::StorageError> {
    let payload = format!("batch of {}", records.len());
    storage
        .insert_timestamp_batch(records, chained("timestamp_batch", "tsa", payload))
        .await
}

/// Appends one record whose hash is sha256(prev_hash || payload).
pub(crate) async fn append(storage: &Storage, payload: String) -> qtsp::storage::AuditRecord {
    storage
        .append_audit(chained("test.event", "tester", payload))
        .await
        .unwrap()
}

/// Checks seq 1..=n without gaps, the links and the hashes of the whole journal.
pub(crate) async fn assert_valid_chain(storage: &Storage, n: u64) {
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

pub(crate) fn ts_record(n: u64) -> TimestampRecord {
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
