//! Offline verification of a bundle directory: manifest, records and checkpoint files.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use super::timestamps::{BundleTimestampRows, TIMESTAMPS_FILE};
use super::{
    BUNDLE_FORMAT, CHECKPOINTS_DIR, KEYS_DIR, MANIFEST_FILE, Manifest, RECORDS_FILE, RecordLine,
};
use crate::audit::AuditError;
use crate::audit::checkpoint::{CheckpointStatement, TrustedKeys, spki_der_from_pem};
use crate::audit::verify::{
    ChainVerifier, CheckpointEvidence, ExpectedEnd, HeldBatch, JournaledBatch, StatedStatement,
    VerifyReport, VerifySource,
};

/// Verifies a bundle offline, trusting the audit keys found in its `keys/` directory. The report
/// says so ([`VerifyReport::keys_from_bundle`]) and lists their key ids: compare them with the
/// audit key id recorded at its ceremony, or use [`verify_bundle_with_keys`].
pub fn verify_bundle(dir: &Path) -> Result<VerifyReport, AuditError> {
    let keys = bundle_public_keys(dir)?;
    if keys.is_empty() {
        return Err(AuditError::NotABundle {
            path: dir.join(KEYS_DIR),
            detail: "no PUBLIC KEY PEM file".to_owned(),
        });
    }
    verify_bundle_inner(dir, TrustedKeys::from_spki_ders(&keys)?, true)
}

/// Verifies a bundle offline against the given trusted audit public keys
/// (SubjectPublicKeyInfo DER); the keys in the bundle are ignored.
pub fn verify_bundle_with_keys<K: AsRef<[u8]>>(
    dir: &Path,
    trusted_spki_der: &[K],
) -> Result<VerifyReport, AuditError> {
    let trusted = TrustedKeys::from_spki_ders(trusted_spki_der)?;
    if trusted.is_empty() {
        return Err(AuditError::NoTrustedKey);
    }
    verify_bundle_inner(dir, trusted, false)
}

/// Every `PUBLIC KEY` PEM in `keys/`, as SubjectPublicKeyInfo DER (certificates are skipped).
fn bundle_public_keys(dir: &Path) -> Result<Vec<Vec<u8>>, AuditError> {
    let keys_dir = dir.join(KEYS_DIR);
    let mut keys = Vec::new();
    let entries = std::fs::read_dir(&keys_dir).map_err(AuditError::io(&keys_dir))?;
    for entry in entries {
        let path = entry.map_err(AuditError::io(&keys_dir))?.path();
        if path.extension().is_none_or(|e| e != "pem") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(AuditError::io(&path))?;
        if text.trim_start().starts_with("-----BEGIN PUBLIC KEY-----") {
            keys.push(spki_der_from_pem(&text)?);
        }
    }
    Ok(keys)
}

fn verify_bundle_inner(
    dir: &Path,
    trusted: TrustedKeys,
    keys_from_bundle: bool,
) -> Result<VerifyReport, AuditError> {
    let manifest = read_manifest(dir)?;
    let mut checkpoints = BundleCheckpoints::list(dir)?;
    for orphan in &manifest.orphan_checkpoints {
        checkpoints.orphans.push(*orphan);
    }
    let expected_end = ExpectedEnd {
        seq: manifest.last_seq,
        hash: hex::decode(&manifest.last_hash).map_err(|_| AuditError::NotABundle {
            path: dir.join(MANIFEST_FILE),
            detail: "last_hash is not hex".to_owned(),
        })?,
    };
    let mut verifier = ChainVerifier::new(
        trusted,
        keys_from_bundle,
        VerifySource::Bundle {
            dir: dir.to_path_buf(),
        },
    );
    let records_path = dir.join(RECORDS_FILE);
    let file = std::fs::File::open(&records_path).map_err(AuditError::io(&records_path))?;
    let mut timestamp_rows = BundleTimestampRows::open(&dir.join(TIMESTAMPS_FILE))?;
    let mut held_batch = HeldBatch::default();
    let mut highest_seq = 0u64;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line_no = index + 1;
        let line = match line {
            Ok(line) => line,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                verifier.unreadable_record(format!("{RECORDS_FILE} line {line_no} is not UTF-8"));
                break;
            }
            Err(e) => return Err(AuditError::io(&records_path)(e)),
        };
        let record = serde_json::from_str::<RecordLine>(&line)
            .map_err(|e| format!("{RECORDS_FILE} line {line_no}: {e}"))
            .and_then(RecordLine::into_record);
        let record = match record {
            Ok(record) => record,
            Err(detail) => {
                verifier.unreadable_record(detail);
                break;
            }
        };
        highest_seq = highest_seq.max(record.seq);
        checkpoints.queue_through(&mut verifier, highest_seq)?;
        let batch = JournaledBatch::of(&record);
        if !verifier.push_record(record) {
            break;
        }
        if let Some(accepted) = held_batch.next(batch)
            && let Some(rows) = &mut timestamp_rows
        {
            rows.push(accepted)?;
        }
    }
    if !verifier.is_broken() {
        checkpoints.queue_through(&mut verifier, u64::MAX)?;
    }
    let mut report = verifier.finish(Some(expected_end));
    if let Some(mut rows) = timestamp_rows {
        if let Some(last) = held_batch.accepted_at_end(&report) {
            rows.push(last)?;
        }
        report.timestamp_rows = Some(rows.finish(report.first_broken.is_none())?);
    }
    Ok(report)
}

fn read_manifest(dir: &Path) -> Result<Manifest, AuditError> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).map_err(AuditError::io(&path))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| AuditError::NotABundle {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    if manifest.format != BUNDLE_FORMAT {
        return Err(AuditError::NotABundle {
            path,
            detail: format!("format {:?}, expected {BUNDLE_FORMAT}", manifest.format),
        });
    }
    Ok(manifest)
}

/// The checkpoint files of a bundle, read in seq order as the records advance.
struct BundleCheckpoints {
    dir: PathBuf,
    /// seq -> (statement file present, signature file present), in seq order.
    files: BTreeMap<u64, (bool, bool)>,
    /// Checkpoints the manifest lists as over records missing at export.
    orphans: Vec<u64>,
}

impl BundleCheckpoints {
    fn list(dir: &Path) -> Result<BundleCheckpoints, AuditError> {
        let cp_dir = dir.join(CHECKPOINTS_DIR);
        let mut files = BTreeMap::new();
        let entries = std::fs::read_dir(&cp_dir).map_err(AuditError::io(&cp_dir))?;
        for entry in entries {
            let name = entry.map_err(AuditError::io(&cp_dir))?.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let Some((seq, is_statement)) = parse_checkpoint_file_name(name) else {
                continue;
            };
            let slot = files.entry(seq).or_insert((false, false));
            if is_statement {
                slot.0 = true;
            } else {
                slot.1 = true;
            }
        }
        Ok(BundleCheckpoints {
            dir: cp_dir,
            files,
            orphans: Vec::new(),
        })
    }

    /// Hands the verifier every checkpoint with `seq <= through`, in order.
    fn queue_through(
        &mut self,
        verifier: &mut ChainVerifier,
        through: u64,
    ) -> Result<(), AuditError> {
        loop {
            let next_file = self.files.first_key_value().map(|(seq, _)| *seq);
            let next_orphan = self.orphans.iter().copied().min();
            let next = match (next_file, next_orphan) {
                (Some(f), Some(o)) => f.min(o),
                (Some(f), None) => f,
                (None, Some(o)) => o,
                (None, None) => return Ok(()),
            };
            if next > through {
                return Ok(());
            }
            if next_orphan == Some(next) {
                self.orphans.retain(|&o| o != next);
                verifier.push_checkpoint(CheckpointEvidence::malformed(
                    next,
                    "its record was missing from the database at export".to_owned(),
                ));
                continue;
            }
            if let Some((seq, present)) = self.files.pop_first() {
                verifier.push_checkpoint(self.read(seq, present)?);
            }
        }
    }

    fn read(
        &self,
        seq: u64,
        (has_statement, has_signature): (bool, bool),
    ) -> Result<CheckpointEvidence, AuditError> {
        if !has_statement || !has_signature {
            let missing = if has_statement { "sig" } else { "txt" };
            return Ok(CheckpointEvidence::malformed(
                seq,
                format!("cp-{seq}.{missing} is missing"),
            ));
        }
        let text_path = self.dir.join(format!("cp-{seq}.txt"));
        let signature_path = self.dir.join(format!("cp-{seq}.sig"));
        let text = std::fs::read(&text_path).map_err(AuditError::io(&text_path))?;
        let signature = std::fs::read(&signature_path).map_err(AuditError::io(&signature_path))?;
        let statement = std::str::from_utf8(&text)
            .map_err(|_| "not UTF-8".to_owned())
            .and_then(CheckpointStatement::parse);
        let statement = match statement {
            Ok(statement) if statement.seq == seq => statement,
            Ok(statement) => {
                return Ok(CheckpointEvidence::malformed(
                    seq,
                    format!("cp-{seq}.txt states seq {}", statement.seq),
                ));
            }
            Err(detail) => {
                return Ok(CheckpointEvidence::malformed(
                    seq,
                    format!("cp-{seq}.txt: {detail}"),
                ));
            }
        };
        Ok(CheckpointEvidence {
            seq,
            signed_at: statement.signed_at,
            key_id: statement.key_id,
            algorithm: statement.algorithm,
            signature,
            stated: Some(StatedStatement {
                text,
                record_hash: statement.record_hash,
            }),
            malformed: None,
        })
    }
}

/// `cp-<seq>.txt` -> `(seq, true)`, `cp-<seq>.sig` -> `(seq, false)`; `seq` decimal without
/// leading zeros.
fn parse_checkpoint_file_name(name: &str) -> Option<(u64, bool)> {
    let rest = name.strip_prefix("cp-")?;
    let (number, is_statement) = if let Some(n) = rest.strip_suffix(".txt") {
        (n, true)
    } else {
        (rest.strip_suffix(".sig")?, false)
    };
    let seq: u64 = number.parse().ok()?;
    (seq.to_string() == number).then_some((seq, is_statement))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn checkpoint_file_names() {
        assert_eq!(parse_checkpoint_file_name("cp-50.txt"), Some((50, true)));
        assert_eq!(parse_checkpoint_file_name("cp-50.sig"), Some((50, false)));
        assert_eq!(parse_checkpoint_file_name("cp-050.sig"), None);
        assert_eq!(parse_checkpoint_file_name("cp-+5.sig"), None);
        assert_eq!(parse_checkpoint_file_name("cp-5.pem"), None);
        assert_eq!(parse_checkpoint_file_name(".DS_Store"), None);
    }
}
