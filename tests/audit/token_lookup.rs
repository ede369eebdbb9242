//! One token's evidence (`qtsp tsa show`): its row, its place in its batch, and its batch's
//! journal entry with the batch's rows checked against it; a row altered in the batch, a row no
//! entry accounts for, an older row that names no batch, and a batch stated twice.

use qtsp::audit::{AuditEvent, BatchJournal, BatchProblem, TimestampEvidence, timestamp_evidence};
use qtsp::storage::{BatchPlace, TimestampSerial};

use crate::audit_db_test;
use crate::common::audit::{TestDb, tamper};
use crate::timestamp_rows::{imprint_altered, journal_with_batches, raw_row};

fn serial(hex: &str) -> TimestampSerial {
    TimestampSerial::from_hex(hex).unwrap()
}

/// The evidence of a token that is there.
async fn evidence_of(db: &TestDb, serial: &TimestampSerial) -> TimestampEvidence {
    timestamp_evidence(&db.storage, serial)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no time-stamp {serial}"))
}

/// The journal record, batch size, problem and repeated entries of a journaled token's batch.
fn journaled_batch(evidence: &TimestampEvidence) -> (u64, u64, Option<BatchProblem>, Vec<u64>) {
    match &evidence.journal {
        BatchJournal::Journaled {
            seq,
            count,
            problem,
            also_in,
            ..
        } => (*seq, *count, problem.clone(), also_in.clone()),
        other => panic!("not journaled: {other:?}\n{evidence}"),
    }
}

async fn a_journaled_token(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let token = &journaled.batches[2].1[17];
    let evidence = evidence_of(&db, &token.serial).await;
    assert_eq!(&evidence.record, token);
    assert_eq!(
        evidence.batch,
        Some(BatchPlace {
            first_serial: journaled.batches[2].1[0].serial.clone(),
            position: 17,
        })
    );
    assert_eq!(
        journaled_batch(&evidence),
        (journaled.seq(2), 40, None, vec![])
    );
    assert!(evidence.is_consistent());
    let text = evidence.to_string();
    for line in [
        format!("time-stamp {}\n", token.serial.to_hex()),
        format!(
            "  imprint    2.16.840.1.101.3.4.2.1 {}\n",
            hex::encode(&token.message_imprint)
        ),
        format!(
            "  batch      first serial {}, position 17\n",
            journaled.serial_hex(2, 0)
        ),
        "its rows match the entry's records_sha256\n".to_owned(),
    ] {
        assert!(text.contains(&line), "{line:?} not in\n{text}");
    }

    // Another row of its batch altered: the batch no longer matches its entry.
    tamper(&db, &[imprint_altered(&db, &journaled.serial_hex(2, 3))]).await;
    let evidence = evidence_of(&db, &token.serial).await;
    assert_eq!(journaled_batch(&evidence).2, Some(BatchProblem::Digest));
    assert!(!evidence.is_consistent());
    assert!(evidence.to_string().contains("ALTERED: "), "{evidence}");

    // No such token.
    assert_eq!(
        timestamp_evidence(&db.storage, &serial("7e7e7e"))
            .await
            .unwrap(),
        None
    );
}
audit_db_test!(a_journaled_token);

/// Rows a DBA added: one naming a batch no entry states, one naming none (as rows written
/// before the rows named their batch do).
async fn rows_outside_the_journal(db: TestDb) {
    journal_with_batches(&db).await;
    tamper(
        &db,
        &[
            raw_row(&db, "7e01", Some(("7e00", 1))),
            raw_row(&db, "7e02", None),
        ],
    )
    .await;
    let forged = evidence_of(&db, &serial("7e01")).await;
    assert_eq!(forged.journal, BatchJournal::NotJournaled);
    assert!(!forged.is_consistent());
    assert!(forged.to_string().contains("NOT JOURNALED"), "{forged}");

    let older = evidence_of(&db, &serial("7e02")).await;
    assert_eq!(
        (&older.batch, &older.journal),
        (&None, &BatchJournal::RowNamesNoBatch)
    );
    assert!(older.is_consistent());
}
audit_db_test!(rows_outside_the_journal);

/// A second entry stating a batch already journaled (only a forged journal has one) is named.
async fn a_batch_stated_twice(db: TestDb) {
    let journaled = journal_with_batches(&db).await;
    let again = journaled
        .journal
        .append(
            &AuditEvent::timestamp_batch(&journaled.batches[1].1).unwrap(),
            "system:n1",
        )
        .await
        .unwrap();
    let evidence = evidence_of(&db, &journaled.batches[1].1[0].serial).await;
    assert_eq!(
        journaled_batch(&evidence),
        (journaled.seq(1), 1, None, vec![again.seq])
    );
    assert!(!evidence.is_consistent());
    assert!(
        evidence
            .to_string()
            .contains(&format!("ALSO STATED by record(s) {}", again.seq)),
        "{evidence}"
    );
}
audit_db_test!(a_batch_stated_twice);
