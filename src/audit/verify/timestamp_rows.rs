//! The time-stamp rows behind the journal's `timestamp_batch` entries, checked as the chain
//! verification accepts the entries, a few hundred batches per query (database verifications
//! only). The database renders each batch's rows as the lines of
//! [`crate::audit::timestamp_batch_digest`], which are hashed here.

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use super::report::{BatchProblem, TimestampRowsMismatch, TimestampRowsReport};
use crate::audit::{AuditError, AuditEvent};
use crate::storage::{AuditRecord, BatchLines, Storage, TimestampRowCounts, TimestampSerial};

/// A `timestamp_batch` record, read but not checked yet (its record may still turn out broken).
#[derive(Debug)]
pub(super) struct JournaledBatch {
    seq: u64,
    /// The entry, or why it cannot be read.
    entry: Result<BatchEntry, String>,
}

/// What a `timestamp_batch` entry states that its rows are checked against.
#[derive(Debug)]
struct BatchEntry {
    first_serial: TimestampSerial,
    count: u64,
    records_sha256: [u8; 32],
    batch_columns: bool,
}

impl JournaledBatch {
    /// The batch that `record` journals, if it is a `timestamp_batch` record.
    pub(super) fn of(record: &AuditRecord) -> Option<JournaledBatch> {
        if record.event_type != "timestamp_batch" {
            return None;
        }
        let entry = match AuditEvent::from_payload(&record.payload) {
            Ok(AuditEvent::TimestampBatch {
                first_serial,
                count,
                records_sha256,
                batch_columns,
                ..
            }) => Ok(BatchEntry {
                first_serial,
                count,
                records_sha256,
                batch_columns,
            }),
            Ok(other) => Err(format!("a {} payload", other.event_type())),
            Err(e) => Err(e.to_string()),
        };
        Some(JournaledBatch {
            seq: record.seq,
            entry,
        })
    }

    /// Its record's number.
    pub(super) fn seq(&self) -> u64 {
        self.seq
    }
}

/// Batches read per query, at most.
const BATCHES_PER_QUERY: usize = 256;
/// Tokens of the batches read per query, at most (bounds the text held at once).
const TOKENS_PER_QUERY: u64 = 16_384;

/// Checks batches against their rows, a few hundred per query, and keeps the counts.
#[derive(Debug)]
pub(super) struct TimestampRowsCheck {
    report: TimestampRowsReport,
    /// Tokens of every batch entry seen, checked or not, by whether their rows name the batch.
    journaled: TimestampRowCounts,
    /// Accepted batches (their record numbers and entries) not read yet, in record order.
    pending: Vec<(u64, BatchEntry)>,
    pending_tokens: u64,
}

impl TimestampRowsCheck {
    /// Counts the rows. Call before reading the journal's head: rows are committed with their
    /// entry, so every row counted then belongs to an entry at or before that head.
    pub(super) async fn start(storage: &Storage) -> Result<TimestampRowsCheck, AuditError> {
        let rows_in_table = storage
            .timestamp_row_counts()
            .await
            .map_err(AuditError::storage("count time-stamp records"))?;
        Ok(TimestampRowsCheck {
            report: TimestampRowsReport {
                rows_in_table,
                ..TimestampRowsReport::default()
            },
            journaled: TimestampRowCounts::default(),
            pending: Vec::new(),
            pending_tokens: 0,
        })
    }

    /// Takes one batch whose record the chain verification accepted (in record order); reads
    /// the rows of those waiting when enough are. After the first mismatch, later batches are
    /// only counted.
    pub(super) async fn push(
        &mut self,
        storage: &Storage,
        batch: JournaledBatch,
    ) -> Result<(), AuditError> {
        let entry = match batch.entry {
            Ok(entry) => entry,
            Err(detail) => return self.unreadable(storage, batch.seq, detail).await,
        };
        let count = entry.count;
        let journaled = if entry.batch_columns {
            &mut self.journaled.batched
        } else {
            &mut self.journaled.unbatched
        };
        *journaled = journaled.saturating_add(count);
        if self.report.first_mismatch.is_some() {
            return Ok(());
        }
        if !entry.batch_columns {
            self.report.batches_unchecked += 1;
            return Ok(());
        }
        self.pending.push((batch.seq, entry));
        self.pending_tokens = self.pending_tokens.saturating_add(count);
        if self.pending.len() >= BATCHES_PER_QUERY || self.pending_tokens >= TOKENS_PER_QUERY {
            self.read_pending(storage).await?;
        }
        Ok(())
    }

    /// An entry that cannot be read: a mismatch, after the batches accepted before it.
    async fn unreadable(
        &mut self,
        storage: &Storage,
        seq: u64,
        detail: String,
    ) -> Result<(), AuditError> {
        self.read_pending(storage).await?;
        self.mismatch(seq, None, BatchProblem::Unreadable { detail });
        Ok(())
    }

    /// Reads the rows of the waiting batches and compares each, in record order.
    async fn read_pending(&mut self, storage: &Storage) -> Result<(), AuditError> {
        let pending = std::mem::take(&mut self.pending);
        self.pending_tokens = 0;
        if pending.is_empty() || self.report.first_mismatch.is_some() {
            return Ok(());
        }
        let serials: Vec<TimestampSerial> = pending
            .iter()
            .map(|(_, b)| b.first_serial.clone())
            .collect();
        let mut found: HashMap<TimestampSerial, BatchLines> = storage
            .timestamp_batch_lines(&serials)
            .await
            .map_err(AuditError::storage("read time-stamp batches"))?
            .into_iter()
            .map(|lines| (lines.first_serial.clone(), lines))
            .collect();
        for (seq, batch) in pending {
            let rows = found.remove(&batch.first_serial);
            let problem = match &rows {
                None => Some(BatchProblem::RowCount {
                    journaled: batch.count,
                    found: 0,
                }),
                Some(rows) if rows.rows != batch.count => Some(BatchProblem::RowCount {
                    journaled: batch.count,
                    found: rows.rows,
                }),
                Some(rows) => {
                    let digest: [u8; 32] = Sha256::digest(rows.lines.as_bytes()).into();
                    (digest != batch.records_sha256).then_some(BatchProblem::Digest)
                }
            };
            match problem {
                Some(problem) => {
                    self.mismatch(seq, Some(batch.first_serial), problem);
                    break;
                }
                None => {
                    self.report.batches += 1;
                    self.report.tokens += batch.count;
                }
            }
        }
        Ok(())
    }

    fn mismatch(&mut self, seq: u64, first_serial: Option<TimestampSerial>, problem: BatchProblem) {
        self.report
            .first_mismatch
            .get_or_insert(TimestampRowsMismatch::Batch {
                seq,
                first_serial,
                problem,
            });
    }

    /// Reads what is still waiting, then the report. `whole_journal`: every record up to the
    /// head was verified and every batch in it pushed, so the journal's batches must account
    /// for every row counted at the start.
    pub(super) async fn finish(
        mut self,
        storage: &Storage,
        whole_journal: bool,
    ) -> Result<TimestampRowsReport, AuditError> {
        self.read_pending(storage).await?;
        let rows = self.report.rows_in_table;
        if whole_journal
            && self.report.first_mismatch.is_none()
            && (rows.batched > self.journaled.batched || rows.unbatched > self.journaled.unbatched)
        {
            self.report.first_mismatch = Some(TimestampRowsMismatch::Unjournaled {
                rows_in_table: self.report.rows_in_table,
                journaled: self.journaled,
            });
        }
        Ok(self.report)
    }
}
