//! What the database and bundle drivers hand the verifier: checkpoints as read, and the end the
//! journal should have.

use time::OffsetDateTime;

use crate::storage::AuditCheckpoint;

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
