//! The record hash and the time format it uses.
//!
//! ```text
//! hash = SHA-256( "qtsp-audit-v1" LF
//!                 seq LF            decimal, no leading zeros
//!                 recorded_at LF    YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, exactly 6 fraction digits)
//!                 event_type LF
//!                 actor LF
//!                 prev_hash LF      64 lowercase hex digits; 32 zero bytes for seq 1
//!                 payload )         canonical JSON, no trailing LF
//! ```
//! LF is the single byte 0x0A. No field contains a raw LF: `event_type` is `[a-z0-9_]+`, `actor`
//! has no control characters and canonical JSON escapes line breaks inside strings. So the input
//! splits back into its fields in exactly one way.

use sha2::{Digest as _, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::storage::AuditRecord;

/// First line of every record hash input; names the hash definition's version.
pub const RECORD_HASH_DOMAIN: &str = "qtsp-audit-v1";

/// `prev_hash` of record 1: 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// A SHA-256 value.
pub type Sha256Hash = [u8; 32];

/// Truncates to whole microseconds (what the database keeps and the hash covers) in UTC.
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    let micros_as_nanos = t.microsecond() * 1_000;
    // `replace_nanosecond` only fails for values above 999_999_999, which this cannot be.
    t.replace_nanosecond(micros_as_nanos).unwrap_or(t)
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ`: RFC 3339, UTC, exactly six fraction digits (microseconds,
/// truncated). Written by hand so that it cannot fail and reads the same in every tool.
pub fn format_time(t: OffsetDateTime) -> String {
    let t = truncate_to_micros(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses a time written by [`format_time`]; anything else (another offset, fewer digits) is
/// refused so that a time has exactly one textual form.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    (format_time(t) == text).then_some(t)
}

/// The bytes that are hashed for a record (see the module documentation).
pub fn record_hash_input(
    seq: u64,
    recorded_at: OffsetDateTime,
    event_type: &str,
    actor: &str,
    prev_hash: &[u8],
    payload: &str,
) -> Vec<u8> {
    let time = format_time(recorded_at);
    let prev = hex::encode(prev_hash);
    let mut input = Vec::with_capacity(
        RECORD_HASH_DOMAIN.len()
            + 20
            + time.len()
            + event_type.len()
            + actor.len()
            + 64
            + payload.len()
            + 6,
    );
    for field in [
        RECORD_HASH_DOMAIN,
        &seq.to_string(),
        &time,
        event_type,
        actor,
        &prev,
    ] {
        input.extend_from_slice(field.as_bytes());
        input.push(b'\n');
    }
    input.extend_from_slice(payload.as_bytes());
    input
}

/// The record hash (see the module documentation).
pub fn record_hash(
    seq: u64,
    recorded_at: OffsetDateTime,
    event_type: &str,
    actor: &str,
    prev_hash: &[u8],
    payload: &str,
) -> Sha256Hash {
    Sha256::digest(record_hash_input(
        seq,
        recorded_at,
        event_type,
        actor,
        prev_hash,
        payload,
    ))
    .into()
}

/// The hash `record` should carry if it were record number `seq`. Verification also tries the
/// neighbouring numbers to tell a renumbered record from an edited one.
pub fn record_hash_as(record: &AuditRecord, seq: u64) -> Sha256Hash {
    record_hash(
        seq,
        record.recorded_at,
        &record.event_type,
        &record.actor,
        &record.prev_hash,
        &record.payload,
    )
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Sha256Hash {
    Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use time::macros::datetime;

    #[test]
    fn time_format_is_fixed_width_utc_micros() {
        let t = datetime!(2026-11-23 18:04:05.123456789 +01:00);
        assert_eq!(format_time(t), "2026-11-23T17:04:05.123456Z");
        assert_eq!(
            format_time(datetime!(2026-01-02 03:04:05 UTC)),
            "2026-01-02T03:04:05.000000Z"
        );
        let parsed = parse_time("2026-11-23T17:04:05.123456Z").unwrap();
        assert_eq!(parsed, datetime!(2026-11-23 17:04:05.123456 UTC));
        assert!(parse_time("2026-11-23T17:04:05.123Z").is_none());
        assert!(parse_time("2026-11-23T18:04:05.123456+01:00").is_none());
    }

    /// A fixed vector, also computable with `printf ... | sha256sum` (see VERIFY.md).
    #[test]
    fn record_hash_vector() {
        let t = datetime!(2026-11-23 17:04:05.123456 UTC);
        let payload = r#"{"event":"service_started","node":"n1","version":"0.1.0"}"#;
        let input = record_hash_input(1, t, "service_started", "system:n1", &GENESIS_HASH, payload);
        let expected_input = format!(
            "qtsp-audit-v1\n1\n2026-11-23T17:04:05.123456Z\nservice_started\nsystem:n1\n{}\n{payload}",
            "0".repeat(64)
        );
        assert_eq!(input, expected_input.as_bytes());
        assert_eq!(
            record_hash(1, t, "service_started", "system:n1", &GENESIS_HASH, payload),
            sha256(expected_input.as_bytes())
        );
    }
}
