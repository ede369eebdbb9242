//! Verification of the journal in the database, paging through records and checkpoints.

use super::evidence::{CheckpointEvidence, ExpectedEnd};
use super::report::{VerifyReport, VerifySource};
use super::timestamp_rows::{HeldBatch, JournaledBatch, TimestampRowsCheck};
use super::verifier::ChainVerifier;
use crate::audit::AuditError;
use crate::audit::checkpoint::TrustedKeys;
use crate::storage::Storage;

/// Records read per database query.
const RECORD_PAGE: u32 = 1_000;
/// Checkpoints read per database query.
const CHECKPOINT_PAGE: u32 = 500;

/// Verifies the journal in the database against the trusted audit public keys
/// (SubjectPublicKeyInfo DER), and the time-stamp rows against the journal's `timestamp_batch`
/// entries. Reads the records in pages; records appended while it runs (after the head it read
/// first) are left for the next run.
pub async fn verify_storage<K: AsRef<[u8]>>(
    storage: &Storage,
    trusted_spki_der: &[K],
) -> Result<VerifyReport, AuditError> {
    let trusted = TrustedKeys::from_spki_ders(trusted_spki_der)?;
    if trusted.is_empty() {
        return Err(AuditError::NoTrustedKey);
    }
    // Before the head: see `TimestampRowsCheck::start`.
    let mut timestamp_rows = TimestampRowsCheck::start(storage).await?;
    let head = storage
        .audit_head()
        .await
        .map_err(AuditError::storage("read audit head"))?;
    let mut verifier = ChainVerifier::new(
        trusted,
        false,
        VerifySource::Database {
            backend: storage.backend(),
        },
    );
    let mut checkpoints = StoredCheckpoints::new(head.seq);
    let mut from_seq = 1;
    let mut held_batch = HeldBatch::default();
    'pages: loop {
        let page = storage
            .audit_records(from_seq, RECORD_PAGE)
            .await
            .map_err(AuditError::storage("read audit records"))?;
        let Some(last) = page.last() else {
            break;
        };
        from_seq = last.seq.saturating_add(1);
        let full_page = page.len() == RECORD_PAGE as usize;
        for record in page {
            if record.seq > head.seq {
                break 'pages;
            }
            checkpoints
                .queue_through(storage, &mut verifier, record.seq)
                .await?;
            let batch = JournaledBatch::of(&record);
            if !verifier.push_record(record) {
                break 'pages;
            }
            if let Some(accepted) = held_batch.next(batch) {
                timestamp_rows.push(storage, accepted).await?;
            }
        }
        if !full_page {
            break;
        }
    }
    if !verifier.is_broken() {
        // Checkpoints over records that were not found (the tail was cut off).
        checkpoints
            .queue_through(storage, &mut verifier, head.seq)
            .await?;
        checkpoints
            .queue_first_beyond_head(storage, &mut verifier)
            .await?;
    }
    let mut report = verifier.finish(Some(ExpectedEnd {
        seq: head.seq,
        hash: head.hash,
    }));
    if let Some(last) = held_batch.accepted_at_end(&report) {
        timestamp_rows.push(storage, last).await?;
    }
    report.timestamp_rows = Some(
        timestamp_rows
            .finish(storage, report.first_broken.is_none())
            .await?,
    );
    Ok(report)
}

/// Pages through the checkpoint table alongside the records.
struct StoredCheckpoints {
    head_seq: u64,
    next_from: u64,
    exhausted: bool,
}

impl StoredCheckpoints {
    fn new(head_seq: u64) -> Self {
        StoredCheckpoints {
            head_seq,
            next_from: 1,
            exhausted: false,
        }
    }

    /// Queues every checkpoint with `seq <= through` (and `<= head`).
    async fn queue_through(
        &mut self,
        storage: &Storage,
        verifier: &mut ChainVerifier,
        through: u64,
    ) -> Result<(), AuditError> {
        let through = through.min(self.head_seq);
        while !self.exhausted && self.next_from <= through {
            let page = storage
                .audit_checkpoints(self.next_from, CHECKPOINT_PAGE)
                .await
                .map_err(AuditError::storage("read audit checkpoints"))?;
            if page.len() < CHECKPOINT_PAGE as usize {
                self.exhausted = true;
            }
            for checkpoint in page {
                if checkpoint.seq > self.head_seq {
                    // Made after the head was read, or over records that are gone: seen by
                    // `queue_first_beyond_head`.
                    self.exhausted = true;
                    break;
                }
                self.next_from = checkpoint.seq.saturating_add(1);
                verifier.push_checkpoint(CheckpointEvidence::from_stored(checkpoint));
            }
        }
        Ok(())
    }

    /// A checkpoint beyond the head is normal while nodes append; one over a record that does
    /// not exist means records (and the head) were cut back.
    async fn queue_first_beyond_head(
        &mut self,
        storage: &Storage,
        verifier: &mut ChainVerifier,
    ) -> Result<(), AuditError> {
        let beyond = storage
            .audit_checkpoints(self.head_seq.saturating_add(1), 1)
            .await
            .map_err(AuditError::storage("read audit checkpoints"))?;
        for checkpoint in beyond {
            let record = storage
                .audit_records(checkpoint.seq, 1)
                .await
                .map_err(AuditError::storage("read audit records"))?;
            if record.first().is_none_or(|r| r.seq != checkpoint.seq) {
                verifier.push_checkpoint(CheckpointEvidence::from_stored(checkpoint));
            }
        }
        Ok(())
    }
}
