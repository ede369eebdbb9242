//! CRLs end to end: `qtsp init`, natural-person certificates issued through the CA pipeline
//! (`qtsp bench issue`), revocations recorded through the storage API, then `qtsp serve` answering
//! `GET /crl/{ca}.crl`. Judged by independent tools: `openssl crl -verify` against the hierarchy,
//! `openssl crl -text` for the entries and reasons, and pkilint's `lint_crl` (no ERROR or FATAL).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::process::{Server, init_with_people, qtsp, run_ok, storage};

use std::path::{Path, PathBuf};

use common::pki::{generate, hsm, issue, openssl, pkilint, run_pkilint};
use der::Decode;
use qtsp::storage::{CertificateRecord, RevocationReason, RevocationRequest, Storage};
use time::OffsetDateTime;

async fn revoke(
    db: &Storage,
    certificate: &CertificateRecord,
    reason: RevocationReason,
    invalidity_date: Option<OffsetDateTime>,
) {
    db.revoke(&RevocationRequest {
        serial: certificate.serial.clone(),
        reason,
        revoked_at: OffsetDateTime::now_utc(),
        invalidity_date,
    })
    .await
    .unwrap();
}

struct Fetched {
    der: Vec<u8>,
    path: PathBuf,
    number: u64,
}

/// GET /crl/{ca}.crl: 200, application/pkix-crl, a DER CRL (written to `<dir>/<ca>-<n>.crl`).
async fn fetch(client: &reqwest::Client, server: &Server, ca: &str, dir: &Path, n: u32) -> Fetched {
    let response = client
        .get(format!("http://{}/crl/{ca}.crl", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "GET /crl/{ca}.crl");
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/pkix-crl"
    );
    let cache_control = response.headers()["cache-control"].to_str().unwrap();
    assert!(
        cache_control.starts_with("public, max-age="),
        "{cache_control}"
    );
    let der = response.bytes().await.unwrap().to_vec();
    let path = dir.join(format!("{ca}-{n}.crl"));
    std::fs::write(&path, &der).unwrap();
    // The CRL number as openssl reads it ("crlNumber=0x0A").
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-noout",
        "-crlnumber",
    ]);
    assert!(ok, "openssl crl -crlnumber: {err}");
    let hex = out
        .trim()
        .strip_prefix("crlNumber=0x")
        .unwrap_or_else(|| panic!("no CRL number in {out:?}"));
    let number = u64::from_str_radix(hex, 16).unwrap();
    Fetched { der, path, number }
}

/// `openssl crl -verify` with the trust anchor and the issuing CA in one file.
fn assert_verifies(crl: &Path, ca_file: &Path) {
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        ca_file.to_str().unwrap(),
        "-verify",
        "-noout",
    ]);
    assert!(
        ok && format!("{out}{err}").contains("verify OK"),
        "openssl crl -verify {}: {out}{err}",
        crl.display()
    );
}

fn crl_text(crl: &Path) -> String {
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok, "openssl crl -text: {err}");
    out
}

/// The lines of `text` from the one naming `serial` up to the next entry.
fn entry(text: &str, serial_hex: &str) -> String {
    let needle = format!("Serial Number: {}", serial_hex.to_uppercase());
    let start = text
        .find(&needle)
        .unwrap_or_else(|| panic!("serial {serial_hex} is not on the CRL:\n{text}"));
    let rest = &text[start + needle.len()..];
    let end = rest.find("Serial Number:").unwrap_or(rest.len());
    rest[..end].to_owned()
}

/// pkilint's lint_crl on `crl` with the document type `kind` (CRL or ARL), PKIX profile: no
/// ERROR or FATAL; every finding is shown in the test output.
fn lint(crl: &Path, kind: &str) {
    let Some(bin) = pkilint() else { return };
    let report = run_pkilint(
        &bin,
        "lint_crl",
        &["-t", kind, "-p", "PKIX", "-s", "INFO"],
        crl,
    );
    eprintln!("{}:\n{}", report.command, report.output);
    report.assert_clean();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crls_list_revocations_verify_with_openssl_and_pass_pkilint() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    let people = init_with_people(&data, 4).await;
    let db = storage(&data).await;
    let invalidity = OffsetDateTime::now_utc() - time::Duration::hours(2);
    revoke(
        &db,
        &people[0],
        RevocationReason::KeyCompromise,
        Some(invalidity),
    )
    .await;
    revoke(&db, &people[1], RevocationReason::Unspecified, None).await;
    revoke(
        &db,
        &people[2],
        RevocationReason::CessationOfOperation,
        None,
    )
    .await;

    let certs = data.join("certs");
    let chain = dir.path().join("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read_to_string(certs.join("root.pem")).unwrap(),
            std::fs::read_to_string(certs.join("qualified-ca.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();

    let server = Server::start(qtsp(&data));
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::new();

    // The issuing CA's CRL: signed by it, every revoked serial with its reason.
    let first = fetch(&client, &server, "qualified-ca", dir.path(), 1).await;
    assert_verifies(&first.path, &chain);
    let text = crl_text(&first.path);
    assert!(text.contains("Version 2 (0x1)"), "{text}");
    assert!(
        text.contains("Signature Algorithm: ecdsa-with-SHA384"),
        "{text}"
    );
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(text.contains("Next Update:"), "{text}");
    assert!(
        text.contains("CN=qtsp Demo Qualified CA for Natural Persons 2026")
            || text.contains("CN = qtsp Demo Qualified CA for Natural Persons 2026"),
        "issuer:\n{text}"
    );
    let key_compromise = entry(&text, &people[0].serial.to_hex());
    assert!(
        key_compromise.contains("Key Compromise"),
        "{key_compromise}"
    );
    assert!(
        key_compromise.contains("Invalidity Date"),
        "{key_compromise}"
    );
    let unspecified = entry(&text, &people[1].serial.to_hex());
    assert!(
        !unspecified.contains("Reason Code"),
        "unspecified is written as no reason: {unspecified}"
    );
    let cessation = entry(&text, &people[2].serial.to_hex());
    assert!(cessation.contains("Cessation Of Operation"), "{cessation}");
    assert!(
        !text.contains(&people[3].serial.to_hex().to_uppercase()),
        "a certificate that is not revoked is listed:\n{text}"
    );
    // Read back with independent types: AKI is the CA's SKI, expiredCertsOnCRL is present.
    let crl =
        x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&first.der)
            .unwrap();
    assert_eq!(
        crl.tbs_cert_list
            .revoked_certificates
            .as_ref()
            .unwrap()
            .len(),
        3
    );
    let extensions = crl.tbs_cert_list.crl_extensions.as_ref().unwrap();
    assert!(
        extensions
            .iter()
            .any(|e| e.extn_id == qtsp::pki::oid::ID_CE_EXPIRED_CERTS_ON_CRL && !e.critical)
    );
    lint(&first.path, "CRL");

    // Nothing revoked since: the same CRL is served again.
    let again = fetch(&client, &server, "qualified-ca", dir.path(), 2).await;
    assert_eq!(
        again.der, first.der,
        "an unchanged CRL is served from the cache"
    );

    // A new revocation is on the very next CRL, under a greater number.
    revoke(&db, &people[3], RevocationReason::Superseded, None).await;
    let second = fetch(&client, &server, "qualified-ca", dir.path(), 3).await;
    assert!(
        second.number > first.number,
        "CRL number {} after {}",
        second.number,
        first.number
    );
    assert_verifies(&second.path, &chain);
    let text = crl_text(&second.path);
    assert!(entry(&text, &people[3].serial.to_hex()).contains("Superseded"));
    for person in &people[..3] {
        entry(&text, &person.serial.to_hex());
    }
    lint(&second.path, "CRL");

    // The root revoked nothing: an empty CRL, still signed by the root and valid.
    let root_crl = fetch(&client, &server, "root", dir.path(), 1).await;
    assert_verifies(&root_crl.path, &certs.join("root.pem"));
    let text = crl_text(&root_crl.path);
    assert!(text.contains("No Revoked Certificates"), "{text}");
    assert!(
        text.contains("CN = qtsp Demo Root CA 2026") || text.contains("CN=qtsp Demo Root CA 2026"),
        "{text}"
    );
    lint(&root_crl.path, "ARL");

    // Unknown CAs, entities that are not CAs and other names: 404 with the error JSON.
    for path in [
        "/crl/nobody.crl",
        "/crl/tsu.crl",
        "/crl/qualified-ca",
        "/crl/root.pem",
    ] {
        let response = client
            .get(format!("http://{}{path}", server.public))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}: {body}");
        assert!(body["error_description"].is_string(), "{path}: {body}");
    }

    // Every CRL published is in the journal, and the journal still verifies.
    let published: Vec<serde_json::Value> = db
        .audit_records(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event_type == "crl_published")
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect();
    let numbers: Vec<(String, u64)> = published
        .iter()
        .map(|p| {
            (
                p["issuer"].as_str().unwrap().to_owned(),
                p["crl_number"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        numbers.contains(&("qualified-ca".to_owned(), first.number)),
        "{numbers:?}"
    );
    assert!(
        numbers.contains(&("qualified-ca".to_owned(), second.number)),
        "{numbers:?}"
    );
    assert!(
        numbers.contains(&("root".to_owned(), root_crl.number)),
        "{numbers:?}"
    );
    drop(server);
    let report = run_ok(qtsp(&data).args(["audit", "verify"]));
    assert!(report.contains("INTACT"), "{report}");
}

/// A clock the test moves by hand.
#[derive(Debug)]
struct ManualClock(std::sync::Mutex<OffsetDateTime>);

impl ManualClock {
    fn advance(&self, by: time::Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl qtsp::clock::Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

/// The CRL service's cache on one back end: the same CRL while nothing changes, a new one (with
/// a greater number) after a revocation of the CA or once the refresh interval has passed; other
/// CAs' revocations are not listed; unknown CAs are `None`.
async fn service_rebuilds_only_when_out_of_date(storage: Storage) {
    use qtsp::crl::{CrlIssuer, CrlSchedule, CrlService};
    use qtsp::pki::{
        CountryCode, LegalIdentityType, LegalPersonIdentifier, OrganizationName, SubjectName,
    };
    use qtsp::profile::{IssuerInfo, ProfileId, UrlContext};
    use qtsp::storage::{CertificateSerial, NewCertificateIntent};
    use std::sync::Arc;

    let t0 = time::macros::datetime!(2026-03-01 00:00:00 UTC);
    let hsm = hsm().await;
    let key = generate(&hsm, qtsp_hsm::KeySpec::EcP384, "crl-service-ca").await;
    let fr = CountryCode::new("FR").unwrap();
    let name = SubjectName::Organization(
        OrganizationName::new(
            fr,
            "qtsp CRL test",
            Some(
                LegalPersonIdentifier::new(LegalIdentityType::NationalTradeRegister, fr, "1")
                    .unwrap(),
            ),
            "qtsp CRL test CA",
        )
        .unwrap(),
    );
    let urls = UrlContext::new("http://pki.qtsp.test", "https://www.qtsp.test", "ca").unwrap();
    let certificate = issue(
        &hsm,
        ProfileId::RootCa,
        &[1],
        &name,
        &key.spki_der,
        &IssuerInfo::self_signed(&name, &key.spki_der).unwrap(),
        &key,
        (t0, t0 + time::Duration::days(3650)),
        &urls,
    )
    .await
    .unwrap();

    let clock = Arc::new(ManualClock(std::sync::Mutex::new(
        t0 + time::Duration::days(10),
    )));
    let shared: qtsp::clock::SharedClock = clock.clone();
    let journal = qtsp::audit::Journal::new(
        storage.clone(),
        shared.clone(),
        qtsp::audit::NodeInfo::new("n1"),
    );
    let schedule = CrlSchedule::new(time::Duration::hours(24), time::Duration::hours(1)).unwrap();
    let issuer = CrlIssuer::new(
        "ca",
        key.key.clone(),
        &certificate,
        hsm.clone(),
        storage.clone(),
        journal,
        shared.clone(),
        schedule,
    )
    .unwrap();
    let service = CrlService::new(vec![issuer], shared, "system:n1");
    assert_eq!(service.names().collect::<Vec<_>>(), ["ca"]);
    assert!(service.current("nobody").await.unwrap().is_none());

    let first = service.current("ca").await.unwrap().unwrap();
    assert_eq!(first.revoked, 0);
    clock.advance(time::Duration::minutes(59));
    let same = service.current("ca").await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &same),
        "rebuilt before the refresh interval"
    );
    assert_eq!(
        service.seconds_until_next_update(&same),
        (23 * 3600 + 60) as u64
    );

    // Revocations: of another CA, nothing changes; of this CA, the next request rebuilds.
    let mut serials = Vec::new();
    for (n, ca) in [(1u8, "ca"), (2, "other-ca")] {
        let serial = CertificateSerial::from_unsigned_be(&[0x40, n]).unwrap();
        storage
            .insert_certificate_intent(&NewCertificateIntent {
                serial: serial.clone(),
                issuer: ca.to_owned(),
                profile: "qualified-natural-person".to_owned(),
                subject: "CN=Test".to_owned(),
                spki_sha256: [n; 32],
                not_before: t0,
                not_after: t0 + time::Duration::days(1),
                created_at: t0,
            })
            .await
            .unwrap();
        storage
            .record_issued_certificate(&serial, &[0x30, 0x00], t0)
            .await
            .unwrap();
        serials.push(serial);
    }
    storage
        .revoke(&RevocationRequest {
            serial: serials[1].clone(),
            reason: RevocationReason::KeyCompromise,
            revoked_at: t0 + time::Duration::days(1),
            invalidity_date: None,
        })
        .await
        .unwrap();
    let still = service.current("ca").await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &still),
        "another CA's revocation rebuilt"
    );
    storage
        .revoke(&RevocationRequest {
            serial: serials[0].clone(),
            reason: RevocationReason::Superseded,
            revoked_at: t0 + time::Duration::days(1),
            invalidity_date: None,
        })
        .await
        .unwrap();
    let revoked = service.current("ca").await.unwrap().unwrap();
    assert_eq!(revoked.revoked, 1);
    assert!(revoked.number > first.number);
    let crl =
        x509_cert::crl::CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&revoked.der)
            .unwrap();
    let entries = crl.tbs_cert_list.revoked_certificates.unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].serial_number.as_bytes(), serials[0].as_bytes());

    // Past the refresh interval: a new CRL even without a revocation.
    clock.advance(time::Duration::minutes(61));
    let refreshed = service.current("ca").await.unwrap().unwrap();
    assert!(refreshed.number > revoked.number);
    assert_eq!(refreshed.this_update, qtsp::clock::Clock::now(&*clock));
    assert_eq!(
        storage.last_crl_number("ca").await.unwrap(),
        refreshed.number
    );

    let _ = hsm.destroy_key(&key.key).await;
    hsm.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_rebuilds_only_when_out_of_date_sqlite() {
    let (storage, _dir) = common::db::sqlite_storage().await;
    service_rebuilds_only_when_out_of_date(storage.clone()).await;
    storage.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_rebuilds_only_when_out_of_date_postgres() {
    if let Some(storage) = common::db::postgres_storage().await {
        service_rebuilds_only_when_out_of_date(storage.clone()).await;
        storage.close().await;
    }
}
