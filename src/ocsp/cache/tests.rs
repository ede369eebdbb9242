//! The cache's rules, with explicit times (no clock is read).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::ocsp::request::CertIdHash;
use crate::pki::ocsp::{CertId, OcspResponseStatus};
use der::Encode;
use der::asn1::OctetString;
use spki::AlgorithmIdentifierOwned;
use x509_cert::serial_number::SerialNumber;

const T0: OffsetDateTime = time::macros::datetime!(2026-03-01 00:00:00 UTC);
const MINUTE: time::Duration = time::Duration::minutes(1);

/// Valid from T0 for an hour.
fn answer(tag: u8) -> OcspAnswer {
    OcspAnswer {
        der: vec![tag; 4],
        status: OcspResponseStatus::Successful,
        validity: Some((T0, T0 + time::Duration::hours(1))),
        nonce: false,
        error_code: None,
    }
}

/// A CertID for `serial` (one octet, 1..=127) with the hash algorithm `hash_alg`.
fn cert(serial: u8, hash_alg: CertIdHash) -> Arc<RequestedCert> {
    let len = match hash_alg {
        CertIdHash::Sha1 => 20,
        CertIdHash::Sha256 => 32,
    };
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash_alg.oid(),
            parameters: None,
        },
        issuer_name_hash: OctetString::new(vec![1; len]).unwrap(),
        issuer_key_hash: OctetString::new(vec![2; len]).unwrap(),
        serial_number: SerialNumber::new(&[serial]).unwrap(),
    };
    Arc::new(RequestedCert {
        hash_alg,
        issuer_name_hash: vec![1; len],
        issuer_key_hash: vec![2; len],
        serial_number: cert_id.serial_number.clone(),
        cert_id,
    })
}

fn key(cert: &RequestedCert) -> Vec<u8> {
    cert.cert_id.to_der().unwrap()
}

fn storage_serial(serial: u8) -> CertificateSerial {
    CertificateSerial::from_der_content(vec![serial]).unwrap()
}

fn cache(max_entries: usize) -> OcspCache {
    OcspCache::new(
        OcspCacheSettings {
            max_entries,
            revocation_check: Duration::ZERO,
        },
        2,
    )
}

/// A cache with the mark `mark` for both issuers and `cert` cached for issuer `authority`.
fn with_entry(authority: usize, mark: u64, cert: &Arc<RequestedCert>, tag: u8) -> OcspCache {
    let cache = cache(10);
    cache.note_mark(0, mark, Instant::now());
    cache.note_mark(1, mark, Instant::now());
    cache.insert(authority, key(cert), mark, cert, answer(tag));
    cache
}

#[test]
fn served_to_readers_of_the_mark_or_an_older_one_until_three_quarters() {
    let a = cert(1, CertIdHash::Sha1);
    let cache = with_entry(0, 3, &a, 1);
    let k = key(&a);
    assert_eq!(cache.get(0, &k, 3, T0).unwrap(), answer(1));
    // A reader that saw an older mark may get an answer made after it.
    assert_eq!(cache.get(0, &k, 2, T0).unwrap(), answer(1));
    // Past half of the validity it is still served (the refresher signs it meanwhile)...
    assert_eq!(cache.get(0, &k, 3, T0 + 44 * MINUTE).unwrap(), answer(1));
    // ... until three quarters.
    assert!(cache.get(0, &k, 3, T0 + 45 * MINUTE).is_none());
    // Clock stepped back.
    assert!(cache.get(0, &k, 3, T0 - MINUTE).is_none());
    // A reader that saw a newer mark, another issuer, another key.
    assert!(cache.get(0, &k, 4, T0).is_none());
    assert!(cache.get(1, &k, 3, T0).is_none());
    assert!(
        cache
            .get(0, &key(&cert(2, CertIdHash::Sha1)), 3, T0)
            .is_none()
    );
}

#[test]
fn due_are_the_served_entries_past_half_and_stale_ones_go() {
    let (a, b) = (cert(1, CertIdHash::Sha1), cert(2, CertIdHash::Sha1));
    let cache = with_entry(0, 0, &a, 1);
    cache.insert(0, key(&b), 0, &b, answer(2));
    // Never served since signed: not refreshed.
    assert!(cache.due(T0 + 40 * MINUTE).is_empty());
    assert!(cache.get(0, &key(&a), 0, T0 + MINUTE).is_some());
    assert!(cache.due(T0 + 29 * MINUTE).is_empty());
    let due = cache.due(T0 + 30 * MINUTE);
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].authority, &due[0].cert, due[0].revoked),
        (0, &a, false)
    );
    // Looking does not count as a use.
    assert!(cache.holds(0, &key(&b), 0, T0 + 30 * MINUTE));
    assert!(!cache.holds(0, &key(&b), 1, T0 + 30 * MINUTE));
    assert_eq!(cache.len(), 2);
    // A refreshed answer replaces the entry and is not due until it is served again.
    let mut refreshed = answer(3);
    refreshed.validity = Some((T0 + 30 * MINUTE, T0 + 90 * MINUTE));
    cache.insert(0, key(&a), 0, &a, refreshed.clone());
    assert!(cache.due(T0 + 31 * MINUTE).is_empty());
    assert_eq!(cache.len(), 2);
    // Three quarters of b's validity spent: b can no longer be served and goes.
    assert!(cache.due(T0 + 45 * MINUTE).is_empty());
    assert_eq!(cache.len(), 1);
    assert_eq!(
        cache.get(0, &key(&a), 0, T0 + 45 * MINUTE).unwrap(),
        refreshed
    );
    // The refresher fell behind: a served entry past three quarters is removed and still due.
    let due = cache.due(T0 + 80 * MINUTE);
    assert_eq!(due.len(), 1);
    assert_eq!(cache.len(), 0);
}

#[test]
fn a_new_mark_replaces_only_the_revoked_serials() {
    let revoked_sha1 = cert(1, CertIdHash::Sha1);
    let revoked_sha256 = cert(1, CertIdHash::Sha256);
    let other = cert(2, CertIdHash::Sha1);
    let cache = with_entry(0, 3, &revoked_sha1, 1);
    cache.insert(0, key(&revoked_sha256), 3, &revoked_sha256, answer(2));
    cache.insert(0, key(&other), 3, &other, answer(3));
    cache.insert(1, b"second-ca".to_vec(), 3, &other, answer(4));
    assert_eq!(
        cache.note_mark(0, 5, Instant::now()),
        MarkSeen::Newer { old: 3 }
    );
    // Not moved yet: readers of the new mark miss.
    assert!(cache.get(0, &key(&other), 5, T0).is_none());

    let revoked: HashSet<_> = [storage_serial(1), storage_serial(9)].into();
    assert_eq!(cache.advance(0, 3, 5, Some(&revoked), Instant::now()), 2);
    assert_eq!(cache.mark(0), Some(5));
    // Both CertIDs of the revoked serial are gone and queued; the other answer is kept.
    assert!(cache.get(0, &key(&revoked_sha1), 0, T0).is_none());
    assert!(cache.get(0, &key(&revoked_sha256), 0, T0).is_none());
    assert_eq!(cache.get(0, &key(&other), 5, T0).unwrap(), answer(3));
    let urgent = cache.take_urgent();
    assert_eq!(urgent.len(), 2);
    assert!(urgent.iter().all(|due| due.authority == 0
        && due.revoked
        && due.cert.serial_number == revoked_sha1.serial_number));
    assert!(cache.take_urgent().is_empty());
    // The other issuer is untouched.
    assert_eq!(cache.mark(1), Some(3));
    assert_eq!(cache.get(1, b"second-ca", 3, T0).unwrap(), answer(4));
    // An answer signed under the old mark (a request in flight) is not kept.
    cache.insert(0, key(&revoked_sha1), 3, &revoked_sha1, answer(5));
    assert!(cache.get(0, &key(&revoked_sha1), 0, T0).is_none());
    cache.insert(0, key(&revoked_sha1), 5, &revoked_sha1, answer(6));
    assert_eq!(cache.get(0, &key(&revoked_sha1), 5, T0).unwrap(), answer(6));
}

#[test]
fn without_the_list_of_revocations_the_issuers_answers_go() {
    let (a, b) = (cert(1, CertIdHash::Sha1), cert(2, CertIdHash::Sha1));
    let cache = with_entry(0, 3, &a, 1);
    cache.insert(0, key(&b), 3, &b, answer(2));
    cache.insert(1, b"second-ca".to_vec(), 3, &b, answer(4));
    assert_eq!(cache.len(), 3);
    assert_eq!(cache.advance(0, 3, 4, None, Instant::now()), 0);
    assert_eq!(cache.mark(0), Some(4));
    assert!(cache.take_urgent().is_empty());
    assert!(cache.get(0, &key(&a), 0, T0).is_none());
    assert!(cache.get(0, &key(&b), 0, T0).is_none());
    assert_eq!(cache.len(), 1);
    assert_eq!(cache.get(1, b"second-ca", 3, T0).unwrap(), answer(4));
}

#[test]
fn advance_only_moves_forward_from_a_covered_mark() {
    let a = cert(1, CertIdHash::Sha1);
    let cache = with_entry(0, 5, &a, 1);
    let nothing = HashSet::new();
    // Already there or beyond: nothing happens.
    assert_eq!(cache.advance(0, 3, 5, None, Instant::now()), 0);
    assert_eq!(cache.advance(0, 3, 4, None, Instant::now()), 0);
    // A list that starts above the cache's mark would not cover it.
    assert_eq!(cache.advance(0, 6, 7, Some(&nothing), Instant::now()), 0);
    assert_eq!(cache.mark(0), Some(5));
    assert_eq!(cache.get(0, &key(&a), 5, T0).unwrap(), answer(1));
    // A list from an older mark covers the newer one.
    assert_eq!(cache.advance(0, 4, 7, Some(&nothing), Instant::now()), 0);
    assert_eq!(cache.get(0, &key(&a), 7, T0).unwrap(), answer(1));
    // Before any mark was read there is nothing to move.
    let fresh = self::cache(10);
    assert_eq!(fresh.advance(0, 0, 1, None, Instant::now()), 0);
    assert_eq!(fresh.mark(0), None);
}

#[test]
fn marks_are_noted_first_same_and_stale_reads_ignored() {
    let cache = cache(10);
    let now = Instant::now();
    assert_eq!(cache.mark(0), None);
    assert_eq!(cache.note_mark(0, 4, now), MarkSeen::Current);
    assert_eq!(cache.mark(0), Some(4));
    assert_eq!(cache.note_mark(0, 4, now), MarkSeen::Current);
    // A read that started before a later one: nothing new.
    assert_eq!(cache.note_mark(0, 3, now), MarkSeen::Current);
    assert_eq!(cache.mark(0), Some(4));
    assert_eq!(cache.note_mark(0, 6, now), MarkSeen::Newer { old: 4 });
    assert_eq!(cache.mark(0), Some(4));
    assert_eq!(cache.note_mark(7, 1, now), MarkSeen::Current);
}

#[test]
fn the_bound_holds_and_the_oldest_goes_first() {
    let cache = cache(100);
    cache.note_mark(0, 0, Instant::now());
    let a = cert(1, CertIdHash::Sha1);
    for i in 0..1000u32 {
        cache.insert(0, i.to_be_bytes().to_vec(), 0, &a, answer(0));
        assert!(cache.len() <= 100);
    }
    assert_eq!(cache.len(), 100);
    assert!(cache.get(0, &899u32.to_be_bytes(), 0, T0).is_none());
    assert!(cache.get(0, &900u32.to_be_bytes(), 0, T0).is_some());
    // Replacing a key keeps one entry for it.
    cache.insert(0, 950u32.to_be_bytes().to_vec(), 0, &a, answer(9));
    assert_eq!(cache.len(), 100);
    assert_eq!(
        cache.get(0, &950u32.to_be_bytes(), 0, T0).unwrap(),
        answer(9)
    );
    // A revocation queues at most the bound.
    let revoked: HashSet<_> = [storage_serial(1)].into();
    assert_eq!(cache.advance(0, 0, 1, Some(&revoked), Instant::now()), 100);
    assert_eq!(cache.len(), 0);
    let state = cache.lock();
    assert_eq!(state.order.len(), state.entries.len());
}

#[test]
fn nonces_errors_unnoted_marks_and_a_disabled_cache_store_nothing() {
    let a = cert(1, CertIdHash::Sha1);
    let cache = cache(10);
    // No mark read yet for the issuer.
    cache.insert(0, b"a".to_vec(), 0, &a, answer(1));
    assert_eq!(cache.len(), 0);
    cache.note_mark(0, 0, Instant::now());
    let mut with_nonce = answer(1);
    with_nonce.nonce = true;
    cache.insert(0, b"a".to_vec(), 0, &a, with_nonce);
    let mut error = answer(2);
    error.validity = None;
    cache.insert(0, b"b".to_vec(), 0, &a, error);
    assert_eq!(cache.len(), 0);
    let disabled = self::cache(0);
    assert!(!disabled.enabled());
    disabled.note_mark(0, 0, Instant::now());
    disabled.insert(0, b"a".to_vec(), 0, &a, answer(1));
    assert_eq!(disabled.len(), 0);
}

#[test]
fn the_mark_is_trusted_only_for_revocation_check() {
    let now = Instant::now();
    let zero = cache(10);
    zero.note_mark(0, 5, now);
    assert_eq!(zero.recent_mark(0, now), None);
    let cache = OcspCache::new(
        OcspCacheSettings {
            max_entries: 10,
            revocation_check: Duration::from_millis(500),
        },
        1,
    );
    assert_eq!(cache.recent_mark(0, now), None);
    cache.note_mark(0, 5, now);
    assert_eq!(
        cache.recent_mark(0, now + Duration::from_millis(499)),
        Some(5)
    );
    assert_eq!(cache.recent_mark(0, now + Duration::from_millis(500)), None);
    // A newer mark is trusted once the cache has moved to it.
    let later = now + Duration::from_millis(400);
    assert_eq!(cache.note_mark(0, 6, later), MarkSeen::Newer { old: 5 });
    cache.advance(0, 5, 6, None, later);
    assert_eq!(
        cache.recent_mark(0, now + Duration::from_millis(600)),
        Some(6)
    );
    assert_eq!(cache.recent_mark(1, now), None);
}
