//! The verification state machine: records and checkpoints in, the first break out.

use std::collections::{BTreeSet, VecDeque};

use super::evidence::{CheckpointEvidence, ExpectedEnd};
use super::report::{Broken, BrokenReason, VerifyReport, VerifySource};
use crate::audit::canonical::parse_canonical;
use crate::audit::chain::{GENESIS_HASH, record_hash_as};
use crate::audit::checkpoint::{CheckpointStatement, SignatureProblem, TrustedKeys};
use crate::audit::event::{AuditEvent, CHECKPOINT_SIGNED};
use crate::storage::AuditRecord;

/// How far past a checkpoint whose signature fails verification keeps reading, looking for the
/// `checkpoint_signed` record that tells a rewritten journal from a forged signature.
const SUSPECT_WINDOW: u64 = 10_000;

/// A checkpoint whose signature did not verify over the statement rebuilt from the journal.
/// Either its signature was altered or the journal was rewritten; the `checkpoint_signed`
/// record that follows it says which hash was signed.
#[derive(Debug)]
struct Suspect {
    seq: u64,
    chain_hash: Vec<u8>,
}

/// The verification state machine (see the module documentation).
#[derive(Debug)]
pub(crate) struct ChainVerifier {
    trusted: TrustedKeys,
    keys_from_bundle: bool,
    source: VerifySource,
    next_seq: u64,
    prev_hash: Vec<u8>,
    prev_prev_hash: Option<Vec<u8>>,
    held: Option<AuditRecord>,
    checkpoints: VecDeque<CheckpointEvidence>,
    seen_checkpoints: BTreeSet<u64>,
    suspect: Option<Suspect>,
    records: u64,
    verified_checkpoints: u64,
    last_checkpoint_seq: Option<u64>,
    signing_keys: BTreeSet<String>,
    broken: Option<Broken>,
}

impl ChainVerifier {
    pub(crate) fn new(
        trusted: TrustedKeys,
        keys_from_bundle: bool,
        source: VerifySource,
    ) -> ChainVerifier {
        ChainVerifier {
            trusted,
            keys_from_bundle,
            source,
            next_seq: 1,
            prev_hash: GENESIS_HASH.to_vec(),
            prev_prev_hash: None,
            held: None,
            checkpoints: VecDeque::new(),
            seen_checkpoints: BTreeSet::new(),
            suspect: None,
            records: 0,
            verified_checkpoints: 0,
            last_checkpoint_seq: None,
            signing_keys: BTreeSet::new(),
            broken: None,
        }
    }

    pub(crate) fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// Queues a checkpoint. Call in increasing seq order, before pushing the record it covers.
    pub(crate) fn push_checkpoint(&mut self, checkpoint: CheckpointEvidence) {
        self.checkpoints.push_back(checkpoint);
    }

    /// Feeds the next record read. Returns `false` once the journal is known to be broken.
    pub(crate) fn push_record(&mut self, record: AuditRecord) -> bool {
        if self.broken.is_some() {
            return false;
        }
        if let Some(current) = self.held.take() {
            self.check_record(&current, Some(&record));
        }
        self.held = Some(record);
        self.broken.is_none()
    }

    /// A record that could not even be read (bundle line that is not a record).
    pub(crate) fn unreadable_record(&mut self, detail: String) {
        if let Some(current) = self.held.take() {
            self.check_record(&current, None);
        }
        let seq = self.next_seq;
        self.fail(seq, BrokenReason::Malformed { detail });
    }

    /// Ends the verification.
    pub(crate) fn finish(mut self, expected_end: Option<ExpectedEnd>) -> VerifyReport {
        if let Some(current) = self.held.take()
            && self.broken.is_none()
        {
            self.check_record(&current, None);
        }
        if let Some(suspect) = self.suspect.take()
            && self.broken.is_none()
        {
            self.broken = Some(Broken {
                seq: suspect.seq,
                reason: BrokenReason::CheckpointSignatureInvalid { seq: suspect.seq },
            });
        }
        let last = self.next_seq - 1;
        if self.broken.is_none()
            && let Some(end) = expected_end
        {
            if last < end.seq {
                self.fail(
                    last + 1,
                    BrokenReason::Truncated {
                        expected_last: end.seq,
                        found_last: last,
                    },
                );
            } else if last > end.seq || end.hash != self.prev_hash {
                self.fail(
                    end.seq.min(last),
                    BrokenReason::HeadMismatch { head_seq: end.seq },
                );
            }
        }
        if self.broken.is_none()
            && let Some(orphan) = self.checkpoints.pop_front()
        {
            self.fail(
                orphan.seq,
                BrokenReason::CheckpointUnknownSeq { seq: orphan.seq },
            );
        }
        VerifyReport {
            source: self.source,
            records: self.records,
            last_seq: last,
            last_hash: self.prev_hash,
            checkpoints: self.verified_checkpoints,
            last_checkpoint_seq: self.last_checkpoint_seq,
            signing_keys: self.signing_keys.into_iter().collect(),
            trusted_keys: self.trusted.key_ids(),
            keys_from_bundle: self.keys_from_bundle,
            first_broken: self.broken,
            timestamp_rows: None,
        }
    }

    /// Records the first problem. A suspect checkpoint over an earlier record is an earlier
    /// problem; over the same record, the record's own diagnosis says more.
    fn fail(&mut self, seq: u64, reason: BrokenReason) {
        if self.broken.is_some() {
            return;
        }
        self.broken = Some(match self.suspect.take() {
            Some(suspect) if suspect.seq < seq => Broken {
                seq: suspect.seq,
                reason: BrokenReason::CheckpointSignatureInvalid { seq: suspect.seq },
            },
            _ => Broken { seq, reason },
        });
    }

    fn check_record(&mut self, current: &AuditRecord, next: Option<&AuditRecord>) {
        let expected = self.next_seq;
        if current.seq != expected {
            let swapped = current.seq > expected && next.is_some_and(|n| n.seq == expected);
            let reason = if current.seq > expected && !swapped {
                BrokenReason::Gap {
                    expected,
                    found: current.seq,
                }
            } else {
                BrokenReason::OutOfOrder {
                    expected,
                    found: current.seq,
                }
            };
            self.fail(expected.min(current.seq), reason);
            return;
        }
        if current.prev_hash != self.prev_hash {
            let (seq, reason) = self.diagnose_broken_link(current, next);
            self.fail(seq, reason);
            return;
        }
        if record_hash_as(current, expected).as_slice() != current.hash.as_slice() {
            self.fail(expected, BrokenReason::HashMismatch);
            return;
        }
        if let Err(detail) = check_form(current) {
            self.fail(expected, BrokenReason::Malformed { detail });
            return;
        }
        // Record `expected` is intact.
        self.records += 1;
        self.next_seq += 1;
        self.prev_prev_hash = Some(std::mem::replace(&mut self.prev_hash, current.hash.clone()));
        self.check_checkpoints_through(expected);
        if self.broken.is_none() && current.event_type == CHECKPOINT_SIGNED {
            self.check_checkpoint_announcement(current);
        }
        if let Some(suspect) = self.suspect.take_if(|s| expected - s.seq > SUSPECT_WINDOW) {
            // No announcement came: all that is known is that the signature does not verify.
            self.fail(
                suspect.seq,
                BrokenReason::CheckpointSignatureInvalid { seq: suspect.seq },
            );
        }
    }

    /// The record at `current.seq` does not link to its predecessor: tell a swap, an insertion
    /// and a renumbered deletion apart from a plain broken link. Each of those leaves records
    /// whose hash is right for a neighbouring number.
    fn diagnose_broken_link(
        &self,
        current: &AuditRecord,
        next: Option<&AuditRecord>,
    ) -> (u64, BrokenReason) {
        let seq = current.seq;
        let hash_fits = |record: &AuditRecord, as_seq: u64| {
            record_hash_as(record, as_seq).as_slice() == record.hash.as_slice()
        };
        let written_as_next = seq.checked_add(1).filter(|&n| hash_fits(current, n));
        if let Some(written_as) = written_as_next {
            let next_written_here = next.is_some_and(|n| n.seq == written_as && hash_fits(n, seq));
            if next_written_here {
                return (
                    seq,
                    BrokenReason::OutOfOrder {
                        expected: seq,
                        found: written_as,
                    },
                );
            }
        }
        if let Some(before) = seq.checked_sub(1).filter(|&b| b >= 1)
            && self.prev_prev_hash.as_deref() == Some(current.prev_hash.as_slice())
            && hash_fits(current, before)
        {
            return (before, BrokenReason::Inserted);
        }
        if let Some(written_as) = written_as_next {
            return (seq, BrokenReason::RemovedAndRenumbered { written_as });
        }
        (seq, BrokenReason::PrevHashMismatch)
    }

    /// Checks the queued checkpoints up to record `seq`, which was just found intact.
    fn check_checkpoints_through(&mut self, seq: u64) {
        while self.broken.is_none()
            && let Some(front) = self.checkpoints.front()
            && front.seq <= seq
        {
            let Some(checkpoint) = self.checkpoints.pop_front() else {
                break;
            };
            if checkpoint.seq < seq || !self.seen_checkpoints.insert(checkpoint.seq) {
                // Record `checkpoint.seq` was checked before (or is 0): a second checkpoint
                // for it, or one out of order.
                self.fail(
                    checkpoint.seq,
                    BrokenReason::CheckpointMalformed {
                        seq: checkpoint.seq,
                        detail: "checkpoint out of order or repeated".to_owned(),
                    },
                );
                return;
            }
            self.check_checkpoint(checkpoint);
        }
    }

    fn check_checkpoint(&mut self, checkpoint: CheckpointEvidence) {
        let seq = checkpoint.seq;
        if let Some(detail) = checkpoint.malformed {
            self.fail(seq, BrokenReason::CheckpointMalformed { seq, detail });
            return;
        }
        let chain_hash = self.prev_hash.clone();
        let checked = match &checkpoint.stated {
            Some(stated) => {
                if stated.record_hash != chain_hash {
                    self.fail(seq, BrokenReason::CheckpointHashMismatch { seq });
                    return;
                }
                self.trusted.check(
                    &checkpoint.key_id,
                    &checkpoint.algorithm,
                    &stated.text,
                    &checkpoint.signature,
                )
            }
            None => {
                let statement = CheckpointStatement {
                    seq,
                    record_hash: chain_hash.clone(),
                    signed_at: checkpoint.signed_at,
                    key_id: checkpoint.key_id.clone(),
                    algorithm: checkpoint.algorithm.clone(),
                };
                self.trusted.check(
                    &checkpoint.key_id,
                    &checkpoint.algorithm,
                    statement.to_text().as_bytes(),
                    &checkpoint.signature,
                )
            }
        };
        match checked {
            Ok(()) => {
                self.verified_checkpoints += 1;
                self.last_checkpoint_seq = Some(seq);
                self.signing_keys.insert(checkpoint.key_id);
            }
            Err(SignatureProblem::UntrustedKey) => self.fail(
                seq,
                BrokenReason::CheckpointKeyUntrusted {
                    seq,
                    key_id: checkpoint.key_id,
                },
            ),
            Err(SignatureProblem::UnsupportedAlgorithm) => self.fail(
                seq,
                BrokenReason::CheckpointMalformed {
                    seq,
                    detail: format!("unsupported algorithm {:?}", checkpoint.algorithm),
                },
            ),
            Err(SignatureProblem::Invalid) if checkpoint.stated.is_none() => {
                if self.suspect.is_some() {
                    // A second failing checkpoint: report the first one now.
                    self.fail(seq, BrokenReason::CheckpointSignatureInvalid { seq });
                } else {
                    self.suspect = Some(Suspect { seq, chain_hash });
                }
            }
            Err(SignatureProblem::Invalid) => {
                self.fail(seq, BrokenReason::CheckpointSignatureInvalid { seq });
            }
        }
    }

    /// A `checkpoint_signed` record: the checkpoint it announces must exist; if that checkpoint
    /// is the suspect, the hash it announces says whether the journal was rewritten.
    fn check_checkpoint_announcement(&mut self, record: &AuditRecord) {
        let Ok(AuditEvent::CheckpointSigned {
            checkpoint_seq,
            record_hash,
            ..
        }) = AuditEvent::from_payload(&record.payload)
        else {
            self.fail(
                record.seq,
                BrokenReason::Malformed {
                    detail: "checkpoint_signed payload does not describe a checkpoint".to_owned(),
                },
            );
            return;
        };
        if checkpoint_seq >= record.seq {
            self.fail(
                record.seq,
                BrokenReason::Malformed {
                    detail: format!("announces a checkpoint over a later record {checkpoint_seq}"),
                },
            );
            return;
        }
        if let Some(suspect) = self.suspect.take_if(|s| s.seq == checkpoint_seq) {
            let reason = if record_hash.as_slice() != suspect.chain_hash.as_slice() {
                BrokenReason::CheckpointHashMismatch { seq: suspect.seq }
            } else {
                BrokenReason::CheckpointSignatureInvalid { seq: suspect.seq }
            };
            self.fail(suspect.seq, reason);
            return;
        }
        if !self.seen_checkpoints.contains(&checkpoint_seq) {
            self.fail(
                checkpoint_seq,
                BrokenReason::CheckpointMissing {
                    seq: checkpoint_seq,
                    journaled_in: record.seq,
                },
            );
        }
    }
}

/// The form rules an intact record must also follow.
fn check_form(record: &AuditRecord) -> Result<(), String> {
    let type_ok = !record.event_type.is_empty()
        && record
            .event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !type_ok {
        return Err(format!(
            "event_type {:?} is not snake_case",
            record.event_type
        ));
    }
    if record.actor.is_empty() || record.actor.chars().any(char::is_control) {
        return Err("actor is empty or contains a control character".to_owned());
    }
    let (canonical, value) = parse_canonical(&record.payload)?;
    if canonical != record.payload {
        return Err("payload is not canonical JSON".to_owned());
    }
    let tag = value.get("event").and_then(|e| e.as_str());
    if tag != Some(record.event_type.as_str()) {
        return Err(format!(
            "payload \"event\" is {tag:?}, event_type is {:?}",
            record.event_type
        ));
    }
    Ok(())
}
