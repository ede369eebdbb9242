//! Verification of the journal, from the database or from a bundle, record by record.
//!
//! [`ChainVerifier`] is a state machine fed with records in the order they are read and with
//! the checkpoints sorted by seq; it keeps one record of look-ahead (to tell two swapped records
//! from a gap) and stops at the first problem. The database and bundle drivers page through
//! their sources, so memory does not grow with the journal (except one integer per checkpoint,
//! to notice a checkpoint that the journal says exists but is gone).

use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::path::PathBuf;

use time::OffsetDateTime;

use super::AuditError;
use super::canonical::parse_canonical;
use super::chain::{GENESIS_HASH, record_hash_as};
use super::checkpoint::{CheckpointStatement, SignatureProblem, TrustedKeys};
use super::event::{AuditEvent, CHECKPOINT_SIGNED};
use crate::storage::{AuditCheckpoint, AuditRecord, Backend, Storage};

/// Records read per database query.
const RECORD_PAGE: u32 = 1_000;
/// Checkpoints read per database query.
const CHECKPOINT_PAGE: u32 = 500;
/// How far past a checkpoint whose signature fails verification keeps reading, looking for the
/// `checkpoint_signed` record that tells a rewritten journal from a forged signature.
const SUSPECT_WINDOW: u64 = 10_000;

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
}

impl VerifyReport {
    /// Whether no problem was found.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
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
        if self.is_intact() {
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
        Ok(())
    }
}

/// A checkpoint as a verifier receives it.
#[derive(Debug, Clone)]
pub(crate) struct CheckpointEvidence {
    pub(crate) seq: u64,
    pub(crate) signed_at: OffsetDateTime,
    pub(crate) key_id: String,
    pub(crate) algorithm: String,
    pub(crate) signature: Vec<u8>,
    /// Bundle: the statement file, with the hash it states. Database: `None`, the statement is
    /// rebuilt from the journal's hash at `seq`.
    pub(crate) stated: Option<StatedStatement>,
    /// Set when the checkpoint could not be read at all.
    pub(crate) malformed: Option<String>,
}

/// A statement read from a file.
#[derive(Debug, Clone)]
pub(crate) struct StatedStatement {
    pub(crate) text: Vec<u8>,
    pub(crate) record_hash: Vec<u8>,
}

impl CheckpointEvidence {
    pub(crate) fn from_stored(cp: AuditCheckpoint) -> CheckpointEvidence {
        CheckpointEvidence {
            seq: cp.seq,
            signed_at: cp.recorded_at,
            key_id: cp.key_id,
            algorithm: cp.algorithm,
            signature: cp.signature,
            stated: None,
            malformed: None,
        }
    }

    pub(crate) fn malformed(seq: u64, detail: String) -> CheckpointEvidence {
        CheckpointEvidence {
            seq,
            signed_at: OffsetDateTime::UNIX_EPOCH,
            key_id: String::new(),
            algorithm: String::new(),
            signature: Vec::new(),
            stated: None,
            malformed: Some(detail),
        }
    }
}

/// What the journal's end should be (database head, bundle manifest).
#[derive(Debug, Clone)]
pub(crate) struct ExpectedEnd {
    pub(crate) seq: u64,
    pub(crate) hash: Vec<u8>,
}

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

/// Verifies the journal in the database against the trusted audit public keys
/// (SubjectPublicKeyInfo DER). Reads the records in pages; records appended while it runs (after
/// the head it read first) are left for the next run.
pub async fn verify_storage<K: AsRef<[u8]>>(
    storage: &Storage,
    trusted_spki_der: &[K],
) -> Result<VerifyReport, AuditError> {
    let trusted = TrustedKeys::from_spki_ders(trusted_spki_der)?;
    if trusted.is_empty() {
        return Err(AuditError::NoTrustedKey);
    }
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
            if !verifier.push_record(record) {
                break 'pages;
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
    Ok(verifier.finish(Some(ExpectedEnd {
        seq: head.seq,
        hash: head.hash,
    })))
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
