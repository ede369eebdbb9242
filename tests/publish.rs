//! Publication ahead of requests, through a real `qtsp serve` (SoftHSM2, SQLite, the openssl
//! CLI): the OCSP refresher signs cached answers again before they are due and replaces only the
//! answers a revocation concerns; concurrent first requests share one signature; the CRL
//! publisher publishes (and journals) CRLs on schedule and after revocations, local or made by
//! another node, without any `GET /crl`. Counters come from `/metrics`; CRL publications from
//! the audit journal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::process::{Server, init_with_people, qtsp, run_ok, storage};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::pki::{openssl, write_cert};
use der::Decode;
use qtsp::pki::ocsp::{BasicOcspResponse, CertStatus, OcspResponse, OcspResponseStatus};
use qtsp::storage::{CertificateRecord, RevocationReason, RevocationRequest, Storage};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

const TOKEN: &str = "admin-token-for-publish-tests-42";

/// A data directory after `qtsp init`, with natural-person certificates issued.
struct Setup {
    dir: tempfile::TempDir,
    data: PathBuf,
    people: Vec<CertificateRecord>,
}

async fn setup() -> Setup {
    // reqwest's TLS needs a process-wide provider before any client is built.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    let people = init_with_people(&data, 4).await;
    Setup { dir, data, people }
}

impl Setup {
    /// `qtsp --config <file with toml> serve`, with the admin token when `admin`.
    fn serve(&self, name: &str, toml: &str, admin: bool) -> Server {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("version = 1\n{toml}")).unwrap();
        let mut command = qtsp(&self.data);
        command.arg("--config").arg(&path);
        if admin {
            command.env(
                "QTSP_ADMIN_TOKEN_SHA256",
                hex::encode(Sha256::digest(TOKEN.as_bytes())),
            );
        }
        Server::start(command)
    }

    /// A no-nonce OCSP request (DER, made by `openssl ocsp`) for certificate `i`.
    fn ocsp_request(&self, i: usize) -> Vec<u8> {
        let tmp = self.dir.path();
        let (_, pem) = write_cert(
            tmp,
            &format!("person-{i}"),
            self.people[i].der.as_ref().unwrap(),
        );
        let out = tmp.join(format!("request-{i}.der"));
        let issuer = self.data.join("certs/qualified-ca.pem");
        let (ok, _, err) = openssl(&[
            "ocsp",
            "-issuer",
            issuer.to_str().unwrap(),
            "-cert",
            pem.to_str().unwrap(),
            "-no_nonce",
            "-reqout",
            out.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        std::fs::read(out).unwrap()
    }

    /// `openssl ocsp -respin` checks `response` (signature, chain, status line) for
    /// certificate `i`; returns its text.
    fn openssl_check(&self, i: usize, response: &[u8]) -> String {
        let tmp = self.dir.path();
        let certs = self.data.join("certs");
        let chain = tmp.join("chain.pem");
        std::fs::write(
            &chain,
            [
                std::fs::read_to_string(certs.join("root.pem")).unwrap(),
                std::fs::read_to_string(certs.join("qualified-ca.pem")).unwrap(),
            ]
            .concat(),
        )
        .unwrap();
        let resp = tmp.join(format!("response-{i}.der"));
        std::fs::write(&resp, response).unwrap();
        let pem = tmp.join(format!("person-{i}.pem"));
        let (ok, out, err) = openssl(&[
            "ocsp",
            "-respin",
            resp.to_str().unwrap(),
            "-issuer",
            certs.join("qualified-ca.pem").to_str().unwrap(),
            "-cert",
            pem.to_str().unwrap(),
            "-CAfile",
            chain.to_str().unwrap(),
            "-no_nonce",
            "-resp_text",
        ]);
        let text = format!("{out}{err}");
        assert!(ok && text.contains("Response verify OK"), "{text}");
        text
    }
}

/// POST /admin/revocations on the API listener (TLS, admin token): 201.
async fn admin_revoke(setup: &Setup, server: &Server, person: usize, reason: &str) {
    let pem = std::fs::read(setup.data.join("tls/api.crt")).unwrap();
    let tls = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap();
    let response = tls
        .post(format!(
            "https://localhost:{}/admin/revocations",
            server.api.port()
        ))
        .bearer_auth(TOKEN)
        .body(format!(
            r#"{{"serial":"{}","reason":"{reason}"}}"#,
            setup.people[person].serial.to_hex()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

/// GET /ocsp/{base64}: the DER answer.
async fn get(client: &reqwest::Client, server: &Server, request: &[u8]) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD
        .encode(request)
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let response = client
        .get(format!("http://{}/ocsp/{b64}", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap().to_vec()
}

/// The one `SingleResponse`'s status and thisUpdate (since the epoch) of a successful answer.
fn single(der: &[u8]) -> (CertStatus, Duration) {
    let response = OcspResponse::from_der(der).unwrap();
    assert_eq!(response.response_status, OcspResponseStatus::Successful);
    let basic =
        BasicOcspResponse::from_der(response.response_bytes.unwrap().response.as_bytes()).unwrap();
    let [single] = basic.tbs_response_data.responses.as_slice() else {
        panic!("not one SingleResponse");
    };
    (
        single.cert_status.clone(),
        single.this_update.to_unix_duration(),
    )
}

/// The responder's counters from /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counters {
    signatures: u64,
    hits: u64,
    refreshes: u64,
}

async fn counters(client: &reqwest::Client, server: &Server) -> Counters {
    let text =
        common::metrics::metrics_text(client, &format!("http://{}/metrics", server.public)).await;
    Counters {
        signatures: common::metrics::metric_in(&text, "qtsp_ocsp_signatures_total"),
        hits: common::metrics::metric_in(&text, "qtsp_ocsp_cache_hits_total"),
        refreshes: common::metrics::metric_in(&text, "qtsp_ocsp_refreshes_total"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steady_requests_across_the_half_life_are_all_cache_hits() {
    let setup = setup().await;
    let requests: Vec<Vec<u8>> = (0..3).map(|i| setup.ocsp_request(i)).collect();
    // Answers valid 8 s: signed again from 4 s on (refresher round every 0.5 s), served until 6 s.
    let server = setup.serve("ocsp", "[ocsp]\nnext_update_seconds = 8\n", false);
    let client = reqwest::Client::new();
    for request in &requests {
        get(&client, &server, request).await;
    }
    let before = counters(&client, &server).await;
    assert_eq!(before.signatures, 3, "{before:?}");

    let mut sent = 0u64;
    let mut seen: Vec<BTreeSet<Duration>> = vec![BTreeSet::new(); 3];
    let mut last = Vec::new();
    let until = Instant::now() + Duration::from_secs(7);
    while Instant::now() < until {
        last.clear();
        for (i, request) in requests.iter().enumerate() {
            let der = get(&client, &server, request).await;
            let (status, this_update) = single(&der);
            assert!(matches!(status, CertStatus::Good(_)), "{status:?}");
            seen[i].insert(this_update);
            last.push(der);
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = counters(&client, &server).await;
    eprintln!("{sent} requests; before {before:?}, after {after:?}");
    // Every request was a hit; every signature since was the refresher's.
    assert_eq!(after.hits - before.hits, sent, "{after:?}");
    assert_eq!(
        after.signatures - before.signatures,
        after.refreshes - before.refreshes,
        "a request paid a signature"
    );
    // Each answer was signed again at least once, and the new answer was served.
    assert!(after.refreshes - before.refreshes >= 3, "{after:?}");
    for (i, times) in seen.iter().enumerate() {
        assert!(times.len() >= 2, "certificate {i}: only {times:?}");
    }
    // A refreshed answer verifies like any other.
    let text = setup.openssl_check(0, &last[0]);
    assert!(text.contains("person-0.pem: good"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_replaces_only_the_answers_it_concerns() {
    let setup = setup().await;
    let requests: Vec<Vec<u8>> = (0..3).map(|i| setup.ocsp_request(i)).collect();
    // Answers valid a minute: no refresh is due during the test; refresher rounds every 3.75 s.
    let server = setup.serve("ocsp", "[ocsp]\nnext_update_seconds = 60\n", true);
    let client = reqwest::Client::new();
    let mut primed = Vec::new();
    for request in &requests {
        primed.push(get(&client, &server, request).await);
    }

    // Revoked through this node's admin endpoint.
    let before = counters(&client, &server).await;
    admin_revoke(&setup, &server, 0, "keyCompromise").await;
    // The others are still the very answers signed before; the revoked one says so at once.
    for i in [1, 2] {
        assert_eq!(get(&client, &server, &requests[i]).await, primed[i]);
    }
    let revoked = get(&client, &server, &requests[0]).await;
    assert!(matches!(single(&revoked).0, CertStatus::Revoked(_)));
    let text = setup.openssl_check(0, &revoked);
    assert!(text.contains("person-0.pem: revoked"), "{text}");
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    let after = counters(&client, &server).await;
    // One signature for the revoked answer, made by the refresher or by its request (which
    // then was the only request not answered without a signature).
    assert_eq!(after.signatures - before.signatures, 1, "{after:?}");
    let by_requests = (after.signatures - before.signatures) - (after.refreshes - before.refreshes);
    assert_eq!(after.hits - before.hits + by_requests, 3, "{after:?}");

    // Revoked by another node (straight into the shared database), with no request: the
    // refresher's next round notices it and signs the revoked answer ahead of requests.
    let db = storage(&setup.data).await;
    db.revoke(&RevocationRequest {
        serial: setup.people[1].serial.clone(),
        reason: RevocationReason::Superseded,
        revoked_at: OffsetDateTime::now_utc(),
        invalidity_date: None,
    })
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let noticed = loop {
        let now = counters(&client, &server).await;
        if now.refreshes > after.refreshes {
            break now;
        }
        assert!(Instant::now() < deadline, "no refresh after the revocation");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(noticed.refreshes - after.refreshes, 1, "{noticed:?}");
    let answer = get(&client, &server, &requests[1]).await;
    assert!(matches!(single(&answer).0, CertStatus::Revoked(_)));
    assert_eq!(get(&client, &server, &requests[2]).await, primed[2]);
    let last = counters(&client, &server).await;
    assert_eq!(last.signatures, noticed.signatures, "{last:?}");
    assert_eq!(last.hits - noticed.hits, 2, "{last:?}");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_share_one_signature() {
    let setup = setup().await;
    let request = setup.ocsp_request(0);
    let server = setup.serve("ocsp", "", false);
    let client = reqwest::Client::new();
    let before = counters(&client, &server).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, request) = (client.clone(), request.clone());
            let url = format!("http://{}/ocsp", server.public);
            tokio::spawn(async move {
                let response = client
                    .post(url)
                    .header("content-type", "application/ocsp-request")
                    .body(request)
                    .send()
                    .await
                    .unwrap();
                response.bytes().await.unwrap().to_vec()
            })
        })
        .collect();
    let mut answers = BTreeSet::new();
    for task in tasks {
        answers.insert(task.await.unwrap());
    }
    let after = counters(&client, &server).await;
    // One answer for all: signed once, then shared or served from the cache.
    assert_eq!(answers.len(), 1);
    assert_eq!(after.signatures - before.signatures, 1, "{after:?}");
    assert_eq!(after.hits - before.hits, 15, "{after:?}");
}

/// `crl_published` events of the journal: (issuer, CRL number, revoked entries), in order.
async fn publications(db: &Storage) -> Vec<(String, u64, u64)> {
    db.audit_records(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event_type == "crl_published")
        .map(|r| {
            let p: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
            (
                p["issuer"].as_str().unwrap().to_owned(),
                p["crl_number"].as_u64().unwrap(),
                p["revoked"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Waits (up to 15 s) until the journal holds a publication `wanted` accepts; returns it.
async fn wait_for_publication(
    db: &Storage,
    wanted: impl Fn(&(String, u64, u64)) -> bool,
) -> (String, u64, u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(found) = publications(db).await.into_iter().find(|p| wanted(p)) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "no such CRL publication: {:?}",
            publications(db).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GET /crl/qualified-ca.crl: its CRL number (read by openssl).
async fn served_crl_number(client: &reqwest::Client, server: &Server, dir: &Path) -> u64 {
    let response = client
        .get(format!("http://{}/crl/qualified-ca.crl", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let path = dir.join("served.crl");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-noout",
        "-crlnumber",
    ]);
    assert!(ok, "{err}");
    u64::from_str_radix(out.trim().strip_prefix("crlNumber=0x").unwrap(), 16).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_revocation_publishes_a_crl_without_any_request() {
    let setup = setup().await;
    // No poll during the test: only the revocation's own notice can publish.
    let server = setup.serve("crl", "[crl]\nrevocation_poll_ms = 600000\n", true);
    let db = storage(&setup.data).await;
    // The publisher's first round: every CA's CRL, without a request.
    let (_, first, revoked) = wait_for_publication(&db, |p| p.0 == "qualified-ca").await;
    assert_eq!(revoked, 0);
    wait_for_publication(&db, |p| p.0 == "root").await;

    admin_revoke(&setup, &server, 0, "superseded").await;
    let (_, number, _) =
        wait_for_publication(&db, |p| p.0 == "qualified-ca" && p.1 > first && p.2 == 1).await;
    assert_eq!(db.last_crl_number("qualified-ca").await.unwrap(), number);
    // That CRL is the one served: the request does not publish another.
    let client = reqwest::Client::new();
    assert_eq!(
        served_crl_number(&client, &server, setup.dir.path()).await,
        number
    );
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crls_are_published_on_schedule_and_after_another_nodes_revocation() {
    let setup = setup().await;
    let db = storage(&setup.data).await;

    // A CRL every second, with nobody asking.
    let mut server = setup.serve(
        "schedule",
        "[crl]\nnext_update_hours = 1\nrefresh_seconds = 1\nrevocation_poll_ms = 600000\n",
        false,
    );
    tokio::time::sleep(Duration::from_millis(3500)).await;
    // SIGTERM stops the publisher with the server; the journal ends with the stop, intact.
    assert!(server.terminate().success());
    drop(server);
    let published = publications(&db).await;
    for ca in ["qualified-ca", "root"] {
        let numbers: Vec<u64> = published
            .iter()
            .filter(|p| p.0 == ca)
            .map(|p| p.1)
            .collect();
        assert!(numbers.len() >= 3, "{ca}: {numbers:?}");
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{ca}: {numbers:?}");
    }
    let records = db.audit_records(1, 100_000).await.unwrap();
    let position = |event: &str| records.iter().rposition(|r| r.event_type == event).unwrap();
    assert!(position("crl_published") < position("service_stopped"));
    let report = run_ok(qtsp(&setup.data).args(["audit", "verify"]));
    assert!(report.contains("INTACT"), "{report}");
    let last = published
        .iter()
        .filter(|p| p.0 == "qualified-ca")
        .map(|p| p.1)
        .max()
        .unwrap();

    // Hourly schedule, 200 ms poll: a revocation by another node is published within a poll.
    let _server = setup.serve("poll", "[crl]\nrevocation_poll_ms = 200\n", false);
    let (_, restarted, _) =
        wait_for_publication(&db, |p| p.0 == "qualified-ca" && p.1 > last).await;
    db.revoke(&RevocationRequest {
        serial: setup.people[1].serial.clone(),
        reason: RevocationReason::CessationOfOperation,
        revoked_at: OffsetDateTime::now_utc(),
        invalidity_date: None,
    })
    .await
    .unwrap();
    let revoked_at = Instant::now();
    wait_for_publication(&db, |p| {
        p.0 == "qualified-ca" && p.1 > restarted && p.2 == 1
    })
    .await;
    eprintln!("published {:?} after the revocation", revoked_at.elapsed());
    db.close().await;
}
