//! The root CA's delegated OCSP responder (`root-ocsp`): answers about the certificates the
//! root issued (the qualified CA's), next to the qualified CA's own responder.
//!
//! * An existing deployment made before `root-ocsp` was in the hierarchy (the ceremony run with
//!   the older hierarchy, on a token of its own) gains the new key and certificate, and nothing
//!   else, when `qtsp init` runs again; the node then serves OCSP for both CAs.
//! * On a fresh `qtsp init`, `openssl ocsp -issuer root.pem -cert qualified-ca.pem` says
//!   "Response verify OK" and good over POST and GET, with and without a nonce; pkilint's
//!   `lint_ocsp_response` finds no ERROR or FATAL; a request naming both CAs is `unauthorized`;
//!   after `qtsp ca revoke` of the qualified CA certificate the root's OCSP answer says revoked
//!   (with its reason) and the root's CRL lists it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::metrics::metric;
use common::ocsp::{get_query, lint, ocsp, query};
use common::pki::{openssl, pkilint, run_pkilint};
use common::process::{Server, qtsp, run_ok, storage};
use qtsp::audit::{Journal, NodeInfo};
use qtsp::ca::ceremony::{self, CeremonySettings, DEFAULT_HIERARCHY, Hierarchy};
use qtsp::clock::{SharedClock, SystemClock};
use qtsp::storage::CertificateRecord;
use qtsp_hsm::Hsm;
use qtsp_hsm::testing::{TestToken, default_test_dir, prepare_test_token_with_label};

/// Every entity the hierarchy had before `root-ocsp`.
const OLD_ENTITIES: [&str; 5] = ["root", "qualified-ca", "tsu", "qualified-ca-ocsp", "audit"];

/// `policies/hierarchy.toml` as it was before the root had a responder: the `root-ocsp` entry
/// (and the comment above it) removed.
fn hierarchy_without_root_ocsp() -> Hierarchy {
    let start = DEFAULT_HIERARCHY
        .find("\n# The root's own delegated responder")
        .expect("the root-ocsp comment");
    let entry = DEFAULT_HIERARCHY
        .find("name = \"root-ocsp\"")
        .expect("the root-ocsp entry");
    let end = DEFAULT_HIERARCHY[entry..]
        .find("\n[[issued]]")
        .map_or(DEFAULT_HIERARCHY.len(), |i| entry + i);
    let old = format!(
        "{}{}",
        &DEFAULT_HIERARCHY[..start],
        &DEFAULT_HIERARCHY[end..]
    );
    let hierarchy = Hierarchy::parse(&old).unwrap();
    let names: Vec<&str> = hierarchy.entities.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, OLD_ENTITIES);
    hierarchy
}

/// A SoftHSM2 token for one test run (the ceremony's key labels are fixed, so it cannot share
/// the common test token), deleted when dropped.
struct OwnToken(TestToken);

impl OwnToken {
    fn new() -> OwnToken {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // Token labels hold at most 32 characters.
        let label = format!("qtsp-ro-{}-{nanos}", std::process::id());
        OwnToken(prepare_test_token_with_label(&default_test_dir(), &label).unwrap())
    }

    /// `qtsp` on `data_dir` with this token as a PKCS#11 module's token.
    fn qtsp(&self, data_dir: &Path) -> Command {
        let mut command = qtsp(data_dir);
        command
            .env("QTSP_HSM_MODULE", &self.0.module)
            .env("QTSP_HSM_TOKEN_LABEL", &self.0.label)
            .env("QTSP_HSM_USER_PIN", qtsp_hsm::testing::TEST_USER_PIN)
            .env("SOFTHSM2_CONF", &self.0.conf_path);
        command
    }
}

impl Drop for OwnToken {
    fn drop(&mut self) {
        let _ = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &self.0.conf_path)
            .args(["--delete-token", "--token", &self.0.label])
            .output();
    }
}

/// Runs `command` to its end, killed (and the test failed) if it is still running after `limit`.
fn output_within(command: &mut Command, limit: std::time::Duration) -> std::process::Output {
    let child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(child.wait_with_output());
    });
    match receiver.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("{command:?} still running after {limit:?}");
        }
    }
}

/// `certs/<name>.crt` of every entity, by name.
fn certificate_files(data: &Path, names: &[&str]) -> Vec<(String, Vec<u8>)> {
    names
        .iter()
        .map(|name| {
            let path = data.join("certs").join(format!("{name}.crt"));
            (
                (*name).to_owned(),
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_on_a_data_dir_from_before_the_root_responder_adds_only_it() {
    let token = tokio::task::spawn_blocking(OwnToken::new).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    std::fs::create_dir_all(&data).unwrap();

    // The deployment as an older qtsp left it: the ceremony of the older hierarchy, on the
    // node's token, database and data directory.
    {
        let hsm = Hsm::start(&token.0.config(2)).await.unwrap();
        let db = storage(&data).await;
        db.migrate().await.unwrap();
        let clock: SharedClock = Arc::new(SystemClock);
        let journal = Journal::new(db.clone(), clock.clone(), NodeInfo::new("node-old"));
        let settings = CeremonySettings {
            certs_dir: data.join("certs"),
            public_base_url: "http://qtsp.example.eu".into(),
            pds_base_url: "https://qtsp.example.eu/pds".into(),
            actor: "qtsp init on node-old".into(),
        };
        let (report, _) = ceremony::run(
            &hierarchy_without_root_ocsp(),
            &settings,
            &hsm,
            &db,
            &journal,
            &clock,
        )
        .await
        .unwrap();
        assert_eq!(report.certificates_issued, OLD_ENTITIES);
        hsm.shutdown().await;
        db.close().await;
    }
    assert!(!data.join("certs/root-ocsp.crt").exists());
    let before = certificate_files(&data, &OLD_ENTITIES);
    let db = storage(&data).await;
    let issued_before = db.certificates_by_issuer("root", None, 100).await.unwrap();
    let profiles = |issued: &[CertificateRecord]| {
        let mut profiles: Vec<String> = issued.iter().map(|c| c.profile.clone()).collect();
        profiles.sort();
        profiles
    };
    // The root's own certificate and the qualified CA's.
    assert_eq!(profiles(&issued_before), ["issuing-ca", "root-ca"]);
    db.close().await;

    // `qtsp serve` of the new version needs what `qtsp init` adds, and says so.
    let output = output_within(
        token.qtsp(&data).arg("serve"),
        std::time::Duration::from_secs(60),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("APP001") && stderr.contains("root-ocsp.crt"),
        "{stderr}"
    );

    // `qtsp init` again (what scripts/serve and the container do before each start): the new
    // responder's key and certificate, and nothing else of the hierarchy.
    let out = run_ok(token.qtsp(&data).arg("init"));
    let created: Vec<&str> = out
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("created"))
        .map(str::trim)
        .collect();
    assert!(created.contains(&"HSM key qtsp-root-ocsp"), "{out}");
    assert!(
        created
            .iter()
            .any(|c| c.starts_with("certificate ") && c.ends_with("/certs/root-ocsp.crt")),
        "{out}"
    );
    for step in &created {
        assert!(
            step.contains("root-ocsp")
                || step.starts_with("audit checkpoint")
                // The older ceremony above made no TLS pair for the API listener.
                || step.starts_with("local TLS certificate")
                || step.starts_with("directory "),
            "init created `{step}` on an existing hierarchy:\n{out}"
        );
    }
    for name in OLD_ENTITIES {
        assert!(
            out.lines()
                .any(|l| l.contains("present") && l.ends_with(&format!("/certs/{name}.crt"))),
            "{name} not reported present:\n{out}"
        );
    }
    assert_eq!(certificate_files(&data, &OLD_ENTITIES), before);
    let db = storage(&data).await;
    let issued_after = db.certificates_by_issuer("root", None, 100).await.unwrap();
    assert_eq!(
        profiles(&issued_after),
        ["issuing-ca", "ocsp-responder", "root-ca"]
    );
    let responder = issued_after
        .iter()
        .find(|c| c.profile == "ocsp-responder")
        .expect("the root's responder certificate is recorded");
    assert_eq!(
        responder.der.as_deref(),
        Some(certificate_files(&data, &["root-ocsp"])[0].1.as_slice())
    );
    db.close().await;
    // Once more: nothing left to add.
    let again = run_ok(token.qtsp(&data).arg("init"));
    assert!(!again.contains("created"), "{again}");
    run_ok(token.qtsp(&data).args(["audit", "verify"]));

    // The upgraded node answers for the root's certificates, signed by the new responder.
    let server = Server::start(token.qtsp(&data));
    let url = format!("http://{}/ocsp", server.public);
    let certs = data.join("certs");
    let root = certs.join("root.pem");
    let text = query(
        &url,
        &root,
        &root,
        &["-cert", certs.join("qualified-ca.pem").to_str().unwrap()],
        &["-no_nonce"],
        &dir.path().join("upgraded.der"),
    );
    assert!(text.contains("qualified-ca.pem: good"), "{text}");
    assert!(
        text.contains("qtsp Demo Root CA OCSP Responder"),
        "signed by root-ocsp:\n{text}"
    );
    drop(server);
}

/// `root.pem` followed by `qualified-ca.pem`, for `-CAfile`.
fn chain_file(certs: &Path, out: &Path) -> PathBuf {
    std::fs::write(
        out,
        [
            std::fs::read_to_string(certs.join("root.pem")).unwrap(),
            std::fs::read_to_string(certs.join("qualified-ca.pem")).unwrap(),
        ]
        .concat(),
    )
    .unwrap();
    out.to_owned()
}

/// The qualified CA's certificate as the database has it.
async fn qualified_ca_record(data: &Path) -> CertificateRecord {
    let db = storage(data).await;
    let record = db
        .certificates_by_issuer("root", None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.profile == "issuing-ca")
        .expect("the qualified CA certificate is recorded under the root");
    db.close().await;
    record
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_responder_answers_for_the_qualified_ca_then_its_revocation() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path();
    let data = tmp.join("var");
    run_ok(qtsp(&data).arg("init"));
    let certs = data.join("certs");
    let root = certs.join("root.pem");
    let qualified_ca = certs.join("qualified-ca.pem");
    let chain = chain_file(&certs, &tmp.join("chain.pem"));
    let server = Server::start(qtsp(&data));
    let url = format!("http://{}/ocsp", server.public);
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let client = reqwest::Client::new();
    let metrics_url = format!("http://{}/metrics", server.public);
    let signatures_before = metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await;

    // POST, with and without a nonce, trusting the root alone: the responder certificate is
    // issued by the root, so nothing else is needed to verify.
    for (extra, name) in [(&[][..], "post-nonce"), (&["-no_nonce"][..], "post")] {
        let respout = tmp.join(format!("{name}.der"));
        let text = query(
            &url,
            &root,
            &root,
            &["-cert", qualified_ca.to_str().unwrap()],
            extra,
            &respout,
        );
        assert!(text.contains("qualified-ca.pem: good"), "{text}");
        assert!(text.contains("Archive Cutoff"), "{text}");
        assert!(text.contains("Next Update:"), "{text}");
        assert_eq!(text.contains("OCSP Nonce"), extra.is_empty(), "{text}");
        assert!(
            text.contains("qtsp Demo Root CA OCSP Responder"),
            "the root's responder signs:\n{text}"
        );
        lint(&respout);
    }
    // GET, with and without a nonce.
    for (nonce, name) in [(true, "get-nonce"), (false, "get")] {
        let answer = get_query(
            &client,
            &url,
            &root,
            &root,
            &qualified_ca,
            nonce,
            &tmp.join(format!("{name}-req.der")),
            &tmp.join(format!("{name}.der")),
        )
        .await;
        assert!(
            answer.text.contains("qualified-ca.pem: good"),
            "{}",
            answer.text
        );
        let cache_control = answer.headers["cache-control"].to_str().unwrap();
        assert_eq!(cache_control.starts_with("public, max-age="), !nonce);
    }
    // Every one of them was signed by the root's responder: the counters add up both CAs'.
    assert!(
        metric(&client, &metrics_url, "qtsp_ocsp_signatures_total").await >= signatures_before + 3
    );

    // The qualified CA's own responder still answers for what it issued.
    let text = query(
        &url,
        &qualified_ca,
        &chain,
        &["-cert", certs.join("tsu.pem").to_str().unwrap()],
        &[],
        &tmp.join("tsu.der"),
    );
    assert!(text.contains("tsu.pem: good"), "{text}");
    assert!(
        text.contains("qtsp Demo Qualified CA OCSP Responder"),
        "{text}"
    );

    // One request about certificates of both CAs: no single responder may sign it.
    let (ok, text) = ocsp(&[
        "-issuer",
        root.to_str().unwrap(),
        "-cert",
        qualified_ca.to_str().unwrap(),
        "-issuer",
        qualified_ca.to_str().unwrap(),
        "-cert",
        certs.join("tsu.pem").to_str().unwrap(),
        "-url",
        &url,
        "-CAfile",
        chain.to_str().unwrap(),
    ]);
    assert!(!ok, "{text}");
    assert!(text.contains("unauthorized"), "{text}");
    // A serial the root never issued: unknown, from the root's responder.
    let text = query(
        &url,
        &root,
        &root,
        &["-serial", "0x5a17c0ffee0ddba11deadbeef0123456789abcde"],
        &[],
        &tmp.join("unknown.der"),
    );
    assert!(text.contains(": unknown"), "{text}");

    // The operator revokes the qualified CA's certificate while the node runs.
    let record = qualified_ca_record(&data).await;
    let serial = record.serial.to_hex();
    let out = run_ok(qtsp(&data).args([
        "ca",
        "revoke",
        "--serial",
        &serial,
        "--reason",
        "cACompromise",
    ]));
    assert!(out.contains("issuer     root"), "{out}");
    // The very next answers, cached (no nonce) or not, say revoked with the reason.
    for (extra, name) in [
        (&["-no_nonce"][..], "revoked-post"),
        (&[][..], "revoked-post-nonce"),
    ] {
        let respout = tmp.join(format!("{name}.der"));
        let text = query(
            &url,
            &root,
            &root,
            &["-cert", qualified_ca.to_str().unwrap()],
            extra,
            &respout,
        );
        assert!(text.contains("qualified-ca.pem: revoked"), "{text}");
        assert!(text.contains("Reason: cACompromise"), "{text}");
        assert!(text.contains("Revocation Time:"), "{text}");
        lint(&respout);
    }
    let answer = get_query(
        &client,
        &url,
        &root,
        &root,
        &qualified_ca,
        false,
        &tmp.join("revoked-get-req.der"),
        &tmp.join("revoked-get.der"),
    )
    .await;
    assert!(
        answer.text.contains("qualified-ca.pem: revoked"),
        "{}",
        answer.text
    );

    // The root's CRL lists it, signed by the root.
    let response = client
        .get(format!("http://{}/crl/root.crl", server.public))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let crl = tmp.join("root.crl");
    std::fs::write(&crl, response.bytes().await.unwrap()).unwrap();
    let (ok, out, err) = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        crl.to_str().unwrap(),
        "-CAfile",
        root.to_str().unwrap(),
        "-verify",
        "-noout",
        "-text",
    ]);
    assert!(
        ok && format!("{out}{err}").contains("verify OK"),
        "{out}{err}"
    );
    assert!(
        out.contains(&format!("Serial Number: {}", serial.to_uppercase())),
        "{out}"
    );
    assert!(out.contains("CA Compromise"), "{out}");
    if let Some(bin) = pkilint() {
        let report = run_pkilint(
            &bin,
            "lint_crl",
            &["-t", "ARL", "-p", "PKIX", "-s", "INFO"],
            &crl,
        );
        eprintln!("{}:\n{}", report.command, report.output);
        report.assert_clean();
    }
    drop(server);
}
