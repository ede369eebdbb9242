//! Revocation end to end: `qtsp init`, certificates issued through the CA pipeline (`qtsp bench
//! issue`), `qtsp ca revoke` (storage row, audit record, `qtsp audit verify`, refusals), then
//! `qtsp serve` with an admin token: `POST /admin/revocations` over TLS (201, 401, 400, 404, 409)
//! and the CRL listing the revoked serial at once (`openssl crl -text`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::process::{Server, init_with_people, qtsp, run_ok, storage};

use std::path::Path;
use std::process::Command;

use common::pki::openssl;
use qtsp::storage::{AuditRecord, CertificateRecord, CertificateSerial, RevocationReason, Storage};
use sha2::{Digest, Sha256};

const TOKEN: &str = "admin-token-for-tests-0123456789";

/// Runs a command that must fail with exit status 1; returns its standard error.
fn run_fails(command: &mut Command) -> String {
    let output = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        output.status.code(),
        Some(1),
        "{command:?} should fail: {}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    stderr
}

/// `qtsp serve`, with `QTSP_ADMIN_TOKEN_SHA256` set when `token_sha256` is given; the admin
/// token must never reach its logs.
fn serve(data_dir: &Path, token_sha256: Option<&str>) -> Server {
    let mut command = qtsp(data_dir);
    if let Some(digest) = token_sha256 {
        command.env("QTSP_ADMIN_TOKEN_SHA256", digest);
    }
    Server::start_inspecting(command, |line| {
        assert!(!line.contains(TOKEN), "the admin token was logged: {line}");
    })
}

fn tls_client(data_dir: &Path) -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pem = std::fs::read(data_dir.join("tls/api.crt")).unwrap();
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .build()
        .unwrap()
}

async fn revocation_records(db: &Storage) -> Vec<AuditRecord> {
    db.audit_records(1, 100_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event_type == "revocation")
        .collect()
}

async fn certificate(db: &Storage, serial: &CertificateSerial) -> CertificateRecord {
    db.certificate(serial).await.unwrap().unwrap()
}

fn crl_text(path: &Path) -> String {
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        path.to_str().unwrap(),
        "-noout",
        "-text",
    ]);
    assert!(ok, "openssl crl -text: {err}");
    out
}

struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    json: serde_json::Value,
}

async fn post(
    client: &reqwest::Client,
    server: &Server,
    token: Option<&str>,
    body: &str,
) -> Answer {
    let mut request = client
        .post(format!(
            "https://localhost:{}/admin/revocations",
            server.api.port()
        ))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {status} {text}"));
    Answer {
        status,
        www_authenticate,
        json,
    }
}

fn assert_csc_error(answer: &Answer, status: u16, error: &str, contains: &str) {
    assert_eq!(answer.status, status, "{}", answer.json);
    assert_eq!(answer.json["error"], error, "{}", answer.json);
    let description = answer.json["error_description"].as_str().unwrap();
    assert!(description.contains(contains), "{description}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_by_cli_and_admin_api_then_the_crl_lists_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    let people = init_with_people(&data, 3).await;
    let db = storage(&data).await;
    assert!(revocation_records(&db).await.is_empty());

    // --- CLI -----------------------------------------------------------------------------
    let first = &people[0].serial;
    // Uppercase hex and an odd-case reason name, as an operator might type them.
    let out = run_ok(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &first.to_hex().to_uppercase(),
        "--reason",
        "KEYCOMPROMISE",
        "--invalidity-date",
        "2026-01-02T03:04:05Z",
    ]));
    assert!(out.contains(&first.to_hex()), "{out}");
    assert!(out.contains("keyCompromise"), "{out}");
    assert!(out.contains("qualified-ca"), "{out}");
    let stored = certificate(&db, first).await.revocation.unwrap();
    assert_eq!(stored.reason, RevocationReason::KeyCompromise);
    assert_eq!(stored.issuer, "qualified-ca");
    assert_eq!(
        stored.invalidity_date,
        Some(time::macros::datetime!(2026-01-02 03:04:05 UTC))
    );
    let journaled = revocation_records(&db).await;
    assert_eq!(journaled.len(), 1);
    let payload: serde_json::Value = serde_json::from_str(&journaled[0].payload).unwrap();
    assert_eq!(payload["serial"], first.to_hex());
    assert_eq!(payload["issuer"], "qualified-ca");
    assert_eq!(payload["reason"], "keyCompromise");
    assert!(
        journaled[0].actor.starts_with("operator:cli"),
        "{}",
        journaled[0].actor
    );
    run_ok(qtsp(&data).args(["audit", "verify"]));

    // Again, same reason: "already revoked", no second record.
    let again = run_fails(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &first.to_hex(),
        "--reason",
        "keyCompromise",
    ]));
    assert!(
        again.contains("REV007") && again.contains("already revoked"),
        "{again}"
    );
    // Another reason: still final.
    let other = run_fails(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &first.to_hex(),
        "--reason",
        "superseded",
    ]));
    assert!(other.contains("cannot be changed"), "{other}");
    assert_eq!(revocation_records(&db).await.len(), 1);
    assert_eq!(db.last_revocation_id().await.unwrap(), 1);

    // certificateHold: refused, nothing written.
    let second = &people[1].serial;
    let hold = run_fails(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &second.to_hex(),
        "--reason",
        "certificateHold",
    ]));
    assert!(hold.contains("REV002") && hold.contains("final"), "{hold}");
    assert!(certificate(&db, second).await.revocation.is_none());
    // Unknown serial and unknown reason are named.
    let unknown = run_fails(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        "4a0b0c",
        "--reason",
        "superseded",
    ]));
    assert!(
        unknown.contains("REV004") && unknown.contains("4a0b0c"),
        "{unknown}"
    );
    let bad_reason = run_fails(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &second.to_hex(),
        "--reason",
        "stolen",
    ]));
    assert!(
        bad_reason.contains("REV001") && bad_reason.contains("stolen"),
        "{bad_reason}"
    );
    assert_eq!(revocation_records(&db).await.len(), 1);

    // --- Admin API -------------------------------------------------------------------------
    let digest = hex::encode(Sha256::digest(TOKEN.as_bytes()));
    let server = serve(&data, Some(&digest));
    let client = tls_client(&data);
    let body =
        |serial: &str, reason: &str| format!(r#"{{"serial":"{serial}","reason":"{reason}"}}"#);

    // No token, a wrong token: 401 with the CSC error JSON and WWW-Authenticate: Bearer.
    for token in [None, Some("wrong-token")] {
        let answer = post(
            &client,
            &server,
            token,
            &body(&second.to_hex(), "superseded"),
        )
        .await;
        assert_csc_error(&answer, 401, "invalid_token", "bearer token");
        assert_eq!(answer.www_authenticate.as_deref(), Some("Bearer"));
    }
    // Bad reason, bad serial, bad JSON: 400.
    let answer = post(
        &client,
        &server,
        Some(TOKEN),
        &body(&second.to_hex(), "certificateHold"),
    )
    .await;
    assert_csc_error(&answer, 400, "invalid_request", "REV002");
    let answer = post(
        &client,
        &server,
        Some(TOKEN),
        &body(&second.to_hex(), "nope"),
    )
    .await;
    assert_csc_error(&answer, 400, "invalid_request", "REV001");
    let answer = post(&client, &server, Some(TOKEN), &body("zz", "superseded")).await;
    assert_csc_error(&answer, 400, "invalid_request", "REV003");
    let answer = post(&client, &server, Some(TOKEN), "{\"serial\":").await;
    assert_csc_error(&answer, 400, "invalid_request", "JSON");
    // Unknown serial: 404.
    let answer = post(&client, &server, Some(TOKEN), &body("4a0b0c", "superseded")).await;
    assert_csc_error(&answer, 404, "invalid_request", "REV004");
    assert!(certificate(&db, second).await.revocation.is_none());

    // The right token: 201 with the revocation.
    let answer = post(
        &client,
        &server,
        Some(TOKEN),
        &body(&second.to_hex(), "cessationOfOperation"),
    )
    .await;
    assert_eq!(answer.status, 201, "{}", answer.json);
    assert_eq!(answer.json["serial"], second.to_hex());
    assert_eq!(answer.json["reason"], "cessationOfOperation");
    assert_eq!(answer.json["issuer"], "qualified-ca");
    assert_eq!(answer.json["id"], 2);
    assert!(answer.json["revoked_at"].as_str().unwrap().ends_with('Z'));
    let stored = certificate(&db, second).await.revocation.unwrap();
    assert_eq!(stored.reason, RevocationReason::CessationOfOperation);
    let journaled = revocation_records(&db).await;
    assert_eq!(journaled.len(), 2);
    assert_eq!(journaled[1].actor, "admin:api-token");

    // Already revoked: 409, no second record.
    let answer = post(
        &client,
        &server,
        Some(TOKEN),
        &body(&second.to_hex(), "cessationOfOperation"),
    )
    .await;
    assert_csc_error(&answer, 409, "invalid_request", "already revoked");
    assert_eq!(revocation_records(&db).await.len(), 2);

    // The CRL lists both revocations at once.
    let response = reqwest::Client::new()
        .get(format!("http://{}/crl/qualified-ca.crl", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let crl = dir.path().join("qualified-ca.crl");
    std::fs::write(&crl, response.bytes().await.unwrap()).unwrap();
    let text = crl_text(&crl);
    for (serial, reason) in [
        (first, "Key Compromise"),
        (second, "Cessation Of Operation"),
    ] {
        let needle = format!("Serial Number: {}", serial.to_hex().to_uppercase());
        let start = text
            .find(&needle)
            .unwrap_or_else(|| panic!("{serial} is not on the CRL:\n{text}"));
        let rest = &text[start + needle.len()..];
        let entry = &rest[..rest.find("Serial Number:").unwrap_or(rest.len())];
        assert!(entry.contains(reason), "{serial}: {entry}");
    }
    drop(server);
    run_ok(qtsp(&data).args(["audit", "verify"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_does_not_exist_without_a_token_digest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    run_ok(qtsp(&data).arg("init"));
    let server = serve(&data, None);
    let client = tls_client(&data);
    let response = client
        .post(format!(
            "https://localhost:{}/admin/revocations",
            server.api.port()
        ))
        .bearer_auth(TOKEN)
        .body(r#"{"serial":"4a0b0c","reason":"superseded"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
