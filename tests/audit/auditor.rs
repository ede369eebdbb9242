//! What an auditor does by hand: the documented hash formula, and the tools and commands of
//! VERIFY.md run on an exported bundle.

use std::process::Command;

use qtsp::audit::{self, AuditEvent, NamedPem, export_bundle, verify_bundle};

use crate::audit_db_test;
use crate::common;
use crate::common::audit::{
    TestDb, all_records, audit_signer, copy_dir, documented_hash_of, documented_time, fill, hsm,
    journal, sample_event,
};
use crate::helpers::{
    bundle_keys, doc_block, edit_payload, read_lines, sh, small_journal, tool_available,
    write_lines,
};

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

/// VERIFY.md's `clock-periods` lists the `clock_status` periods an auditor must look at: those
/// with readings outside the accuracy, and those in which the check was off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documented_clock_query_lists_the_periods_to_look_at() {
    if !tool_available("jq") {
        return;
    }
    let db = common::audit::sqlite_db().await;
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let hour = |h: u8| {
        time::PrimitiveDateTime::new(
            time::Date::from_calendar_date(2026, time::Month::November, 23).unwrap(),
            time::Time::from_hms(h, 0, 0).unwrap(),
        )
        .assume_utc()
    };
    let status =
        |h: u8, readings: u64, within_accuracy: u64, enforced: bool| AuditEvent::ClockStatus {
            source: "kernel".into(),
            from: hour(h),
            to: hour(h + 1),
            readings,
            within_accuracy,
            accuracy_us: 1_000_000,
            max_error_us: Some(16_000),
            enforced,
            detail: "adjtimex: synchronized, maxerror 16000 us, esterror 2 us".into(),
        };
    for event in [
        status(10, 3600, 3600, true),
        sample_event(3),
        status(11, 3600, 3598, true),
        status(12, 3600, 3600, true),
        status(13, 1800, 0, false),
    ] {
        journal.append(&event, "system:n1").await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    export_bundle(&db.storage, dir.path(), &bundle_keys(&journal))
        .await
        .unwrap();
    let out = sh(dir.path(), &doc_block("sh clock-periods"), &[]);
    assert_eq!(
        out,
        "2026-11-23T11:00:00.000000Z 2026-11-23T12:00:00.000000Z 3598/3600 within, enforced: true\n\
         2026-11-23T13:00:00.000000Z 2026-11-23T14:00:00.000000Z 0/1800 within, enforced: false\n"
    );
}
