//! Verification of the journal, from the database or from a bundle, record by record.
//!
//! [`ChainVerifier`] is a state machine fed with records in the order they are read and with
//! the checkpoints sorted by seq; it keeps one record of look-ahead (to tell two swapped records
//! from a gap) and stops at the first problem. The database and bundle drivers page through
//! their sources, so memory does not grow with the journal (except one integer per checkpoint,
//! to notice a checkpoint that the journal says exists but is gone).

mod database;
mod evidence;
mod report;
mod timestamp_evidence;
mod timestamp_rows;
mod verifier;

pub use database::verify_storage;
pub(crate) use evidence::{CheckpointEvidence, ExpectedEnd, StatedStatement};
pub use report::{
    BatchProblem, Broken, BrokenReason, TimestampRowsMismatch, TimestampRowsReport, VerifyReport,
    VerifySource,
};
pub use timestamp_evidence::{BatchJournal, TimestampEvidence, timestamp_evidence};
pub(crate) use timestamp_rows::{BatchTally, HeldBatch, JournaledBatch, PendingBatches};
pub(crate) use verifier::ChainVerifier;
