//! The certificate authority: serial numbers, then prepare (profile + pre-issuance checks) -> persist
//! the intent and its audit event -> sign in the HSM -> record the certificate and its audit event.
//!
//! Write ahead: nothing is signed before its intent is durable, so a crash between the HSM call and
//! the record leaves an `intent` row (and a `certificate_intent` audit record), never an unrecorded
//! certificate. The CA never sees HTTP; it reaches SQL only through `storage`.

pub mod ceremony;
mod error;
mod revoke;

pub use error::CaError;
pub use revoke::{
    RevocationObserver, RevocationService, RevokeError, parse_invalidity_date, parse_reason,
    parse_serial,
};

use crate::audit::{AuditEvent, Journal};
use crate::clock::SharedClock;
use crate::pki::{DigestAlgorithm, SignatureAlgorithm, SubjectName};
use crate::profile::{self, CertificateProfile, IssuerInfo, PreparedTbs, TbsRequest, UrlContext};
use crate::storage::{CertificateSerial, NewCertificateIntent, Storage};
use qtsp_hsm::{DigestAlg, Hsm, KeyRef, SignMechanism};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

/// Serial numbers carry this many bytes from the HSM's generator (RFC 5280 allows 20; CA/B Forum
/// wants at least 64 random bits; we keep 126 of 128).
pub const SERIAL_LEN: usize = 16;

/// One issuing key and its certificate, with what it needs to issue.
#[derive(Debug, Clone)]
pub struct CertificateAuthority {
    name: String,
    key: KeyRef,
    issuer: IssuerInfo,
    urls: UrlContext,
    hsm: Hsm,
    storage: Storage,
    journal: Journal,
    clock: SharedClock,
}

/// What a caller (the RA, the ceremony) asks for.
#[derive(Debug, Clone)]
pub struct IssuanceRequest<'a> {
    pub profile: &'a CertificateProfile,
    pub subject: &'a SubjectName,
    pub subject_spki_der: &'a [u8],
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    /// Who asked, for the journal.
    pub actor: &'a str,
}

/// A certificate ready to be signed: checked, with its serial. Single use: not `Clone`, made only by
/// [`CertificateAuthority::prepare`] and consumed by [`CertificateAuthority::issue`].
#[derive(Debug)]
pub struct PreparedIssuance {
    serial: CertificateSerial,
    tbs: PreparedTbs,
    intent: NewCertificateIntent,
    actor: String,
}

impl PreparedIssuance {
    pub fn serial(&self) -> &CertificateSerial {
        &self.serial
    }
}

/// A signed and recorded certificate.
#[derive(Debug, Clone)]
pub struct IssuedCertificate {
    pub serial: CertificateSerial,
    pub der: Vec<u8>,
}

impl CertificateAuthority {
    /// A CA whose key is `key` in the HSM and whose certificate is `certificate_der`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        key: KeyRef,
        certificate_der: &[u8],
        urls: UrlContext,
        hsm: Hsm,
        storage: Storage,
        journal: Journal,
        clock: SharedClock,
    ) -> Result<Self, CaError> {
        Ok(Self {
            name: name.to_owned(),
            key,
            issuer: IssuerInfo::from_certificate_der(certificate_der)?,
            urls,
            hsm,
            storage,
            journal,
            clock,
        })
    }

    /// A self-signing root in the making: the issuer is the subject itself.
    #[allow(clippy::too_many_arguments)]
    pub fn self_signing(
        name: &str,
        key: KeyRef,
        subject: &SubjectName,
        spki_der: &[u8],
        urls: UrlContext,
        hsm: Hsm,
        storage: Storage,
        journal: Journal,
        clock: SharedClock,
    ) -> Result<Self, CaError> {
        Ok(Self {
            name: name.to_owned(),
            key,
            issuer: IssuerInfo::self_signed(subject, spki_der)?,
            urls,
            hsm,
            storage,
            journal,
            clock,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new serial number: 16 bytes from the HSM, top bit cleared (positive) and the next one set
    /// (so that every serial has the same length).
    pub async fn new_serial(&self) -> Result<CertificateSerial, CaError> {
        let mut bytes = self.hsm.random(SERIAL_LEN).await?;
        if let Some(first) = bytes.first_mut() {
            *first = (*first & 0x7f) | 0x40;
        }
        Ok(CertificateSerial::from_unsigned_be(&bytes)?)
    }

    /// Builds and checks the certificate to be signed. Touches neither the database nor the key.
    pub async fn prepare(
        &self,
        request: &IssuanceRequest<'_>,
    ) -> Result<PreparedIssuance, CaError> {
        let serial = self.new_serial().await?;
        let tbs = profile::prepare(&TbsRequest {
            profile: request.profile,
            serial: serial.as_bytes(),
            subject: request.subject,
            subject_spki_der: request.subject_spki_der,
            issuer: &self.issuer,
            not_before: request.not_before,
            not_after: request.not_after,
            urls: &self.urls,
        })?;
        profile::check(&tbs)?;
        let intent = NewCertificateIntent {
            serial: serial.clone(),
            issuer: self.name.clone(),
            profile: request.profile.name.clone(),
            subject: request.subject.to_name()?.to_string(),
            spki_sha256: Sha256::digest(request.subject_spki_der).into(),
            not_before: request.not_before,
            not_after: request.not_after,
            created_at: self.clock.now(),
        };
        Ok(PreparedIssuance {
            serial,
            tbs,
            intent,
            actor: request.actor.to_owned(),
        })
    }

    /// Persists the intent and its audit event, signs in the HSM, then records the certificate and
    /// its audit event. A failed signature is journaled as `issuance_failed`.
    pub async fn issue(&self, prepared: PreparedIssuance) -> Result<IssuedCertificate, CaError> {
        let PreparedIssuance {
            serial,
            tbs,
            intent,
            actor,
        } = prepared;
        self.storage.insert_certificate_intent(&intent).await?;
        self.journal
            .append(
                &AuditEvent::CertificateIntent {
                    serial: serial.clone(),
                    issuer: self.name.clone(),
                    profile: intent.profile.clone(),
                    subject: intent.subject.clone(),
                },
                &actor,
            )
            .await?;
        let mechanism = sign_mechanism(tbs.signature_algorithm());
        let signature = match self
            .hsm
            .sign_digest(&self.key, mechanism, tbs.digest_to_sign())
            .await
        {
            Ok(signature) => signature,
            Err(error) => {
                let failure = AuditEvent::IssuanceFailed {
                    serial: serial.clone(),
                    issuer: self.name.clone(),
                    reason: error.to_string(),
                };
                if let Err(audit_error) = self.journal.append(&failure, &actor).await {
                    tracing::error!(%audit_error, serial = %serial, "cannot journal a failed issuance");
                }
                return Err(error.into());
            }
        };
        let der = profile::assemble(tbs, signature.to_x509_bytes())?;
        let issued_at = self.clock.now();
        self.storage
            .record_issued_certificate(&serial, &der, issued_at)
            .await?;
        self.journal
            .append(
                &AuditEvent::CertificateIssued {
                    serial: serial.clone(),
                    issuer: self.name.clone(),
                    certificate_sha256: Sha256::digest(&der).into(),
                },
                &actor,
            )
            .await?;
        Ok(IssuedCertificate { serial, der })
    }
}

/// The HSM mechanism that makes signatures of `algorithm` (the hash is computed in software;
/// the CA, the CRL issuer, the TSA and the OCSP responder all sign this way).
pub(crate) fn sign_mechanism(algorithm: SignatureAlgorithm) -> SignMechanism {
    let digest = match algorithm.digest() {
        DigestAlgorithm::Sha256 => DigestAlg::Sha256,
        DigestAlgorithm::Sha384 => DigestAlg::Sha384,
        DigestAlgorithm::Sha512 => DigestAlg::Sha512,
    };
    if algorithm.is_ecdsa() {
        SignMechanism::Ecdsa(digest)
    } else {
        SignMechanism::RsaPkcs1v15(digest)
    }
}
