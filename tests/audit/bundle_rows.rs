//! The time-stamp rows in an exported bundle (`timestamps.txt`): the export copies each batch's
//! rows as the database holds them, `verify_bundle` checks every section against its journal
//! entry, and VERIFY.md's Python script does the same without qtsp; each kind of edit to the file
//! is found, named by the batch's record (or the file's line).

use std::path::Path;

use qtsp::audit::{
    BatchProblem, ExportSummary, TimestampRowsMismatch, TimestampRowsReport, VerifyReport,
    export_bundle, verify_bundle,
};

use crate::audit_db_test;
use crate::common::audit::{TestDb, copy_dir, tamper};
use crate::helpers::{
    bundle_keys, doc_block, edit_payload, line_value, read_lines, sh, tool_available, write_lines,
};
use crate::timestamp_rows::{
    BATCHES, Journaled, all_batches_match, checked_rows, imprint_altered, journal_with_batches,
};

const TIMESTAMPS: &str = "timestamps.txt";

async fn export(db: &TestDb, journaled: &Journaled, dir: &Path) -> ExportSummary {
    export_bundle(&db.storage, dir, &bundle_keys(&journaled.journal))
        .await
        .unwrap()
}

/// `journal_with_batches` on SQLite, exported.
async fn exported() -> (TestDb, Journaled, tempfile::TempDir) {
    let db = crate::common::audit::sqlite_db().await;
    let journaled = journal_with_batches(&db).await;
    let bundle = tempfile::tempdir().unwrap();
    export(&db, &journaled, bundle.path()).await;
    (db, journaled, bundle)
}

/// `timestamps.txt`'s lines, without their LF.
fn read_rows(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(dir.join(TIMESTAMPS)).unwrap();
    text.lines().map(str::to_owned).collect()
}

fn write_rows(dir: &Path, lines: &[String]) {
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    std::fs::write(dir.join(TIMESTAMPS), text).unwrap();
}

/// Verifies the bundle; the rows' report (see `checked_rows`).
fn bundle_rows(dir: &Path) -> TimestampRowsReport {
    checked_rows(&verify_bundle(dir).unwrap())
}

/// VERIFY.md's script over the bundle: its output, or its error when it fails.
fn documented_check(dir: &Path) -> Result<String, String> {
    let out = std::process::Command::new("python3")
        .current_dir(dir)
        .arg("-c")
        .arg(doc_block("python check-bundle-timestamps"))
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).trim().to_owned();
    if out.status.success() {
        Ok(text(&out.stdout))
    } else {
        Err(text(&out.stderr))
    }
}

async fn exported_rows_match_the_journal(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let bundle = tempfile::tempdir().unwrap();
    let summary = export(&db, &journaled, bundle.path()).await;
    let tokens: u64 = BATCHES.iter().sum();
    assert_eq!(
        (summary.timestamp_batches, summary.timestamp_rows),
        (3, tokens)
    );

    // One section per batch, its header then its rows in batch order.
    let lines = read_rows(bundle.path());
    let mut expected_headers = Vec::new();
    let mut at = 0;
    for (batch, size) in BATCHES.iter().enumerate() {
        expected_headers.push(format!(
            "# batch {} {}",
            journaled.seq(batch),
            journaled.serial_hex(batch, 0)
        ));
        assert_eq!(lines[at], expected_headers[batch]);
        for position in 0..*size as usize {
            let line = &lines[at + 1 + position];
            assert!(
                line.starts_with(&format!("{} ", journaled.serial_hex(batch, position))),
                "{line}"
            );
        }
        at += 1 + *size as usize;
    }
    assert_eq!(lines.len(), at);
    // Listed with the other files.
    sh(bundle.path(), "sha256sum --quiet -c SHA256SUMS", &[]);

    assert_eq!(bundle_rows(bundle.path()), all_batches_match());
    let report = verify_bundle(bundle.path()).unwrap().to_string();
    assert!(
        report.contains(&format!(
            "batches checked: 3 ({tokens} tokens); rows in timestamps.txt: {tokens}"
        )),
        "{report}"
    );

    if tool_available("python3") {
        assert_eq!(
            documented_check(bundle.path()),
            Ok(format!(
                "3 batches ({tokens} tokens) match timestamps.txt, 0 not checked"
            ))
        );
    }
    // VERIFY.md's way to find a token and the record that journals it.
    let serial = journaled.serial_hex(2, 17);
    let found = sh(
        bundle.path(),
        &doc_block("sh find-token"),
        &[("SERIAL", serial.clone())],
    );
    let row = lines
        .iter()
        .find(|line| line.starts_with(&format!("{serial} ")))
        .unwrap();
    assert_eq!(found, format!("record {}: {row}\n", journaled.seq(2)));
}
audit_db_test!(exported_rows_match_the_journal);

/// The export writes the rows as stored, so rows altered or deleted in the database before the
/// export are found in the bundle too.
async fn rows_altered_before_the_export(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let deleted = journaled.serial_hex(0, 2);
    tamper(&db, &[imprint_altered(&db, &journaled.serial_hex(2, 17))]).await;
    let bundle = tempfile::tempdir().unwrap();
    export(&db, &journaled, bundle.path()).await;
    assert_eq!(
        bundle_rows(bundle.path()).first_mismatch,
        journaled.mismatch(2, BatchProblem::Digest)
    );

    tamper(
        &db,
        &[format!(
            "DELETE FROM timestamps WHERE serial_hex = '{deleted}'"
        )],
    )
    .await;
    let bundle = tempfile::tempdir().unwrap();
    export(&db, &journaled, bundle.path()).await;
    assert_eq!(
        bundle_rows(bundle.path()).first_mismatch,
        journaled.mismatch(
            0,
            BatchProblem::RowCount {
                journaled: BATCHES[0],
                found: BATCHES[0] - 1,
            }
        )
    );
}
audit_db_test!(rows_altered_before_the_export);

/// Each kind of edit to `timestamps.txt` is found by `verify_bundle` and by VERIFY.md's script.
/// The file: batch 0 (5 rows) at lines 1-6, batch 1 (1 row) at 7-8, batch 2 (40 rows) at 9-49.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edited_rows_file_is_detected() {
    let (db, journaled, pristine) = exported().await;
    let python = tool_available("python3");
    // Index in `read_rows` of a batch's row.
    let row = |batch: usize, position: usize| [1, 7, 9][batch] + position;
    let file_problem =
        |line: u64, detail: String| Some(TimestampRowsMismatch::BundleFile { line, detail });
    let non_batch_record = journaled.seq(0) - 1;
    let batch_1_seq = journaled.seq(1);

    type Edit = Box<dyn Fn(&mut Vec<String>)>;
    let cases: Vec<(&str, Edit, Option<TimestampRowsMismatch>)> = vec![
        (
            "a row altered",
            Box::new(move |lines| {
                lines[row(2, 17)] = lines[row(2, 17)]
                    .replace(" 2.16.840.1.101.3.4.2.1 ", " 2.16.840.1.101.3.4.2.2 ");
            }),
            journaled.mismatch(2, BatchProblem::Digest),
        ),
        (
            "two rows swapped",
            Box::new(move |lines| lines.swap(row(0, 1), row(0, 3))),
            journaled.mismatch(0, BatchProblem::Digest),
        ),
        (
            "a row deleted",
            Box::new(move |lines| {
                lines.remove(row(2, 39));
            }),
            journaled.mismatch(
                2,
                BatchProblem::RowCount {
                    journaled: 40,
                    found: 39,
                },
            ),
        ),
        (
            "a row moved into another batch's section",
            Box::new(move |lines| {
                let moved = lines.remove(row(2, 39));
                lines.insert(row(1, 1), moved);
            }),
            journaled.mismatch(
                1,
                BatchProblem::RowCount {
                    journaled: 1,
                    found: 2,
                },
            ),
        ),
        (
            "a section removed",
            Box::new(move |lines| {
                lines.drain(row(1, 0) - 1..=row(1, 0));
            }),
            journaled.mismatch(
                1,
                BatchProblem::RowCount {
                    journaled: 1,
                    found: 0,
                },
            ),
        ),
        (
            "a header naming another first serial",
            Box::new(move |lines| lines[row(1, 0) - 1] = format!("# batch {batch_1_seq} 7f")),
            file_problem(
                7,
                format!(
                    "the section of record {} names first serial 7f, its entry {}",
                    journaled.seq(1),
                    journaled.serial_hex(1, 0)
                ),
            ),
        ),
        (
            "a section after the last batch",
            Box::new(move |lines| {
                let copied = lines[row(0, 0)].clone();
                lines.push("# batch 999 7f".to_owned());
                lines.push(copied);
            }),
            file_problem(
                50,
                "a section for record 999, after the journal's last batch".to_owned(),
            ),
        ),
        (
            "a section for a record that journals no batch",
            Box::new(move |lines| {
                let copied = lines[row(0, 0)].clone();
                lines.insert(0, copied);
                lines.insert(0, format!("# batch {non_batch_record} 7f"));
            }),
            file_problem(
                1,
                format!("a section for record {non_batch_record}, which journals no batch of rows"),
            ),
        ),
        (
            "a row before the first header",
            Box::new(move |lines| {
                let copied = lines[row(0, 0)].clone();
                lines.insert(0, copied);
            }),
            file_problem(1, "a token line outside any section".to_owned()),
        ),
        (
            "a comment line inside a section",
            Box::new(move |lines| lines.insert(row(0, 3), "# checked".to_owned())),
            file_problem(
                5,
                "a line starting with # that is not a section header".to_owned(),
            ),
        ),
    ];
    for (what, edit, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(pristine.path(), dir.path());
        let mut lines = read_rows(dir.path());
        edit(&mut lines);
        write_rows(dir.path(), &lines);
        assert_eq!(bundle_rows(dir.path()).first_mismatch, expected, "{what}");
        if python {
            let documented = documented_check(dir.path());
            assert!(
                documented.is_err(),
                "{what}: VERIFY.md's script says {documented:?}"
            );
        }
    }

    // The last row without its LF: the bytes hashed are the file's.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(pristine.path(), dir.path());
    let text = std::fs::read_to_string(dir.path().join(TIMESTAMPS)).unwrap();
    std::fs::write(dir.path().join(TIMESTAMPS), text.trim_end()).unwrap();
    assert_eq!(
        bundle_rows(dir.path()).first_mismatch,
        journaled.mismatch(2, BatchProblem::Digest)
    );

    // A bundle without the file (exported before bundles held the rows): nothing to check.
    let dir = tempfile::tempdir().unwrap();
    copy_dir(pristine.path(), dir.path());
    std::fs::remove_file(dir.path().join(TIMESTAMPS)).unwrap();
    let report: VerifyReport = verify_bundle(dir.path()).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.timestamp_rows, None);
    assert!(
        !report.to_string().contains("time-stamp records"),
        "{report}"
    );
    db.storage.close().await;
}

/// A journal broken before a batch proves nothing about that batch: its section is not checked,
/// and the report says how far the check went.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sections_after_a_break_in_the_bundles_journal() {
    let (db, journaled, dir) = exported().await;
    let mut records = read_lines(dir.path());
    let broken = journaled.seq(1);
    let index = records
        .iter()
        .position(|line| line_value(line)["seq"] == broken)
        .unwrap();
    records[index] = edit_payload(&records[index]);
    write_lines(dir.path(), &records);
    let mut rows = read_rows(dir.path());
    let last = rows.len() - 1;
    rows[last] = rows[last].replace(" 2.16.840.1.101.3.4.2.1 ", " 2.16.840.1.101.3.4.2.2 ");
    write_rows(dir.path(), &rows);

    let report = verify_bundle(dir.path()).unwrap();
    assert_eq!(
        report.first_broken.as_ref().map(|b| b.seq),
        Some(broken),
        "{report}"
    );
    let checked = report.timestamp_rows.as_ref().unwrap();
    assert_eq!(
        (checked.batches, checked.tokens),
        (1, BATCHES[0]),
        "{report}"
    );
    assert_eq!(checked.first_mismatch, None);
    // Every token line is counted, read or not.
    assert_eq!(checked.rows_in_table.batched, BATCHES.iter().sum::<u64>());
    assert!(
        report
            .to_string()
            .contains("time-stamp records: match the journal up to its break"),
        "{report}"
    );
    db.storage.close().await;
}
