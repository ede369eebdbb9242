//! Shared helpers: the verification expectations, the standard small journal, the editing of
//! an exported bundle's record lines, and the auditor's tools with VERIFY.md's commands.

use std::path::Path;
use std::process::Command;

use qtsp::audit::{
    self, BrokenReason, BundleKeys, Journal, VerifyReport, export_bundle, verify_bundle_with_keys,
    verify_storage,
};
use qtsp::storage::Storage;

use crate::common::audit::{TestDb, audit_signer, documented_hash, fill, hsm, journal};

pub(crate) fn expect_broken(report: &VerifyReport, seq: u64, reason: BrokenReason, what: &str) {
    let broken = report
        .first_broken
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: not detected\n{report}"));
    assert_eq!(
        (broken.seq, &broken.reason),
        (seq, &reason),
        "{what}\n{report}"
    );
    let text = report.to_string();
    assert!(
        text.contains(&format!("BROKEN at record {seq}: ")),
        "{what}: the report must name record {seq}:\n{text}"
    );
}

pub(crate) fn bundle_keys(journal: &Journal) -> BundleKeys {
    BundleKeys {
        audit_public_keys: vec![trusted(journal)],
        certificates: Vec::new(),
    }
}

pub(crate) fn trusted(journal: &Journal) -> Vec<u8> {
    journal
        .checkpoint_signer()
        .unwrap()
        .public_key_spki_der()
        .to_vec()
}

/// A journal of 100 events with a checkpoint after every 10 (see `common::audit::fill`):
/// records 1..=110, checkpoints over 10, 21, 32, 43, ..., 109.
pub(crate) async fn small_journal(storage: &Storage) -> (Journal, qtsp_hsm::Hsm) {
    let hsm = hsm().await;
    let journal = journal(storage, audit_signer(&hsm).await, "n1");
    fill(&journal, 100, 10).await;
    let head = storage.audit_head().await.unwrap();
    assert_eq!(head.seq, 110);
    (journal, hsm)
}

/// Verifies the database, then an export of it, and checks both against the expectation.
pub(crate) async fn expect_detected(
    db: &TestDb,
    journal: &Journal,
    seq: u64,
    reason: BrokenReason,
    bundle_reason: Option<BrokenReason>,
    what: &str,
) {
    let key = trusted(journal);
    let report = verify_storage(&db.storage, std::slice::from_ref(&key))
        .await
        .unwrap();
    expect_broken(&report, seq, reason.clone(), &format!("{what} (database)"));
    let dir = tempfile::tempdir().unwrap();
    export_bundle(&db.storage, dir.path(), &bundle_keys(journal))
        .await
        .unwrap();
    let report = verify_bundle_with_keys(dir.path(), &[key]).unwrap();
    expect_broken(
        &report,
        seq,
        bundle_reason.unwrap_or(reason),
        &format!("{what} (export of the database)"),
    );
}

// ---------------------------------------------------------------------------------------------
// Editing the bundle files
// ---------------------------------------------------------------------------------------------

pub(crate) fn read_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

pub(crate) fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("records.jsonl"), text).unwrap();
}

pub(crate) fn line_value(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

/// A record line whose payload was edited (a string member changed; still canonical JSON).
pub(crate) fn edit_payload(line: &str) -> String {
    let mut v = line_value(line);
    let mut payload = line_value(v["payload"].as_str().unwrap());
    let member = payload
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, v)| *k != "event" && v.is_string())
        .map(|(k, _)| k.clone())
        .unwrap();
    payload[&member] = format!("{}-edited", payload[&member].as_str().unwrap()).into();
    v["payload"] = audit::canonical::to_canonical_json(&payload)
        .unwrap()
        .into();
    v.to_string()
}

/// A record line with its hash recomputed from the documented formula.
pub(crate) fn rehash(mut v: serde_json::Value) -> serde_json::Value {
    let hash = documented_hash(
        v["seq"].as_u64().unwrap(),
        v["recorded_at"].as_str().unwrap(),
        v["event_type"].as_str().unwrap(),
        v["actor"].as_str().unwrap(),
        v["prev_hash"].as_str().unwrap(),
        v["payload"].as_str().unwrap(),
    );
    v["hash"] = hash.into();
    v
}

// ---------------------------------------------------------------------------------------------
// The auditor's tools and VERIFY.md's commands
// ---------------------------------------------------------------------------------------------

/// Whether a command-line tool can be started; required in CI (`CI=true`).
pub(crate) fn tool_available(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{name} is required in CI (CI=true) but is not installed"
        );
        eprintln!("skipping the {name} check: {name} is not installed");
    }
    found
}

/// The fenced block of VERIFY.md whose info string is `info`.
pub(crate) fn doc_block(info: &str) -> String {
    let start = format!("```{info}\n");
    let from = audit::VERIFY_MD
        .find(&start)
        .unwrap_or_else(|| panic!("VERIFY.md has no ```{info} block"))
        + start.len();
    let len = audit::VERIFY_MD[from..].find("```").unwrap();
    audit::VERIFY_MD[from..from + len].to_owned()
}

/// Runs `script` with bash (`-euo pipefail`) in `dir`; fails the test unless it succeeds.
pub(crate) fn sh(dir: &Path, script: &str, env: &[(&str, String)]) -> String {
    let out = Command::new("bash")
        .current_dir(dir)
        .args(["-euo", "pipefail", "-c", script])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
