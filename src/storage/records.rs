//! Domain records that go in and out of the storage layer.
//!
//! Plain Rust types: nothing here depends on sqlx. Times are `time::OffsetDateTime`; the storage
//! layer keeps them with microsecond precision (sub-microsecond parts are floored) and always
//! returns them in UTC.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

/// Largest serial number accepted, in content octets (RFC 5280 section 4.1.2.2: at most 20 octets).
pub const MAX_SERIAL_OCTETS: usize = 20;

/// Why a byte string or hex string is not an acceptable serial number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SerialError {
    /// No content octets at all.
    #[error("DB050 serial number is empty")]
    Empty,
    /// More than [`MAX_SERIAL_OCTETS`] content octets.
    #[error("DB051 serial number is {len} octets long (at most {MAX_SERIAL_OCTETS})")]
    TooLong {
        /// Number of content octets given.
        len: usize,
    },
    /// The high bit of the first octet is set: the DER INTEGER would be negative.
    #[error("DB052 serial number is negative")]
    Negative,
    /// The value is zero (RFC 5280 requires a positive integer).
    #[error("DB053 serial number is zero")]
    Zero,
    /// A leading 0x00 octet that DER forbids (only allowed before an octet >= 0x80).
    #[error("DB054 serial number is not minimally encoded (leading zero octet)")]
    NotMinimal,
    /// The hex form is not lowercase hex with an even number of digits.
    #[error("DB055 serial number is not lowercase hex with an even number of digits")]
    BadHex,
}

/// Validates DER INTEGER content octets of a positive, non-zero integer of at most 20 octets.
fn check_serial_octets(bytes: &[u8]) -> Result<(), SerialError> {
    let Some(&first) = bytes.first() else {
        return Err(SerialError::Empty);
    };
    if bytes.len() > MAX_SERIAL_OCTETS {
        return Err(SerialError::TooLong { len: bytes.len() });
    }
    if first & 0x80 != 0 {
        return Err(SerialError::Negative);
    }
    if first == 0 {
        match bytes.get(1) {
            None => return Err(SerialError::Zero),
            Some(&second) if second & 0x80 == 0 => return Err(SerialError::NotMinimal),
            Some(_) => {}
        }
    }
    Ok(())
}

fn parse_serial_hex(hex_str: &str) -> Result<Vec<u8>, SerialError> {
    let lowercase_hex = hex_str
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !lowercase_hex || !hex_str.len().is_multiple_of(2) {
        return Err(SerialError::BadHex);
    }
    let bytes = hex::decode(hex_str).map_err(|_| SerialError::BadHex)?;
    check_serial_octets(&bytes)?;
    Ok(bytes)
}

macro_rules! serial_newtype {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Vec<u8>);

        impl $name {
            /// Takes the content octets of a DER INTEGER (big-endian two's complement, minimal,
            /// positive, non-zero, at most 20 octets).
            pub fn from_der_content(bytes: impl Into<Vec<u8>>) -> Result<Self, SerialError> {
                let bytes = bytes.into();
                check_serial_octets(&bytes)?;
                Ok(Self(bytes))
            }

            /// Takes unsigned big-endian magnitude bytes (for example from a random generator)
            /// and builds the minimal DER content: leading zero octets are stripped and one zero
            /// octet is prepended when the high bit is set.
            pub fn from_unsigned_be(bytes: &[u8]) -> Result<Self, SerialError> {
                let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
                let magnitude = bytes.get(start..).unwrap_or_default();
                let mut content = Vec::with_capacity(magnitude.len() + 1);
                if magnitude.first().is_some_and(|&b| b & 0x80 != 0) {
                    content.push(0);
                }
                content.extend_from_slice(magnitude);
                if content.is_empty() {
                    return Err(SerialError::Zero);
                }
                Self::from_der_content(content)
            }

            /// Parses the lowercase hex form used in the database and in logs.
            pub fn from_hex(hex_str: &str) -> Result<Self, SerialError> {
                parse_serial_hex(hex_str).map(Self)
            }

            /// The DER INTEGER content octets.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            /// Consumes the serial, returning the DER INTEGER content octets.
            pub fn into_bytes(self) -> Vec<u8> {
                self.0
            }

            /// Lowercase hex of the content octets (the stored form).
            pub fn to_hex(&self) -> String {
                hex::encode(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_hex())
            }
        }

        impl std::str::FromStr for $name {
            type Err = SerialError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::from_hex(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = String::deserialize(deserializer)?;
                Self::from_hex(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

serial_newtype!(
    /// A certificate serial number: the content octets of a positive DER INTEGER, shown and
    /// stored as lowercase hex. Unique across all issuers (database primary key).
    CertificateSerial
);

serial_newtype!(
    /// A time-stamp token serial number (TSTInfo.serialNumber), same rules as
    /// [`CertificateSerial`]. Unique across all nodes (database primary key).
    TimestampSerial
);

/// Which back end a [`crate::storage::Storage`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite file (the default).
    Sqlite,
    /// PostgreSQL server, shared by many nodes.
    Postgres,
}

impl Backend {
    /// Stable lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// What the CA persists before it asks the HSM to sign (write-ahead intent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCertificateIntent {
    /// Serial number chosen by the CA.
    pub serial: CertificateSerial,
    /// Name of the issuing CA.
    pub issuer: String,
    /// Certificate profile name.
    pub profile: String,
    /// Subject distinguished name (display form).
    pub subject: String,
    /// SHA-256 of the subject public key info DER.
    pub spki_sha256: [u8; 32],
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end (not before `not_before`).
    pub not_after: OffsetDateTime,
    /// When the intent was recorded.
    pub created_at: OffsetDateTime,
}

/// Life-cycle state of a certificate row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateState {
    /// Intent recorded, the signed certificate is not (yet) recorded.
    Intent,
    /// The signed certificate is recorded.
    Issued,
}

impl CertificateState {
    /// The value stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            CertificateState::Intent => "intent",
            CertificateState::Issued => "issued",
        }
    }

    /// Parses the value of the `state` column.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "intent" => Some(CertificateState::Intent),
            "issued" => Some(CertificateState::Issued),
            _ => None,
        }
    }
}

/// The status of an issued certificate, all an OCSP answer needs to know about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuedStatus {
    /// Issued and not revoked.
    Good,
    /// Revoked.
    Revoked {
        reason: RevocationReason,
        revoked_at: OffsetDateTime,
    },
}

/// A certificate as stored, with its revocation if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Serial number.
    pub serial: CertificateSerial,
    /// Name of the issuing CA.
    pub issuer: String,
    /// Certificate profile name.
    pub profile: String,
    /// Subject distinguished name (display form).
    pub subject: String,
    /// SHA-256 of the subject public key info DER.
    pub spki_sha256: [u8; 32],
    /// Validity start.
    pub not_before: OffsetDateTime,
    /// Validity end.
    pub not_after: OffsetDateTime,
    /// Intent or issued.
    pub state: CertificateState,
    /// The certificate DER, present once issued.
    pub der: Option<Vec<u8>>,
    /// When the intent was recorded.
    pub created_at: OffsetDateTime,
    /// When the signed certificate was recorded.
    pub issued_at: Option<OffsetDateTime>,
    /// The revocation, if the certificate is revoked.
    pub revocation: Option<RevocationRecord>,
}

// ---------------------------------------------------------------------------------------------
// Revocations
// ---------------------------------------------------------------------------------------------

/// RFC 5280 CRLReason codes that this QTSP uses. `certificateHold` (6) and `removeFromCRL` (8)
/// are deliberately absent: revocation is permanent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RevocationReason {
    /// unspecified (0)
    #[serde(rename = "unspecified")]
    Unspecified,
    /// keyCompromise (1)
    #[serde(rename = "keyCompromise")]
    KeyCompromise,
    /// cACompromise (2)
    #[serde(rename = "cACompromise")]
    CaCompromise,
    /// affiliationChanged (3)
    #[serde(rename = "affiliationChanged")]
    AffiliationChanged,
    /// superseded (4)
    #[serde(rename = "superseded")]
    Superseded,
    /// cessationOfOperation (5)
    #[serde(rename = "cessationOfOperation")]
    CessationOfOperation,
    /// privilegeWithdrawn (9)
    #[serde(rename = "privilegeWithdrawn")]
    PrivilegeWithdrawn,
    /// aACompromise (10)
    #[serde(rename = "aACompromise")]
    AaCompromise,
}

impl RevocationReason {
    /// Every supported reason, in code order.
    pub const ALL: [RevocationReason; 8] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise,
    ];

    /// The RFC 5280 CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::PrivilegeWithdrawn => 9,
            RevocationReason::AaCompromise => 10,
        }
    }

    /// Maps an RFC 5280 CRLReason code; `None` for 6 (certificateHold), 7 (unused),
    /// 8 (removeFromCRL) and anything above 10.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The RFC 5280 ASN.1 name, e.g. `keyCompromise`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
            RevocationReason::AaCompromise => "aACompromise",
        }
    }
}

impl fmt::Display for RevocationReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request to revoke an issued certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    /// Serial number of an issued certificate.
    pub serial: CertificateSerial,
    /// CRLReason.
    pub reason: RevocationReason,
    /// Revocation time (CRL revocationDate, OCSP revocationTime).
    pub revoked_at: OffsetDateTime,
    /// Invalidity date extension, when known.
    pub invalidity_date: Option<OffsetDateTime>,
}

/// A stored revocation. Never changes once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationRecord {
    /// Change number: 1, 2, 3... in commit order, without gaps. Nodes poll
    /// [`crate::storage::Storage::revocations_changed_since`] with the last id they saw.
    pub id: u64,
    /// Serial number of the revoked certificate.
    pub serial: CertificateSerial,
    /// Name of the issuing CA.
    pub issuer: String,
    /// CRLReason.
    pub reason: RevocationReason,
    /// Revocation time.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// Invalidity date, when known.
    #[serde(with = "time::serde::rfc3339::option")]
    pub invalidity_date: Option<OffsetDateTime>,
}

// ---------------------------------------------------------------------------------------------
// Audit journal
// ---------------------------------------------------------------------------------------------

/// Length of the genesis hash (32 zero bytes).
pub const AUDIT_GENESIS_HASH_LEN: usize = 32;

/// The last record of the audit journal, or the genesis head (seq 0, 32 zero bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditHead {
    /// Sequence number of the last record; 0 when the journal is empty.
    pub seq: u64,
    /// Hash of the last record; 32 zero bytes when the journal is empty.
    pub hash: Vec<u8>,
}

impl AuditHead {
    /// The head of an empty journal.
    pub fn genesis() -> Self {
        AuditHead {
            seq: 0,
            hash: vec![0; AUDIT_GENESIS_HASH_LEN],
        }
    }
}

/// What the audit module appends; the storage layer adds `seq` and `prev_hash` from the head it
/// handed to the builder closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditRecord {
    /// When the event was recorded.
    pub recorded_at: OffsetDateTime,
    /// Event type name.
    pub event_type: String,
    /// Who caused the event.
    pub actor: String,
    /// Canonical JSON payload, stored exactly as given.
    pub payload: String,
    /// Hash of this record, chained to the head's hash (computed by the audit module).
    pub hash: Vec<u8>,
}

/// A stored audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1, 2, 3... without gaps.
    pub seq: u64,
    /// When the event was recorded.
    pub recorded_at: OffsetDateTime,
    /// Event type name.
    pub event_type: String,
    /// Who caused the event.
    pub actor: String,
    /// Canonical JSON payload.
    pub payload: String,
    /// Hash of the previous record (32 zero bytes for seq 1).
    pub prev_hash: Vec<u8>,
    /// Hash of this record.
    pub hash: Vec<u8>,
}

/// A signed checkpoint over the journal up to and including `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditCheckpoint {
    /// Last sequence number covered (an existing audit record).
    pub seq: u64,
    /// When the checkpoint was made.
    pub recorded_at: OffsetDateTime,
    /// Signature bytes.
    pub signature: Vec<u8>,
    /// Identifier of the signing key.
    pub key_id: String,
    /// Signature algorithm name or OID.
    pub algorithm: String,
}

// ---------------------------------------------------------------------------------------------
// Time-stamps
// ---------------------------------------------------------------------------------------------

/// One batch's time-stamp rows as text, see [`crate::storage::Storage::timestamp_batch_lines`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLines {
    /// The batch's first serial.
    pub first_serial: TimestampSerial,
    /// Rows of the batch.
    pub rows: u64,
    /// One line per row, in batch order:
    /// `<serial hex> <genTime, unix microseconds> <policy OID> <hash OID> <imprint hex>\n`.
    pub lines: String,
}

/// Where a time-stamp row stands in the group commit that wrote it (rows written since schema
/// migration 3 name their batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchPlace {
    /// The batch's first serial (its `timestamp_batch` journal entry's `first_serial`).
    pub first_serial: TimestampSerial,
    /// The row's position in the batch, 0 for the first.
    pub position: u64,
}

/// Time-stamp rows counted by whether they name their batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimestampRowCounts {
    /// Rows written with their batch's first serial and their position in it.
    pub batched: u64,
    /// Rows written before the rows named their batch (schema migration 3).
    pub unbatched: u64,
}

/// One issued time-stamp token, as recorded by the TSA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampRecord {
    /// TSTInfo.serialNumber.
    pub serial: TimestampSerial,
    /// TSTInfo.genTime.
    pub gen_time: OffsetDateTime,
    /// TSA policy OID (dotted form). Shared, not copied, from token to token.
    pub policy_oid: std::sync::Arc<str>,
    /// Message imprint hash algorithm OID (dotted form), shared likewise.
    pub hash_alg_oid: std::sync::Arc<str>,
    /// Message imprint hash value.
    pub message_imprint: Vec<u8>,
    /// Authenticated requester, when known.
    pub requester: Option<String>,
    /// Node that issued the token, when several nodes share one database.
    pub node_id: Option<std::sync::Arc<str>>,
}

#[cfg(test)]
impl TimestampRecord {
    /// A record for unit tests: serial `serial_hex`, genTime `micros` after the epoch, SHA-256
    /// imprint `imprint`, a test policy, requester 127.0.0.1.
    #[allow(clippy::unwrap_used)]
    pub(crate) fn sample(serial_hex: &str, micros: i64, imprint: &[u8]) -> TimestampRecord {
        TimestampRecord {
            serial: TimestampSerial::from_hex(serial_hex).unwrap(),
            gen_time: OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000).unwrap(),
            policy_oid: "1.3.6.1.4.1.99999.1.3".into(),
            hash_alg_oid: "2.16.840.1.101.3.4.2.1".into(),
            message_imprint: imprint.to_vec(),
            requester: Some("127.0.0.1".into()),
            node_id: None,
        }
    }
}
