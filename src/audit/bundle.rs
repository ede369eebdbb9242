//! Export of the journal as a self-contained directory, and its offline verification.
//!
//! ```text
//! DIR/records.jsonl            one record per line (canonical JSON object, payload as a string)
//! DIR/checkpoints/cp-<seq>.txt checkpoint statement (the signed bytes)
//! DIR/checkpoints/cp-<seq>.sig DER ECDSA signature
//! DIR/keys/audit-key.pem       the first audit public key given
//! DIR/keys/<key-id>.pem        every audit public key given, named by key id
//! DIR/keys/<name>.pem          certificates given
//! DIR/bundle.json              manifest (not signed)
//! DIR/VERIFY.md                how to verify with standard tools
//! DIR/SHA256SUMS               transport checksums of every other file
//! ```

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::AuditError;
use super::canonical::to_canonical_json;
use super::chain::{format_time, parse_time};
use super::checkpoint::{
    CheckpointStatement, TrustedKeys, key_id_of_spki, spki_der_from_pem, spki_pem,
};
use super::verify::{
    ChainVerifier, CheckpointEvidence, ExpectedEnd, StatedStatement, VerifyReport, VerifySource,
};
use crate::storage::{AuditCheckpoint, AuditRecord, Storage};

/// The verification guide written into every bundle.
pub const VERIFY_MD: &str = include_str!("VERIFY.md");

/// `format` of `bundle.json`.
pub const BUNDLE_FORMAT: &str = "qtsp-audit-bundle-v1";

const RECORDS_FILE: &str = "records.jsonl";
const CHECKPOINTS_DIR: &str = "checkpoints";
const KEYS_DIR: &str = "keys";
const MANIFEST_FILE: &str = "bundle.json";
const VERIFY_FILE: &str = "VERIFY.md";
const SUMS_FILE: &str = "SHA256SUMS";
const PRIMARY_KEY_FILE: &str = "audit-key.pem";
const EXPORT_PAGE: u32 = 1_000;

/// Keys and certificates to put in a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleKeys {
    /// Audit public keys, SubjectPublicKeyInfo DER (ECDSA P-256): the current one first, then
    /// any earlier key that signed checkpoints.
    pub audit_public_keys: Vec<Vec<u8>>,
    /// Certificates to include (audit key certificate, CA certificates).
    pub certificates: Vec<NamedPem>,
}

/// A PEM file to include in `keys/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedPem {
    /// File name without `.pem`: letters, digits, `.`, `-`, `_`.
    pub name: String,
    /// PEM text, written as given.
    pub pem: String,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// The bundle directory.
    pub dir: PathBuf,
    /// Records written.
    pub records: u64,
    /// The journal head when the export started: the last record exported.
    pub last_seq: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
    /// Key ids of checkpoints whose key was not among the keys given: the bundle will not
    /// verify until that key is added.
    pub unknown_checkpoint_keys: Vec<String>,
}

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

/// Writes files of a bundle and remembers their SHA-256 for `SHA256SUMS`.
struct BundleWriter {
    dir: PathBuf,
    sums: BTreeMap<String, String>,
}

impl BundleWriter {
    async fn write(&mut self, relative: &str, bytes: &[u8]) -> Result<(), AuditError> {
        let path = self.dir.join(relative);
        tokio::fs::write(&path, bytes)
            .await
            .map_err(AuditError::io(&path))?;
        self.sums
            .insert(relative.to_owned(), hex::encode(Sha256::digest(bytes)));
        Ok(())
    }
}

/// Exports the journal in `storage` to `out_dir` (created if missing, must be empty), up to
/// the head at the start of the export. Writes what is stored, without judging it: verify the
/// bundle (or the database) to know whether it holds.
pub async fn export_bundle(
    storage: &Storage,
    out_dir: &Path,
    keys: &BundleKeys,
) -> Result<ExportSummary, AuditError> {
    // Check every input before writing anything.
    if keys.audit_public_keys.is_empty() {
        return Err(AuditError::NoTrustedKey);
    }
    let mut key_pems = Vec::with_capacity(keys.audit_public_keys.len());
    for spki in &keys.audit_public_keys {
        key_pems.push((key_id_of_spki(spki), spki_pem(spki)?));
    }
    for cert in &keys.certificates {
        let plain = !cert.name.is_empty()
            && !cert.name.starts_with('.')
            && cert
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        let clashes = cert.name == "audit-key" || key_pems.iter().any(|(id, _)| *id == cert.name);
        if !plain || clashes {
            return Err(AuditError::InvalidFileName {
                name: cert.name.clone(),
            });
        }
    }
    prepare_empty_dir(out_dir).await?;
    for sub in [CHECKPOINTS_DIR, KEYS_DIR] {
        let path = out_dir.join(sub);
        tokio::fs::create_dir(&path)
            .await
            .map_err(AuditError::io(&path))?;
    }
    let mut writer = BundleWriter {
        dir: out_dir.to_path_buf(),
        sums: BTreeMap::new(),
    };

    let head = storage
        .audit_head()
        .await
        .map_err(AuditError::storage("read audit head"))?;
    let known_keys: Vec<&str> = key_pems.iter().map(|(id, _)| id.as_str()).collect();
    let mut unknown_keys = Vec::new();
    let mut checkpoints = storage_checkpoints_through(storage, head.seq).await?;
    checkpoints.reverse(); // popped from the end, in seq order
    let mut checkpoints_written = 0u64;
    let mut skipped_checkpoints = Vec::new();

    let records_path = out_dir.join(RECORDS_FILE);
    let file = tokio::fs::File::create(&records_path)
        .await
        .map_err(AuditError::io(&records_path))?;
    let mut records_out = tokio::io::BufWriter::new(file);
    let mut records_sum = Sha256::new();
    let mut records_written = 0u64;
    let mut from_seq = 1;
    'pages: while from_seq <= head.seq {
        let page = storage
            .audit_records(from_seq, EXPORT_PAGE)
            .await
            .map_err(AuditError::storage("read audit records"))?;
        let Some(last) = page.last() else {
            break;
        };
        from_seq = last.seq.saturating_add(1);
        for record in &page {
            if record.seq > head.seq {
                break 'pages;
            }
            let mut line = to_canonical_json(&RecordLine::from_record(record))?;
            line.push('\n');
            records_out
                .write_all(line.as_bytes())
                .await
                .map_err(AuditError::io(&records_path))?;
            records_sum.update(line.as_bytes());
            records_written += 1;
            // Checkpoints over this record; those over records that are not there are skipped
            // here and listed as orphans below.
            while let Some(checkpoint) = checkpoints.pop_if(|c| c.seq <= record.seq) {
                if checkpoint.seq < record.seq {
                    skipped_checkpoints.push(checkpoint.seq);
                    continue;
                }
                if !known_keys.contains(&checkpoint.key_id.as_str()) {
                    unknown_keys.push(checkpoint.key_id.clone());
                }
                write_checkpoint(&mut writer, &checkpoint, &record.hash).await?;
                checkpoints_written += 1;
            }
        }
    }
    records_out
        .flush()
        .await
        .map_err(AuditError::io(&records_path))?;
    writer
        .sums
        .insert(RECORDS_FILE.to_owned(), hex::encode(records_sum.finalize()));
    skipped_checkpoints.extend(checkpoints.iter().map(|c| c.seq));
    let orphan_checkpoints = orphan_checkpoints(storage, head.seq, skipped_checkpoints).await?;

    let primary = key_pems
        .first()
        .map(|(_, pem)| pem.clone())
        .unwrap_or_default();
    writer
        .write(
            &format!("{KEYS_DIR}/{PRIMARY_KEY_FILE}"),
            primary.as_bytes(),
        )
        .await?;
    for (key_id, pem) in &key_pems {
        writer
            .write(&format!("{KEYS_DIR}/{key_id}.pem"), pem.as_bytes())
            .await?;
    }
    for cert in &keys.certificates {
        writer
            .write(
                &format!("{KEYS_DIR}/{}.pem", cert.name),
                cert.pem.as_bytes(),
            )
            .await?;
    }
    let manifest = Manifest {
        format: BUNDLE_FORMAT.to_owned(),
        last_seq: head.seq,
        last_hash: hex::encode(&head.hash),
        records: records_written,
        checkpoints: checkpoints_written,
        audit_key_ids: key_pems.iter().map(|(id, _)| id.clone()).collect(),
        orphan_checkpoints,
    };
    let mut manifest_text = to_canonical_json(&manifest)?;
    manifest_text.push('\n');
    writer
        .write(MANIFEST_FILE, manifest_text.as_bytes())
        .await?;
    writer.write(VERIFY_FILE, VERIFY_MD.as_bytes()).await?;
    let sums: String = writer
        .sums
        .iter()
        .map(|(path, sum)| format!("{sum}  {path}\n"))
        .collect();
    let sums_path = out_dir.join(SUMS_FILE);
    tokio::fs::write(&sums_path, sums)
        .await
        .map_err(AuditError::io(&sums_path))?;

    unknown_keys.sort();
    unknown_keys.dedup();
    tracing::info!(
        dir = %out_dir.display(),
        records = records_written,
        checkpoints = checkpoints_written,
        "audit bundle exported"
    );
    Ok(ExportSummary {
        dir: out_dir.to_path_buf(),
        records: records_written,
        last_seq: head.seq,
        checkpoints: checkpoints_written,
        unknown_checkpoint_keys: unknown_keys,
    })
}

async fn prepare_empty_dir(dir: &Path) -> Result<(), AuditError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(AuditError::io(dir))?;
    let mut entries = tokio::fs::read_dir(dir)
        .await
        .map_err(AuditError::io(dir))?;
    if entries
        .next_entry()
        .await
        .map_err(AuditError::io(dir))?
        .is_some()
    {
        return Err(AuditError::ExportDirNotEmpty {
            path: dir.to_path_buf(),
        });
    }
    Ok(())
}

/// Every stored checkpoint with `seq <= through`, in order (one per checkpointed record: far
/// fewer than records).
async fn storage_checkpoints_through(
    storage: &Storage,
    through: u64,
) -> Result<Vec<AuditCheckpoint>, AuditError> {
    let mut all = Vec::new();
    let mut from = 1;
    loop {
        let page = storage
            .audit_checkpoints(from, EXPORT_PAGE)
            .await
            .map_err(AuditError::storage("read audit checkpoints"))?;
        let full = page.len() == EXPORT_PAGE as usize;
        for checkpoint in page {
            if checkpoint.seq > through {
                return Ok(all);
            }
            from = checkpoint.seq.saturating_add(1);
            all.push(checkpoint);
        }
        if !full {
            return Ok(all);
        }
    }
}

/// Checkpoints whose record was not exported: `skipped` (at or below the head), and the first
/// one beyond the head if its record does not exist (a cut-back journal).
async fn orphan_checkpoints(
    storage: &Storage,
    head_seq: u64,
    skipped: Vec<u64>,
) -> Result<Vec<u64>, AuditError> {
    let mut orphans = skipped;
    let beyond = storage
        .audit_checkpoints(head_seq.saturating_add(1), 1)
        .await
        .map_err(AuditError::storage("read audit checkpoints"))?;
    for checkpoint in beyond {
        let record = storage
            .audit_records(checkpoint.seq, 1)
            .await
            .map_err(AuditError::storage("read audit records"))?;
        if record.first().is_none_or(|r| r.seq != checkpoint.seq) {
            orphans.push(checkpoint.seq);
        }
    }
    orphans.sort_unstable();
    Ok(orphans)
}

async fn write_checkpoint(
    writer: &mut BundleWriter,
    checkpoint: &AuditCheckpoint,
    record_hash: &[u8],
) -> Result<(), AuditError> {
    let statement = CheckpointStatement {
        seq: checkpoint.seq,
        record_hash: record_hash.to_vec(),
        signed_at: checkpoint.recorded_at,
        key_id: checkpoint.key_id.clone(),
        algorithm: checkpoint.algorithm.clone(),
    };
    let stem = format!("{CHECKPOINTS_DIR}/cp-{}", checkpoint.seq);
    writer
        .write(&format!("{stem}.txt"), statement.to_text().as_bytes())
        .await?;
    writer
        .write(&format!("{stem}.sig"), &checkpoint.signature)
        .await
}

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
        if !verifier.push_record(record) {
            break;
        }
    }
    if !verifier.is_broken() {
        checkpoints.queue_through(&mut verifier, u64::MAX)?;
    }
    Ok(verifier.finish(Some(expected_end)))
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

    #[test]
    fn verify_md_documents_the_definitions() {
        for needle in [
            "qtsp-audit-v1",
            "qtsp-audit-checkpoint-v1",
            "openssl dgst -sha256 -verify keys/audit-key.pem -signature checkpoints/cp-500.sig checkpoints/cp-500.txt",
            "```sh recompute-record",
            "```python verify-chain",
            "```sh check-checkpoints",
            "Records after the last checkpoint can be cut off without trace",
        ] {
            assert!(VERIFY_MD.contains(needle), "VERIFY.md lacks {needle:?}");
        }
    }
}
