//! Certificate profiles: the TOML schema of `policies/*.toml` ([`parse`](fn@parse)) and the
//! typed [`CertificateProfile`] it becomes.
//!
//! The schema is strict (`deny_unknown_fields` everywhere); every rule that TOML types cannot
//! express is checked here and reported as
//! [`ProfileError::InvalidValue`](super::ProfileError::InvalidValue) naming the key.

use const_oid::ObjectIdentifier;
use x509_cert::der::flagset::FlagSet;
use x509_cert::ext::pkix::KeyUsages;

use crate::pki::KeyAlgorithm;
use crate::pki::name::SubjectKind;

mod parse;
mod qc_statements;
mod raw;
mod url;

pub use parse::parse;

/// The profile schema version this code reads.
pub const PROFILE_VERSION: u32 = 1;

/// Longest validity a profile may declare (30 years).
pub const MAX_PROFILE_VALIDITY_DAYS: i64 = 30 * 366;

/// What a certificate is for in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    /// A self-signed trust anchor.
    RootCa,
    /// A CA certified by another CA.
    SubordinateCa,
    /// A certificate that certifies nothing (signer, TSU, OCSP responder...).
    EndEntity,
}

impl CertificateKind {
    /// Whether certificates of this kind are CA certificates.
    #[must_use]
    pub fn is_ca(self) -> bool {
        matches!(self, Self::RootCa | Self::SubordinateCa)
    }
}

/// A key usage bit (RFC 5280 section 4.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUsageBit {
    /// `digitalSignature` (0).
    DigitalSignature,
    /// `nonRepudiation`, also called `contentCommitment` (1).
    NonRepudiation,
    /// `keyEncipherment` (2).
    KeyEncipherment,
    /// `dataEncipherment` (3).
    DataEncipherment,
    /// `keyAgreement` (4).
    KeyAgreement,
    /// `keyCertSign` (5).
    KeyCertSign,
    /// `cRLSign` (6).
    CrlSign,
}

impl KeyUsageBit {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "digitalSignature" => Self::DigitalSignature,
            "nonRepudiation" | "contentCommitment" => Self::NonRepudiation,
            "keyEncipherment" => Self::KeyEncipherment,
            "dataEncipherment" => Self::DataEncipherment,
            "keyAgreement" => Self::KeyAgreement,
            "keyCertSign" => Self::KeyCertSign,
            "cRLSign" => Self::CrlSign,
            _ => return None,
        })
    }

    /// The `x509-cert` flag.
    #[must_use]
    pub fn flag(self) -> KeyUsages {
        match self {
            Self::DigitalSignature => KeyUsages::DigitalSignature,
            Self::NonRepudiation => KeyUsages::NonRepudiation,
            Self::KeyEncipherment => KeyUsages::KeyEncipherment,
            Self::DataEncipherment => KeyUsages::DataEncipherment,
            Self::KeyAgreement => KeyUsages::KeyAgreement,
            Self::KeyCertSign => KeyUsages::KeyCertSign,
            Self::CrlSign => KeyUsages::CRLSign,
        }
    }
}

/// The keyUsage extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsageSpec {
    /// Marked critical.
    pub critical: bool,
    /// The bits set, in profile order.
    pub usages: Vec<KeyUsageBit>,
}

impl KeyUsageSpec {
    /// The bits as a flag set.
    #[must_use]
    pub fn flags(&self) -> FlagSet<KeyUsages> {
        self.usages
            .iter()
            .fold(FlagSet::default(), |acc, b| acc | b.flag())
    }

    /// Whether `bit` is set.
    #[must_use]
    pub fn has(&self, bit: KeyUsageBit) -> bool {
        self.usages.contains(&bit)
    }
}

/// The basicConstraints extension of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicConstraintsSpec {
    /// Marked critical.
    pub critical: bool,
    /// `cA`.
    pub ca: bool,
    /// `pathLenConstraint`.
    pub path_len: Option<u8>,
}

/// The extendedKeyUsage extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedKeyUsageSpec {
    /// Marked critical.
    pub critical: bool,
    /// `KeyPurposeId`s, in profile order.
    pub purposes: Vec<ObjectIdentifier>,
}

/// The certificatePolicies extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePoliciesSpec {
    /// Marked critical.
    pub critical: bool,
    /// Policy identifiers, in profile order, without qualifiers.
    pub policies: Vec<ObjectIdentifier>,
}

/// A URL with placeholders, rendered at issuance with [`super::UrlContext`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(String);

/// Placeholders a URL template may use.
pub const URL_PLACEHOLDERS: [&str; 3] = ["{public_base_url}", "{pds_base_url}", "{ca}"];

impl UrlTemplate {
    /// The template text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One PKI disclosure statement location of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdsTemplate {
    /// URL template (renders to an https URL).
    pub url: UrlTemplate,
    /// ISO 639-1 language code.
    pub language: String,
}

/// The qcStatements extension of a profile (EN 319 412-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QcStatementsSpec {
    /// `QcCompliance`.
    pub compliance: bool,
    /// `QcSSCD`.
    pub sscd: bool,
    /// `QcType` ([`oid::QCT_ESIGN`](crate::pki::oid::QCT_ESIGN),
    /// [`oid::QCT_ESEAL`](crate::pki::oid::QCT_ESEAL), [`oid::QCT_WEB`](crate::pki::oid::QCT_WEB)).
    pub qc_type: Option<ObjectIdentifier>,
    /// Semantics identifier of the `id-qcs-pkixQCSyntax-v2` statement.
    pub semantics: Option<ObjectIdentifier>,
    /// `QcRetentionPeriod` in years.
    pub retention_period_years: Option<u32>,
    /// `QcPDS` locations (empty: no statement).
    pub pds: Vec<PdsTemplate>,
}

/// Which URLs go into the certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlTemplates {
    /// cRLDistributionPoints (one fullName URI).
    pub crl_distribution_point: Option<UrlTemplate>,
    /// authorityInfoAccess id-ad-ocsp.
    pub ocsp: Option<UrlTemplate>,
    /// authorityInfoAccess id-ad-caIssuers.
    pub ca_issuers: Option<UrlTemplate>,
}

/// A typed certificate profile: everything that goes into a certificate except the subject,
/// its key, the serial, the dates and the issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateProfile {
    /// Profile name (`qualified-natural-person`).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Root CA, subordinate CA or end entity.
    pub kind: CertificateKind,
    /// The kind of subject name the profile takes.
    pub subject: SubjectKind,
    /// Public key types the subject may have.
    pub subject_keys: Vec<KeyAlgorithm>,
    /// Longest allowed `notAfter - notBefore`.
    pub validity: time::Duration,
    /// keyUsage.
    pub key_usage: KeyUsageSpec,
    /// basicConstraints, if present.
    pub basic_constraints: Option<BasicConstraintsSpec>,
    /// extendedKeyUsage, if present.
    pub extended_key_usage: Option<ExtendedKeyUsageSpec>,
    /// certificatePolicies, if present.
    pub certificate_policies: Option<CertificatePoliciesSpec>,
    /// qcStatements, if present.
    pub qc_statements: Option<QcStatementsSpec>,
    /// id-pkix-ocsp-nocheck.
    pub ocsp_nocheck: bool,
    /// URLs to include.
    pub urls: UrlTemplates,
}

#[cfg(test)]
mod tests;
