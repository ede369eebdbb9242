//! Audit journal tests on real SQLite and PostgreSQL (`audit_db_test!` makes `NAME::sqlite` and
//! `NAME::postgres`), real SoftHSM2, and the command-line tools an auditor uses (openssl,
//! sha256sum, jq, python3).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use qtsp::audit::{
    self, AuditEvent, BrokenReason, BundleKeys, CheckpointStatement, Journal, NamedPem,
    VerifyReport, export_bundle, verify_bundle, verify_bundle_with_keys, verify_storage,
};
use qtsp::storage::{AuditRecord, Storage};
use sha2::{Digest, Sha256};

use common::audit::{
    TestDb, all_records, audit_signer, audit_signer_with_id, copy_dir, documented_hash,
    documented_hash_of, documented_time, fill, hsm, journal, sample_event, tamper,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn expect_broken(report: &VerifyReport, seq: u64, reason: BrokenReason, what: &str) {
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

fn bundle_keys(journal: &Journal) -> BundleKeys {
    BundleKeys {
        audit_public_keys: vec![trusted(journal)],
        certificates: Vec::new(),
    }
}

fn trusted(journal: &Journal) -> Vec<u8> {
    journal
        .checkpoint_signer()
        .unwrap()
        .public_key_spki_der()
        .to_vec()
}

/// A journal of 100 events with a checkpoint after every 10 (see `common::audit::fill`):
/// records 1..=110, checkpoints over 10, 21, 32, 43, ..., 109.
async fn small_journal(storage: &Storage) -> (Journal, qtsp_hsm::Hsm) {
    let hsm = hsm().await;
    let journal = journal(storage, audit_signer(&hsm).await, "n1");
    fill(&journal, 100, 10).await;
    let head = storage.audit_head().await.unwrap();
    assert_eq!(head.seq, 110);
    (journal, hsm)
}

/// Verifies the database, then an export of it, and checks both against the expectation.
async fn expect_detected(
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

/// Whether a command-line tool can be started; required in CI (`CI=true`).
fn tool_available(name: &str) -> bool {
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

// ---------------------------------------------------------------------------------------------
// An untouched journal verifies
// ---------------------------------------------------------------------------------------------

/// 500 events with a checkpoint after every 50: the database and an exported bundle verify,
/// with the trusted key and with the bundle's own key.
async fn untouched_journal_verifies(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    journal.record_service_started().await.unwrap();
    fill(&journal, 500, 50).await;
    let key = trusted(&journal);

    let report = verify_storage(&db.storage, std::slice::from_ref(&key))
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 511);
    assert_eq!(report.checkpoints, 10);
    assert_eq!(report.last_checkpoint_seq, Some(510));
    assert_eq!(report.records_after_last_checkpoint(), 1);
    assert_eq!(report.signing_keys, vec![audit::key_id_of_spki(&key)]);
    assert!(report.to_string().contains("INTACT"), "{report}");

    let dir = tempfile::tempdir().unwrap();
    let summary = export_bundle(&db.storage, dir.path(), &bundle_keys(&journal))
        .await
        .unwrap();
    assert_eq!((summary.records, summary.checkpoints), (511, 10));
    assert!(summary.unknown_checkpoint_keys.is_empty());
    let lines = std::fs::read_to_string(dir.path().join("records.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 511);

    let from_bundle = verify_bundle_with_keys(dir.path(), std::slice::from_ref(&key)).unwrap();
    assert!(from_bundle.is_intact(), "{from_bundle}");
    assert_eq!(
        (
            from_bundle.records,
            from_bundle.checkpoints,
            &from_bundle.last_hash
        ),
        (511, 10, &report.last_hash)
    );
    assert!(!from_bundle.keys_from_bundle);

    let self_keyed = verify_bundle(dir.path()).unwrap();
    assert!(self_keyed.is_intact(), "{self_keyed}");
    assert!(self_keyed.keys_from_bundle);
    assert!(self_keyed.to_string().contains("WARNING"), "{self_keyed}");

    // An export never goes over another one.
    let err = export_bundle(&db.storage, dir.path(), &bundle_keys(&journal))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "AUD010");

    // Another key is not trusted.
    let other = audit_signer_with_id(&hsm, b"qtsp-test-audit-other-key", "qtsp-test-other").await;
    let report = verify_storage(&db.storage, &[other.public_key_spki_der().to_vec()])
        .await
        .unwrap();
    expect_broken(
        &report,
        51,
        BrokenReason::CheckpointKeyUntrusted {
            seq: 51,
            key_id: audit::key_id_of_spki(&key),
        },
        "untrusted key",
    );
}
audit_db_test!(untouched_journal_verifies);

// ---------------------------------------------------------------------------------------------
// Tampering with the database (triggers dropped through a raw connection, as a DBA could)
// ---------------------------------------------------------------------------------------------

async fn db_edited_payload(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    // Record 8 is a certificate intent for "CN=Zoë ...".
    tamper(
        &db,
        &["UPDATE audit_records SET payload = replace(payload, 'Zo', 'Jo') WHERE seq = 8".into()],
    )
    .await;
    let record = db.storage.audit_records(8, 1).await.unwrap().remove(0);
    assert!(record.payload.contains("CN=Joë"), "{}", record.payload);
    expect_detected(
        &db,
        &journal,
        8,
        BrokenReason::HashMismatch,
        None,
        "edited payload",
    )
    .await;
}
audit_db_test!(db_edited_payload);

async fn db_edited_payload_later(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        // Record 90 is a revocation.
        &[
            "UPDATE audit_records SET payload = replace(payload, 'keyCompromise', 'superseded') \
           WHERE seq = 90"
                .into(),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        90,
        BrokenReason::HashMismatch,
        None,
        "edited payload",
    )
    .await;
}
audit_db_test!(db_edited_payload_later);

async fn db_deleted_record(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(&db, &["DELETE FROM audit_records WHERE seq = 37".into()]).await;
    expect_detected(
        &db,
        &journal,
        37,
        BrokenReason::Gap {
            expected: 37,
            found: 38,
        },
        None,
        "deleted record",
    )
    .await;
}
audit_db_test!(db_deleted_record);

/// A forged record 41 that links to record 40 and carries a correct hash (the formula is
/// public); the records after it are renumbered to make room.
async fn db_inserted_record(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    let before = &records[39];
    assert_eq!(before.seq, 40);
    let payload = AuditEvent::AdminAction {
        action: "forged".into(),
        target: None,
        detail: None,
    }
    .to_payload()
    .unwrap();
    let recorded_at = before.recorded_at + time::Duration::microseconds(1);
    let hash = documented_hash(
        41,
        &documented_time(recorded_at),
        "admin_action",
        "admin:mallory",
        &hex::encode(&before.hash),
        &payload,
    );
    let time_sql = if db.is_sqlite() {
        (recorded_at.unix_timestamp_nanos() / 1000).to_string()
    } else {
        format!("'{}'", documented_time(recorded_at))
    };
    tamper(
        &db,
        &[
            "UPDATE audit_records SET seq = seq + 1000000 WHERE seq >= 41".into(),
            "UPDATE audit_records SET seq = seq - 999999 WHERE seq >= 1000000".into(),
            format!(
                "INSERT INTO audit_records (seq, recorded_at, event_type, actor, payload, prev_hash, hash) \
                 VALUES (41, {time_sql}, 'admin_action', 'admin:mallory', '{payload}', {}, {})",
                db.bytes_sql(&before.hash),
                db.bytes_sql(&hex::decode(hash).unwrap())
            ),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        41,
        BrokenReason::Inserted,
        None,
        "inserted record",
    )
    .await;
}
audit_db_test!(db_inserted_record);

async fn db_swapped_records(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        &[
            "UPDATE audit_records SET seq = 1000045 WHERE seq = 45".into(),
            "UPDATE audit_records SET seq = 45 WHERE seq = 46".into(),
            "UPDATE audit_records SET seq = 46 WHERE seq = 1000045".into(),
        ],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        45,
        BrokenReason::OutOfOrder {
            expected: 45,
            found: 46,
        },
        None,
        "swapped records",
    )
    .await;
}
audit_db_test!(db_swapped_records);

async fn db_altered_checkpoint_signature(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    // A genuine signature, of another checkpoint.
    tamper(
        &db,
        &["UPDATE audit_checkpoints SET signature = \
           (SELECT signature FROM audit_checkpoints WHERE seq = 21) WHERE seq = 32"
            .into()],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        32,
        BrokenReason::CheckpointSignatureInvalid { seq: 32 },
        None,
        "altered checkpoint signature",
    )
    .await;
}
audit_db_test!(db_altered_checkpoint_signature);

/// The journal rewritten from record 25 on with every hash recomputed, head included: the chain
/// holds, and the checkpoint over 32 (the first at or after 25) vouches for the old hash.
async fn db_rewritten_journal(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    let mut statements = Vec::new();
    let mut prev = hex::encode(&records[23].hash);
    for record in &records[24..] {
        let actor = if record.seq == 25 {
            "admin:mallory"
        } else {
            record.actor.as_str()
        };
        let hash = documented_hash(
            record.seq,
            &documented_time(record.recorded_at),
            &record.event_type,
            actor,
            &prev,
            &record.payload,
        );
        statements.push(format!(
            "UPDATE audit_records SET actor = '{actor}', prev_hash = {}, hash = {} WHERE seq = {}",
            db.bytes_sql(&hex::decode(&prev).unwrap()),
            db.bytes_sql(&hex::decode(&hash).unwrap()),
            record.seq
        ));
        prev = hash;
    }
    statements.push(format!(
        "UPDATE audit_head SET hash = {} WHERE id = 1",
        db.bytes_sql(&hex::decode(&prev).unwrap())
    ));
    tamper(&db, &statements).await;
    // The export rebuilds the statement from the (rewritten) database, so the bundle can only
    // say that the signature does not verify; a bundle exported before the rewrite says more
    // (see bundle_tampering_is_detected).
    expect_detected(
        &db,
        &journal,
        32,
        BrokenReason::CheckpointHashMismatch { seq: 32 },
        Some(BrokenReason::CheckpointSignatureInvalid { seq: 32 }),
        "journal rewritten after a checkpoint",
    )
    .await;
}
audit_db_test!(db_rewritten_journal);

async fn db_deleted_checkpoint(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    tamper(
        &db,
        &["DELETE FROM audit_checkpoints WHERE seq = 43".into()],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        43,
        BrokenReason::CheckpointMissing {
            seq: 43,
            journaled_in: 44,
        },
        None,
        "deleted checkpoint",
    )
    .await;
}
audit_db_test!(db_deleted_checkpoint);

/// Cutting records off the end is detected while the head or a checkpoint still refers to
/// them, and is not detectable once the last checkpoint over them is gone too.
async fn db_truncated_tail(db: TestDb) {
    let (journal, _hsm) = small_journal(&db.storage).await;
    let records = all_records(&db.storage).await;
    tamper(&db, &["DELETE FROM audit_records WHERE seq > 100".into()]).await;
    expect_detected(
        &db,
        &journal,
        101,
        BrokenReason::Truncated {
            expected_last: 110,
            found_last: 100,
        },
        None,
        "tail cut off, head left",
    )
    .await;

    tamper(
        &db,
        &[format!(
            "UPDATE audit_head SET seq = 100, hash = {} WHERE id = 1",
            db.bytes_sql(&records[99].hash)
        )],
    )
    .await;
    expect_detected(
        &db,
        &journal,
        109,
        BrokenReason::CheckpointUnknownSeq { seq: 109 },
        None,
        "tail and head cut back under a checkpoint",
    )
    .await;

    tamper(
        &db,
        &[
            "DELETE FROM audit_checkpoints WHERE seq = 109".into(),
            "DELETE FROM audit_records WHERE seq > 98".into(),
            format!(
                "UPDATE audit_head SET seq = 98, hash = {} WHERE id = 1",
                db.bytes_sql(&records[97].hash)
            ),
        ],
    )
    .await;
    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(
        report.is_intact(),
        "cut back to the last checkpoint: undetectable without an external anchor\n{report}"
    );
    assert_eq!(
        (report.last_seq, report.last_checkpoint_seq),
        (98, Some(98))
    );
}
audit_db_test!(db_truncated_tail);

// ---------------------------------------------------------------------------------------------
// Tampering with the bundle files
// ---------------------------------------------------------------------------------------------

fn read_lines(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("records.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn write_lines(dir: &Path, lines: &[String]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(dir.join("records.jsonl"), text).unwrap();
}

fn line_value(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap()
}

/// A record line whose payload was edited (a string member changed; still canonical JSON).
fn edit_payload(line: &str) -> String {
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
fn rehash(mut v: serde_json::Value) -> serde_json::Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundle_tampering_is_detected() {
    let db = common::audit::sqlite_db().await;
    let (journal, _hsm) = small_journal(&db.storage).await;
    let key = trusted(&journal);
    let pristine = tempfile::tempdir().unwrap();
    export_bundle(&db.storage, pristine.path(), &bundle_keys(&journal))
        .await
        .unwrap();
    assert!(verify_bundle(pristine.path()).unwrap().is_intact());

    type Tamper = Box<dyn Fn(&Path)>;
    let scenarios: Vec<(&str, Tamper, u64, BrokenReason)> = vec![
        (
            "edited payload",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines[22] = edit_payload(&lines[22]);
                write_lines(dir, &lines);
            }),
            23,
            BrokenReason::HashMismatch,
        ),
        (
            "deleted record",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines.remove(36);
                write_lines(dir, &lines);
            }),
            37,
            BrokenReason::Gap {
                expected: 37,
                found: 38,
            },
        ),
        (
            "deleted record, later ones renumbered",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines.remove(36);
                for line in &mut lines[36..] {
                    let mut v = line_value(line);
                    v["seq"] = (v["seq"].as_u64().unwrap() - 1).into();
                    *line = v.to_string();
                }
                write_lines(dir, &lines);
            }),
            37,
            BrokenReason::RemovedAndRenumbered { written_as: 38 },
        ),
        (
            "inserted record, later ones renumbered",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                let forged = line_value(&edit_payload(&lines[40]));
                for line in &mut lines[40..] {
                    let mut v = line_value(line);
                    v["seq"] = (v["seq"].as_u64().unwrap() + 1).into();
                    *line = v.to_string();
                }
                lines.insert(40, rehash(forged).to_string());
                write_lines(dir, &lines);
            }),
            41,
            BrokenReason::Inserted,
        ),
        (
            "inserted record with a repeated number",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                let mut forged = line_value(&lines[40]);
                forged["actor"] = "admin:mallory".into();
                lines.insert(40, rehash(forged).to_string());
                write_lines(dir, &lines);
            }),
            41,
            BrokenReason::OutOfOrder {
                expected: 42,
                found: 41,
            },
        ),
        (
            "swapped records",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines.swap(44, 45);
                write_lines(dir, &lines);
            }),
            45,
            BrokenReason::OutOfOrder {
                expected: 45,
                found: 46,
            },
        ),
        (
            "checkpoint signature replaced by another checkpoint's",
            Box::new(|dir| {
                let cp = dir.join("checkpoints");
                std::fs::copy(cp.join("cp-21.sig"), cp.join("cp-32.sig")).unwrap();
            }),
            32,
            BrokenReason::CheckpointSignatureInvalid { seq: 32 },
        ),
        (
            "checkpoint signature bit flipped",
            Box::new(|dir| {
                let path = dir.join("checkpoints/cp-32.sig");
                let mut sig = std::fs::read(&path).unwrap();
                let last = sig.len() - 1;
                sig[last] ^= 1;
                std::fs::write(path, sig).unwrap();
            }),
            32,
            BrokenReason::CheckpointSignatureInvalid { seq: 32 },
        ),
        (
            "checkpoint hash altered",
            Box::new(|dir| {
                let path = dir.join("checkpoints/cp-32.txt");
                let text = std::fs::read_to_string(&path).unwrap();
                let statement = CheckpointStatement::parse(&text).unwrap();
                let altered = text.replace(
                    &hex::encode(&statement.record_hash),
                    &hex::encode(Sha256::digest(b"another journal")),
                );
                std::fs::write(path, altered).unwrap();
            }),
            32,
            BrokenReason::CheckpointHashMismatch { seq: 32 },
        ),
        (
            "journal rewritten from record 25, every hash recomputed",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                let mut prev = line_value(&lines[23])["hash"].as_str().unwrap().to_owned();
                for line in &mut lines[24..] {
                    let mut v = line_value(line);
                    if v["seq"] == 25 {
                        v["actor"] = "admin:mallory".into();
                    }
                    v["prev_hash"] = prev.clone().into();
                    let v = rehash(v);
                    prev = v["hash"].as_str().unwrap().to_owned();
                    *line = v.to_string();
                }
                write_lines(dir, &lines);
                // The manifest follows, as a careful forger would make it.
                let manifest_path = dir.join("bundle.json");
                let mut manifest = line_value(&std::fs::read_to_string(&manifest_path).unwrap());
                manifest["last_hash"] = prev.into();
                std::fs::write(manifest_path, manifest.to_string()).unwrap();
            }),
            32,
            BrokenReason::CheckpointHashMismatch { seq: 32 },
        ),
        (
            "checkpoint deleted",
            Box::new(|dir| {
                std::fs::remove_file(dir.join("checkpoints/cp-43.txt")).unwrap();
                std::fs::remove_file(dir.join("checkpoints/cp-43.sig")).unwrap();
            }),
            43,
            BrokenReason::CheckpointMissing {
                seq: 43,
                journaled_in: 44,
            },
        ),
        (
            "checkpoint signature file deleted",
            Box::new(|dir| {
                std::fs::remove_file(dir.join("checkpoints/cp-43.sig")).unwrap();
            }),
            43,
            BrokenReason::CheckpointMalformed {
                seq: 43,
                detail: "cp-43.sig is missing".into(),
            },
        ),
        (
            "tail cut off, manifest left",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines.truncate(100);
                write_lines(dir, &lines);
            }),
            101,
            BrokenReason::Truncated {
                expected_last: 110,
                found_last: 100,
            },
        ),
        (
            "tail cut off under a checkpoint, manifest adjusted",
            Box::new(|dir| {
                let mut lines = read_lines(dir);
                lines.truncate(100);
                let last_hash = line_value(&lines[99])["hash"].clone();
                write_lines(dir, &lines);
                let manifest_path = dir.join("bundle.json");
                let mut manifest = line_value(&std::fs::read_to_string(&manifest_path).unwrap());
                manifest["last_seq"] = 100.into();
                manifest["last_hash"] = last_hash;
                std::fs::write(manifest_path, manifest.to_string()).unwrap();
            }),
            109,
            BrokenReason::CheckpointUnknownSeq { seq: 109 },
        ),
    ];
    for (what, tamper_files, seq, reason) in scenarios {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), copy.path());
        tamper_files(copy.path());
        let report = verify_bundle_with_keys(copy.path(), std::slice::from_ref(&key)).unwrap();
        expect_broken(&report, seq, reason.clone(), what);
        // Same answer when trusting the keys shipped in the bundle.
        let report = verify_bundle(copy.path()).unwrap();
        expect_broken(&report, seq, reason, what);
    }
}

/// An attacker who rewrites the journal and re-signs every checkpoint with their own key, which
/// they put in the bundle: only trusting the real audit key catches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bundle_resigned_with_another_key() {
    let db = common::audit::sqlite_db().await;
    let (journal, hsm) = small_journal(&db.storage).await;
    let attacker = audit_signer_with_id(&hsm, b"qtsp-test-audit-attacker-key", "attacker").await;
    let dir = tempfile::tempdir().unwrap();
    export_bundle(
        &db.storage,
        dir.path(),
        &BundleKeys {
            audit_public_keys: vec![attacker.public_key_spki_der().to_vec()],
            certificates: Vec::new(),
        },
    )
    .await
    .unwrap();
    for entry in std::fs::read_dir(dir.path().join("checkpoints")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "txt") {
            let text = std::fs::read_to_string(&path).unwrap();
            let mut statement = CheckpointStatement::parse(&text).unwrap();
            statement.key_id = attacker.key_id().to_owned();
            let signature = attacker.sign(&statement).await.unwrap();
            std::fs::write(&path, statement.to_text()).unwrap();
            std::fs::write(path.with_extension("sig"), signature).unwrap();
        }
    }
    let self_keyed = verify_bundle(dir.path()).unwrap();
    assert!(self_keyed.is_intact(), "{self_keyed}");
    assert_eq!(self_keyed.trusted_keys, vec![attacker.key_id().to_owned()]);
    assert!(self_keyed.to_string().contains(attacker.key_id()));
    let report = verify_bundle_with_keys(dir.path(), &[trusted(&journal)]).unwrap();
    expect_broken(
        &report,
        10,
        BrokenReason::CheckpointKeyUntrusted {
            seq: 10,
            key_id: attacker.key_id().to_owned(),
        },
        "re-signed bundle",
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency
// ---------------------------------------------------------------------------------------------

/// 32 tasks append concurrently while the checkpointer runs: one valid chain, every event
/// present once, the final checkpoint covers the last event.
async fn concurrent_appends(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let checkpointer = journal
        .spawn_checkpointer(25, Duration::from_millis(50), async move {
            let _ = stopped.await;
        })
        .unwrap();
    let mut tasks = Vec::new();
    for task in 0..32u64 {
        let journal = journal.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..20u64 {
                let event = AuditEvent::AdminAction {
                    action: "concurrent".into(),
                    target: Some(format!("{task}-{i}")),
                    detail: None,
                };
                journal
                    .append(&event, &format!("task:{task}"))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    stop.send(()).unwrap();
    checkpointer.await.unwrap();

    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    let records = all_records(&db.storage).await;
    let events: Vec<&AuditRecord> = records
        .iter()
        .filter(|r| r.event_type == "admin_action")
        .collect();
    assert_eq!(events.len(), 640);
    let distinct: std::collections::BTreeSet<&str> =
        events.iter().map(|r| r.payload.as_str()).collect();
    assert_eq!(distinct.len(), 640);
    assert!(report.checkpoints >= 1, "{report}");
    assert_eq!(
        report.records_after_last_checkpoint(),
        1,
        "only the final announcement is after the last checkpoint\n{report}"
    );
}
audit_db_test!(concurrent_appends);

/// Two storage pools on one PostgreSQL database (two processes, two nodes with their own audit
/// keys) append and checkpoint concurrently: one valid chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_postgres() {
    let Some(first) = common::audit::postgres_db().await else {
        return;
    };
    let second = qtsp::storage::Storage::connect(&first.url, common::db::test_options())
        .await
        .unwrap();
    let hsm = hsm().await;
    let key_a = audit_signer(&hsm).await;
    let key_b = audit_signer_with_id(&hsm, b"qtsp-test-audit-node-b-key", "qtsp-test-b").await;
    let trusted_keys = vec![
        key_a.public_key_spki_der().to_vec(),
        key_b.public_key_spki_der().to_vec(),
    ];
    let journals = [
        journal(&first.storage, key_a, "node-a"),
        journal(&second, key_b, "node-b"),
    ];
    let mut stops = Vec::new();
    let mut checkpointers = Vec::new();
    for journal in &journals {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push(stop);
        checkpointers.push(
            journal
                .spawn_checkpointer(30, Duration::from_millis(40), async move {
                    let _ = stopped.await;
                })
                .unwrap(),
        );
    }
    let mut tasks = Vec::new();
    for (n, journal) in journals.iter().enumerate() {
        for task in 0..16u64 {
            let journal = journal.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20u64 {
                    journal
                        .append(&sample_event(i), &format!("node{n}:task{task}"))
                        .await
                        .unwrap();
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    for stop in stops {
        stop.send(()).unwrap();
    }
    for checkpointer in checkpointers {
        checkpointer.await.unwrap();
    }
    let report = verify_storage(&first.storage, &trusted_keys).await.unwrap();
    assert!(report.is_intact(), "{report}");
    let records = all_records(&second).await;
    let events = records
        .iter()
        .filter(|r| r.event_type != audit::CHECKPOINT_SIGNED)
        .count();
    assert_eq!(events, 640);
    assert!(report.checkpoints >= 2, "{report}");
    second.close().await;
    first.storage.close().await;
}

// ---------------------------------------------------------------------------------------------
// The checkpointer's schedule
// ---------------------------------------------------------------------------------------------

async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn latest_checkpoint(storage: &Storage) -> Option<u64> {
    storage
        .latest_audit_checkpoint()
        .await
        .unwrap()
        .map(|c| c.seq)
}

async fn checkpointer_schedule(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let storage = db.storage.clone();

    // Every 10 records (time far away): each batch of 10 events gets its checkpoint...
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let by_count = journal
        .spawn_checkpointer(10, Duration::from_secs(3600), async move {
            let _ = stopped.await;
        })
        .unwrap();
    for round in 0..3u64 {
        let before = latest_checkpoint(&storage).await.unwrap_or(0);
        for i in 0..10 {
            journal
                .append(&sample_event(round * 10 + i), "admin:alice")
                .await
                .unwrap();
        }
        // The checkpointer may wake while the tenth is being appended and cover nine.
        wait_for("a checkpoint after 10 records", async || {
            latest_checkpoint(&storage)
                .await
                .is_some_and(|cp| cp >= before + 9)
        })
        .await;
    }
    // ...fewer than 10 do not get one (the checkpointer polls every second)...
    let checkpointed = latest_checkpoint(&storage).await;
    for i in 0..5 {
        journal
            .append(&sample_event(i), "admin:alice")
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(latest_checkpoint(&storage).await, checkpointed);
    // ...until the checkpointer stops: its last checkpoint covers everything appended.
    stop.send(()).unwrap();
    by_count.await.unwrap();
    let head = storage.audit_head().await.unwrap();
    assert_eq!(latest_checkpoint(&storage).await, Some(head.seq - 1));

    // Every 300 ms (count far away), only when something new was journaled.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let by_time = journal
        .spawn_checkpointer(1_000_000, Duration::from_millis(300), async move {
            let _ = stopped.await;
        })
        .unwrap();
    let record = journal
        .append(&sample_event(1), "admin:alice")
        .await
        .unwrap();
    wait_for("a checkpoint by time, and its announcement", async || {
        let head = storage.audit_head().await.unwrap().seq;
        latest_checkpoint(&storage).await == Some(record.seq) && head == record.seq + 1
    })
    .await;
    let head = storage.audit_head().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(
        storage.audit_head().await.unwrap(),
        head,
        "nothing new: no checkpoint, no announcement"
    );
    assert_eq!(latest_checkpoint(&storage).await, Some(record.seq));
    stop.send(()).unwrap();
    by_time.await.unwrap();

    let report = verify_storage(&storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");

    // Refused schedules.
    for (n, t) in [(0, Duration::from_secs(1)), (1, Duration::ZERO)] {
        let err = journal.spawn_checkpointer(n, t, async {}).unwrap_err();
        assert_eq!(err.code(), "AUD012");
    }
    let unsigned = Journal::new(
        storage.clone(),
        common::audit::stepping_clock(),
        qtsp::audit::NodeInfo::new("n2"),
    );
    assert_eq!(
        unsigned.checkpoint_now().await.unwrap_err().code(),
        "AUD006"
    );
}
audit_db_test!(checkpointer_schedule);

// ---------------------------------------------------------------------------------------------
// What an auditor does by hand
// ---------------------------------------------------------------------------------------------

/// Every stored hash equals the documented formula computed here (sha2 + the `time` crate's
/// formatter, not the module's code), and the module's own pieces agree with it.
async fn record_hash_matches_documented_formula(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    fill(&journal, 40, 20).await;
    let records = all_records(&db.storage).await;
    assert_eq!(records.len(), 42);
    let mut prev = "0".repeat(64);
    for record in &records {
        assert_eq!(
            hex::encode(&record.prev_hash),
            prev,
            "record {}",
            record.seq
        );
        let expected = documented_hash_of(record);
        assert_eq!(hex::encode(&record.hash), expected, "record {}", record.seq);
        assert_eq!(
            audit::format_time(record.recorded_at),
            documented_time(record.recorded_at)
        );
        prev = expected;
    }
    // The payload is the canonical JSON of the event, and reads back as the same event.
    let first = &records[0];
    assert_eq!(first.payload, sample_event(1).to_payload().unwrap());
    assert_eq!(
        AuditEvent::from_payload(&first.payload).unwrap(),
        sample_event(1)
    );
    assert!(
        first.payload.starts_with(r#"{"certificate_sha256":""#),
        "keys sorted: {}",
        first.payload
    );
}
audit_db_test!(record_hash_matches_documented_formula);

/// The tools and commands of VERIFY.md, run on an exported bundle: openssl verifies each
/// checkpoint ("Verified OK") and computes the key id; the shell recomputation of a record hash
/// and the Python chain check agree; sha256sum -c accepts the bundle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn auditor_tools_verify_the_bundle() {
    let db = common::audit::sqlite_db().await;
    let (journal, _hsm) = small_journal(&db.storage).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = NamedPem {
        name: "audit-key-certificate".into(),
        pem: "-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n".into(),
    };
    let mut keys = bundle_keys(&journal);
    keys.certificates.push(cert.clone());
    export_bundle(&db.storage, dir.path(), &keys).await.unwrap();
    let bundle = dir.path();
    assert_eq!(
        std::fs::read_to_string(bundle.join("keys/audit-key-certificate.pem")).unwrap(),
        cert.pem
    );
    assert_eq!(
        std::fs::read_to_string(bundle.join("VERIFY.md")).unwrap(),
        audit::VERIFY_MD
    );
    let key_id = journal.checkpoint_signer().unwrap().key_id().to_owned();

    if tool_available("openssl") {
        for seq in [10, 21, 109] {
            let out = Command::new("openssl")
                .current_dir(bundle)
                .args([
                    "dgst",
                    "-sha256",
                    "-verify",
                    "keys/audit-key.pem",
                    "-signature",
                ])
                .arg(format!("checkpoints/cp-{seq}.sig"))
                .arg(format!("checkpoints/cp-{seq}.txt"))
                .output()
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout).trim(),
                "Verified OK",
                "cp-{seq}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A statement with one byte changed does not verify.
        let altered = bundle.join("altered.txt");
        let text = std::fs::read_to_string(bundle.join("checkpoints/cp-21.txt")).unwrap();
        std::fs::write(&altered, text.replace("seq: 21", "seq: 22")).unwrap();
        let out = Command::new("openssl")
            .current_dir(bundle)
            .args([
                "dgst",
                "-sha256",
                "-verify",
                "keys/audit-key.pem",
                "-signature",
            ])
            .args(["checkpoints/cp-21.sig", "altered.txt"])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("Verification failure"), "{said}");
        std::fs::remove_file(altered).unwrap();

        let out = sh(
            bundle,
            "openssl pkey -pubin -in keys/audit-key.pem -outform DER | sha256sum",
            &[],
        );
        assert!(out.starts_with(&key_id), "{out}");
        assert!(bundle.join(format!("keys/{key_id}.pem")).exists());

        if tool_available("jq") {
            let out = sh(bundle, &doc_block("sh check-checkpoints"), &[]);
            assert_eq!(out.matches(": OK").count(), 10, "{out}");
        }
    }

    if tool_available("jq") {
        let records = all_records(&db.storage).await;
        for seq in [1u64, 23, 110] {
            let out = sh(
                bundle,
                &doc_block("sh recompute-record"),
                &[("N", seq.to_string())],
            );
            let expected = hex::encode(&records[seq as usize - 1].hash);
            assert_eq!(
                out,
                format!("{expected}  -\nstored: {expected}\n"),
                "record {seq}"
            );
        }
    }

    if tool_available("python3") {
        let out = Command::new("python3")
            .current_dir(bundle)
            .arg("-c")
            .arg(doc_block("python verify-chain"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report = verify_bundle(bundle).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            format!(
                "110 records, chain intact, last hash {}",
                hex::encode(report.last_hash)
            )
        );
        // The script notices an edited record too.
        let edited = tempfile::tempdir().unwrap();
        copy_dir(bundle, edited.path());
        let mut lines = read_lines(edited.path());
        lines[22] = edit_payload(&lines[22]);
        write_lines(edited.path(), &lines);
        let out = Command::new("python3")
            .current_dir(edited.path())
            .arg("-c")
            .arg(doc_block("python verify-chain"))
            .output()
            .unwrap();
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("record 23: hash mismatch"));
    }

    if tool_available("sha256sum") {
        let out = sh(bundle, "sha256sum -c --quiet SHA256SUMS && echo ok", &[]);
        assert_eq!(out.trim(), "ok");
    }
}

/// The fenced block of VERIFY.md whose info string is `info`.
fn doc_block(info: &str) -> String {
    let start = format!("```{info}\n");
    let from = audit::VERIFY_MD
        .find(&start)
        .unwrap_or_else(|| panic!("VERIFY.md has no ```{info} block"))
        + start.len();
    let len = audit::VERIFY_MD[from..].find("```").unwrap();
    audit::VERIFY_MD[from..from + len].to_owned()
}

fn sh(dir: &Path, script: &str, env: &[(&str, String)]) -> String {
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
