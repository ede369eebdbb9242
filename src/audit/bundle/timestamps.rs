//! `timestamps.txt`: the time-stamp rows of the bundle's `timestamp_batch` entries, so that an
//! auditor without access to the database can check them against the journal.
//!
//! ```text
//! # batch <record number> <first serial hex>\n
//! <the lines that timestamp_batch_digest hashes, one per row, in batch order>
//! ```
//!
//! One section per exported entry that names its rows (`batch_columns`), in record order, holding
//! the rows stored at export (none if none were found): the export writes what is stored, the
//! verification judges it. A section's body is the exact bytes hashed: every line up to the next
//! header or the end of the file.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};
use tokio::io::AsyncWriteExt as _;

use crate::audit::AuditError;
use crate::audit::verify::{
    BatchTally, JournaledBatch, PendingBatches, TimestampRowsMismatch, TimestampRowsReport,
};
use crate::storage::{AuditRecord, Storage, TimestampRowCounts};

/// The file's name in the bundle.
pub(super) const TIMESTAMPS_FILE: &str = "timestamps.txt";

const HEADER_PREFIX: &[u8] = b"# batch ";

/// Writes `timestamps.txt` during an export, reading the rows of a few hundred batches per
/// query as the records go by.
pub(super) struct TimestampsWriter {
    path: PathBuf,
    out: tokio::io::BufWriter<tokio::fs::File>,
    sum: Sha256,
    /// Batches (by record number) waiting for their rows, in record order.
    pending: PendingBatches<u64>,
    /// Sections written, and the rows in them.
    pub(super) batches: u64,
    pub(super) rows: u64,
}

impl TimestampsWriter {
    pub(super) async fn create(dir: &Path) -> Result<TimestampsWriter, AuditError> {
        let path = dir.join(TIMESTAMPS_FILE);
        let file = tokio::fs::File::create(&path)
            .await
            .map_err(AuditError::io(&path))?;
        Ok(TimestampsWriter {
            path,
            out: tokio::io::BufWriter::new(file),
            sum: Sha256::new(),
            pending: PendingBatches::default(),
            batches: 0,
            rows: 0,
        })
    }

    /// Takes an exported record; a batch entry that names its rows gets a section. Entries that
    /// cannot be read, or whose rows do not name their batch, have none (the verification
    /// reports the first, counts the second).
    pub(super) async fn push(
        &mut self,
        storage: &Storage,
        record: &AuditRecord,
    ) -> Result<(), AuditError> {
        let Some(batch) = JournaledBatch::of(record) else {
            return Ok(());
        };
        let (seq, entry) = batch.into_parts();
        let Ok(entry) = entry.map_err(drop) else {
            return Ok(());
        };
        if !entry.batch_columns {
            return Ok(());
        }
        if self.pending.push(seq, entry.first_serial, entry.count) {
            self.write_pending(storage).await?;
        }
        Ok(())
    }

    async fn write_pending(&mut self, storage: &Storage) -> Result<(), AuditError> {
        for (seq, first_serial, rows) in self.pending.read(storage).await? {
            let header = format!("# batch {seq} {}\n", first_serial.to_hex());
            self.write(header.as_bytes()).await?;
            if let Some(rows) = rows {
                self.write(rows.lines.as_bytes()).await?;
                self.rows += rows.rows;
            }
            self.batches += 1;
        }
        Ok(())
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), AuditError> {
        self.sum.update(bytes);
        self.out
            .write_all(bytes)
            .await
            .map_err(AuditError::io(&self.path))
    }

    /// Writes what is waiting and closes the file; returns its SHA-256, lowercase hex.
    pub(super) async fn finish(&mut self, storage: &Storage) -> Result<String, AuditError> {
        self.write_pending(storage).await?;
        self.out.flush().await.map_err(AuditError::io(&self.path))?;
        Ok(hex::encode(self.sum.clone().finalize()))
    }
}

/// A section header: `# batch <seq> <first serial>`.
#[derive(Debug, Clone)]
struct SectionHeader {
    line: u64,
    seq: u64,
    first_serial: String,
}

/// Line `line_no` as a section header: `# batch <seq> <first serial>\n`, `seq` decimal without
/// leading zeros, the serial lowercase hex.
fn parse_header(line: &[u8], line_no: u64) -> Option<SectionHeader> {
    let text = std::str::from_utf8(line.strip_prefix(HEADER_PREFIX)?).ok()?;
    let (seq, first_serial) = text.strip_suffix('\n')?.split_once(' ')?;
    let seq_number: u64 = seq.parse().ok()?;
    let plain_hex = !first_serial.is_empty()
        && first_serial
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (seq_number.to_string() == seq && plain_hex).then(|| SectionHeader {
        line: line_no,
        seq: seq_number,
        first_serial: first_serial.to_owned(),
    })
}

/// What the reader found after the last line it consumed.
#[derive(Debug)]
enum Ahead {
    /// Nothing read yet.
    Start,
    Header(SectionHeader),
    End,
}

/// Checks a bundle's `timestamps.txt` against the batches the chain verification accepts, in
/// record order, reading the file once.
pub(super) struct BundleTimestampRows {
    path: PathBuf,
    reader: std::io::BufReader<std::fs::File>,
    line_no: u64,
    ahead: Ahead,
    tally: BatchTally,
    /// Token lines read.
    token_lines: u64,
    /// A line of the file is not in its format: nothing more is read.
    malformed: bool,
}

impl BundleTimestampRows {
    /// Opens a bundle's `timestamps.txt` at `path`; `None` when the bundle has none (exported
    /// before bundles held the rows).
    pub(super) fn open(path: &Path) -> Result<Option<BundleTimestampRows>, AuditError> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(AuditError::io(path)(e)),
        };
        Ok(Some(BundleTimestampRows {
            path: path.to_path_buf(),
            reader: std::io::BufReader::new(file),
            line_no: 0,
            ahead: Ahead::Start,
            tally: BatchTally::default(),
            token_lines: 0,
            malformed: false,
        }))
    }

    /// Takes one batch whose record the chain verification accepted, in record order, and
    /// compares it with its section.
    pub(super) fn push(&mut self, batch: JournaledBatch) -> Result<(), AuditError> {
        let (seq, entry) = batch.into_parts();
        let entry = match entry {
            Ok(entry) => entry,
            Err(detail) => {
                self.tally.unreadable(seq, detail);
                return Ok(());
            }
        };
        if !self.tally.count(&entry) {
            return Ok(());
        }
        let header = match self.peek_header()? {
            // No section for it: none left, or the next is a later batch's.
            None => None,
            Some(header) if header.seq > seq => None,
            Some(header) if header.seq < seq => {
                self.file_problem(
                    header.line,
                    format!(
                        "a section for record {}, which journals no batch of rows",
                        header.seq
                    ),
                );
                return Ok(());
            }
            Some(header) => Some(header),
        };
        let Some(header) = header else {
            self.tally.compare(seq, &entry, None);
            return Ok(());
        };
        if header.first_serial != entry.first_serial.to_hex() {
            self.file_problem(
                header.line,
                format!(
                    "the section of record {seq} names first serial {}, its entry {}",
                    header.first_serial,
                    entry.first_serial.to_hex()
                ),
            );
            return Ok(());
        }
        self.ahead = Ahead::Start;
        let (rows, digest) = self.read_body()?;
        if !self.malformed {
            self.tally.compare(seq, &entry, Some((rows, digest)));
        }
        Ok(())
    }

    /// The next section's header, read if need be (`None` at the end of the file, or once a
    /// line is malformed).
    fn peek_header(&mut self) -> Result<Option<SectionHeader>, AuditError> {
        if matches!(self.ahead, Ahead::Start) && !self.malformed {
            let mut line = Vec::new();
            self.ahead = match self.read_line(&mut line)? {
                false => Ahead::End,
                true => match parse_header(&line, self.line_no) {
                    Some(header) => Ahead::Header(header),
                    None => {
                        self.malformed_at(self.line_no, "a token line outside any section");
                        Ahead::End
                    }
                },
            };
        }
        Ok(match &self.ahead {
            Ahead::Header(header) if !self.malformed => Some(header.clone()),
            _ => None,
        })
    }

    /// Reads the lines of the section whose header was consumed, up to the next header (kept
    /// ahead) or the end: their number and the SHA-256 of their exact bytes.
    fn read_body(&mut self) -> Result<(u64, [u8; 32]), AuditError> {
        let mut digest = Sha256::new();
        let mut rows = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            if !self.read_line(&mut line)? {
                self.ahead = Ahead::End;
                return Ok((rows, digest.finalize().into()));
            }
            if line.starts_with(b"#") {
                match parse_header(&line, self.line_no) {
                    Some(header) => self.ahead = Ahead::Header(header),
                    None => {
                        self.malformed_at(
                            self.line_no,
                            "a line starting with # that is not a section header",
                        );
                        self.ahead = Ahead::End;
                    }
                }
                return Ok((rows, digest.finalize().into()));
            }
            rows += 1;
            self.token_lines += 1;
            digest.update(&line);
        }
    }

    /// Reads one line, its LF included (if present); false at the end of the file.
    fn read_line(&mut self, line: &mut Vec<u8>) -> Result<bool, AuditError> {
        let read = self
            .reader
            .read_until(b'\n', line)
            .map_err(AuditError::io(&self.path))?;
        if read > 0 {
            self.line_no += 1;
        }
        Ok(read > 0)
    }

    fn file_problem(&mut self, line: u64, detail: String) {
        self.tally
            .mismatch(TimestampRowsMismatch::BundleFile { line, detail });
    }

    /// A line not in the file's format: nothing after it can be read reliably.
    fn malformed_at(&mut self, line: u64, detail: &str) {
        self.malformed = true;
        self.file_problem(line, detail.to_owned());
    }

    /// The report. `whole_journal`: every record was verified, so no section may remain (and
    /// the rest of the file is read to count its token lines either way).
    pub(super) fn finish(mut self, whole_journal: bool) -> Result<TimestampRowsReport, AuditError> {
        if let Some(header) = self.peek_header()?
            && whole_journal
        {
            self.file_problem(
                header.line,
                format!(
                    "a section for record {}, after the journal's last batch",
                    header.seq
                ),
            );
        }
        while !self.malformed && matches!(self.ahead, Ahead::Header(_)) {
            self.ahead = Ahead::Start;
            self.read_body()?;
        }
        let rows = TimestampRowCounts {
            batched: self.token_lines,
            unbatched: 0,
        };
        Ok(self.tally.finish(rows, whole_journal && !self.malformed))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn section_headers() {
        let header = parse_header(b"# batch 12 0a7f\n", 3).unwrap();
        assert_eq!(
            (header.line, header.seq, header.first_serial.as_str()),
            (3, 12, "0a7f")
        );
        for malformed in [
            &b"# batch 12 0a7f"[..], // no LF
            b"# batch 012 0a7f\n",   // leading zero
            b"# batch +12 0a7f\n",
            b"# batch 12 0A7F\n", // upper case
            b"# batch 12 0a7f extra\n",
            b"# batch  12 0a7f\n",
            b"# batch 12 \n",
            b"# batch 12\n",
            b"#batch 12 0a7f\n",
            b"# Batch 12 0a7f\n",
            b"# batch 18446744073709551616 0a\n", // beyond u64
            b"# batch 12 \xff\n",
        ] {
            assert!(
                parse_header(malformed, 1).is_none(),
                "{}",
                String::from_utf8_lossy(malformed)
            );
        }
    }
}
