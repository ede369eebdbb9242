//! Certificate profiles and the certificate builder.
//!
//! * Profiles are data: `policies/*.toml`, embedded in the binary with `include_str!` and parsed
//!   once ([`builtin`]); [`parse`] reads any profile text (tests, operators' drafts). The schema is
//!   described in `policies/README.md`.
//! * [`prepare`] turns a [`TbsRequest`] into a [`PreparedTbs`]: the DER `TBSCertificate`, its
//!   signature algorithm and the digest the HSM signs. [`check()`] (run by `prepare`) is qtsp's own
//!   pre-issuance lint. [`assemble`] verifies the HSM's signature and returns the `Certificate`.

mod builder;
mod check;
mod error;
mod spec;

use std::sync::OnceLock;

pub use builder::{
    IssuerInfo, MAX_SERIAL_LEN, PreparedTbs, TbsRequest, UrlContext, assemble, prepare,
};
pub use check::check;
pub use error::{CheckFailure, ProfileError};
pub use spec::{
    BasicConstraintsSpec, CertificateKind, CertificatePoliciesSpec, CertificateProfile,
    ExtendedKeyUsageSpec, KeyUsageBit, KeyUsageSpec, MAX_PROFILE_VALIDITY_DAYS, PROFILE_VERSION,
    PdsTemplate, QcStatementsSpec, URL_PLACEHOLDERS, UrlTemplate, UrlTemplates, parse,
};

/// The profiles built into the binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProfileId {
    /// `policies/root-ca.toml`.
    RootCa,
    /// `policies/issuing-ca.toml`.
    IssuingCa,
    /// `policies/tsu.toml`.
    Tsu,
    /// `policies/ocsp-responder.toml`.
    OcspResponder,
    /// `policies/qualified-natural-person.toml`.
    QualifiedNaturalPerson,
    /// `policies/audit-checkpoint-signer.toml`.
    AuditCheckpointSigner,
}

impl ProfileId {
    /// Every built-in profile.
    pub const ALL: [ProfileId; 6] = [
        Self::RootCa,
        Self::IssuingCa,
        Self::Tsu,
        Self::OcspResponder,
        Self::QualifiedNaturalPerson,
        Self::AuditCheckpointSigner,
    ];

    /// The profile's name (and file stem).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::RootCa => "root-ca",
            Self::IssuingCa => "issuing-ca",
            Self::Tsu => "tsu",
            Self::OcspResponder => "ocsp-responder",
            Self::QualifiedNaturalPerson => "qualified-natural-person",
            Self::AuditCheckpointSigner => "audit-checkpoint-signer",
        }
    }

    /// The profile with this name.
    pub fn from_name(name: &str) -> Result<Self, ProfileError> {
        Self::ALL
            .into_iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| ProfileError::UnknownProfile(name.to_owned()))
    }

    /// The embedded TOML text.
    #[must_use]
    pub fn source(self) -> &'static str {
        match self {
            Self::RootCa => include_str!("../../policies/root-ca.toml"),
            Self::IssuingCa => include_str!("../../policies/issuing-ca.toml"),
            Self::Tsu => include_str!("../../policies/tsu.toml"),
            Self::OcspResponder => include_str!("../../policies/ocsp-responder.toml"),
            Self::QualifiedNaturalPerson => {
                include_str!("../../policies/qualified-natural-person.toml")
            }
            Self::AuditCheckpointSigner => {
                include_str!("../../policies/audit-checkpoint-signer.toml")
            }
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }
}

/// Parses every embedded profile (once per process).
fn all_builtin() -> &'static Result<Vec<CertificateProfile>, ProfileError> {
    static PROFILES: OnceLock<Result<Vec<CertificateProfile>, ProfileError>> = OnceLock::new();
    PROFILES.get_or_init(|| {
        ProfileId::ALL
            .into_iter()
            .map(|id| {
                let file = format!("policies/{}.toml", id.name());
                let profile = parse(&file, id.source())?;
                if profile.name != id.name() {
                    return Err(ProfileError::InvalidValue {
                        profile: file,
                        key: "name".into(),
                        problem: format!("{:?} differs from the file name", profile.name),
                    });
                }
                Ok(profile)
            })
            .collect()
    })
}

/// A built-in profile, parsed once from the TOML embedded in the binary.
pub fn builtin(id: ProfileId) -> Result<&'static CertificateProfile, ProfileError> {
    match all_builtin() {
        Ok(all) => all
            .get(id.index())
            .ok_or_else(|| ProfileError::UnknownProfile(id.name().to_owned())),
        Err(e) => Err(e.clone()),
    }
}

/// Parses every built-in profile; call once at start-up to fail fast.
pub fn load_builtin() -> Result<(), ProfileError> {
    all_builtin().as_ref().map(|_| ()).map_err(Clone::clone)
}

#[cfg(test)]
mod tests;
