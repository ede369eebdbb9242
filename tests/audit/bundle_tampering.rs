//! Tampering with the bundle files, and a bundle re-signed with another key.

use std::path::Path;

use qtsp::audit::{
    BrokenReason, BundleKeys, CheckpointStatement, export_bundle, verify_bundle,
    verify_bundle_with_keys,
};
use sha2::{Digest, Sha256};

use crate::common;
use crate::common::audit::{audit_signer_with_id, copy_dir};
use crate::helpers::{
    bundle_keys, edit_payload, expect_broken, line_value, read_lines, rehash, small_journal,
    trusted, write_lines,
};

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
