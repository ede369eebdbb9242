//! What a verification reports: the source verified, the first break and why, the counts.

use std::fmt;
use std::path::PathBuf;

use crate::storage::{Backend, TimestampRowCounts, TimestampSerial};

/// What was verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifySource {
    /// The live database.
    Database {
        /// Back end.
        backend: Backend,
    },
    /// An exported bundle directory.
    Bundle {
        /// The directory.
        dir: PathBuf,
    },
}

impl fmt::Display for VerifySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifySource::Database { backend } => write!(f, "{backend} database"),
            VerifySource::Bundle { dir } => write!(f, "bundle {}", dir.display()),
        }
    }
}

/// The first place where the journal does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken {
    /// The record number where the problem is (for checkpoint problems, the record the
    /// checkpoint covers).
    pub seq: u64,
    /// What is wrong.
    pub reason: BrokenReason,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record {}: {}", self.seq, self.reason)
    }
}

/// Why the journal does not hold at [`Broken::seq`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BrokenReason {
    /// The record's fields do not hash to its stored hash: it was edited after it was written.
    HashMismatch,
    /// The record's `prev_hash` is not the hash of the record before it.
    PrevHashMismatch,
    /// Record `expected` is missing: the next record read is `found`.
    Gap {
        /// The record number that should come next.
        expected: u64,
        /// The record number found instead.
        found: u64,
    },
    /// Records are out of order: at position `expected` stands the record written as `found`
    /// (two records swapped, or a record repeated).
    OutOfOrder {
        /// The record number that should come next.
        expected: u64,
        /// The number the record found there was written with.
        found: u64,
    },
    /// Record `seq` was removed and the later records renumbered: the record now numbered `seq`
    /// was written as `written_as`.
    RemovedAndRenumbered {
        /// The number the record was written with.
        written_as: u64,
    },
    /// Record `seq` was inserted: the record after it links to the record before it.
    Inserted,
    /// The record is intact but not in the form qtsp writes (payload not canonical JSON, payload
    /// `event` differs from `event_type`, control character in the actor...).
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint over record `seq` has a signature that does not verify over the statement
    /// (forged or altered signature, or altered checkpoint fields).
    CheckpointSignatureInvalid {
        /// The checkpointed record number.
        seq: u64,
    },
    /// The checkpoint over record `seq` vouches for another hash than the journal holds: the
    /// journal up to `seq` was rewritten after the checkpoint was signed (or the statement's
    /// hash was altered).
    CheckpointHashMismatch {
        /// The checkpointed record number.
        seq: u64,
    },
    /// A checkpoint covers record `seq`, which is not in the journal (the tail was cut off).
    CheckpointUnknownSeq {
        /// The checkpointed record number.
        seq: u64,
    },
    /// The journal says (record `journaled_in`) that a checkpoint over record `seq` was signed,
    /// but that checkpoint is gone.
    CheckpointMissing {
        /// The checkpointed record number.
        seq: u64,
        /// The `checkpoint_signed` record that announced it.
        journaled_in: u64,
    },
    /// The checkpoint over record `seq` was signed by a key that is not trusted.
    CheckpointKeyUntrusted {
        /// The checkpointed record number.
        seq: u64,
        /// Its key id.
        key_id: String,
    },
    /// The checkpoint over record `seq` cannot be read (unknown algorithm, unreadable statement
    /// file, statement and signature files not paired...).
    CheckpointMalformed {
        /// The checkpointed record number.
        seq: u64,
        /// What is wrong.
        detail: String,
    },
    /// The journal ends at record `found_last` but its head (database) or manifest (bundle)
    /// says it ends at `expected_last`: the tail was cut off.
    Truncated {
        /// Last record according to the head or manifest.
        expected_last: u64,
        /// Last record present.
        found_last: u64,
    },
    /// The head (database) or manifest (bundle) does not describe the last record.
    HeadMismatch {
        /// Last record number according to the head or manifest.
        head_seq: u64,
    },
}

impl fmt::Display for BrokenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrokenReason::HashMismatch => f.write_str(
                "hash mismatch: the record's content does not hash to its stored hash (edited after it was written)",
            ),
            BrokenReason::PrevHashMismatch => f.write_str(
                "prev_hash mismatch: the record does not link to the record before it",
            ),
            BrokenReason::Gap { expected, found } => write!(
                f,
                "gap: record {expected} is missing, the next record present is {found} (deleted)"
            ),
            BrokenReason::OutOfOrder { expected, found } => write!(
                f,
                "out of order: position {expected} holds the record written as {found} (records swapped or repeated)"
            ),
            BrokenReason::RemovedAndRenumbered { written_as } => write!(
                f,
                "removed: the record here was written as record {written_as}, so the record originally at this number was deleted and the later ones renumbered"
            ),
            BrokenReason::Inserted => f.write_str(
                "inserted: the record after this one links to the record before it, so this record was added later",
            ),
            BrokenReason::Malformed { detail } => {
                write!(f, "malformed record: {detail}")
            }
            BrokenReason::CheckpointSignatureInvalid { seq } => write!(
                f,
                "the signature of the checkpoint over record {seq} does not verify (signature or checkpoint altered)"
            ),
            BrokenReason::CheckpointHashMismatch { seq } => write!(
                f,
                "the checkpoint over record {seq} vouches for another hash than the journal holds (journal rewritten up to this record, or checkpoint hash altered)"
            ),
            BrokenReason::CheckpointUnknownSeq { seq } => write!(
                f,
                "a checkpoint covers record {seq}, which is not in the journal (tail cut off)"
            ),
            BrokenReason::CheckpointMissing { seq, journaled_in } => write!(
                f,
                "record {journaled_in} says a checkpoint over record {seq} was signed, but that checkpoint is missing (deleted)"
            ),
            BrokenReason::CheckpointKeyUntrusted { seq, key_id } => write!(
                f,
                "the checkpoint over record {seq} was signed by key {key_id}, which is not trusted"
            ),
            BrokenReason::CheckpointMalformed { seq, detail } => {
                write!(f, "the checkpoint over record {seq} is unreadable: {detail}")
            }
            BrokenReason::Truncated {
                expected_last,
                found_last,
            } => write!(
                f,
                "truncated: the journal should end at record {expected_last} but ends at record {found_last}"
            ),
            BrokenReason::HeadMismatch { head_seq } => write!(
                f,
                "the journal head says the last record is {head_seq} with another hash"
            ),
        }
    }
}

/// The time-stamp rows checked against the journal's `timestamp_batch` entries: the database's
/// `timestamps` table, or a bundle's `timestamps.txt` (bundles exported before they held the rows
/// have none, and no such report).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimestampRowsReport {
    /// Batches whose rows were found and hash to the entry's `records_sha256`.
    pub batches: u64,
    /// Tokens in those batches.
    pub tokens: u64,
    /// Batches journaled before the rows named their batch: their rows cannot be told apart,
    /// so they are not checked (only counted in the total).
    pub batches_unchecked: u64,
    /// Rows in the table when the verification started (for a bundle: the token lines of its
    /// `timestamps.txt`, all counted as naming their batch).
    pub rows_in_table: TimestampRowCounts,
    /// The first problem, `None` when every checked batch matches its rows.
    pub first_mismatch: Option<TimestampRowsMismatch>,
}

/// Where the time-stamp rows and the journal disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimestampRowsMismatch {
    /// The batch journaled in record `seq` does not match its rows.
    Batch {
        /// The `timestamp_batch` record.
        seq: u64,
        /// The batch's first serial, as journaled (`None` when the entry could not be read).
        first_serial: Option<TimestampSerial>,
        /// What is wrong.
        problem: BatchProblem,
    },
    /// The table holds more rows than the journal's batches account for (of either kind: rows
    /// that name their batch, and rows from before the rows did): rows were added outside the
    /// TSA's group commits.
    Unjournaled {
        /// Rows in the table.
        rows_in_table: TimestampRowCounts,
        /// Tokens of the journal's batches up to its head, counted the same way (batches
        /// journaled with and without batch columns).
        journaled: TimestampRowCounts,
    },
    /// A bundle's `timestamps.txt` is not what an export writes: a line outside the format, a
    /// section for a record that journals no batch of rows, out of order, or after the last
    /// batch, or naming another first serial than its entry.
    BundleFile {
        /// The line (from 1).
        line: u64,
        /// What is wrong.
        detail: String,
    },
}

/// What is wrong with one batch's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchProblem {
    /// `found` rows of the batch (in the table, or in the bundle's section for it), the journal
    /// says `journaled` (rows deleted, or added with the batch's name).
    RowCount {
        /// Tokens in the journal's entry.
        journaled: u64,
        /// Rows of the batch found.
        found: u64,
    },
    /// As many rows as journaled, but their content or order no longer hashes to the entry's
    /// `records_sha256`: a row was altered.
    Digest,
    /// The `timestamp_batch` record's payload is not a readable batch entry.
    Unreadable {
        /// The parse error.
        detail: String,
    },
}

impl fmt::Display for TimestampRowsMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimestampRowsMismatch::Batch {
                seq,
                first_serial,
                problem,
            } => {
                write!(f, "the batch journaled in record {seq}")?;
                if let Some(serial) = first_serial {
                    write!(f, " (first serial {})", serial.to_hex())?;
                }
                write!(f, ": {problem}")
            }
            TimestampRowsMismatch::Unjournaled {
                rows_in_table,
                journaled,
            } => write!(
                f,
                "the table holds {} rows that name their batch and {} that do not, the journal's batches account for {} and {} (rows added outside the TSA's group commits)",
                rows_in_table.batched,
                rows_in_table.unbatched,
                journaled.batched,
                journaled.unbatched
            ),
            TimestampRowsMismatch::BundleFile { line, detail } => {
                write!(f, "timestamps.txt line {line}: {detail}")
            }
        }
    }
}

impl fmt::Display for BatchProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchProblem::RowCount { journaled, found } => write!(
                f,
                "{found} of its rows found, the journal says {journaled} (rows deleted or added)"
            ),
            BatchProblem::Digest => f.write_str(
                "its rows no longer hash to the journaled records_sha256 (a row was altered)",
            ),
            BatchProblem::Unreadable { detail } => {
                write!(f, "the entry cannot be read: {detail}")
            }
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// What was verified.
    pub source: VerifySource,
    /// Records verified intact (all of them when [`Self::first_broken`] is `None`, otherwise
    /// those before the break).
    pub records: u64,
    /// Number of the last intact record (0 if none).
    pub last_seq: u64,
    /// Hash of the last intact record (the genesis hash if none).
    pub last_hash: Vec<u8>,
    /// Checkpoints whose signature verified and whose hash matches the journal.
    pub checkpoints: u64,
    /// The last record covered by a verified checkpoint.
    pub last_checkpoint_seq: Option<u64>,
    /// Key ids that signed the verified checkpoints.
    pub signing_keys: Vec<String>,
    /// Key ids that were trusted.
    pub trusted_keys: Vec<String>,
    /// The trusted keys were read from the bundle itself: they prove nothing unless their key
    /// ids match the audit key recorded elsewhere (key ceremony minutes, certificate).
    pub keys_from_bundle: bool,
    /// The first problem, `None` when the journal is intact.
    pub first_broken: Option<Broken>,
    /// The time-stamp rows checked against the journal (database verifications only).
    pub timestamp_rows: Option<TimestampRowsReport>,
}

impl VerifyReport {
    /// Whether no problem was found, in the journal or in the time-stamp rows.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
            && self
                .timestamp_rows
                .as_ref()
                .is_none_or(|rows| rows.first_mismatch.is_none())
    }

    /// Records after the last verified checkpoint: nothing signed protects them yet, so losing
    /// them (tail truncation) cannot be detected without an external anchor.
    pub fn records_after_last_checkpoint(&self) -> u64 {
        self.last_seq - self.last_checkpoint_seq.unwrap_or(0).min(self.last_seq)
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first_broken {
            None => writeln!(f, "audit journal ({}): INTACT", self.source)?,
            Some(broken) => writeln!(
                f,
                "audit journal ({}): BROKEN at record {}: {}",
                self.source, broken.seq, broken.reason
            )?,
        }
        let verified = if self.is_intact() {
            "records"
        } else {
            "records intact before the break"
        };
        if self.records == 0 {
            writeln!(f, "  {verified}: 0")?;
        } else {
            writeln!(
                f,
                "  {verified}: {} (1..={}), last hash {}",
                self.records,
                self.last_seq,
                hex::encode(&self.last_hash)
            )?;
        }
        match self.last_checkpoint_seq {
            Some(seq) => writeln!(
                f,
                "  signed checkpoints verified: {}, the last over record {seq}",
                self.checkpoints
            )?,
            None => writeln!(f, "  signed checkpoints verified: 0")?,
        }
        if self.first_broken.is_none() {
            let tail = self.records_after_last_checkpoint();
            if tail == 1 {
                writeln!(
                    f,
                    "  record {} is not covered by a signed checkpoint yet: its loss could not be detected",
                    self.last_seq
                )?;
            } else if tail > 1 {
                writeln!(
                    f,
                    "  records {}..={} are not covered by a signed checkpoint yet: their loss could not be detected",
                    self.last_seq - tail + 1,
                    self.last_seq
                )?;
            }
        }
        for key in &self.signing_keys {
            writeln!(f, "  checkpoints signed by key {key}")?;
        }
        if self.keys_from_bundle {
            writeln!(
                f,
                "  WARNING: the trusted keys were read from the bundle itself; check that their key ids ({}) match the audit key recorded at its ceremony",
                self.trusted_keys.join(", ")
            )?;
        }
        if let Some(rows) = &self.timestamp_rows {
            let rows_place = match self.source {
                VerifySource::Database { .. } => "rows in the table",
                VerifySource::Bundle { .. } => "rows in timestamps.txt",
            };
            rows.fmt_after_journal(f, self.first_broken.is_some(), rows_place)?;
        }
        Ok(())
    }
}

impl TimestampRowsReport {
    /// The report's lines. Batches after a break in the journal are not checked (their entries
    /// prove nothing), so a clean result then says how far it goes.
    fn fmt_after_journal(
        &self,
        f: &mut fmt::Formatter<'_>,
        journal_broken: bool,
        rows_place: &str,
    ) -> fmt::Result {
        match &self.first_mismatch {
            None if journal_broken => writeln!(
                f,
                "time-stamp records: match the journal up to its break (later batches not checked)"
            )?,
            None => writeln!(f, "time-stamp records: MATCH THE JOURNAL")?,
            Some(mismatch) => writeln!(f, "time-stamp records: ALTERED: {mismatch}")?,
        }
        let checked = if self.first_mismatch.is_none() {
            "batches checked"
        } else {
            "batches that matched before"
        };
        writeln!(
            f,
            "  {checked}: {} ({} tokens); {rows_place}: {}",
            self.batches, self.tokens, self.rows_in_table.batched
        )?;
        if self.batches_unchecked > 0 || self.rows_in_table.unbatched > 0 {
            writeln!(
                f,
                "  written before the rows named their batch (not checked): {} batches, {} rows",
                self.batches_unchecked, self.rows_in_table.unbatched
            )?;
        }
        Ok(())
    }
}
