//! Export of the journal from the database into a bundle directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use super::timestamps::{TIMESTAMPS_FILE, TimestampsWriter};
use super::{
    BUNDLE_FORMAT, CHECKPOINTS_DIR, KEYS_DIR, MANIFEST_FILE, Manifest, PRIMARY_KEY_FILE,
    RECORDS_FILE, RecordLine, SUMS_FILE, VERIFY_FILE, VERIFY_MD,
};
use crate::audit::AuditError;
use crate::audit::canonical::to_canonical_json;
use crate::audit::checkpoint::{CheckpointStatement, key_id_of_spki, spki_pem};
use crate::storage::{AuditCheckpoint, Storage};

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
    /// Sections of `timestamps.txt`: the exported time-stamp batches whose rows name them.
    pub timestamp_batches: u64,
    /// Time-stamp rows written in them.
    pub timestamp_rows: u64,
    /// Key ids of checkpoints whose key was not among the keys given: the bundle will not
    /// verify until that key is added.
    pub unknown_checkpoint_keys: Vec<String>,
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
    let mut timestamps = TimestampsWriter::create(out_dir).await?;
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
            timestamps.push(storage, record).await?;
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
    let timestamps_sum = timestamps.finish(storage).await?;
    writer
        .sums
        .insert(TIMESTAMPS_FILE.to_owned(), timestamps_sum);
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
        timestamp_batches = timestamps.batches,
        timestamp_rows = timestamps.rows,
        "audit bundle exported"
    );
    Ok(ExportSummary {
        dir: out_dir.to_path_buf(),
        records: records_written,
        last_seq: head.seq,
        checkpoints: checkpoints_written,
        timestamp_batches: timestamps.batches,
        timestamp_rows: timestamps.rows,
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
