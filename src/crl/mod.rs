//! CRLs (RFC 5280 section 5) of the CAs of the hierarchy, built from the revocations in storage.
//!
//! Publishing one CRL: read the CA's revocations -> allocate the next cRLNumber (durable, so
//! numbers only increase across restarts and nodes) -> build the `TBSCertList` ([`build`]) ->
//! sign its hash in the HSM -> verify the signature with the CA public key and assemble the
//! `CertificateList` -> journal `crl_published` -> release. The CRL never touches HTTP;
//! [`CrlService`] keeps the last CRL of each CA; its publisher task publishes a new one when the
//! refresh interval is about to end and promptly after a revocation (EN 319 411-2 via
//! EN 319 411-1: a CRL on every revocation and on a schedule), and a request rebuilds it itself
//! when the CA revoked something since or the CRL is older than the refresh interval.

pub mod build;
mod publisher;
mod service;

pub use build::{CrlContent, CrlIssuerInfo, PreparedCrl, assemble, prepare};
pub use service::CrlService;

use qtsp_hsm::{Hsm, KeyRef};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::audit::{AuditEvent, Journal};
use crate::clock::SharedClock;
use crate::pki::der_util::truncate_to_seconds;
use crate::storage::Storage;

/// Default nextUpdate - thisUpdate.
pub const DEFAULT_NEXT_UPDATE: time::Duration = time::Duration::hours(24);
/// Default age at which a new CRL is published even without a new revocation.
pub const DEFAULT_REFRESH: time::Duration = time::Duration::hours(1);
/// Longest nextUpdate - thisUpdate accepted (a week).
pub const MAX_NEXT_UPDATE: time::Duration = time::Duration::days(7);

/// Why a CRL could not be built or published. Messages start with a stable code (`CRL0xx`) or
/// carry the typed error of the layer that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlError {
    #[error(transparent)]
    Pki(#[from] crate::pki::PkiError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Hsm(#[from] qtsp_hsm::HsmError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("CRL001 the certificate cannot sign CRLs: {0}")]
    InvalidIssuer(String),
    #[error("CRL002 invalid CRL: {0}")]
    Invalid(String),
    #[error("CRL003 the CRL signature does not verify with the CA key: {0}")]
    BadSignature(String),
    #[error("CRL004 invalid CRL schedule: {0}")]
    Schedule(String),
}

/// How often CRLs are published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSchedule {
    next_update: time::Duration,
    refresh: time::Duration,
}

impl Default for CrlSchedule {
    fn default() -> Self {
        Self {
            next_update: DEFAULT_NEXT_UPDATE,
            refresh: DEFAULT_REFRESH,
        }
    }
}

impl CrlSchedule {
    /// `next_update`: nextUpdate - thisUpdate, from one second to [`MAX_NEXT_UPDATE`];
    /// `refresh`: the age at which a served CRL is rebuilt, positive and shorter than
    /// `next_update` (so a served CRL is never past its nextUpdate).
    pub fn new(next_update: time::Duration, refresh: time::Duration) -> Result<Self, CrlError> {
        if next_update < time::Duration::SECOND || next_update > MAX_NEXT_UPDATE {
            return Err(CrlError::Schedule(format!(
                "nextUpdate period {next_update} is not between 1 s and {MAX_NEXT_UPDATE}"
            )));
        }
        if refresh <= time::Duration::ZERO || refresh >= next_update {
            return Err(CrlError::Schedule(format!(
                "refresh interval {refresh} is not positive and shorter than {next_update}"
            )));
        }
        Ok(Self {
            next_update,
            refresh,
        })
    }

    /// From the `[crl]` configuration.
    pub fn from_settings(settings: &crate::config::CrlSettings) -> Result<Self, CrlError> {
        let convert = |d: std::time::Duration| {
            time::Duration::try_from(d).map_err(|e| CrlError::Schedule(e.to_string()))
        };
        Self::new(convert(settings.next_update)?, convert(settings.refresh)?)
    }

    #[must_use]
    pub fn next_update(&self) -> time::Duration {
        self.next_update
    }

    #[must_use]
    pub fn refresh(&self) -> time::Duration {
        self.refresh
    }
}

/// A signed CRL, as released.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedCrl {
    /// DER `CertificateList`.
    pub der: Vec<u8>,
    /// cRLNumber.
    pub number: u64,
    pub this_update: OffsetDateTime,
    pub next_update: OffsetDateTime,
    /// Number of entries.
    pub revoked: usize,
    /// The highest revocation id of this CA read before the revocations were listed: the CRL
    /// holds every revocation up to it (see [`Storage::last_revocation_id_of`]).
    pub revocation_mark: u64,
}

/// One CA's CRL signer: its HSM key and certificate, with what it needs to publish.
#[derive(Debug, Clone)]
pub struct CrlIssuer {
    name: String,
    key: KeyRef,
    info: CrlIssuerInfo,
    hsm: Hsm,
    storage: Storage,
    journal: Journal,
    clock: SharedClock,
    schedule: CrlSchedule,
}

impl CrlIssuer {
    /// The CRL signer of the CA `name` (its revocations are stored under that name), whose key is
    /// `key` in the HSM and whose certificate is `certificate_der`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        key: KeyRef,
        certificate_der: &[u8],
        hsm: Hsm,
        storage: Storage,
        journal: Journal,
        clock: SharedClock,
        schedule: CrlSchedule,
    ) -> Result<Self, CrlError> {
        Ok(Self {
            name: name.to_owned(),
            key,
            info: CrlIssuerInfo::from_certificate_der(certificate_der)?,
            hsm,
            storage,
            journal,
            clock,
            schedule,
        })
    }

    /// The CA name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The schedule CRLs are published on.
    #[must_use]
    pub fn schedule(&self) -> CrlSchedule {
        self.schedule
    }

    /// Builds, signs, verifies and journals a new CRL with every revocation of this CA.
    pub async fn publish(&self, actor: &str) -> Result<PublishedCrl, CrlError> {
        let revocation_mark = self.storage.last_revocation_id_of(&self.name).await?;
        let revocations = self.storage.revocations(&self.name).await?;
        let this_update = truncate_to_seconds(self.clock.now());
        let next_update = this_update + self.schedule.next_update;
        let number = self
            .storage
            .next_crl_number(&self.name, this_update)
            .await?;
        let prepared = prepare(&CrlContent {
            issuer: &self.info,
            crl_number: number,
            this_update,
            next_update,
            revocations: &revocations,
        })?;
        let signature = self
            .hsm
            .sign_digest(
                &self.key,
                crate::ca::sign_mechanism(prepared.signature_algorithm()),
                prepared.digest_to_sign(),
            )
            .await?;
        let der = assemble(prepared, signature.to_x509_bytes())?;
        self.journal
            .append(
                &AuditEvent::CrlPublished {
                    issuer: self.name.clone(),
                    crl_number: number,
                    this_update,
                    next_update,
                    revoked: revocations.len() as u64,
                    crl_sha256: Sha256::digest(&der).into(),
                },
                actor,
            )
            .await?;
        tracing::info!(
            ca = %self.name,
            crl_number = number,
            revoked = revocations.len(),
            "CRL published"
        );
        Ok(PublishedCrl {
            der,
            number,
            this_update,
            next_update,
            revoked: revocations.len(),
            revocation_mark,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests;
