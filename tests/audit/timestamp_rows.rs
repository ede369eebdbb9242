//! The time-stamp rows behind the journal's `timestamp_batch` entries: an untouched table matches
//! the journal, and rows altered, reordered, deleted or added (triggers dropped, as a DBA could)
//! are found, named by the batch's record and first serial; VERIFY.md's own commands (Python's
//! sqlite3, psql) recompute the same digests.

use qtsp::audit::{
    AuditEvent, BatchProblem, Journal, TimestampRowsMismatch, TimestampRowsReport, VerifyReport,
    verify_storage,
};
use qtsp::storage::{TimestampRecord, TimestampRowCounts, TimestampSerial};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit_db_test;
use crate::common::audit::{TestDb, audit_signer, hsm, journal, tamper};
use crate::helpers::{bundle_keys, doc_block, sh, tool_available, trusted};

/// Sizes of the batches `journal_with_batches` commits.
pub(crate) const BATCHES: [u64; 3] = [5, 1, 40];

pub(crate) fn record(n: u64) -> TimestampRecord {
    TimestampRecord {
        serial: TimestampSerial::from_unsigned_be(&(0x0100 + n).to_be_bytes()).unwrap(),
        gen_time: OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
            + time::Duration::microseconds(n as i64 * 250),
        policy_oid: "0.4.0.2023.1.1".into(),
        hash_alg_oid: "2.16.840.1.101.3.4.2.1".into(),
        message_imprint: Sha256::digest(n.to_be_bytes()).to_vec(),
        requester: Some("127.0.0.1".into()),
        node_id: Some("n1".into()),
    }
}

/// What was journaled: each batch's record number and its records, in batch order.
pub(crate) struct Journaled {
    pub(crate) journal: Journal,
    _hsm: qtsp_hsm::Hsm,
    pub(crate) batches: Vec<(u64, Vec<TimestampRecord>)>,
}

impl Journaled {
    pub(crate) fn serial_hex(&self, batch: usize, position: usize) -> String {
        self.batches[batch].1[position].serial.to_hex()
    }

    pub(crate) fn seq(&self, batch: usize) -> u64 {
        self.batches[batch].0
    }

    /// The mismatch expected at `batch`.
    pub(crate) fn mismatch(
        &self,
        batch: usize,
        problem: BatchProblem,
    ) -> Option<TimestampRowsMismatch> {
        Some(TimestampRowsMismatch::Batch {
            seq: self.batches[batch].0,
            first_serial: Some(self.batches[batch].1[0].serial.clone()),
            problem,
        })
    }
}

/// A journal with a service start, then the `BATCHES` committed as the TSA's recorder does
/// (serials not in order within a batch, as signatures finish in any order), with other events
/// between them.
pub(crate) async fn journal_with_batches(db: &TestDb) -> Journaled {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    journal.record_service_started().await.unwrap();
    let mut batches = Vec::new();
    let mut next = 0;
    for size in BATCHES {
        let mut records: Vec<_> = (next..next + size).map(record).collect();
        records.reverse();
        next += size;
        let event = AuditEvent::timestamp_batch(&records).unwrap();
        let appended = journal
            .append_with_timestamps(&event, "system:n1", &records)
            .await
            .unwrap();
        batches.push((appended.seq, records));
        journal.record_service_started().await.unwrap();
    }
    Journaled {
        journal,
        _hsm: hsm,
        batches,
    }
}

async fn rows_report(db: &TestDb, journaled: &Journaled) -> TimestampRowsReport {
    let report = verify_storage(&db.storage, &[trusted(&journaled.journal)])
        .await
        .unwrap();
    checked_rows(&report)
}

/// The rows' report of a verification whose journal is intact (as in every case here, and in
/// `bundle_rows`), with its line in the printed report checked.
pub(crate) fn checked_rows(report: &VerifyReport) -> TimestampRowsReport {
    assert!(report.first_broken.is_none(), "{report}");
    let rows = report.timestamp_rows.clone().unwrap();
    assert_eq!(
        report.is_intact(),
        rows.first_mismatch.is_none(),
        "{report}"
    );
    let expected_line = match &rows.first_mismatch {
        None => "time-stamp records: MATCH THE JOURNAL".to_owned(),
        Some(mismatch) => format!("time-stamp records: ALTERED: {mismatch}"),
    };
    assert!(report.to_string().contains(&expected_line), "{report}");
    rows
}

/// The statement that changes the imprint of the row with serial `serial_hex` to one zero octet.
pub(crate) fn imprint_altered(db: &TestDb, serial_hex: &str) -> String {
    let imprint = if db.is_sqlite() { "X'00'" } else { "'\\x00'" };
    format!("UPDATE timestamps SET message_imprint = {imprint} WHERE serial_hex = '{serial_hex}'")
}

/// One row as a DBA would insert it: `batch` is the batch's first serial and the position.
pub(crate) fn raw_row(db: &TestDb, serial_hex: &str, batch: Option<(&str, u32)>) -> String {
    let (first, position) = match batch {
        Some((first, position)) => (format!("'{first}'"), position.to_string()),
        None => ("NULL".to_owned(), "NULL".to_owned()),
    };
    let (gen_time, imprint) = if db.is_sqlite() {
        ("1796000000000000", format!("X'{}'", "ab".repeat(32)))
    } else {
        (
            "'2026-12-01T10:00:00Z'",
            format!("decode('{}', 'hex')", "ab".repeat(32)),
        )
    };
    format!(
        "INSERT INTO timestamps (serial_hex, gen_time, policy_oid, hash_alg_oid, \
         message_imprint, batch_first_serial, batch_position) VALUES ('{serial_hex}', \
         {gen_time}, '0.4.0.2023.1.1', '2.16.840.1.101.3.4.2.1', {imprint}, {first}, {position})"
    )
}

/// The report on the rows of `journal_with_batches` when every batch matches.
pub(crate) fn all_batches_match() -> TimestampRowsReport {
    let tokens: u64 = BATCHES.iter().sum();
    TimestampRowsReport {
        batches: BATCHES.len() as u64,
        tokens,
        batches_unchecked: 0,
        rows_in_table: TimestampRowCounts {
            batched: tokens,
            unbatched: 0,
        },
        first_mismatch: None,
    }
}

async fn untouched_rows_match_the_journal(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    assert_eq!(rows_report(&db, &journaled).await, all_batches_match());
}
audit_db_test!(untouched_rows_match_the_journal);

async fn altered_row(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let serial = journaled.serial_hex(2, 17);
    tamper(&db, &[imprint_altered(&db, &serial)]).await;
    let rows = rows_report(&db, &journaled).await;
    assert_eq!(
        rows.first_mismatch,
        journaled.mismatch(2, BatchProblem::Digest)
    );
    // The batches before it were checked and matched.
    assert_eq!((rows.batches, rows.tokens), (2, 6));
}
audit_db_test!(altered_row);

/// Two rows of a batch swap places: every row is intact, the order is not.
async fn reordered_rows(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let (a, b) = (journaled.serial_hex(0, 1), journaled.serial_hex(0, 3));
    tamper(
        &db,
        &[
            format!("UPDATE timestamps SET batch_position = 99 WHERE serial_hex = '{a}'"),
            format!("UPDATE timestamps SET batch_position = 1 WHERE serial_hex = '{b}'"),
            format!("UPDATE timestamps SET batch_position = 3 WHERE serial_hex = '{a}'"),
        ],
    )
    .await;
    assert_eq!(
        rows_report(&db, &journaled).await.first_mismatch,
        journaled.mismatch(0, BatchProblem::Digest)
    );
}
audit_db_test!(reordered_rows);

async fn deleted_row(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let serial = journaled.serial_hex(2, 39);
    tamper(
        &db,
        &[format!(
            "DELETE FROM timestamps WHERE serial_hex = '{serial}'"
        )],
    )
    .await;
    assert_eq!(
        rows_report(&db, &journaled).await.first_mismatch,
        journaled.mismatch(
            2,
            BatchProblem::RowCount {
                journaled: 40,
                found: 39,
            }
        )
    );
}
audit_db_test!(deleted_row);

/// A forged row that names an existing batch (at a free position, after its last row).
async fn row_added_to_a_batch(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let first = journaled.serial_hex(1, 0);
    tamper(&db, &[raw_row(&db, "7001", Some((&first, 1)))]).await;
    assert_eq!(
        rows_report(&db, &journaled).await.first_mismatch,
        journaled.mismatch(
            1,
            BatchProblem::RowCount {
                journaled: 1,
                found: 2,
            }
        )
    );
}
audit_db_test!(row_added_to_a_batch);

/// Forged rows that name no journaled batch, or none at all: every batch matches, but the table
/// holds more rows than the journal accounts for.
async fn rows_added_outside_any_batch(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let tokens: u64 = BATCHES.iter().sum();
    for (forged, batch, rows_in_table) in [
        (
            "7001",
            Some(("7001", 0)),
            TimestampRowCounts {
                batched: tokens + 1,
                unbatched: 0,
            },
        ),
        (
            "7002",
            None,
            TimestampRowCounts {
                batched: tokens + 1,
                unbatched: 1,
            },
        ),
    ] {
        tamper(&db, &[raw_row(&db, forged, batch)]).await;
        let rows = rows_report(&db, &journaled).await;
        assert_eq!(
            rows.first_mismatch,
            Some(TimestampRowsMismatch::Unjournaled {
                rows_in_table,
                journaled: TimestampRowCounts {
                    batched: tokens,
                    unbatched: 0,
                },
            }),
            "{forged}"
        );
        assert_eq!((rows.batches, rows.tokens), (3, tokens));
    }
}
audit_db_test!(rows_added_outside_any_batch);

/// A batch journaled before the rows named their batch (no `batch_columns` member) and its rows
/// without batch columns: counted, not checked; a row beyond what such batches account for is
/// still found.
async fn batches_from_before_the_batch_columns(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let event = AuditEvent::TimestampBatch {
        first_serial: TimestampSerial::from_hex("7001").unwrap(),
        count: 2,
        from: OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap(),
        to: OffsetDateTime::from_unix_timestamp(1_795_000_001).unwrap(),
        records_sha256: [0x11; 32],
        batch_columns: false,
    };
    assert!(!event.to_payload().unwrap().contains("batch_columns"));
    journaled.journal.append(&event, "system:n1").await.unwrap();
    tamper(
        &db,
        &[raw_row(&db, "7001", None), raw_row(&db, "7002", None)],
    )
    .await;
    let tokens: u64 = BATCHES.iter().sum();
    let rows = rows_report(&db, &journaled).await;
    assert_eq!(
        rows,
        TimestampRowsReport {
            batches: 3,
            tokens,
            batches_unchecked: 1,
            rows_in_table: TimestampRowCounts {
                batched: tokens,
                unbatched: 2,
            },
            first_mismatch: None,
        }
    );

    tamper(&db, &[raw_row(&db, "7003", None)]).await;
    assert_eq!(
        rows_report(&db, &journaled).await.first_mismatch,
        Some(TimestampRowsMismatch::Unjournaled {
            rows_in_table: TimestampRowCounts {
                batched: tokens,
                unbatched: 3,
            },
            journaled: TimestampRowCounts {
                batched: tokens,
                unbatched: 2,
            },
        })
    );
}
audit_db_test!(batches_from_before_the_batch_columns);

/// VERIFY.md's commands recompute each batch's digest from the database, independently of
/// qtsp: the Python script over an exported bundle and the SQLite file, `psql` for PostgreSQL
/// (one batch at a time); both notice an altered row.
async fn documented_commands_recompute_the_batches(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let altered = journaled.serial_hex(2, 5);
    if db.is_sqlite() {
        if !tool_available("python3") {
            return;
        }
        let bundle = tempfile::tempdir().unwrap();
        qtsp::audit::export_bundle(&db.storage, bundle.path(), &bundle_keys(&journaled.journal))
            .await
            .unwrap();
        let file = db.url.trim_start_matches("sqlite://").to_owned();
        let script = doc_block("python check-timestamp-batches");
        let run = || {
            std::process::Command::new("python3")
                .current_dir(bundle.path())
                .arg("-c")
                .arg(&script)
                .arg(&file)
                .output()
                .unwrap()
        };
        let out = run();
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "3 batches (46 tokens) match their rows, 0 not checked\n"
        );
        tamper(
            &db,
            &[format!(
                "UPDATE timestamps SET policy_oid = '0.4.0.2023.1.2' WHERE serial_hex = '{altered}'"
            )],
        )
        .await;
        let out = run();
        assert!(!out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).trim(),
            format!(
                "record {}: the rows do not hash to records_sha256",
                journaled.seq(2)
            )
        );
    } else {
        if !tool_available("psql") {
            return;
        }
        let script = doc_block("sh check-batch-postgres");
        let digest = |batch: usize| {
            let env = [
                ("DATABASE_URL", db.url.clone()),
                ("FIRST", journaled.serial_hex(batch, 0)),
            ];
            sh(std::path::Path::new("."), &script, &env)
        };
        for (batch, (_, records)) in journaled.batches.iter().enumerate() {
            let AuditEvent::TimestampBatch { records_sha256, .. } =
                AuditEvent::timestamp_batch(records).unwrap()
            else {
                unreachable!()
            };
            assert_eq!(
                digest(batch),
                format!("{}  -\n", hex::encode(records_sha256)),
                "batch {batch}"
            );
        }
        let before = digest(2);
        tamper(
            &db,
            &[format!(
                "UPDATE timestamps SET policy_oid = '0.4.0.2023.1.2' WHERE serial_hex = '{altered}'"
            )],
        )
        .await;
        assert_ne!(digest(2), before);
    }
}
audit_db_test!(documented_commands_recompute_the_batches);

/// A journal broken before a batch proves nothing about that batch: its rows are not checked
/// (an altered row there is not reported), and the report says how far the check went.
async fn batches_after_a_break_in_the_journal(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let broken = journaled.seq(1);
    let altered = journaled.serial_hex(2, 0);
    tamper(
        &db,
        &[
            format!("UPDATE audit_records SET actor = 'system:n2' WHERE seq = {broken}"),
            imprint_altered(&db, &altered),
        ],
    )
    .await;
    let report = verify_storage(&db.storage, &[trusted(&journaled.journal)])
        .await
        .unwrap();
    assert_eq!(
        report.first_broken.as_ref().map(|b| (b.seq, &b.reason)),
        Some((broken, &qtsp::audit::BrokenReason::HashMismatch)),
        "{report}"
    );
    let rows = report.timestamp_rows.as_ref().unwrap();
    assert_eq!((rows.batches, rows.tokens), (1, BATCHES[0]), "{report}");
    assert_eq!(rows.first_mismatch, None);
    assert!(!report.is_intact());
    assert!(
        report
            .to_string()
            .contains("time-stamp records: match the journal up to its break"),
        "{report}"
    );
}
audit_db_test!(batches_after_a_break_in_the_journal);

/// More batches than one query reads (256): all are checked, and a row altered in a later query's
/// batch is found at its record.
async fn batches_read_over_several_queries(db: TestDb) {
    let hsm = hsm().await;
    let journal = journal(&db.storage, audit_signer(&hsm).await, "n1");
    let mut seqs = Vec::new();
    for n in 0..300 {
        let records = [record(n)];
        let event = AuditEvent::timestamp_batch(&records).unwrap();
        let appended = journal
            .append_with_timestamps(&event, "system:n1", &records)
            .await
            .unwrap();
        seqs.push(appended.seq);
    }
    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    let rows = report.timestamp_rows.unwrap();
    assert_eq!((rows.batches, rows.tokens), (300, 300));

    let altered = record(280).serial.to_hex();
    tamper(
        &db,
        &[format!(
            "UPDATE timestamps SET hash_alg_oid = '2.16.840.1.101.3.4.2.2' WHERE serial_hex = '{altered}'"
        )],
    )
    .await;
    let report = verify_storage(&db.storage, &[trusted(&journal)])
        .await
        .unwrap();
    let rows = report.timestamp_rows.unwrap();
    assert_eq!(
        rows.first_mismatch,
        Some(TimestampRowsMismatch::Batch {
            seq: seqs[280],
            first_serial: Some(record(280).serial),
            problem: BatchProblem::Digest,
        })
    );
    assert_eq!(rows.batches, 280);
}
audit_db_test!(batches_read_over_several_queries);
