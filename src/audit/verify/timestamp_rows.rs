//! The time-stamp rows behind the journal's `timestamp_batch` entries, checked as the chain
//! verification accepts the entries. In the database, a few hundred batches per query: the
//! database renders each batch's rows as the lines of [`crate::audit::timestamp_batch_digest`],
//! which are hashed here. A bundle's `timestamps.txt` holds the same lines, read by
//! `crate::audit::bundle`; both count and compare through [`BatchTally`].

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use super::report::{BatchProblem, TimestampRowsMismatch, TimestampRowsReport, VerifyReport};
use crate::audit::{AuditError, AuditEvent};
use crate::storage::{AuditRecord, BatchLines, Storage, TimestampRowCounts, TimestampSerial};

/// A `timestamp_batch` record, read but not checked yet (its record may still turn out broken).
#[derive(Debug)]
pub(crate) struct JournaledBatch {
    seq: u64,
    /// The entry, or why it cannot be read.
    entry: Result<BatchEntry, String>,
}

/// What a `timestamp_batch` entry states that its rows are checked against.
#[derive(Debug)]
pub(crate) struct BatchEntry {
    pub(crate) first_serial: TimestampSerial,
    pub(crate) count: u64,
    records_sha256: [u8; 32],
    /// Its rows name the batch (so they can be found, and a bundle holds them).
    pub(crate) batch_columns: bool,
}

impl JournaledBatch {
    /// The batch that `record` journals, if it is a `timestamp_batch` record.
    pub(crate) fn of(record: &AuditRecord) -> Option<JournaledBatch> {
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

    /// Its record's number and its entry (or why it cannot be read).
    pub(crate) fn into_parts(self) -> (u64, Result<BatchEntry, String>) {
        (self.seq, self.entry)
    }
}

/// Holds the batch of the last record given to the chain verification until the verification
/// has accepted that record: a record is only known intact once the next one links to it, or
/// once the verification ends without a break at or before it.
#[derive(Debug, Default)]
pub(crate) struct HeldBatch(Option<JournaledBatch>);

impl HeldBatch {
    /// Call after the verification took the record that journals `batch` (if any): returns the
    /// batch of the record before it, accepted now.
    pub(crate) fn next(&mut self, batch: Option<JournaledBatch>) -> Option<JournaledBatch> {
        std::mem::replace(&mut self.0, batch)
    }

    /// The last batch held, if the finished verification accepted its record.
    pub(crate) fn accepted_at_end(self, report: &VerifyReport) -> Option<JournaledBatch> {
        self.0.filter(|last| {
            report
                .first_broken
                .as_ref()
                .is_none_or(|b| b.seq > last.seq)
        })
    }
}

/// The counts and the first mismatch of a check, wherever the rows come from.
#[derive(Debug, Default)]
pub(crate) struct BatchTally {
    report: TimestampRowsReport,
    /// Tokens of every batch entry seen, checked or not, by whether their rows name the batch.
    journaled: TimestampRowCounts,
}

impl BatchTally {
    /// Counts an accepted batch's tokens; whether its rows are to be compared: it names its rows
    /// (older entries are only counted) and no mismatch was found before it.
    pub(crate) fn count(&mut self, entry: &BatchEntry) -> bool {
        let journaled = if entry.batch_columns {
            &mut self.journaled.batched
        } else {
            &mut self.journaled.unbatched
        };
        *journaled = journaled.saturating_add(entry.count);
        if self.has_mismatch() {
            return false;
        }
        if !entry.batch_columns {
            self.report.batches_unchecked += 1;
        }
        entry.batch_columns
    }

    /// Compares the batch journaled in record `seq` with its rows: how many were found, and
    /// the SHA-256 of their lines (`None`: no rows found). Returns whether they match; the
    /// first mismatch is kept.
    pub(crate) fn compare(
        &mut self,
        seq: u64,
        entry: &BatchEntry,
        rows: Option<(u64, [u8; 32])>,
    ) -> bool {
        match batch_problem(entry, rows) {
            Some(problem) => {
                self.mismatch(TimestampRowsMismatch::Batch {
                    seq,
                    first_serial: Some(entry.first_serial.clone()),
                    problem,
                });
                false
            }
            None => {
                self.report.batches += 1;
                self.report.tokens += entry.count;
                true
            }
        }
    }

    /// An entry that cannot be read.
    pub(crate) fn unreadable(&mut self, seq: u64, detail: String) {
        self.mismatch(TimestampRowsMismatch::Batch {
            seq,
            first_serial: None,
            problem: BatchProblem::Unreadable { detail },
        });
    }

    /// Keeps `mismatch` unless one was found before.
    pub(crate) fn mismatch(&mut self, mismatch: TimestampRowsMismatch) {
        self.report.first_mismatch.get_or_insert(mismatch);
    }

    pub(crate) fn has_mismatch(&self) -> bool {
        self.report.first_mismatch.is_some()
    }

    /// The report. `rows_found`: the rows where they were read. `whole_journal`: every record
    /// up to the head was verified and every batch in it counted, so the journal's batches must
    /// account for every row found.
    pub(crate) fn finish(
        mut self,
        rows_found: TimestampRowCounts,
        whole_journal: bool,
    ) -> TimestampRowsReport {
        self.report.rows_in_table = rows_found;
        if whole_journal
            && (rows_found.batched > self.journaled.batched
                || rows_found.unbatched > self.journaled.unbatched)
        {
            self.mismatch(TimestampRowsMismatch::Unjournaled {
                rows_in_table: rows_found,
                journaled: self.journaled,
            });
        }
        self.report
    }
}

/// What is wrong with a batch's rows against its entry, given how many were found and the
/// SHA-256 of their lines (`None`: no rows found); `None` when they match.
pub(crate) fn batch_problem(
    entry: &BatchEntry,
    rows: Option<(u64, [u8; 32])>,
) -> Option<BatchProblem> {
    match rows {
        None => Some(BatchProblem::RowCount {
            journaled: entry.count,
            found: 0,
        }),
        Some((found, _)) if found != entry.count => Some(BatchProblem::RowCount {
            journaled: entry.count,
            found,
        }),
        Some((_, digest)) => (digest != entry.records_sha256).then_some(BatchProblem::Digest),
    }
}

/// A batch's rows as [`batch_problem`] takes them: how many, and the SHA-256 of their lines.
pub(crate) fn found_rows(lines: &BatchLines) -> (u64, [u8; 32]) {
    (lines.rows, Sha256::digest(lines.lines.as_bytes()).into())
}

/// Batches read per query, at most.
const BATCHES_PER_QUERY: usize = 256;
/// Tokens of the batches read per query, at most (bounds the text held at once).
const TOKENS_PER_QUERY: u64 = 16_384;

/// Batches waiting for their rows, read from the database a few hundred per query (one result
/// row per batch). `T` is what the caller keeps with each batch.
#[derive(Debug)]
pub(crate) struct PendingBatches<T> {
    batches: Vec<(T, TimestampSerial)>,
    tokens: u64,
}

impl<T> Default for PendingBatches<T> {
    fn default() -> Self {
        PendingBatches {
            batches: Vec::new(),
            tokens: 0,
        }
    }
}

impl<T> PendingBatches<T> {
    /// Queues a batch of `count` tokens; whether enough now wait for one query.
    pub(crate) fn push(&mut self, item: T, first_serial: TimestampSerial, count: u64) -> bool {
        self.batches.push((item, first_serial));
        self.tokens = self.tokens.saturating_add(count);
        self.batches.len() >= BATCHES_PER_QUERY || self.tokens >= TOKENS_PER_QUERY
    }

    /// Drops what waits.
    pub(crate) fn clear(&mut self) {
        self.batches.clear();
        self.tokens = 0;
    }

    /// Takes every waiting batch, in the order queued, with its rows as the database renders
    /// them (`None`: no rows name it): one query.
    pub(crate) async fn read(
        &mut self,
        storage: &Storage,
    ) -> Result<Vec<(T, TimestampSerial, Option<BatchLines>)>, AuditError> {
        let batches = std::mem::take(&mut self.batches);
        self.tokens = 0;
        if batches.is_empty() {
            return Ok(Vec::new());
        }
        let serials: Vec<TimestampSerial> = batches.iter().map(|(_, s)| s.clone()).collect();
        let mut found: HashMap<TimestampSerial, BatchLines> = storage
            .timestamp_batch_lines(&serials)
            .await
            .map_err(AuditError::storage("read time-stamp batches"))?
            .into_iter()
            .map(|lines| (lines.first_serial.clone(), lines))
            .collect();
        Ok(batches
            .into_iter()
            .map(|(item, first_serial)| {
                let rows = found.remove(&first_serial);
                (item, first_serial, rows)
            })
            .collect())
    }
}

/// Checks batches against their rows in the database, a few hundred per query.
#[derive(Debug)]
pub(super) struct TimestampRowsCheck {
    tally: BatchTally,
    /// Rows in the table when the check started.
    rows_in_table: TimestampRowCounts,
    /// Accepted batches (their record numbers and entries) not read yet, in record order.
    pending: PendingBatches<(u64, BatchEntry)>,
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
            tally: BatchTally::default(),
            rows_in_table,
            pending: PendingBatches::default(),
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
        let (seq, entry) = batch.into_parts();
        let entry = match entry {
            Ok(entry) => entry,
            Err(detail) => {
                // The batches accepted before it come first.
                self.read_pending(storage).await?;
                self.tally.unreadable(seq, detail);
                return Ok(());
            }
        };
        if !self.tally.count(&entry) {
            return Ok(());
        }
        let (first_serial, count) = (entry.first_serial.clone(), entry.count);
        if self.pending.push((seq, entry), first_serial, count) {
            self.read_pending(storage).await?;
        }
        Ok(())
    }

    /// Reads the rows of the waiting batches and compares each, in record order.
    async fn read_pending(&mut self, storage: &Storage) -> Result<(), AuditError> {
        if self.tally.has_mismatch() {
            self.pending.clear();
            return Ok(());
        }
        for ((seq, batch), _, rows) in self.pending.read(storage).await? {
            if !self
                .tally
                .compare(seq, &batch, rows.as_ref().map(found_rows))
            {
                break;
            }
        }
        Ok(())
    }

    /// Reads what is still waiting, then the report. `whole_journal`: see
    /// [`BatchTally::finish`].
    pub(super) async fn finish(
        mut self,
        storage: &Storage,
        whole_journal: bool,
    ) -> Result<TimestampRowsReport, AuditError> {
        self.read_pending(storage).await?;
        Ok(self.tally.finish(self.rows_in_table, whole_journal))
    }
}
