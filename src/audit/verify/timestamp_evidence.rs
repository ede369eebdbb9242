//! One issued time-stamp token as the service holds it: its row, its batch, and the journal
//! entry of that batch with the batch's rows checked against it. Answers an operator asked
//! whether a token was issued here (`qtsp tsa show`); the hash chain itself is checked by
//! [`super::verify_storage`].

use std::fmt;

use time::OffsetDateTime;

use super::report::BatchProblem;
use super::timestamp_rows::{JournaledBatch, batch_problem, found_rows};
use crate::audit::AuditError;
use crate::audit::chain::format_time;
use crate::storage::{BatchPlace, Storage, TimestampRecord, TimestampSerial};

/// A token's record and where the journal stands on it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TimestampEvidence {
    /// The row.
    pub record: TimestampRecord,
    /// Its place in its batch (`None`: written before the rows named their batch).
    pub batch: Option<BatchPlace>,
    /// The journal entry of its batch.
    pub journal: BatchJournal,
}

/// The journal entry of a token's batch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchJournal {
    /// The row names no batch (written before schema migration 3): its entry cannot be told.
    RowNamesNoBatch,
    /// No `timestamp_batch` record states the row's batch: the row was not written by the TSA's
    /// group commit, or its record is gone.
    NotJournaled,
    /// The batch is journaled in record `seq`.
    Journaled {
        /// The `timestamp_batch` record.
        seq: u64,
        /// When it was written.
        recorded_at: OffsetDateTime,
        /// Tokens in the batch, as journaled.
        count: u64,
        /// What is wrong with the batch's rows against the entry (`None`: they hash to its
        /// `records_sha256`, this token's row included).
        problem: Option<BatchProblem>,
        /// Later records that state the same batch (only a tampered journal has any).
        also_in: Vec<u64>,
    },
}

impl TimestampEvidence {
    /// Whether the row is accounted for by an entry whose rows match it, or predates rows that
    /// name their batch.
    pub fn is_consistent(&self) -> bool {
        match &self.journal {
            BatchJournal::RowNamesNoBatch => true,
            BatchJournal::NotJournaled => false,
            BatchJournal::Journaled {
                problem, also_in, ..
            } => problem.is_none() && also_in.is_empty(),
        }
    }
}

/// The token with this serial, its batch and its batch's journal entry (`None`: no such token).
pub async fn timestamp_evidence(
    storage: &Storage,
    serial: &TimestampSerial,
) -> Result<Option<TimestampEvidence>, AuditError> {
    let Some((record, batch)) = storage
        .timestamp_in_batch(serial)
        .await
        .map_err(AuditError::storage("read the time-stamp record"))?
    else {
        return Ok(None);
    };
    let journal = match &batch {
        None => BatchJournal::RowNamesNoBatch,
        Some(place) => batch_journal(storage, &place.first_serial).await?,
    };
    Ok(Some(TimestampEvidence {
        record,
        batch,
        journal,
    }))
}

async fn batch_journal(
    storage: &Storage,
    first_serial: &TimestampSerial,
) -> Result<BatchJournal, AuditError> {
    let records = storage
        .audit_timestamp_batch_records(first_serial)
        .await
        .map_err(AuditError::storage("read the batch's journal record"))?;
    let Some((first, later)) = records.split_first() else {
        return Ok(BatchJournal::NotJournaled);
    };
    let also_in = later.iter().map(|r| r.seq).collect();
    let (seq, entry) = match JournaledBatch::of(first) {
        Some(batch) => batch.into_parts(),
        None => return Ok(BatchJournal::NotJournaled),
    };
    let entry = match entry {
        Ok(entry) => entry,
        Err(detail) => {
            return Ok(BatchJournal::Journaled {
                seq,
                recorded_at: first.recorded_at,
                count: 0,
                problem: Some(BatchProblem::Unreadable { detail }),
                also_in,
            });
        }
    };
    let lines = storage
        .timestamp_batch_lines(std::slice::from_ref(first_serial))
        .await
        .map_err(AuditError::storage("read the batch's rows"))?;
    Ok(BatchJournal::Journaled {
        seq,
        recorded_at: first.recorded_at,
        count: entry.count,
        problem: batch_problem(&entry, lines.first().map(found_rows)),
        also_in,
    })
}

impl fmt::Display for TimestampEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.record;
        writeln!(f, "time-stamp {}", r.serial.to_hex())?;
        writeln!(f, "  genTime    {}", format_time(r.gen_time))?;
        writeln!(f, "  policy     {}", r.policy_oid)?;
        writeln!(
            f,
            "  imprint    {} {}",
            r.hash_alg_oid,
            hex::encode(&r.message_imprint)
        )?;
        writeln!(
            f,
            "  requester  {} (node {})",
            r.requester.as_deref().unwrap_or("-"),
            r.node_id.as_deref().unwrap_or("-")
        )?;
        match &self.batch {
            Some(place) => writeln!(
                f,
                "  batch      first serial {}, position {}",
                place.first_serial.to_hex(),
                place.position
            )?,
            None => writeln!(
                f,
                "  batch      not named (written before the rows named their batch)"
            )?,
        }
        match &self.journal {
            BatchJournal::RowNamesNoBatch => {
                writeln!(
                    f,
                    "  journal    its batch's entry cannot be told from the row"
                )
            }
            BatchJournal::NotJournaled => writeln!(
                f,
                "  journal    NOT JOURNALED: no timestamp_batch record states this batch"
            ),
            BatchJournal::Journaled {
                seq,
                recorded_at,
                count,
                problem,
                also_in,
            } => {
                write!(
                    f,
                    "  journal    record {seq} ({}), a batch of {count}: ",
                    format_time(*recorded_at)
                )?;
                match problem {
                    None => writeln!(f, "its rows match the entry's records_sha256")?,
                    Some(problem) => writeln!(f, "ALTERED: {problem}")?,
                }
                if !also_in.is_empty() {
                    let seqs: Vec<String> = also_in.iter().map(u64::to_string).collect();
                    writeln!(
                        f,
                        "  ALSO STATED by record(s) {}: one batch, several entries",
                        seqs.join(", ")
                    )?;
                }
                writeln!(
                    f,
                    "  (the record's place in the hash chain: qtsp audit verify)"
                )
            }
        }
    }
}
