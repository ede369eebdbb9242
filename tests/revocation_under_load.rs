//! Revocation while a load is running (issue #5): two `qtsp serve` processes, nodes A and B, on
//! ONE database (a SQLite file both open, and PostgreSQL when reachable), both trusting the
//! revocation mark they read for `[ocsp] revocation_check_ms` = 1000 ms. Workers send OCSP
//! requests for one certificate to both nodes without pause (GET and POST without nonce, served
//! from the pre-signed cache; POST and GET with a nonce, signed on demand; SHA-1 and SHA-256
//! CertIDs) and record when each request was sent, when its answer came back, and the status
//! it gave. Meanwhile the certificate is revoked through node A's admin endpoint.
//!
//! What must hold:
//! * node A: every request sent after the revocation call returned is answered `revoked` with
//!   the reason and the time of the revocation, although A's cache may trust its mark for
//!   1 s (the local revocation raises the mark before the call returns);
//! * node B: the same from the return + 1 s + [`MARGIN`] on;
//! * no answer failed; answers received before the call was sent were `good`, enough later
//!   ones were `revoked` on both nodes; a second certificate stays `good` throughout; both
//!   nodes served from their caches;
//! * the CRL of both nodes lists the serial after the bound, and sample answers sent after the
//!   bound verify with `openssl ocsp -respin` ("Response verify OK", "revoked").
//!
//! Every instant compared here is the host's CLOCK_MONOTONIC (Rust's `Instant`, in this test
//! and in both servers), so the bound needs no allowance for clock skew between processes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::ocsp_load::{Node, Outcome, Progress, Sample, requests, signed_ms, wait_for, worker};
use common::pki::{openssl, write_cert};
use common::process::{Server, qtsp, run_ok, storage};
use qtsp::storage::{CertificateRecord, CertificateState, Storage};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::CrlReason;

const TOKEN: &str = "admin-token-for-revocation-under-load";

/// `[ocsp] revocation_check_ms` of both nodes. Long enough that node A, were it not told of its
/// own revocation, would nearly always still trust the mark it read before the commit when the
/// call returns (with 300 ms it had often re-read the mark during the call: 3 of 8 runs passed
/// without the observer, none of 8 with 1 s); short enough to keep the test quick.
const REVOCATION_CHECK: Duration = Duration::from_millis(1000);

/// Added to node B's bound. None is needed in principle: B trusts a mark for
/// `REVOCATION_CHECK` from an instant taken *before* the database read that produced it, the
/// revocation was committed before A answered the call, and every instant here is the host's one
/// CLOCK_MONOTONIC; so a request sent at `returned + REVOCATION_CHECK` is handled with a mark
/// read after the commit. The 10 ms (1 % of the bound) only keep the assertion independent of
/// the strict `<` of that comparison and of exactly where this test takes its own instants.
const MARGIN: Duration = Duration::from_millis(10);

/// Concurrent request loops per node.
const WORKERS_PER_NODE: usize = 4;

/// Answers each node must have given before the revocation and after its bound.
const ENOUGH: u64 = 40;

fn tls_client(data_dir: &Path) -> reqwest::Client {
    let pem = std::fs::read(data_dir.join("tls/api.crt")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

/// `qtsp` on `data` and, when given, on the database `url` instead of the data directory's
/// SQLite file.
fn command(data: &Path, url: Option<&str>) -> std::process::Command {
    let mut command = qtsp(data);
    if let Some(url) = url {
        command.env("QTSP_DATABASE_URL", url);
    }
    command
}

/// A node serving on the shared database with the test's `[ocsp]` settings.
fn node(data: &Path, url: Option<&str>, config: &Path, name: &str) -> Server {
    let mut command = command(data, url);
    command
        .env("QTSP_NODE_ID", name)
        .env(
            "QTSP_ADMIN_TOKEN_SHA256",
            hex::encode(Sha256::digest(TOKEN.as_bytes())),
        )
        .arg("--config")
        .arg(config);
    Server::start(command)
}

/// The value of the metric `name` (no labels) at node `server`.
async fn metric(server: &Server, name: &str) -> u64 {
    let url = format!("http://{}/metrics", server.public);
    common::metrics::metric(&reqwest::Client::new(), &url, name).await
}

/// `GET /crl/qualified-ca.crl` from `server`, checked by `openssl crl -verify`; its text.
async fn crl_text(server: &Server, dir: &Path, name: &str, chain: &Path) -> String {
    let response = reqwest::get(format!("http://{}/crl/qualified-ca.crl", server.public))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let path = dir.join(format!("{name}.crl"));
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-CAfile",
        chain.to_str().unwrap(),
        "-verify",
        "-noout",
        "-text",
    ]);
    assert!(ok && err.contains("verify OK"), "openssl crl: {out}{err}");
    out
}

/// `openssl ocsp -respin` on a revoked answer: it must verify and say revoked (keyCompromise).
fn openssl_says_revoked(
    der: &[u8],
    dir: &Path,
    name: &str,
    issuer: &Path,
    cert: &Path,
    chain: &Path,
) {
    let path = dir.join(format!("{name}.der"));
    std::fs::write(&path, der).unwrap();
    let (ok, out, err) = openssl(&[
        "ocsp",
        "-respin",
        path.to_str().unwrap(),
        "-issuer",
        issuer.to_str().unwrap(),
        "-cert",
        cert.to_str().unwrap(),
        "-CAfile",
        chain.to_str().unwrap(),
        "-resp_text",
    ]);
    let text = format!("{out}{err}");
    assert!(ok, "openssl ocsp -respin {name}: {text}");
    assert!(text.contains("Response verify OK"), "{name}: {text}");
    assert!(text.contains("target.pem: revoked"), "{name}: {text}");
    assert!(text.contains("Reason: keyCompromise"), "{name}: {text}");
}

/// The natural-person certificates issued by the qualified CA.
async fn issued_people(db: &Storage) -> Vec<CertificateRecord> {
    db.certificates_by_issuer("qualified-ca", None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.profile == "qualified-natural-person" && c.state == CertificateState::Issued)
        .collect()
}

/// The whole scenario, on the data directory's SQLite file or on the PostgreSQL database
/// `postgres` (its storage and URL).
async fn revoke_under_load(postgres: Option<(Storage, String)>) {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let data = tmp.join("var");
    let url = postgres.as_ref().map(|(_, url)| url.as_str());
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    run_ok(command(&data, url).arg("init"));
    let db = match &postgres {
        Some((db, _)) => db.clone(),
        None => storage(&data).await,
    };
    // Two certificates issued through the CA pipeline (a burst is timed: a loaded machine may
    // need more than one).
    let mut people = Vec::new();
    for _ in 0..5 {
        run_ok(command(&data, url).args([
            "bench",
            "issue",
            "--seconds",
            "0.3",
            "--concurrency",
            "1",
            "--no-baseline",
        ]));
        people = issued_people(&db).await;
        if people.len() >= 2 {
            break;
        }
    }
    assert!(people.len() >= 2, "only {} certificates", people.len());
    let (target, control) = (&people[0], &people[1]);
    let (_, target_pem) = write_cert(tmp, "target", target.der.as_ref().unwrap());
    let (_, control_pem) = write_cert(tmp, "control", control.der.as_ref().unwrap());
    let certs = data.join("certs");
    let issuer = certs.join("qualified-ca.pem");
    let chain = tmp.join("chain.pem");
    std::fs::write(
        &chain,
        [
            std::fs::read_to_string(certs.join("root.pem")).unwrap(),
            std::fs::read_to_string(&issuer).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    let requests = Arc::new(requests(tmp, &issuer, &target_pem, &control_pem));
    let serial_bytes = |c: &CertificateRecord| hex::decode(c.serial.to_hex()).unwrap();
    let serials = Arc::new([serial_bytes(target), serial_bytes(control)]);

    let config: PathBuf = tmp.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "version = 1\n[ocsp]\nrevocation_check_ms = {}\n",
            REVOCATION_CHECK.as_millis()
        ),
    )
    .unwrap();
    let a = node(&data, url, &config, "node-a");
    let b = node(&data, url, &config, "node-b");

    let progress = Arc::new(Progress::default());
    let mut workers = Vec::new();
    for (node, public) in [(Node::A, a.public), (Node::B, b.public)] {
        for w in 0..WORKERS_PER_NODE {
            workers.push(tokio::spawn(worker(
                node,
                public,
                requests.clone(),
                serials.clone(),
                progress.clone(),
                w * 3,
            )));
        }
    }
    wait_for(
        "good answers from both nodes",
        Duration::from_secs(20),
        &workers,
        || {
            progress
                .good
                .iter()
                .all(|n| n.load(Ordering::Relaxed) >= ENOUGH)
        },
    )
    .await;

    // The revocation, through node A's admin endpoint, on a TLS connection opened beforehand:
    // the call's own duration comes off the window in which A's cache could still trust the
    // mark it read before the commit, the window this test is about.
    let admin = tls_client(&data);
    let ready = admin
        .get(format!("https://localhost:{}/health/ready", a.api.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let revoke_sent = Instant::now();
    let response = admin
        .post(format!(
            "https://localhost:{}/admin/revocations",
            a.api.port()
        ))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"serial":"{}","reason":"keyCompromise"}}"#,
            target.serial.to_hex()
        ))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    let returned = Instant::now();
    assert_eq!(status, 201, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let revoked_at = time::OffsetDateTime::parse(
        json["revoked_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expected = Outcome::Revoked {
        time_unix: u64::try_from(revoked_at.unix_timestamp()).unwrap(),
        reason: Some(CrlReason::KeyCompromise),
    };
    let bound_b = returned + REVOCATION_CHECK + MARGIN;

    // Keep the load on until both nodes have answered enough requests sent after their bound.
    tokio::time::sleep_until(bound_b.into()).await;
    // Answers counted from now on may come from requests sent just before the bound.
    let in_flight = WORKERS_PER_NODE as u64;
    let base_after: Vec<u64> = progress
        .revoked
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();
    wait_for(
        "revoked answers after the bound",
        Duration::from_secs(20),
        &workers,
        || {
            progress
                .revoked
                .iter()
                .zip(&base_after)
                .all(|(n, before)| n.load(Ordering::Relaxed) >= before + ENOUGH + in_flight)
        },
    )
    .await;
    progress.stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await.unwrap());
    }

    // --- What each node answered -------------------------------------------------------------
    let failed: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Failed(_) | Outcome::Unknown))
        .collect();
    assert!(
        failed.is_empty(),
        "{} answers failed: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );
    for s in samples.iter().filter(|s| !s.kind.target) {
        assert_eq!(s.outcome, Outcome::Good, "the control certificate: {s:?}");
    }
    let target_samples = || samples.iter().filter(|s| s.kind.target);
    for s in target_samples().filter(|s| s.received < revoke_sent) {
        assert_eq!(
            s.outcome,
            Outcome::Good,
            "answered before the revocation: {s:?}"
        );
    }
    for s in target_samples() {
        if matches!(s.outcome, Outcome::Revoked { .. }) {
            assert_eq!(s.outcome, expected, "{s:?}");
        }
    }
    for (node, bound) in [(Node::A, returned), (Node::B, bound_b)] {
        let mine = || target_samples().filter(|s| s.node == node);
        let stale: Vec<&Sample> = mine()
            .filter(|s| s.sent >= bound && s.outcome != expected)
            .collect();
        assert!(
            stale.is_empty(),
            "node {node:?} answered {} requests sent after its bound with another status than \
             revoked, the first sent {:?} after the call returned: {:?}",
            stale.len(),
            stale[0].sent - returned,
            stale[0]
        );
        let good_before = mine()
            .filter(|s| s.received < revoke_sent && s.outcome == Outcome::Good)
            .count();
        let revoked_after = mine().filter(|s| s.sent >= bound).count();
        assert!(good_before as u64 >= ENOUGH, "node {node:?}: {good_before}");
        assert!(
            revoked_after as u64 >= ENOUGH,
            "node {node:?}: {revoked_after}"
        );
        // Every kind of request was answered revoked after the bound.
        for kind in requests.kinds.iter().filter(|k| k.target) {
            assert!(
                mine().any(|s| s.sent >= bound
                    && s.kind.body == kind.body
                    && s.kind.method == kind.method),
                "node {node:?}: no answer to {kind:?} after the bound"
            );
        }
        // For the report: how late the last good answer came on this node.
        let last_good = mine()
            .filter(|s| s.outcome == Outcome::Good)
            .map(|s| s.sent)
            .max()
            .unwrap();
        let first_revoked = mine()
            .filter(|s| s.outcome != Outcome::Good)
            .map(|s| s.received)
            .min()
            .unwrap();
        eprintln!(
            "node {node:?}: {} answers for the target; last good one sent {:+.1} ms from the \
             return of the revocation call, first revoked one received {:+.1} ms from it",
            mine().count(),
            signed_ms(last_good, returned),
            signed_ms(first_revoked, returned),
        );
    }
    // Both nodes served from their pre-signed caches (the path the bound is about).
    for server in [&a, &b] {
        assert!(metric(server, "qtsp_ocsp_cache_hits_total").await > 0);
    }

    // --- Judged by openssl ---------------------------------------------------------------------
    let needle = format!("Serial Number: {}", target.serial.to_hex().to_uppercase());
    for (server, name) in [(&a, "a"), (&b, "b")] {
        let text = crl_text(server, tmp, name, &chain).await;
        let start = text
            .find(&needle)
            .unwrap_or_else(|| panic!("node {name}: the serial is not on the CRL:\n{text}"));
        let rest = &text[start + needle.len()..];
        let entry = &rest[..rest.find("Serial Number:").unwrap_or(rest.len())];
        assert!(entry.contains("Key Compromise"), "node {name}: {entry}");
    }
    for (node, bound) in [(Node::A, returned), (Node::B, bound_b)] {
        let sample = samples
            .iter()
            .find(|s| {
                s.node == node && s.sent >= bound && s.kind.body == requests.sha1 && s.der.is_some()
            })
            .unwrap_or_else(|| panic!("node {node:?}: no revoked answer kept"));
        openssl_says_revoked(
            sample.der.as_ref().unwrap(),
            tmp,
            &format!("revoked-{node:?}"),
            &issuer,
            &target_pem,
            &chain,
        );
    }
    drop((a, b));
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_under_load_on_one_sqlite_file() {
    revoke_under_load(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_under_load_on_postgresql() {
    let Some(postgres) = common::db::postgres_storage_with_url().await else {
        return;
    };
    revoke_under_load(Some(postgres)).await;
}
