//! The journal's entry for one group commit of time-stamp records: what it states, and the
//! digest over the records that ties it to their rows in the `timestamps` table.

use sha2::{Digest as _, Sha256};

use super::AuditEvent;
use crate::storage::TimestampRecord;

impl AuditEvent {
    /// The [`AuditEvent::TimestampBatch`] that journals `records`, committed in this order with
    /// [`crate::storage::Storage::insert_timestamp_batch`] (which gives each row the batch's
    /// first serial and its position). `None` for no records.
    #[must_use]
    pub fn timestamp_batch(records: &[TimestampRecord]) -> Option<AuditEvent> {
        let first = records.first()?;
        let from = records.iter().map(|r| r.gen_time).min()?;
        let to = records.iter().map(|r| r.gen_time).max()?;
        Some(AuditEvent::TimestampBatch {
            first_serial: first.serial.clone(),
            count: records.len() as u64,
            from,
            to,
            records_sha256: timestamp_batch_digest(records),
            batch_columns: true,
        })
    }
}

/// SHA-256 over one line per record, in batch order:
/// `<serial hex> <genTime, unix microseconds> <policy OID> <hash OID> <imprint hex>\n`.
/// It fixes what the batch wrote when it was committed; `qtsp audit verify` recomputes it from
/// the table's rows of the batch (see `src/audit/VERIFY.md`).
#[must_use]
pub fn timestamp_batch_digest(records: &[TimestampRecord]) -> [u8; 32] {
    use std::fmt::Write as _;
    let mut hasher = Sha256::new();
    // One buffer for every line: the recorder runs this for every token it commits.
    let mut line = String::with_capacity(256);
    for r in records {
        line.clear();
        push_hex(&mut line, r.serial.as_bytes());
        let micros = r.gen_time.unix_timestamp_nanos() / 1000;
        // Writing into a String cannot fail.
        let _ = write!(line, " {micros} {} {} ", r.policy_oid, r.hash_alg_oid);
        push_hex(&mut line, &r.message_imprint);
        line.push('\n');
        hasher.update(line.as_bytes());
    }
    hasher.finalize().into()
}

/// Appends the lowercase hex of `bytes`.
fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use time::OffsetDateTime;

    use super::*;
    use crate::storage::TimestampSerial;

    fn record(serial: &str, micros: i64, imprint: &[u8]) -> TimestampRecord {
        TimestampRecord::sample(serial, micros, imprint)
    }

    /// The digest is the one an auditor computes from the documented line format.
    #[test]
    fn digest_hashes_the_documented_lines() {
        let records = [
            record("0a1b2c", 1_796_180_677_123_456, &[0x00, 0xff, 0x7e]),
            record("7f", 0, &[0xab; 32]),
        ];
        let text = "0a1b2c 1796180677123456 1.3.6.1.4.1.99999.1.3 2.16.840.1.101.3.4.2.1 00ff7e\n\
                    7f 0 1.3.6.1.4.1.99999.1.3 2.16.840.1.101.3.4.2.1 "
            .to_owned()
            + &"ab".repeat(32)
            + "\n";
        let expected: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        assert_eq!(timestamp_batch_digest(&records), expected);
        assert_ne!(timestamp_batch_digest(&records[..1]), expected);
        // The order is part of the digest.
        let swapped = [records[1].clone(), records[0].clone()];
        assert_ne!(timestamp_batch_digest(&swapped), expected);
    }

    #[test]
    fn the_event_states_the_batch() {
        assert_eq!(AuditEvent::timestamp_batch(&[]), None);
        let records = [
            record("05", 2_000, &[1; 32]),
            record("03", 1_000, &[2; 32]),
            record("07", 3_000, &[3; 32]),
        ];
        let event = AuditEvent::timestamp_batch(&records).unwrap();
        assert_eq!(
            event,
            AuditEvent::TimestampBatch {
                first_serial: TimestampSerial::from_hex("05").unwrap(),
                count: 3,
                from: OffsetDateTime::from_unix_timestamp_nanos(1_000_000).unwrap(),
                to: OffsetDateTime::from_unix_timestamp_nanos(3_000_000).unwrap(),
                records_sha256: timestamp_batch_digest(&records),
                batch_columns: true,
            }
        );
    }
}
