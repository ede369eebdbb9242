//! Audit errors. Every message starts with a stable code (`AUD0nn`) that operators can grep for.
//!
//! These are failures to *run* an operation (database down, HSM error, unreadable bundle). A
//! journal that was tampered with is not an error: verification succeeds and its
//! [`VerifyReport`](super::VerifyReport) names the first broken record.

use std::path::PathBuf;

use crate::storage::StorageError;

/// Errors of the audit module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A storage operation failed.
    #[error("AUD001 audit storage operation {operation} failed")]
    Storage {
        /// What the audit module was doing.
        operation: &'static str,
        /// Storage error.
        #[source]
        source: StorageError,
    },

    /// An HSM operation failed.
    #[error("AUD002 HSM operation {operation} for the audit key failed")]
    Hsm {
        /// What the audit module was doing.
        operation: &'static str,
        /// HSM error.
        #[source]
        source: qtsp_hsm::HsmError,
    },

    /// The actor is empty, too long or contains a control character (it is one line of the
    /// hashed record, so a line break would make the hash input ambiguous).
    #[error("AUD003 invalid audit actor: {reason}")]
    InvalidActor {
        /// Why it was refused.
        reason: &'static str,
    },

    /// The event cannot be written as canonical JSON (for example a non-integer number).
    #[error("AUD004 audit event is not representable as canonical JSON: {detail}")]
    NotCanonical {
        /// What is wrong.
        detail: String,
    },

    /// serde could not turn the event into JSON, or a payload back into an event.
    #[error("AUD005 audit event (de)serialization failed")]
    Json {
        /// serde_json error.
        #[source]
        source: serde_json::Error,
    },

    /// `checkpoint_now` or `spawn_checkpointer` on a journal built without a checkpoint signer.
    #[error("AUD006 this journal has no checkpoint signer")]
    NoCheckpointSigner,

    /// The audit key is not an ECDSA P-256 public key (SubjectPublicKeyInfo DER or PEM).
    #[error("AUD007 unsupported audit key: {detail}")]
    UnsupportedKey {
        /// What is wrong.
        detail: String,
    },

    /// The HSM returned a signature that does not verify with the audit key's public key; the
    /// checkpoint was not stored.
    #[error("AUD008 the HSM's checkpoint signature for seq {seq} does not verify")]
    SignatureSelfCheck {
        /// Checkpointed sequence number.
        seq: u64,
    },

    /// Reading or writing a bundle file failed.
    #[error("AUD009 bundle I/O on {path} failed")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },

    /// The export directory exists and is not empty (a bundle is never written over another).
    #[error("AUD010 export directory {path} is not empty")]
    ExportDirNotEmpty {
        /// The directory.
        path: PathBuf,
    },

    /// The bundle lacks a file that verification needs, or a file name is not one qtsp writes.
    #[error("AUD011 {path} is not a qtsp audit bundle: {detail}")]
    NotABundle {
        /// Bundle directory or file.
        path: PathBuf,
        /// What is missing or wrong.
        detail: String,
    },

    /// A checkpointer schedule with zero records or zero time.
    #[error("AUD012 invalid checkpoint schedule: {detail}")]
    InvalidSchedule {
        /// What is wrong.
        detail: &'static str,
    },

    /// A certificate file name given for the bundle is not a plain file name.
    #[error("AUD013 invalid bundle file name {name:?}: use letters, digits, '.', '-' or '_'")]
    InvalidFileName {
        /// The name.
        name: String,
    },

    /// No trusted audit key was given, so no checkpoint could be verified.
    #[error("AUD014 no trusted audit public key was given")]
    NoTrustedKey,

    /// The journal head's hash is not a SHA-256 value, so no checkpoint can be made over it.
    #[error("AUD015 the audit head at seq {seq} does not hold a 32-byte hash")]
    CorruptHead {
        /// Head sequence number.
        seq: u64,
    },
}

impl AuditError {
    /// The stable code at the start of the message, e.g. `AUD001`.
    pub fn code(&self) -> &'static str {
        match self {
            AuditError::Storage { .. } => "AUD001",
            AuditError::Hsm { .. } => "AUD002",
            AuditError::InvalidActor { .. } => "AUD003",
            AuditError::NotCanonical { .. } => "AUD004",
            AuditError::Json { .. } => "AUD005",
            AuditError::NoCheckpointSigner => "AUD006",
            AuditError::UnsupportedKey { .. } => "AUD007",
            AuditError::SignatureSelfCheck { .. } => "AUD008",
            AuditError::Io { .. } => "AUD009",
            AuditError::ExportDirNotEmpty { .. } => "AUD010",
            AuditError::NotABundle { .. } => "AUD011",
            AuditError::InvalidSchedule { .. } => "AUD012",
            AuditError::InvalidFileName { .. } => "AUD013",
            AuditError::NoTrustedKey => "AUD014",
            AuditError::CorruptHead { .. } => "AUD015",
        }
    }

    /// Wraps a storage error with the operation name.
    pub(crate) fn storage(operation: &'static str) -> impl FnOnce(StorageError) -> AuditError {
        move |source| AuditError::Storage { operation, source }
    }

    /// Wraps an HSM error with the operation name.
    pub(crate) fn hsm(operation: &'static str) -> impl FnOnce(qtsp_hsm::HsmError) -> AuditError {
        move |source| AuditError::Hsm { operation, source }
    }

    /// Wraps an I/O error with the path.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> AuditError {
        let path = path.into();
        move |source| AuditError::Io { path, source }
    }
}
