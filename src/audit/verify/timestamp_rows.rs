//! The time-stamp rows behind the journal's `timestamp_batch` entries, checked entry by entry as
//! the chain verification accepts them (database verifications only).

use super::report::{BatchProblem, TimestampRowsMismatch, TimestampRowsReport};
use crate::audit::{AuditError, AuditEvent, timestamp_batch_digest};
use crate::storage::{AuditRecord, Storage, TimestampRowCounts};

/// A `timestamp_batch` record, read but not checked yet (its record may still turn out broken).
#[derive(Debug)]
pub(super) struct JournaledBatch {
    seq: u64,
    /// The entry, or why it cannot be read.
    entry: Result<AuditEvent, String>,
}

impl JournaledBatch {
    /// The batch that `record` journals, if it is a `timestamp_batch` record.
    pub(super) fn of(record: &AuditRecord) -> Option<JournaledBatch> {
        if record.event_type != "timestamp_batch" {
            return None;
        }
        let entry = match AuditEvent::from_payload(&record.payload) {
            Ok(event @ AuditEvent::TimestampBatch { .. }) => Ok(event),
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

/// Checks batches against their rows and keeps the counts.
#[derive(Debug)]
pub(super) struct TimestampRowsCheck {
    report: TimestampRowsReport,
    /// Tokens of every batch entry seen, checked or not, by whether their rows name the batch.
    journaled: TimestampRowCounts,
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
        })
    }

    /// Checks one batch whose record the chain verification accepted. After the first
    /// mismatch, later batches are only counted.
    pub(super) async fn check(
        &mut self,
        storage: &Storage,
        batch: JournaledBatch,
    ) -> Result<(), AuditError> {
        let (first_serial, count, records_sha256, batch_columns) = match batch.entry {
            Ok(AuditEvent::TimestampBatch {
                first_serial,
                count,
                records_sha256,
                batch_columns,
                ..
            }) => (first_serial, count, records_sha256, batch_columns),
            Ok(other) => {
                let detail = format!("a {} payload", other.event_type());
                self.mismatch(batch.seq, None, BatchProblem::Unreadable { detail });
                return Ok(());
            }
            Err(detail) => {
                self.mismatch(batch.seq, None, BatchProblem::Unreadable { detail });
                return Ok(());
            }
        };
        let journaled = if batch_columns {
            &mut self.journaled.batched
        } else {
            &mut self.journaled.unbatched
        };
        *journaled = journaled.saturating_add(count);
        if self.report.first_mismatch.is_some() {
            return Ok(());
        }
        if !batch_columns {
            self.report.batches_unchecked += 1;
            return Ok(());
        }
        let rows = storage
            .timestamp_batch_rows(&first_serial)
            .await
            .map_err(AuditError::storage("read a time-stamp batch"))?;
        let found = rows.len() as u64;
        if found != count {
            let problem = BatchProblem::RowCount {
                journaled: count,
                found,
            };
            self.mismatch(batch.seq, Some(first_serial), problem);
        } else if timestamp_batch_digest(&rows) != records_sha256 {
            self.mismatch(batch.seq, Some(first_serial), BatchProblem::Digest);
        } else {
            self.report.batches += 1;
            self.report.tokens += count;
        }
        Ok(())
    }

    fn mismatch(
        &mut self,
        seq: u64,
        first_serial: Option<crate::storage::TimestampSerial>,
        problem: BatchProblem,
    ) {
        self.report
            .first_mismatch
            .get_or_insert(TimestampRowsMismatch::Batch {
                seq,
                first_serial,
                problem,
            });
    }

    /// The report. `whole_journal`: every record up to the head was verified and every batch
    /// in it checked, so the journal's batches must account for every row counted at the start.
    pub(super) fn finish(mut self, whole_journal: bool) -> TimestampRowsReport {
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
        self.report
    }
}
