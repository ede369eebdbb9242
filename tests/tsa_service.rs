//! The time-stamping authority in process, on the real test token and SQLite: a fixed clock gives
//! a known genTime, a scripted synchronization source an unsynchronized clock (whatever the
//! machine's), a closed database a failed record; and a TSU key or certificate that cannot make
//! valid tokens stops the TSA at start.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::pki::{TokenKey, generate, issue};
use der::asn1::OctetString;
use der::{Decode, Encode};
use qtsp::audit::{AuditEvent, Journal, NodeInfo};
use qtsp::clock::{FixedClock, SharedClock, SyncReading, SyncSource};
use qtsp::pki::tsp::{MessageImprint, PkiFailureInfo, PkiStatus, TimeStampReq, TimeStampResp};
use qtsp::pki::{
    CountryCode, LegalIdentityType, LegalPersonIdentifier, OrganizationName, SubjectName,
};
use qtsp::profile::{IssuerInfo, ProfileId, UrlContext};
use qtsp::storage::Storage;
use qtsp::tsa::{Outcome, TimeStampAuthority, TsaPolicy, TsaSetup, TsaTasks};
use qtsp_hsm::{Hsm, KeySpec};
use time::OffsetDateTime;
use time::macros::datetime;

const T0: OffsetDateTime = datetime!(2026-03-01 00:00:00 UTC);
const NOW: OffsetDateTime = datetime!(2026-06-01 12:34:56.789012 UTC);

fn organization(cn: &str) -> SubjectName {
    let fr = CountryCode::new("FR").unwrap();
    SubjectName::Organization(
        OrganizationName::new(
            fr,
            "QTSP Test SAS",
            Some(
                LegalPersonIdentifier::new(
                    LegalIdentityType::NationalTradeRegister,
                    fr,
                    "552100554",
                )
                .unwrap(),
            ),
            cn,
        )
        .unwrap(),
    )
}

/// A synchronization source whose answer the test sets.
#[derive(Debug)]
struct Scripted(Mutex<bool>);

impl SyncSource for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }
    fn read(&self) -> Result<SyncReading, String> {
        let synchronized = *self.0.lock().unwrap();
        Ok(SyncReading {
            synchronized,
            max_error: Duration::from_millis(3),
            detail: format!("scripted: synchronized={synchronized}"),
        })
    }
}

struct Pki {
    hsm: Hsm,
    root_key: TokenKey,
    root: Vec<u8>,
    tsu_key: TokenKey,
    tsu: Vec<u8>,
}

async fn pki() -> Pki {
    let hsm = common::pki::hsm().await;
    let root_key = generate(&hsm, KeySpec::EcP384, "tsa-service-root").await;
    let tsu_key = generate(&hsm, KeySpec::EcP256, "tsa-service-tsu").await;
    let urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        "root",
    )
    .unwrap();
    let root_name = organization("QTSP Test Root CA");
    let root = issue(
        &hsm,
        ProfileId::RootCa,
        &[0x01],
        &root_name,
        &root_key.spki_der,
        &IssuerInfo::self_signed(&root_name, &root_key.spki_der).unwrap(),
        &root_key,
        (T0, T0 + time::Duration::days(3650)),
        &urls,
    )
    .await
    .unwrap();
    let tsu = issue(
        &hsm,
        ProfileId::Tsu,
        &[0x10],
        &organization("QTSP Test TSU"),
        &tsu_key.spki_der,
        &IssuerInfo::from_certificate_der(&root).unwrap(),
        &root_key,
        (T0, T0 + time::Duration::days(365)),
        &urls,
    )
    .await
    .unwrap();
    Pki {
        hsm,
        root_key,
        root,
        tsu_key,
        tsu,
    }
}

fn setup(
    pki: &Pki,
    storage: &Storage,
    sync: Arc<dyn SyncSource>,
    certificate: Vec<u8>,
    key: &TokenKey,
) -> TsaSetup {
    setup_at(pki, storage, sync, certificate, key, NOW)
}

/// [`setup`] with the clock at `now`.
fn setup_at(
    pki: &Pki,
    storage: &Storage,
    sync: Arc<dyn SyncSource>,
    certificate: Vec<u8>,
    key: &TokenKey,
    now: OffsetDateTime,
) -> TsaSetup {
    let clock: SharedClock = Arc::new(FixedClock(now));
    TsaSetup {
        hsm: pki.hsm.clone(),
        key: key.key.clone(),
        certificate,
        policy: TsaPolicy::parse(qtsp::tsa::policy::DEFAULT_POLICY).unwrap(),
        require_clock_sync: true,
        clock_report: Duration::from_secs(3600),
        clock: clock.clone(),
        sync,
        journal: Journal::new(storage.clone(), clock, NodeInfo::new("tsa-test")),
        node_id: "tsa-test".into(),
    }
}

fn request() -> Vec<u8> {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: qtsp::pki::tsp::sha256_algorithm(),
            hashed_message: OctetString::new(vec![0x42; 32]).unwrap(),
        },
        req_policy: None,
        nonce: None,
        cert_req: false,
        extensions: None,
    }
    .to_der()
    .unwrap()
}

fn status(der: &[u8]) -> (PkiStatus, Option<PkiFailureInfo>, Vec<String>) {
    let resp = TimeStampResp::from_der(der).unwrap();
    (
        resp.status.status,
        resp.status.fail_info,
        resp.status.status_string.unwrap_or_default(),
    )
}

async fn stop(tsa: TimeStampAuthority, tasks: TsaTasks) {
    drop(tsa);
    tasks.recorder.await.unwrap();
    tasks.clock_monitor.await.unwrap();
}

async fn audit_types(storage: &Storage) -> Vec<String> {
    storage
        .audit_records(1, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event_type)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_with_the_clock_refused_without_it_and_never_granted_unrecorded() {
    let pki = pki().await;
    let (storage, dir) = common::db::sqlite_storage().await;
    let sync = Arc::new(Scripted(Mutex::new(true)));
    let (tsa, tasks) = TimeStampAuthority::start(setup(
        &pki,
        &storage,
        sync.clone(),
        pki.tsu.clone(),
        &pki.tsu_key,
    ))
    .await
    .unwrap();
    assert_eq!(tsa.certificate(), &pki.tsu[..]);

    // Synchronized: granted, genTime from the injected clock, recorded.
    let reply = tsa.stamp(&request(), Some("192.0.2.7".into())).await;
    let Outcome::Granted { serial } = &reply.outcome else {
        panic!("{:?}", reply.outcome)
    };
    assert_eq!(status(&reply.der).0, PkiStatus::Granted);
    let record = storage.timestamp(serial).await.unwrap().unwrap();
    assert_eq!(record.gen_time, NOW);
    assert_eq!(record.message_imprint, vec![0x42; 32]);
    assert_eq!(record.requester.as_deref(), Some("192.0.2.7"));

    // Unsynchronized: timeNotAvailable for every request, one audit record for the episode.
    *sync.0.lock().unwrap() = false;
    for _ in 0..3 {
        let reply = tsa.stamp(&request(), None).await;
        let (st, fail, text) = status(&reply.der);
        assert_eq!(st, PkiStatus::Rejection);
        assert_eq!(fail, Some(PkiFailureInfo::TIME_NOT_AVAILABLE));
        assert!(text[0].starts_with("TSA201"), "{text:?}");
    }
    *sync.0.lock().unwrap() = true;
    assert!(matches!(
        tsa.stamp(&request(), None).await.outcome,
        Outcome::Granted { .. }
    ));

    // The monitor journals episode boundaries in the background: let it write the
    // resynchronization before the database goes away.
    for _ in 0..200 {
        if audit_types(&storage)
            .await
            .iter()
            .any(|t| t == "clock_resynchronized")
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The database goes away: a signed token is never released unrecorded.
    storage.close().await;
    let reply = tsa.stamp(&request(), None).await;
    let (st, fail, text) = status(&reply.der);
    assert_eq!(st, PkiStatus::Rejection);
    assert_eq!(fail, Some(PkiFailureInfo::SYSTEM_FAILURE));
    assert!(text[0].starts_with("TSA302"), "{text:?}");
    assert!(
        !text[0].contains("sqlite") && !text[0].contains("pool"),
        "no internal detail for the client: {text:?}"
    );
    stop(tsa, tasks).await;

    let storage = Storage::open_sqlite(&dir.path().join("qtsp.db"), common::db::test_options())
        .await
        .unwrap();
    let types = audit_types(&storage).await;
    let count = |t: &str| types.iter().filter(|x| *x == t).count();
    assert_eq!(count("clock_unsynchronized"), 1, "{types:?}");
    assert_eq!(count("clock_resynchronized"), 1, "{types:?}");
    assert_eq!(count("timestamp_batch"), 2, "{types:?}");
    assert_eq!(storage.count_timestamps().await.unwrap(), 2);
}

/// The `clock_status` records of the journal, in order.
async fn clock_statements(storage: &Storage) -> Vec<AuditEvent> {
    storage
        .audit_records(1, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event_type == "clock_status")
        .map(|r| AuditEvent::from_payload(&r.payload).unwrap())
        .collect()
}

/// Waits (5 s at most) until the journal holds `count` clock statements.
async fn wait_for_statements(storage: &Storage, count: usize) -> Vec<AuditEvent> {
    for _ in 0..500 {
        let statements = clock_statements(storage).await;
        if statements.len() >= count {
            return statements;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("fewer than {count} clock_status records after 5 s");
}

/// The readings a statement counts, and how many were within the accuracy.
fn readings(statement: &AuditEvent) -> (u64, u64) {
    let AuditEvent::ClockStatus {
        readings,
        within_accuracy,
        ..
    } = statement
    else {
        panic!("not a clock_status: {statement:?}");
    };
    (*readings, *within_accuracy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_status_is_journaled_every_period_and_at_the_stop() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let sync = Arc::new(Scripted(Mutex::new(true)));
    let mut tsa_setup = setup(&pki, &storage, sync.clone(), pki.tsu.clone(), &pki.tsu_key);
    tsa_setup.clock_report = Duration::from_secs(2);
    let (tsa, tasks) = TimeStampAuthority::start(tsa_setup).await.unwrap();

    // The first period: every reading (one a second, the first at the start) synchronized.
    let first = wait_for_statements(&storage, 1).await.remove(0);
    let (taken, _) = readings(&first);
    assert!((1..=3).contains(&taken), "{first:?}");
    assert_eq!(
        first,
        AuditEvent::ClockStatus {
            source: "scripted".into(),
            from: NOW,
            to: NOW,
            readings: taken,
            within_accuracy: taken,
            accuracy_us: 1_000_000,
            max_error_us: Some(3_000),
            enforced: true,
            detail: "scripted: synchronized=true".into(),
        }
    );

    // The clock is lost for the next period: its statement says so, beside the episode's record.
    *sync.0.lock().unwrap() = false;
    let statements = wait_for_statements(&storage, 2).await;
    let (taken, within) = readings(&statements[1]);
    assert!(taken >= 1 && within < taken, "{:?}", statements[1]);
    let AuditEvent::ClockStatus { detail, .. } = &statements[1] else {
        unreachable!()
    };
    assert_eq!(detail, "scripted: synchronized=false");
    assert!(
        audit_types(&storage)
            .await
            .contains(&"clock_unsynchronized".to_owned())
    );

    // The stop journals the period it cut short, once it holds a reading (a second passes);
    // `the_clock_status_says_when_the_check_is_off` shows the stop's statement on its own.
    let before = clock_statements(&storage).await.len();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stop(tsa, tasks).await;
    let after = clock_statements(&storage).await;
    assert!(after.len() > before, "{after:?}");
    let (taken, within) = readings(after.last().unwrap());
    assert!(taken >= 1 && within == 0, "{after:?}");
}

/// With the check off, tokens are issued whatever the clock, and the statements say that it
/// was not checked, with what was read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clock_status_says_when_the_check_is_off() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let sync = Arc::new(Scripted(Mutex::new(false)));
    let mut tsa_setup = setup(&pki, &storage, sync.clone(), pki.tsu.clone(), &pki.tsu_key);
    tsa_setup.require_clock_sync = false;
    let (tsa, tasks) = TimeStampAuthority::start(tsa_setup).await.unwrap();
    assert!(matches!(
        tsa.stamp(&request(), None).await.outcome,
        Outcome::Granted { .. }
    ));
    stop(tsa, tasks).await;

    let statements = clock_statements(&storage).await;
    assert_eq!(statements.len(), 1, "{statements:?}");
    let AuditEvent::ClockStatus {
        readings,
        within_accuracy,
        enforced,
        detail,
        ..
    } = &statements[0]
    else {
        unreachable!()
    };
    assert!(*readings >= 1);
    assert_eq!(*within_accuracy, 0);
    assert!(!enforced);
    assert_eq!(detail, "scripted: synchronized=false");
    let types = audit_types(&storage).await;
    assert!(
        !types.iter().any(|t| t == "clock_unsynchronized"),
        "no episode when the check is off: {types:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tsu_that_cannot_make_valid_tokens_does_not_start() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let sync: Arc<dyn SyncSource> = Arc::new(Scripted(Mutex::new(true)));

    // The key does not belong to the certificate: the start-up self-test says so.
    let err = TimeStampAuthority::start(setup(
        &pki,
        &storage,
        sync.clone(),
        pki.tsu.clone(),
        &pki.root_key,
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().starts_with("TSA005"), "{err}");

    // A CA certificate has no id-kp-timeStamping.
    let err = TimeStampAuthority::start(setup(
        &pki,
        &storage,
        sync.clone(),
        pki.root.clone(),
        &pki.root_key,
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().starts_with("TSA002"), "{err}");

    // Not a certificate at all.
    let err = TimeStampAuthority::start(setup(
        &pki,
        &storage,
        sync,
        b"not a certificate".to_vec(),
        &pki.tsu_key,
    ))
    .await
    .unwrap_err();
    assert!(err.to_string().starts_with("TSA002"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_outside_the_tsu_certificate_validity_and_readiness_says_why() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let sync = Arc::new(Scripted(Mutex::new(true)));
    // The TSU certificate is valid from T0 for 365 days.
    let not_after = T0 + time::Duration::days(365);
    let start_at = |now| {
        TimeStampAuthority::start(setup_at(
            &pki,
            &storage,
            sync.clone(),
            pki.tsu.clone(),
            &pki.tsu_key,
            now,
        ))
    };

    // Well inside: granted, ready without a warning.
    let (tsa, tasks) = start_at(NOW).await.unwrap();
    assert_eq!(tsa.readiness(), Ok(None));
    // Clock not synchronized: not ready, with the code of the refusal.
    *sync.0.lock().unwrap() = false;
    let error = tsa.readiness().unwrap_err();
    assert!(error.starts_with("TSA201"), "{error}");
    *sync.0.lock().unwrap() = true;
    stop(tsa, tasks).await;

    // Ten days before the end: still granted; ready, with a warning naming the end.
    let (tsa, tasks) = start_at(not_after - time::Duration::days(10))
        .await
        .unwrap();
    assert!(matches!(
        tsa.stamp(&request(), None).await.outcome,
        Outcome::Granted { .. }
    ));
    let warning = tsa.readiness().unwrap().unwrap();
    assert!(warning.starts_with("TSA204"), "{warning}");
    assert!(warning.contains("in 10 days"), "{warning}");
    stop(tsa, tasks).await;

    // After the end, and before the start: every request refused (systemFailure, TSA203),
    // nothing recorded; not ready.
    for now in [not_after + time::Duration::SECOND, T0 - time::Duration::DAY] {
        let (tsa, tasks) = start_at(now).await.unwrap();
        let before = storage.count_timestamps().await.unwrap();
        for _ in 0..2 {
            let reply = tsa.stamp(&request(), None).await;
            let (st, fail, text) = status(&reply.der);
            assert_eq!(st, PkiStatus::Rejection);
            assert_eq!(fail, Some(PkiFailureInfo::SYSTEM_FAILURE));
            assert!(text[0].starts_with("TSA203"), "{text:?}");
            assert_eq!(
                reply.outcome,
                Outcome::Rejected {
                    code: "TSA203",
                    fail_info: PkiFailureInfo::SYSTEM_FAILURE
                }
            );
        }
        let error = tsa.readiness().unwrap_err();
        assert!(error.starts_with("TSA203"), "{error}");
        stop(tsa, tasks).await;
        assert_eq!(storage.count_timestamps().await.unwrap(), before);
    }
}
