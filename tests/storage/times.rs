//! Times round-trip to the microsecond on both back ends: certificate times, time-stamp genTime
//! and audit recorded_at, in UTC, and their order at one-microsecond distance.

use qtsp::storage::{NewAuditRecord, Storage};
use time::Duration;
use time::macros::datetime;

use crate::storage_test;
use crate::support::{ISSUER, chain_hash, insert_timestamps, intent, serial, ts_record};

storage_test!(times_round_trip_to_the_microsecond);
async fn times_round_trip_to_the_microsecond(storage: Storage) {
    let cases = [
        datetime!(2026-11-23 10:00:00.000001 UTC),
        datetime!(2026-11-23 10:00:00.999999 UTC),
        datetime!(1969-12-31 23:59:59.999999 UTC),
        datetime!(1950-01-01 00:00:00 UTC),
        datetime!(2049-12-31 23:59:59.999999 UTC),
        datetime!(9999-12-31 23:59:59.999999 UTC),
        datetime!(2000-01-01 00:00:00 UTC),
    ];
    for (i, t) in cases.into_iter().enumerate() {
        let s = serial(5000 + i as u64);
        let mut it = intent(s.clone(), ISSUER);
        it.not_before = t;
        it.not_after = t;
        it.created_at = t;
        storage.insert_certificate_intent(&it).await.unwrap();
        let rec = storage.certificate(&s).await.unwrap().unwrap();
        assert_eq!(
            (rec.not_before, rec.not_after, rec.created_at),
            (t, t, t),
            "case {t}"
        );
        assert_eq!(rec.created_at.offset(), time::UtcOffset::UTC);
    }

    // Sub-microsecond parts are floored; other offsets come back as the same instant in UTC.
    let s = serial(6000);
    let mut it = intent(s.clone(), ISSUER);
    it.created_at = datetime!(2026-11-23 12:00:00.123456789 +02:00);
    storage.insert_certificate_intent(&it).await.unwrap();
    let rec = storage.certificate(&s).await.unwrap().unwrap();
    assert_eq!(rec.created_at, datetime!(2026-11-23 10:00:00.123456 UTC));
    assert_eq!(rec.created_at.offset(), time::UtcOffset::UTC);

    // Ordering holds at one-microsecond distance (unfinished intents are oldest first).
    let base = datetime!(2030-01-01 00:00:00 UTC);
    for (k, n) in [3u64, 1, 2].into_iter().enumerate() {
        let mut it = intent(serial(7000 + k as u64), "ordering-ca");
        it.created_at = base + Duration::microseconds(n as i64);
        storage.insert_certificate_intent(&it).await.unwrap();
    }
    let order: Vec<_> = storage
        .unfinished_intents()
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.issuer == "ordering-ca")
        .map(|c| (c.created_at - base).whole_microseconds())
        .collect();
    assert_eq!(order, vec![1, 2, 3]);

    // Time-stamp genTime and audit recorded_at keep microseconds too.
    let mut ts = ts_record(1);
    ts.gen_time = datetime!(2026-11-23 10:00:00.654321 UTC);
    insert_timestamps(&storage, std::slice::from_ref(&ts))
        .await
        .unwrap();
    assert_eq!(
        storage
            .timestamp(&ts.serial)
            .await
            .unwrap()
            .unwrap()
            .gen_time,
        ts.gen_time
    );
    let rec = storage
        .append_audit(|head| NewAuditRecord {
            recorded_at: datetime!(2026-11-23 10:00:00.000007 UTC),
            event_type: "t".to_owned(),
            actor: "a".to_owned(),
            payload: "{}".to_owned(),
            hash: chain_hash(&head.hash, "{}"),
        })
        .await
        .unwrap();
    assert_eq!(
        storage.audit_records(rec.seq, 1).await.unwrap()[0].recorded_at,
        datetime!(2026-11-23 10:00:00.000007 UTC)
    );
}
