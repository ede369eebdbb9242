//! The OCSP responder in process, on the real test token and SQLite (and PostgreSQL when
//! reachable): answers with a nonce are signed on demand with the status read from the database
//! at that moment, and judged by `openssl ocsp -reqin -respin` (signature, delegated responder,
//! nonce); a responder key that does not match its certificate is refused at start and never
//! signs an answer that goes out.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::pki::{TokenKey, generate, issue, openssl, write_cert};
use der::asn1::OctetString;
use der::{Decode, Encode};
use qtsp::clock::{FixedClock, SharedClock, SystemClock};
use qtsp::ocsp::{OcspAuthority, OcspCacheSettings, OcspResponder};
use qtsp::pki::ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspRequest, OcspResponse, OcspResponseStatus, Request,
    TbsRequest,
};
use qtsp::pki::{
    CountryCode, LegalIdentityType, LegalPersonIdentifier, OrganizationName, SubjectName, oid,
};
use qtsp::profile::{IssuerInfo, ProfileId, UrlContext};
use qtsp::storage::{
    CertificateSerial, IssuedStatus, NewCertificateIntent, RevocationReason, RevocationRequest,
    Storage,
};
use qtsp_hsm::{Hsm, KeySpec};
use sha1::{Digest as _, Sha1};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::serial_number::SerialNumber;

/// The name the CA's certificates are stored under.
const CA: &str = "test-ca";

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

/// A CA (P-384, self-signed) with a delegated P-256 responder, and a P-256 key the responder
/// certificate does not certify.
struct Pki {
    hsm: Hsm,
    ca: Vec<u8>,
    responder_key: TokenKey,
    responder: Vec<u8>,
    stranger_key: TokenKey,
    /// The responder certificate is valid from here for 30 days.
    start: OffsetDateTime,
}

async fn pki() -> Pki {
    let hsm = common::pki::hsm().await;
    let ca_key = generate(&hsm, KeySpec::EcP384, "ocsp-responder-test-ca").await;
    let responder_key = generate(&hsm, KeySpec::EcP256, "ocsp-responder-test-rsp").await;
    let stranger_key = generate(&hsm, KeySpec::EcP256, "ocsp-responder-test-other").await;
    let urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        CA,
    )
    .unwrap();
    // Valid now: openssl checks the responder certificate against the current time.
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap() - time::Duration::DAY;
    let ca_name = organization("QTSP Test OCSP CA");
    let ca = issue(
        &hsm,
        ProfileId::RootCa,
        &[0x01],
        &ca_name,
        &ca_key.spki_der,
        &IssuerInfo::self_signed(&ca_name, &ca_key.spki_der).unwrap(),
        &ca_key,
        (start, start + time::Duration::days(3650)),
        &urls,
    )
    .await
    .unwrap();
    let responder = issue(
        &hsm,
        ProfileId::OcspResponder,
        &[0x20],
        &organization("QTSP Test OCSP Responder"),
        &responder_key.spki_der,
        &IssuerInfo::from_certificate_der(&ca).unwrap(),
        &ca_key,
        (start, start + time::Duration::days(30)),
        &urls,
    )
    .await
    .unwrap();
    Pki {
        hsm,
        ca,
        responder_key,
        responder,
        stranger_key,
        start,
    }
}

fn responder(pki: &Pki, storage: &Storage, key: &TokenKey) -> OcspResponder {
    responder_on(pki, storage, key, Arc::new(SystemClock))
}

fn responder_on(pki: &Pki, storage: &Storage, key: &TokenKey, clock: SharedClock) -> OcspResponder {
    OcspResponder::new(
        vec![OcspAuthority::from_certificate_der(CA, &pki.ca).unwrap()],
        key.key.clone(),
        &pki.responder,
        pki.hsm.clone(),
        storage.clone(),
        clock,
        time::Duration::hours(1),
        OcspCacheSettings::default(),
    )
    .unwrap()
}

/// Records certificate `n` of `issuer`: an intent, then (when `issued`) its DER.
async fn record(storage: &Storage, n: u8, issuer: &str, issued: bool) -> CertificateSerial {
    let serial = CertificateSerial::from_unsigned_be(&[0x51, 0x7e, n]).unwrap();
    let now = OffsetDateTime::now_utc();
    storage
        .insert_certificate_intent(&NewCertificateIntent {
            serial: serial.clone(),
            issuer: issuer.to_owned(),
            profile: "qcp-n-qscd".to_owned(),
            subject: format!("CN=Certificate {n},C=FR"),
            spki_sha256: [n; 32],
            not_before: now,
            not_after: now + time::Duration::days(1),
            created_at: now,
        })
        .await
        .unwrap();
    if issued {
        storage
            .record_issued_certificate(&serial, &[0x30, 0x03, 0x02, 0x01, n], now)
            .await
            .unwrap();
    }
    serial
}

/// An OCSPRequest for `serial` of the CA, with `nonce`.
fn request(ca: &[u8], serial: &CertificateSerial, nonce: &[u8]) -> Vec<u8> {
    let ca = Certificate::from_der(ca).unwrap();
    let tbs = ca.tbs_certificate();
    let name = tbs.subject().to_der().unwrap();
    let key = tbs.subject_public_key_info().subject_public_key.raw_bytes();
    let cert_id = CertId {
        hash_algorithm: spki::AlgorithmIdentifierOwned {
            oid: oid::ID_SHA1,
            parameters: Some(der::asn1::Any::null()),
        },
        issuer_name_hash: OctetString::new(Sha1::digest(&name).to_vec()).unwrap(),
        issuer_key_hash: OctetString::new(Sha1::digest(key).to_vec()).unwrap(),
        serial_number: SerialNumber::new(serial.as_bytes()).unwrap(),
    };
    OcspRequest {
        tbs_request: TbsRequest {
            version: 0,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: cert_id,
                single_request_extensions: None,
            }],
            request_extensions: Some(vec![Extension {
                extn_id: oid::ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(
                    OctetString::new(nonce.to_vec()).unwrap().to_der().unwrap(),
                )
                .unwrap(),
            }]),
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

/// The certStatus of a successful answer's only SingleResponse.
fn cert_status(der: &[u8]) -> CertStatus {
    let response = OcspResponse::from_der(der).unwrap();
    assert_eq!(response.response_status, OcspResponseStatus::Successful);
    let basic =
        BasicOcspResponse::from_der(response.response_bytes.unwrap().response.as_bytes()).unwrap();
    let responses = basic.tbs_response_data.responses;
    assert_eq!(responses.len(), 1);
    responses[0].cert_status.clone()
}

/// `openssl ocsp -reqin -respin`: the signature, the delegated responder's authorisation by
/// the CA and the echoed nonce.
fn openssl_verifies(dir: &std::path::Path, ca_pem: &std::path::Path, req: &[u8], resp: &[u8]) {
    let (req_path, resp_path) = (dir.join("req.der"), dir.join("resp.der"));
    std::fs::write(&req_path, req).unwrap();
    std::fs::write(&resp_path, resp).unwrap();
    let (ok, out, err) = openssl(&[
        "ocsp",
        "-reqin",
        req_path.to_str().unwrap(),
        "-respin",
        resp_path.to_str().unwrap(),
        "-CAfile",
        ca_pem.to_str().unwrap(),
    ]);
    let all = format!("{out}{err}");
    assert!(ok, "{all}");
    assert!(all.contains("Response verify OK"), "{all}");
    assert!(!all.contains("Nonce"), "nonce not echoed: {all}");
}

async fn nonce_answers_follow_the_database(storage: Storage) {
    let pki = pki().await;
    let dir = tempfile::tempdir().unwrap();
    let (_, ca_pem) = write_cert(dir.path(), "ca", &pki.ca);
    let good = record(&storage, 1, CA, true).await;
    let revoked = record(&storage, 2, CA, true).await;
    let intent = record(&storage, 3, CA, false).await;
    let elsewhere = record(&storage, 4, "another-ca", true).await;
    let never = CertificateSerial::from_unsigned_be(&[0x51, 0x7e, 0x09]).unwrap();
    let revoked_at = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    storage
        .revoke(&RevocationRequest {
            serial: revoked.clone(),
            reason: RevocationReason::KeyCompromise,
            revoked_at,
            invalidity_date: None,
        })
        .await
        .unwrap();

    // What the responder asks the database: only issued certificates of that CA have a status.
    assert_eq!(
        storage.issued_status(CA, &good).await.unwrap(),
        Some(IssuedStatus::Good)
    );
    assert_eq!(
        storage.issued_status(CA, &revoked).await.unwrap(),
        Some(IssuedStatus::Revoked {
            reason: RevocationReason::KeyCompromise,
            revoked_at,
        })
    );
    for (issuer, serial) in [
        (CA, &intent),
        (CA, &elsewhere),
        (CA, &never),
        ("another-ca", &good),
    ] {
        assert_eq!(storage.issued_status(issuer, serial).await.unwrap(), None);
    }

    // The same for many serials in one query (duplicates and strangers included).
    let mut batch = storage
        .issued_statuses(
            CA,
            &[
                good.clone(),
                never.clone(),
                revoked.clone(),
                intent.clone(),
                elsewhere.clone(),
                good.clone(),
            ],
        )
        .await
        .unwrap();
    batch.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        batch,
        [
            (good.clone(), IssuedStatus::Good),
            (
                revoked.clone(),
                IssuedStatus::Revoked {
                    reason: RevocationReason::KeyCompromise,
                    revoked_at,
                }
            ),
        ]
    );
    assert!(storage.issued_statuses(CA, &[]).await.unwrap().is_empty());

    let responder = responder(&pki, &storage, &pki.responder_key);
    responder.check_key().await.unwrap();
    let mut expected_signatures = 0;
    for (n, serial, expected) in [
        (1u8, &good, "good"),
        (2, &revoked, "revoked"),
        (3, &intent, "unknown"),
        (4, &elsewhere, "unknown"),
        (5, &never, "unknown"),
    ] {
        let req = request(&pki.ca, serial, &[n; 16]);
        let answer = responder.respond(&req).await;
        assert_eq!(answer.status, OcspResponseStatus::Successful, "{answer:?}");
        assert!(answer.nonce);
        expected_signatures += 1;
        assert_eq!(responder.signatures(), expected_signatures);
        let status = cert_status(&answer.der);
        match (expected, &status) {
            ("good", CertStatus::Good(_)) | ("unknown", CertStatus::Unknown(_)) => {}
            ("revoked", CertStatus::Revoked(info)) => {
                assert_eq!(info.revocation_reason, Some(CrlReason::KeyCompromise));
                assert_eq!(
                    info.revocation_time,
                    qtsp::pki::der_util::generalized_time(revoked_at).unwrap()
                );
            }
            _ => panic!("serial {n}: expected {expected}, got {status:?}"),
        }
        openssl_verifies(dir.path(), &ca_pem, &req, &answer.der);
    }

    // Concurrent answers (their statuses read together) each get their own serial's status.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..60u8 {
        let (responder, serial, ca) = (
            responder.clone(),
            [&good, &revoked, &never][usize::from(i % 3)].clone(),
            pki.ca.clone(),
        );
        tasks.spawn(async move {
            let answer = responder.respond(&request(&ca, &serial, &[i; 20])).await;
            (i % 3, cert_status(&answer.der))
        });
    }
    while let Some(joined) = tasks.join_next().await {
        match joined.unwrap() {
            (0, CertStatus::Good(_))
            | (1, CertStatus::Revoked(_))
            | (2, CertStatus::Unknown(_)) => {}
            (kind, status) => panic!("serial kind {kind} answered {status:?}"),
        }
    }
    assert_eq!(responder.signatures(), expected_signatures + 60);

    // A revocation shows in the very next answer signed on demand.
    storage
        .revoke(&RevocationRequest {
            serial: good.clone(),
            reason: RevocationReason::Superseded,
            revoked_at,
            invalidity_date: None,
        })
        .await
        .unwrap();
    let req = request(&pki.ca, &good, &[0x42; 32]);
    let answer = responder.respond(&req).await;
    match cert_status(&answer.der) {
        CertStatus::Revoked(info) => {
            assert_eq!(info.revocation_reason, Some(CrlReason::Superseded));
        }
        other => panic!("expected revoked after the revocation, got {other:?}"),
    }
    openssl_verifies(dir.path(), &ca_pem, &req, &answer.der);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_answers_follow_the_database_sqlite() {
    let (storage, _dir) = common::db::sqlite_storage().await;
    nonce_answers_follow_the_database(storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_answers_follow_the_database_postgres() {
    let Some(storage) = common::db::postgres_storage().await else {
        return;
    };
    nonce_answers_follow_the_database(storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_responder_key_that_does_not_match_its_certificate_never_signs_an_answer() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let good = record(&storage, 1, CA, true).await;

    // At start: refused with the code of a bad signature.
    let mismatched = responder(&pki, &storage, &pki.stranger_key);
    let error = mismatched.check_key().await.unwrap_err();
    assert!(error.to_string().starts_with("OCSP203 "), "{error}");

    // Without the start-up check, no answer goes out unverified: each is refused, unsigned, as
    // internalError with the same code (a key that never verified is never trusted).
    let unchecked = responder(&pki, &storage, &pki.stranger_key);
    for n in 1..=3u8 {
        let answer = unchecked.respond(&request(&pki.ca, &good, &[n; 8])).await;
        assert_eq!(answer.status, OcspResponseStatus::InternalError);
        assert_eq!(answer.error_code, Some("OCSP203"));
        assert_eq!(answer.der, [0x30, 0x03, 0x0a, 0x01, 0x02]);
    }

    // The matching key, unchecked at start: its first answer is verified, and it is good.
    let matching = responder(&pki, &storage, &pki.responder_key);
    let answer = matching.respond(&request(&pki.ca, &good, &[9; 8])).await;
    assert!(matches!(cert_status(&answer.der), CertStatus::Good(_)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_answer_is_signed_outside_the_responder_certificate_validity() {
    let pki = pki().await;
    let (storage, _dir) = common::db::sqlite_storage().await;
    let good = record(&storage, 1, CA, true).await;
    let at = |t: OffsetDateTime| {
        let clock: SharedClock = Arc::new(FixedClock(t));
        responder_on(&pki, &storage, &pki.responder_key, clock)
    };
    let not_after = pki.start + time::Duration::days(30);

    // Four days before the end: answers as usual; ready, with a warning.
    let ending = at(not_after - time::Duration::days(4));
    let answer = ending.respond(&request(&pki.ca, &good, &[1; 8])).await;
    assert!(matches!(cert_status(&answer.der), CertStatus::Good(_)));
    let warning = ending.readiness().unwrap().unwrap();
    assert!(warning.starts_with("OCSP206"), "{warning}");
    assert!(warning.contains("in 4 days"), "{warning}");
    assert_eq!(at(pki.start + time::Duration::DAY).readiness(), Ok(None));

    // After the end and before the start: internalError, unsigned, with or without a nonce;
    // nothing reaches the HSM; not ready.
    for t in [
        not_after + time::Duration::SECOND,
        pki.start - time::Duration::SECOND,
    ] {
        let outside = at(t);
        let with_nonce = request(&pki.ca, &good, &[2; 8]);
        let mut without = OcspRequest::from_der(&with_nonce).unwrap();
        without.tbs_request.request_extensions = None;
        for der in [with_nonce, without.to_der().unwrap()] {
            let answer = outside.respond(&der).await;
            assert_eq!(answer.status, OcspResponseStatus::InternalError);
            assert_eq!(answer.error_code, Some("OCSP205"));
            assert_eq!(answer.der, [0x30, 0x03, 0x0a, 0x01, 0x02]);
        }
        assert_eq!(outside.signatures(), 0);
        let error = outside.readiness().unwrap_err();
        assert!(error.starts_with("OCSP205"), "{error}");
    }
}
