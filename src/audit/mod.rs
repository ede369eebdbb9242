//! The tamper-evident audit journal: typed events, hash-chained records, checkpoints signed in
//! the HSM, verification and export for auditors.
//!
//! Dependencies: storage (records and checkpoints), clock (record times), qtsp_hsm (the audit
//! key signs checkpoints). Verification needs neither the HSM nor, for a bundle, the database.
//!
//! # Records
//!
//! [`Journal::append`] serializes an [`AuditEvent`] to canonical JSON (the *payload*) and
//! appends a record through [`Storage::append_audit`](crate::storage::Storage::append_audit),
//! which locks the journal head; the record's number (`seq`, 1, 2, 3... without gaps), time and
//! hash are computed from the head inside that lock, so any number of tasks, processes and nodes
//! produce one chain.
//!
//! ## Canonical JSON
//!
//! UTF-8; no whitespace outside strings; object members sorted by the UTF-8 bytes of their keys
//! (all keys are ASCII), no duplicates; numbers are integers in decimal (non-integers are
//! refused); strings escape `"` `\` as `\"` `\\`, U+0008/09/0A/0C/0D as `\b` `\t` `\n` `\f` `\r`,
//! other characters below U+0020 as `\u00xx` (lowercase hex), nothing else; text is kept as given
//! (no Unicode normalization). The member `event` repeats the `event_type`. For these payloads
//! this is RFC 8785 (JCS). See [`canonical`].
//!
//! ## Record hash
//!
//! ```text
//! hash = SHA-256( "qtsp-audit-v1" LF seq LF recorded_at LF event_type LF actor LF
//!                 hex(prev_hash) LF payload )
//! ```
//! LF = 0x0A; `seq` in decimal; `recorded_at` as `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, six fraction
//! digits); `hex` = lowercase; no LF after the payload. `prev_hash` is the previous record's hash,
//! 32 zero bytes for record 1. `actor` has no control characters. See [`chain`].
//!
//! # Checkpoints
//!
//! A [`CheckpointSigner`] holds the audit key (ECDSA P-256, created and kept in the HSM). A
//! checkpoint over record `seq` signs this statement (each line ends with LF):
//!
//! ```text
//! qtsp-audit-checkpoint-v1
//! seq: <seq>
//! record-hash: <hex hash of record seq>
//! signed-at: <YYYY-MM-DDTHH:MM:SS.ffffffZ>
//! key-id: <hex SHA-256 of the audit key's SubjectPublicKeyInfo DER>
//! algorithm: ecdsa-p256-sha256
//! ```
//! with ECDSA P-256 over its SHA-256 (DER signature), so that
//! `openssl dgst -sha256 -verify audit-key.pem -signature cp-<seq>.sig cp-<seq>.txt` checks it.
//! The database row keeps seq, signed-at (`recorded_at`), signature, key id and algorithm; the
//! statement is rebuilt from the journal's own hash at `seq`. After storing a checkpoint the
//! journal appends a [`AuditEvent::CheckpointSigned`] record repeating the signed hash, so a
//! deleted checkpoint is noticed and a rewritten journal is told apart from a bad signature.
//! [`Journal::spawn_checkpointer`] signs one every N records or T, whichever comes first.
//!
//! # Verification and export
//!
//! [`verify_storage`] and [`verify_bundle`] stream through the records and return a
//! [`VerifyReport`] naming the first broken record and why ([`BrokenReason`]): edited, deleted,
//! inserted or swapped records, altered or deleted checkpoints, a tail cut off under a
//! checkpoint. Records after the last checkpoint can be cut off without trace; only an external
//! anchor (a checkpoint kept by someone else) protects them. [`verify_storage`] also reads the
//! rows of every `timestamp_batch` entry from the `timestamps` table and recomputes the entry's
//! digest ([`timestamp_batch_digest`]), reporting rows deleted, altered or added outside a batch
//! ([`TimestampRowsReport`]). [`export_bundle`] writes a directory, the batches' rows included,
//! that an auditor verifies with `sha256sum`, `jq`, `openssl` and Python (see `VERIFY.md`, also
//! in [`VERIFY_MD`]); [`verify_bundle`] checks those rows as the database check does.

mod bundle;
pub mod canonical;
pub mod chain;
mod checkpoint;
mod error;
mod event;
mod journal;
mod timestamp_batch;
mod verify;

pub use bundle::{
    BUNDLE_FORMAT, BundleKeys, ExportSummary, NamedPem, VERIFY_MD, export_bundle, verify_bundle,
    verify_bundle_with_keys,
};
pub use chain::{GENESIS_HASH, RECORD_HASH_DOMAIN, format_time, record_hash, record_hash_input};
pub use checkpoint::{
    CHECKPOINT_ALGORITHM, CHECKPOINT_STATEMENT_HEADER, CheckpointSigner, CheckpointStatement,
    TrustedKeys, key_id_of_spki, spki_der_from_pem, spki_pem,
};
pub use error::AuditError;
pub use event::{AuditEvent, CHECKPOINT_SIGNED, CeremonyOutcome, KeyPurpose};
pub use journal::{Journal, MAX_ACTOR_LEN, NodeInfo};
pub use timestamp_batch::timestamp_batch_digest;
pub use verify::{
    BatchJournal, BatchProblem, Broken, BrokenReason, TimestampEvidence, TimestampRowsMismatch,
    TimestampRowsReport, VerifyReport, VerifySource, timestamp_evidence, verify_storage,
};

#[cfg(test)]
mod tests;
