//! PKI helpers for integration tests: a test CA hierarchy whose keys live in the shared SoftHSM2
//! test token, and the external tools that judge what qtsp builds (openssl, pkilint).
//!
//! * [`TestCa`]: keys generated in SoftHSM2 through `qtsp_hsm`, certificates built with
//!   `qtsp::profile` and signed by the token.
//! * [`pkilint`]: finds pkilint's scripts in `QTSP_PKILINT_BIN` (default `<workspace>/.venv/bin`,
//!   where scripts/test installs it). When they are missing the test is skipped with a message,
//!   except in CI (`CI=true`), where it fails.
//! * [`openssl`]: runs the `openssl` command line.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use qtsp::pki::{DigestAlgorithm, SubjectName};
use qtsp::profile::{
    self, IssuerInfo, ProfileError, ProfileId, TbsRequest, UrlContext, assemble, prepare,
};
use qtsp_hsm::testing::{TestToken, default_test_dir, prepare_test_token, unique_key_id};
use qtsp_hsm::{DigestAlg, Hsm, KeyRef, KeySpec, SignMechanism};
use time::OffsetDateTime;

/// The shared SoftHSM2 test token, prepared once per process.
pub fn token() -> &'static TestToken {
    static TOKEN: OnceLock<TestToken> = OnceLock::new();
    TOKEN.get_or_init(|| prepare_test_token(&default_test_dir()).expect("prepare the test token"))
}

/// A pool on the shared test token.
pub async fn hsm() -> Hsm {
    let token = tokio::task::spawn_blocking(token).await.unwrap();
    Hsm::start(&token.config(2))
        .await
        .expect("start the HSM pool")
}

/// The hash function of the `qtsp-hsm` crate for a `qtsp::pki` one.
pub fn hsm_digest(d: DigestAlgorithm) -> DigestAlg {
    match d {
        DigestAlgorithm::Sha256 => DigestAlg::Sha256,
        DigestAlgorithm::Sha384 => DigestAlg::Sha384,
        DigestAlgorithm::Sha512 => DigestAlg::Sha512,
        other => panic!("no HSM digest for {other}"),
    }
}

/// A key pair on the token.
#[derive(Clone, Debug)]
pub struct TokenKey {
    pub key: KeyRef,
    pub spki_der: Vec<u8>,
    pub spec: KeySpec,
}

/// Generates a key pair on the token with a CKA_ID no other test uses.
pub async fn generate(hsm: &Hsm, spec: KeySpec, label: &str) -> TokenKey {
    let generated = hsm
        .generate_key_pair(spec, label, &unique_key_id(label))
        .await
        .expect("generate a key pair in SoftHSM2");
    TokenKey {
        key: generated.key,
        spki_der: generated.spki_der,
        spec,
    }
}

/// Builds, signs in the HSM with `issuer_key` and assembles one certificate.
#[allow(clippy::too_many_arguments)]
pub async fn issue(
    hsm: &Hsm,
    profile_id: ProfileId,
    serial: &[u8],
    subject: &SubjectName,
    subject_spki_der: &[u8],
    issuer: &IssuerInfo,
    issuer_key: &TokenKey,
    validity: (OffsetDateTime, OffsetDateTime),
    urls: &UrlContext,
) -> Result<Vec<u8>, ProfileError> {
    let request = TbsRequest {
        profile: profile::builtin(profile_id)?,
        serial,
        subject,
        subject_spki_der,
        issuer,
        not_before: validity.0,
        not_after: validity.1,
        urls,
    };
    let prepared = prepare(&request)?;
    let mechanism = if issuer_key.spec.curve().is_some() {
        SignMechanism::Ecdsa(hsm_digest(prepared.digest_algorithm()))
    } else {
        SignMechanism::RsaPkcs1v15(hsm_digest(prepared.digest_algorithm()))
    };
    let signature = hsm
        .sign_digest(&issuer_key.key, mechanism, prepared.digest_to_sign())
        .await
        .expect("the HSM signs the certificate digest");
    assemble(prepared, signature.to_x509_bytes())
}

/// `openssl <args>`; returns (success, stdout, stderr).
pub fn openssl(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("run openssl (apt-get install openssl)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Writes `der` as `<dir>/<name>.der` and `<dir>/<name>.pem` (converted by openssl).
pub fn write_cert(dir: &Path, name: &str, der: &[u8]) -> (PathBuf, PathBuf) {
    let der_path = dir.join(format!("{name}.der"));
    let pem_path = dir.join(format!("{name}.pem"));
    std::fs::write(&der_path, der).unwrap();
    let (ok, _, err) = openssl(&[
        "x509",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().unwrap(),
        "-out",
        pem_path.to_str().unwrap(),
    ]);
    assert!(ok, "openssl cannot read {name}.der: {err}");
    (der_path, pem_path)
}

/// The directory holding pkilint's scripts, or `None` (with a message) when pkilint is not
/// installed outside CI. Panics in CI, where pkilint must run.
pub fn pkilint() -> Option<PathBuf> {
    let dir = std::env::var_os("QTSP_PKILINT_BIN").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(".venv")
                .join("bin")
        },
        PathBuf::from,
    );
    if dir.join("lint_pkix_cert").is_file() {
        return Some(dir);
    }
    let msg = format!(
        "pkilint not found in {} (set QTSP_PKILINT_BIN or run scripts/test)",
        dir.display()
    );
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{msg}: pkilint is required when CI=true"
    );
    eprintln!("SKIPPED: {msg}");
    None
}

/// The findings of one pkilint run.
#[derive(Debug)]
pub struct LintReport {
    pub command: String,
    pub output: String,
    /// Lines reporting an ERROR or FATAL finding.
    pub errors: Vec<String>,
}

impl LintReport {
    /// Fails with the whole output when there is an ERROR or FATAL finding.
    pub fn assert_clean(&self) {
        assert!(
            self.errors.is_empty(),
            "{} reported ERROR/FATAL findings:\n{}",
            self.command,
            self.output
        );
    }
}

/// Runs one of pkilint's scripts (`lint_pkix_cert`, `lint_etsi_cert`...) with `lint <args>
/// <file>`.
pub fn run_pkilint(bin_dir: &Path, script: &str, args: &[&str], file: &Path) -> LintReport {
    let exe = bin_dir.join(script);
    let out = Command::new(&exe)
        .arg("lint")
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let command = format!("{script} lint {} {}", args.join(" "), file.display());
    // The TEXT format prints one finding per line: "<path> (<type>): <CODE> (<SEVERITY>)...".
    let errors: Vec<String> = stdout
        .lines()
        .filter(|l| l.contains("(ERROR)") || l.contains("(FATAL)"))
        .map(str::to_owned)
        .collect();
    // pkilint exits non-zero when it reports findings; a crash shows on stderr with no findings.
    assert!(
        out.status.success() || !stdout.trim().is_empty(),
        "{command} failed to run ({}):\n{stderr}",
        out.status
    );
    LintReport {
        command,
        output: format!("{stdout}{stderr}"),
        errors,
    }
}
