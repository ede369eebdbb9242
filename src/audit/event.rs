//! What a QTSP journals: one typed enum, serialized as an internally tagged JSON object whose
//! `event` member repeats the record's `event_type`, so that a payload read on its own still
//! says what it is.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::AuditError;
use super::canonical::to_canonical_json;
use crate::storage::{CertificateSerial, RevocationReason, TimestampSerial};

/// `event_type` of the record that journals a signed checkpoint.
pub const CHECKPOINT_SIGNED: &str = "checkpoint_signed";

/// An event of the audit journal.
///
/// Field names are part of the journal format: rename nothing, add fields only with a new
/// event type, or as `Option`s or `bool`s that default to `false` (absent from the payload when
/// unset, so that older payloads read back the same).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum AuditEvent {
    /// A key ceremony began.
    CeremonyStarted {
        /// Ceremony identifier (e.g. the script name and date).
        ceremony: String,
        /// What the ceremony is for.
        purpose: String,
        /// People present, as identified in the ceremony record.
        participants: Vec<String>,
    },
    /// A key ceremony ended.
    CeremonyCompleted {
        /// Ceremony identifier, as in [`AuditEvent::CeremonyStarted`].
        ceremony: String,
        /// How it ended.
        outcome: CeremonyOutcome,
        /// Free text (why it was aborted, where the minutes are kept...).
        detail: Option<String>,
    },
    /// A key pair was generated in the HSM.
    KeyGenerated {
        /// CKA_LABEL.
        key_label: String,
        /// CKA_ID, lowercase hex.
        key_id_hex: String,
        /// Key type, e.g. `ec-p256` (qtsp_hsm::KeySpec name).
        algorithm: String,
        /// What the key is for.
        purpose: KeyPurpose,
        /// SHA-256 of the public key's SubjectPublicKeyInfo DER, lowercase hex.
        #[serde(with = "hex32")]
        spki_sha256: [u8; 32],
    },
    /// The CA persisted the intent to issue a certificate (before the HSM signs).
    CertificateIntent {
        /// Serial number (lowercase hex).
        serial: CertificateSerial,
        /// Issuing CA name.
        issuer: String,
        /// Certificate profile name.
        profile: String,
        /// Subject distinguished name (display form).
        subject: String,
    },
    /// The signed certificate was recorded.
    CertificateIssued {
        /// Serial number (lowercase hex).
        serial: CertificateSerial,
        /// Issuing CA name.
        issuer: String,
        /// SHA-256 of the certificate DER, lowercase hex.
        #[serde(with = "hex32")]
        certificate_sha256: [u8; 32],
    },
    /// Issuance stopped after the intent was recorded; no certificate exists for this serial.
    IssuanceFailed {
        /// Serial number (lowercase hex).
        serial: CertificateSerial,
        /// Issuing CA name.
        issuer: String,
        /// Why (error code and message, never secret material).
        reason: String,
    },
    /// A certificate was revoked.
    Revocation {
        /// Serial number (lowercase hex).
        serial: CertificateSerial,
        /// Issuing CA name.
        issuer: String,
        /// RFC 5280 CRLReason name, e.g. `keyCompromise`.
        reason: RevocationReason,
    },
    /// A batch of time-stamp tokens was recorded (one group commit).
    TimestampBatch {
        /// Serial number of the first token of the batch (lowercase hex).
        first_serial: TimestampSerial,
        /// Number of tokens.
        count: u64,
        /// genTime of the earliest token.
        #[serde(with = "micros_time")]
        from: OffsetDateTime,
        /// genTime of the latest token.
        #[serde(with = "micros_time")]
        to: OffsetDateTime,
        /// SHA-256 over the batch's records (see [`super::timestamp_batch_digest`]), so
        /// that a record removed or altered in the database no longer matches the journal.
        #[serde(with = "hex32")]
        records_sha256: [u8; 32],
        /// Each of the batch's rows in the `timestamps` table carries `batch_first_serial` =
        /// `first_serial` and its `batch_position` (0 for the first), so `qtsp audit verify`
        /// recomputes `records_sha256` from the table. `false` (absent) in batches written
        /// before the table had these columns.
        #[serde(default, skip_serializing_if = "core::ops::Not::not")]
        batch_columns: bool,
    },
    /// The clock lost its synchronization: time-stamping stops.
    ClockUnsynchronized {
        /// Time source (e.g. the NTS server).
        source: String,
        /// Measured offset in microseconds, when known.
        offset_us: Option<i64>,
        /// What was observed.
        detail: String,
    },
    /// The clock is synchronized again: time-stamping resumes.
    ClockResynchronized {
        /// Time source.
        source: String,
        /// What was observed (e.g. the kernel's maximum error).
        detail: String,
    },
    /// The clock's synchronization over a period, from the TSA's readings (one a second): for
    /// the periods between episodes too, evidence that time was certified within the declared
    /// accuracy (EN 319 421), and, when the check is off, that it was not checked.
    ClockStatus {
        /// Synchronization source (e.g. `kernel`).
        source: String,
        /// Start of the period.
        #[serde(with = "micros_time")]
        from: OffsetDateTime,
        /// End of the period.
        #[serde(with = "micros_time")]
        to: OffsetDateTime,
        /// Readings taken in the period.
        readings: u64,
        /// Readings that were synchronized within the declared accuracy.
        within_accuracy: u64,
        /// The declared accuracy, in microseconds.
        accuracy_us: u64,
        /// The largest maximum error the source reported in the period, in microseconds (absent
        /// when no reading succeeded).
        max_error_us: Option<u64>,
        /// Whether time-stamping was refused outside the accuracy (`false`:
        /// `tsa.require_clock_sync` was off, tokens were issued whatever the readings).
        enforced: bool,
        /// The period's last reading.
        detail: String,
    },
    /// A configuration value changed. Never pass secrets: pass a digest or `"<redacted>"`.
    ConfigurationChanged {
        /// Setting name, e.g. `tsa.policy_oid`.
        setting: String,
        /// Previous value, if there was one.
        old_value: Option<String>,
        /// New value, if there is one.
        new_value: Option<String>,
    },
    /// An administrator did something not covered by a more specific event.
    AdminAction {
        /// What was done, e.g. `hsm_check`.
        action: String,
        /// What it was done to.
        target: Option<String>,
        /// Free text.
        detail: Option<String>,
    },
    /// A qtsp node started.
    ServiceStarted {
        /// Node name.
        node: String,
        /// qtsp version.
        version: String,
    },
    /// A qtsp node stopped cleanly.
    ServiceStopped {
        /// Node name.
        node: String,
        /// qtsp version.
        version: String,
    },
    /// A checkpoint over the journal up to `checkpoint_seq` was signed and stored. This record
    /// keeps, inside the hash chain, the hash the checkpoint vouches for and the fact that the
    /// checkpoint exists (so a deleted checkpoint is noticed).
    CheckpointSigned {
        /// Last record covered by the checkpoint.
        checkpoint_seq: u64,
        /// Hash of that record, lowercase hex.
        #[serde(with = "hex32")]
        record_hash: [u8; 32],
        /// Signing key id (SHA-256 of its SubjectPublicKeyInfo DER, lowercase hex).
        key_id: String,
        /// Signature algorithm, `ecdsa-p256-sha256`.
        algorithm: String,
    },
    /// A CA signed a CRL and released it.
    CrlPublished {
        /// Issuing CA name.
        issuer: String,
        /// cRLNumber.
        crl_number: u64,
        /// thisUpdate.
        #[serde(with = "micros_time")]
        this_update: OffsetDateTime,
        /// nextUpdate.
        #[serde(with = "micros_time")]
        next_update: OffsetDateTime,
        /// Number of revoked certificates listed.
        revoked: u64,
        /// SHA-256 of the CRL DER, lowercase hex.
        #[serde(with = "hex32")]
        crl_sha256: [u8; 32],
    },
}

/// How a ceremony ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CeremonyOutcome {
    /// Every step was completed.
    Completed,
    /// Stopped before the end; nothing it produced is used.
    Aborted,
}

/// What a generated key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyPurpose {
    /// Root or issuing CA key.
    CaSigning,
    /// Time-stamping unit key.
    TimeStamping,
    /// OCSP responder key.
    OcspSigning,
    /// Audit checkpoint key.
    AuditCheckpoint,
    /// Key-encryption key that wraps signer keys.
    KeyEncryption,
    /// A signer's (subscriber's) key.
    Signer,
}

impl AuditEvent {
    /// Every event type, in declaration order (kept in step with the enum by a test).
    pub const EVENT_TYPES: [&'static str; 17] = [
        "ceremony_started",
        "ceremony_completed",
        "key_generated",
        "certificate_intent",
        "certificate_issued",
        "issuance_failed",
        "revocation",
        "timestamp_batch",
        "clock_unsynchronized",
        "clock_resynchronized",
        "clock_status",
        "configuration_changed",
        "admin_action",
        "service_started",
        "service_stopped",
        CHECKPOINT_SIGNED,
        "crl_published",
    ];

    /// Stable snake_case name, stored as the record's `event_type` and as the payload's
    /// `event` member.
    pub fn event_type(&self) -> &'static str {
        match self {
            AuditEvent::CeremonyStarted { .. } => "ceremony_started",
            AuditEvent::CeremonyCompleted { .. } => "ceremony_completed",
            AuditEvent::KeyGenerated { .. } => "key_generated",
            AuditEvent::CertificateIntent { .. } => "certificate_intent",
            AuditEvent::CertificateIssued { .. } => "certificate_issued",
            AuditEvent::IssuanceFailed { .. } => "issuance_failed",
            AuditEvent::Revocation { .. } => "revocation",
            AuditEvent::TimestampBatch { .. } => "timestamp_batch",
            AuditEvent::ClockUnsynchronized { .. } => "clock_unsynchronized",
            AuditEvent::ClockResynchronized { .. } => "clock_resynchronized",
            AuditEvent::ClockStatus { .. } => "clock_status",
            AuditEvent::ConfigurationChanged { .. } => "configuration_changed",
            AuditEvent::AdminAction { .. } => "admin_action",
            AuditEvent::ServiceStarted { .. } => "service_started",
            AuditEvent::ServiceStopped { .. } => "service_stopped",
            AuditEvent::CheckpointSigned { .. } => CHECKPOINT_SIGNED,
            AuditEvent::CrlPublished { .. } => "crl_published",
        }
    }

    /// The canonical JSON payload of this event.
    pub fn to_payload(&self) -> Result<String, AuditError> {
        to_canonical_json(self)
    }

    /// Reads an event back from a record's payload.
    pub fn from_payload(payload: &str) -> Result<AuditEvent, AuditError> {
        serde_json::from_str(payload).map_err(|source| AuditError::Json { source })
    }
}

/// `[u8; 32]` as 64 lowercase hex digits.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

/// A time in the journal's one textual form (see [`super::chain::format_time`]).
mod micros_time {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    use crate::audit::chain::{format_time, parse_time};

    pub(super) fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_time(*t))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        parse_time(&text).ok_or_else(|| {
            serde::de::Error::custom("expected YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, microseconds)")
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use time::macros::datetime;

    pub(crate) fn one_of_each() -> Vec<AuditEvent> {
        let serial = CertificateSerial::from_hex("01f3").unwrap();
        vec![
            AuditEvent::CeremonyStarted {
                ceremony: "root-2026".into(),
                purpose: "root CA key".into(),
                participants: vec!["A. Martin".into(), "B. Durand".into()],
            },
            AuditEvent::CeremonyCompleted {
                ceremony: "root-2026".into(),
                outcome: CeremonyOutcome::Completed,
                detail: None,
            },
            AuditEvent::KeyGenerated {
                key_label: "root".into(),
                key_id_hex: "0102".into(),
                algorithm: "ec-p256".into(),
                purpose: KeyPurpose::CaSigning,
                spki_sha256: [7; 32],
            },
            AuditEvent::CertificateIntent {
                serial: serial.clone(),
                issuer: "qca".into(),
                profile: "qc-natural-person".into(),
                subject: "CN=Jeanne Dupont,C=FR".into(),
            },
            AuditEvent::CertificateIssued {
                serial: serial.clone(),
                issuer: "qca".into(),
                certificate_sha256: [9; 32],
            },
            AuditEvent::IssuanceFailed {
                serial: serial.clone(),
                issuer: "qca".into(),
                reason: "HSM001 token removed".into(),
            },
            AuditEvent::Revocation {
                serial,
                issuer: "qca".into(),
                reason: RevocationReason::KeyCompromise,
            },
            AuditEvent::TimestampBatch {
                first_serial: TimestampSerial::from_hex("10").unwrap(),
                count: 64,
                from: datetime!(2026-11-23 10:00:00.000001 UTC),
                to: datetime!(2026-11-23 10:00:00.250000 UTC),
                records_sha256: [0xcd; 32],
                batch_columns: true,
            },
            AuditEvent::ClockUnsynchronized {
                source: "nts.example".into(),
                offset_us: Some(1_500_000),
                detail: "offset above 1 s".into(),
            },
            AuditEvent::ClockResynchronized {
                source: "nts.example".into(),
                detail: "maxerror 12 us".into(),
            },
            AuditEvent::ClockStatus {
                source: "kernel".into(),
                from: datetime!(2026-11-23 10:00:00 UTC),
                to: datetime!(2026-11-23 11:00:00.000250 UTC),
                readings: 3600,
                within_accuracy: 3598,
                accuracy_us: 1_000_000,
                max_error_us: Some(1_500_000),
                enforced: true,
                detail: "adjtimex: synchronized, maxerror 16000 us, esterror 2 us".into(),
            },
            AuditEvent::ConfigurationChanged {
                setting: "tsa.accuracy_ms".into(),
                old_value: Some("1000".into()),
                new_value: Some("500".into()),
            },
            AuditEvent::AdminAction {
                action: "hsm_check".into(),
                target: None,
                detail: Some("ok".into()),
            },
            AuditEvent::ServiceStarted {
                node: "n1".into(),
                version: "0.1.0".into(),
            },
            AuditEvent::ServiceStopped {
                node: "n1".into(),
                version: "0.1.0".into(),
            },
            AuditEvent::CheckpointSigned {
                checkpoint_seq: 50,
                record_hash: [1; 32],
                key_id: "ab".repeat(32),
                algorithm: "ecdsa-p256-sha256".into(),
            },
            AuditEvent::CrlPublished {
                issuer: "qca".into(),
                crl_number: 42,
                this_update: datetime!(2026-11-23 10:00:00 UTC),
                next_update: datetime!(2026-11-24 10:00:00 UTC),
                revoked: 3,
                crl_sha256: [0x5c; 32],
            },
        ]
    }

    #[test]
    fn event_types_match_tags() {
        let events = one_of_each();
        assert_eq!(
            events.len(),
            AuditEvent::EVENT_TYPES.len(),
            "one example per type"
        );
        for (event, listed) in events.iter().zip(AuditEvent::EVENT_TYPES) {
            let payload = event.to_payload().unwrap();
            let value: serde_json::Value = serde_json::from_str(&payload).unwrap();
            assert_eq!(value["event"], event.event_type(), "{payload}");
            assert_eq!(event.event_type(), listed);
            assert_eq!(&AuditEvent::from_payload(&payload).unwrap(), event);
        }
    }

    #[test]
    fn payload_is_canonical() {
        let event = AuditEvent::CertificateIssued {
            serial: CertificateSerial::from_hex("01f3").unwrap(),
            issuer: "qca".into(),
            certificate_sha256: [0xab; 32],
        };
        assert_eq!(
            event.to_payload().unwrap(),
            format!(
                r#"{{"certificate_sha256":"{}","event":"certificate_issued","issuer":"qca","serial":"01f3"}}"#,
                "ab".repeat(32)
            )
        );
        let batch = &one_of_each()[7];
        assert_eq!(
            batch.to_payload().unwrap(),
            format!(
                r#"{{"batch_columns":true,"count":64,"event":"timestamp_batch","first_serial":"10","from":"2026-11-23T10:00:00.000001Z","records_sha256":"{}","to":"2026-11-23T10:00:00.250000Z"}}"#,
                "cd".repeat(32)
            )
        );
        // Written before the rows named their batch: no member, and read back as `false`.
        let legacy = format!(
            r#"{{"count":64,"event":"timestamp_batch","first_serial":"10","from":"2026-11-23T10:00:00.000001Z","records_sha256":"{}","to":"2026-11-23T10:00:00.250000Z"}}"#,
            "cd".repeat(32)
        );
        let AuditEvent::TimestampBatch { batch_columns, .. } =
            AuditEvent::from_payload(&legacy).unwrap()
        else {
            panic!("not a timestamp_batch: {legacy}");
        };
        assert!(!batch_columns);
    }
}
