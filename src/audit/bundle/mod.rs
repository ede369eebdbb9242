//! Export of the journal as a self-contained directory, and its offline verification.
//!
//! ```text
//! DIR/records.jsonl            one record per line (canonical JSON object, payload as a string)
//! DIR/checkpoints/cp-<seq>.txt checkpoint statement (the signed bytes)
//! DIR/checkpoints/cp-<seq>.sig DER ECDSA signature
//! DIR/timestamps.txt           the time-stamp rows of the records' batches (see `timestamps`)
//! DIR/keys/audit-key.pem       the first audit public key given
//! DIR/keys/<key-id>.pem        every audit public key given, named by key id
//! DIR/keys/<name>.pem          certificates given
//! DIR/bundle.json              manifest (not signed)
//! DIR/VERIFY.md                how to verify with standard tools
//! DIR/SHA256SUMS               transport checksums of every other file
//! ```
//!
//! This module holds the format (file names, manifest, record lines); `export` writes it,
//! `verify` reads and verifies it.

mod export;
mod timestamps;
mod verify;

pub use export::{BundleKeys, ExportSummary, NamedPem, export_bundle};
pub use verify::{verify_bundle, verify_bundle_with_keys};

use serde::{Deserialize, Serialize};

use super::chain::{format_time, parse_time};
use crate::storage::AuditRecord;

/// The verification guide written into every bundle.
pub const VERIFY_MD: &str = include_str!("../VERIFY.md");

/// `format` of `bundle.json`.
pub const BUNDLE_FORMAT: &str = "qtsp-audit-bundle-v1";

const RECORDS_FILE: &str = "records.jsonl";
const CHECKPOINTS_DIR: &str = "checkpoints";
const KEYS_DIR: &str = "keys";
const MANIFEST_FILE: &str = "bundle.json";
const VERIFY_FILE: &str = "VERIFY.md";
const SUMS_FILE: &str = "SHA256SUMS";
const PRIMARY_KEY_FILE: &str = "audit-key.pem";

/// `bundle.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    format: String,
    /// Journal head when the export started.
    last_seq: u64,
    /// Its hash, lowercase hex.
    last_hash: String,
    records: u64,
    checkpoints: u64,
    audit_key_ids: Vec<String>,
    /// Checkpoints stored in the database over records that were not there at export.
    orphan_checkpoints: Vec<u64>,
}

/// One line of `records.jsonl`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordLine {
    seq: u64,
    recorded_at: String,
    event_type: String,
    actor: String,
    payload: String,
    prev_hash: String,
    hash: String,
}

impl RecordLine {
    fn from_record(record: &AuditRecord) -> RecordLine {
        RecordLine {
            seq: record.seq,
            recorded_at: format_time(record.recorded_at),
            event_type: record.event_type.clone(),
            actor: record.actor.clone(),
            payload: record.payload.clone(),
            prev_hash: hex::encode(&record.prev_hash),
            hash: hex::encode(&record.hash),
        }
    }

    fn into_record(self) -> Result<AuditRecord, String> {
        let seq = self.seq;
        let hex_field = |name: &str, text: &str| {
            hex::decode(text)
                .ok()
                .filter(|h| h.len() == 32 && hex::encode(h) == text)
                .ok_or_else(|| format!("record {seq}: {name} is not 64 lowercase hex digits"))
        };
        Ok(AuditRecord {
            seq,
            recorded_at: parse_time(&self.recorded_at).ok_or_else(|| {
                format!("record {seq}: recorded_at is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
            })?,
            prev_hash: hex_field("prev_hash", &self.prev_hash)?,
            hash: hex_field("hash", &self.hash)?,
            event_type: self.event_type,
            actor: self.actor,
            payload: self.payload,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn verify_md_documents_the_definitions() {
        for needle in [
            "qtsp-audit-v1",
            "qtsp-audit-checkpoint-v1",
            "openssl dgst -sha256 -verify keys/audit-key.pem -signature checkpoints/cp-500.sig checkpoints/cp-500.txt",
            "```sh recompute-record",
            "```python verify-chain",
            "```sh check-checkpoints",
            "```python check-bundle-timestamps",
            "```sh find-token",
            "Records after the last checkpoint can be cut off without trace",
        ] {
            assert!(VERIFY_MD.contains(needle), "VERIFY.md lacks {needle:?}");
        }
    }
}
