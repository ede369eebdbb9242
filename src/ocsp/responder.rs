//! The OCSP responder: answers a checked request ([`super::request`]) with a `BasicOCSPResponse`
//! signed on demand by the delegated responder key in the HSM.
//!
//! One request, step by step:
//!
//! 1. [`check_request`] refuses what cannot be answered (`malformedRequest`, unsigned);
//! 2. each `CertID` is matched against the CAs this responder speaks for, by comparing its
//!    `issuerNameHash` / `issuerKeyHash` with the SHA-1 and SHA-256 hashes of each CA's subject
//!    `Name` DER and `subjectPublicKey` bits, computed once at start. A `CertID` of any other CA
//!    makes the whole answer `unauthorized` (RFC 6960 section 2.3), unsigned;
//! 3. the status of each serial is read from the database (the database is the truth): an
//!    issued certificate of that CA is `good` or `revoked` (time, and reason unless
//!    `unspecified`), anything else is `unknown`;
//! 4. the `ResponseData` is written by hand from pre-encoded parts (`super::encode`:
//!    responderID byKey, producedAt = thisUpdate = now truncated to the second, nextUpdate =
//!    thisUpdate + the configured period, ArchiveCutoff = the CA certificate's notBefore on every
//!    `SingleResponse` as EN 319 411-2 asks, the nonce echoed), its digest is signed in the HSM,
//!    and the `OCSPResponse` is assembled around it (the signature algorithm and the `certs`
//!    field with the responder certificate, encoded once).
//!
//! That the responder key matches its certificate is checked once, at start
//! ([`OcspResponder::check_key`]: a test response signed in the HSM and verified with the
//! certificate's public key). Until that check, or the verification of the first answer, has
//! passed, every answer's signature is verified before it leaves; after it, none is (a software
//! verification costs more CPU than the HSM's signature).
//!
//! A request without a nonce and with exactly one `CertID` is answered from the pre-signed
//! response cache ([`super::cache`]) when it holds a fresh answer made under the issuer's current
//! revocation mark, read from the database before each such answer; otherwise it is signed as
//! above (once for all concurrent requests of that `CertID`) and cached, and the refresher task
//! signs it again before it is due ([`super::presigned`]). The cached bytes are those the
//! signing produced (same producedAt and thisUpdate). Requests with a nonce or several
//! `CertID`s are always signed on demand.
//!
//! Nothing fails open: an error after the request check is `tryLater` (HSM, transient database
//! error) or `internalError`, as an unsigned `OCSPResponse`, never a panic.

use der::asn1::{Null, OctetString};
use der::{Decode, Encode};
use qtsp_hsm::{BatchSigner, Hsm, KeyRef};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::ExtendedKeyUsage;

use super::cache::{OcspCache, OcspCacheSettings};
use super::encode::{SingleParts, assemble, response_data};
use super::flight::Flights;
use super::request::{CheckedOcspRequest, RequestedCert, check_request};
use super::status::StatusReader;
use crate::clock::SharedClock;
use crate::pki::der_util::{from_x509_time, generalized_time, truncate_to_seconds};
use crate::pki::der_write::{tag, tlv};
use crate::pki::ocsp::{CertStatus, OcspResponse, OcspResponseStatus, ResponderId, RevokedInfo};
use crate::pki::{KeyAlgorithm, PkiError, SignatureAlgorithm, oid};
use crate::storage::{CertificateSerial, IssuedStatus, RevocationReason, Storage};
pub use authority::OcspAuthority;
use authority::{public_key_bits, sha1};

/// Default nextUpdate - thisUpdate of a response.
pub const DEFAULT_NEXT_UPDATE: time::Duration = time::Duration::hours(1);
/// Longest nextUpdate - thisUpdate accepted (a week).
pub const MAX_NEXT_UPDATE: time::Duration = time::Duration::days(7);

/// Why a response could not be made. Messages start with a stable code (`OCSP2nn`) or carry the
/// typed error of the layer that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error(transparent)]
    Hsm(#[from] qtsp_hsm::HsmError),
    #[error("OCSP201 the certificate cannot sign OCSP responses: {0}")]
    InvalidResponder(String),
    #[error("OCSP202 invalid CA certificate for the OCSP responder: {0}")]
    InvalidAuthority(String),
    #[error("OCSP203 the OCSP response signature does not verify with the responder key: {0}")]
    BadSignature(String),
    #[error("OCSP204 invalid OCSP response validity period: {0}")]
    Schedule(String),
}

/// The code of an `unauthorized` answer: a `CertID` names a CA this responder does not answer
/// for.
pub const UNAUTHORIZED_CODE: &str = "OCSP120";

/// The code of the `internalError` answer given while the responder certificate is not valid
/// (expired, or not yet valid): an answer signed with it would be rejected by relying parties.
pub const CERTIFICATE_NOT_VALID_CODE: &str = "OCSP205";

/// How long before the responder certificate expires readiness starts warning.
pub const CERTIFICATE_WARNING: time::Duration = time::Duration::days(14);

impl OcspError {
    /// The stable code (`OCSP2nn`, or the failed layer's).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Pki(e) => e.code(),
            Self::Storage(e) => e.code(),
            Self::Hsm(e) => e.code(),
            Self::InvalidResponder(_) => "OCSP201",
            Self::InvalidAuthority(_) => "OCSP202",
            Self::BadSignature(_) => "OCSP203",
            Self::Schedule(_) => "OCSP204",
        }
    }

    /// The `OCSPResponseStatus` the client gets: `tryLater` when waiting may help (the HSM, a
    /// transient database error), else `internalError`.
    #[must_use]
    pub fn status(&self) -> OcspResponseStatus {
        match self {
            Self::Hsm(_) => OcspResponseStatus::TryLater,
            Self::Storage(e) if e.is_transient() => OcspResponseStatus::TryLater,
            _ => OcspResponseStatus::InternalError,
        }
    }
}

/// The delegated responder: its HSM key and what is encoded once from its certificate.
#[derive(Debug)]
struct Signer {
    key: KeyRef,
    parts: SignerParts,
    /// Whether a signature made with `key` has verified with the certificate's public key (at
    /// start, or on an answer): from then on answers are not verified one by one.
    key_checked: AtomicBool,
}

impl Signer {
    fn new(key: KeyRef, certificate_der: &[u8]) -> Result<Self, OcspError> {
        Ok(Self {
            key,
            parts: Signer::new_parts(certificate_der)?,
            key_checked: AtomicBool::new(false),
        })
    }

    /// Verifies `signature` over `digest` unless the key is known to match the certificate;
    /// the first success makes it known.
    fn verify_until_checked(&self, digest: &[u8], signature: &[u8]) -> Result<(), OcspError> {
        if self.key_checked.load(Ordering::Acquire) {
            return Ok(());
        }
        self.parts
            .algorithm
            .verify_digest(&self.parts.spki_der, digest, signature)
            .map_err(|e| OcspError::BadSignature(e.to_string()))?;
        self.key_checked.store(true, Ordering::Release);
        Ok(())
    }
}

/// What is encoded once from the responder certificate.
#[derive(Debug)]
struct SignerParts {
    spki_der: Vec<u8>,
    algorithm: SignatureAlgorithm,
    /// DER of the `ResponderID` (byKey).
    responder_id_der: Vec<u8>,
    /// DER of the `signatureAlgorithm` AlgorithmIdentifier.
    algorithm_der: Vec<u8>,
    /// DER of `certs [0] EXPLICIT SEQUENCE OF Certificate` holding the responder certificate.
    certs_der: Vec<u8>,
    issuer_der: Vec<u8>,
    /// The responder certificate's validity period: relying parties reject answers signed
    /// outside it.
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
}

impl Signer {
    fn new_parts(certificate_der: &[u8]) -> Result<SignerParts, OcspError> {
        let invalid = |s: String| OcspError::InvalidResponder(s);
        let cert = Certificate::from_der(certificate_der)
            .map_err(|e| invalid(format!("not a DER certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let eku = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(|e| invalid(e.to_string()))?;
        if !eku.is_some_and(|(_, eku)| eku.0.contains(&oid::ID_KP_OCSP_SIGNING)) {
            return Err(invalid(
                "the certificate lacks extendedKeyUsage id-kp-OCSPSigning".into(),
            ));
        }
        let spki_der = tbs
            .subject_public_key_info()
            .to_der()
            .map_err(PkiError::encode("responder SubjectPublicKeyInfo"))?;
        let algorithm = SignatureAlgorithm::for_issuer_key(KeyAlgorithm::from_spki_der(&spki_der)?);
        let key_hash = sha1(&public_key_bits(&cert).map_err(invalid)?);
        let algorithm_der = algorithm
            .algorithm_identifier()
            .to_der()
            .map_err(PkiError::encode("signatureAlgorithm"))?;
        let certs_der = tlv(tag::CONTEXT_0, &tlv(tag::SEQUENCE, certificate_der));
        let responder_id = ResponderId::ByKey(
            OctetString::new(key_hash).map_err(PkiError::encode("ResponderID"))?,
        );
        Ok(SignerParts {
            spki_der,
            algorithm,
            responder_id_der: responder_id
                .to_der()
                .map_err(PkiError::encode("ResponderID"))?,
            algorithm_der,
            certs_der,
            issuer_der: tbs
                .issuer()
                .to_der()
                .map_err(PkiError::encode("responder issuer"))?,
            not_before: from_x509_time(&tbs.validity().not_before)?,
            not_after: from_x509_time(&tbs.validity().not_after)?,
        })
    }
}

/// What went out, for the HTTP layer (caching headers) and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspAnswer {
    /// DER `OCSPResponse`.
    pub der: Vec<u8>,
    /// Its `responseStatus`.
    pub status: OcspResponseStatus,
    /// thisUpdate and nextUpdate of a `successful` answer (the same for every `SingleResponse`).
    pub validity: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Whether the answer echoes a nonce (and so must not be cached).
    pub nonce: bool,
    /// The stable code of what went wrong, when the answer is not `successful`.
    pub error_code: Option<&'static str>,
}

impl OcspAnswer {
    /// An unsigned answer carrying only `status`.
    pub(crate) fn error(status: OcspResponseStatus, code: &'static str) -> Self {
        Self {
            // Three fixed octets: an encoding failure here cannot happen, and would leave an
            // empty body rather than a panic.
            der: OcspResponse::error(status).to_der().unwrap_or_default(),
            status,
            validity: None,
            nonce: false,
            error_code: Some(code),
        }
    }
}

#[derive(Debug)]
pub(super) struct Inner {
    pub(super) authorities: Vec<OcspAuthority>,
    signer: Signer,
    /// Concurrent answers' signatures go to the HSM together (see [`BatchSigner`]).
    batch: BatchSigner,
    pub(super) storage: Storage,
    pub(super) clock: SharedClock,
    pub(super) next_update: time::Duration,
    pub(super) cache: OcspCache,
    /// Signatures in flight for answers the cache does not hold yet.
    pub(super) flights: Flights,
    /// Per CA: one revocation mark change handled at a time ([`super::presigned`]).
    pub(super) advancing: Vec<tokio::sync::Mutex<()>>,
    /// Per CA: the last mark read from the database and when that read started; one read at a
    /// time, shared by every request that arrived before it started ([`super::presigned`]).
    pub(super) mark_reads: Vec<tokio::sync::Mutex<Option<(std::time::Instant, u64)>>>,
    /// Wakes the refresher: answers removed by a revocation wait to be signed again.
    pub(super) urgent: tokio::sync::Notify,
    /// Reads the statuses of answers signed on demand, concurrent ones in one query.
    statuses: StatusReader,
    /// Responses signed in the HSM since start.
    signatures: AtomicU64,
    /// Answers served without a signature since start: from the pre-signed cache, or sharing
    /// the signature of a concurrent request.
    pub(super) cache_hits: AtomicU64,
    /// Answers signed again by the refresher since start (also in `signatures`).
    pub(super) refreshes: AtomicU64,
    /// Set while requests are refused because the responder certificate is not valid, so that
    /// the episode is logged once, not per request.
    certificate_refusing: AtomicBool,
}

/// The OCSP responder of one delegated responder certificate, for the CAs that certified it.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct OcspResponder {
    pub(super) inner: Arc<Inner>,
}

impl OcspResponder {
    /// The responder whose key is `key` in the HSM and whose certificate is
    /// `responder_certificate_der`, answering for `authorities`, each of which must be the
    /// issuer of the responder certificate (a delegated responder speaks only for its CA,
    /// RFC 6960 section 4.2.2.2). `next_update` is nextUpdate - thisUpdate, from one second to
    /// [`MAX_NEXT_UPDATE`]. `cache` bounds and tunes the pre-signed response cache.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        authorities: Vec<OcspAuthority>,
        key: KeyRef,
        responder_certificate_der: &[u8],
        hsm: Hsm,
        storage: Storage,
        clock: SharedClock,
        next_update: time::Duration,
        cache: OcspCacheSettings,
    ) -> Result<Self, OcspError> {
        if next_update < time::Duration::SECOND || next_update > MAX_NEXT_UPDATE {
            return Err(OcspError::Schedule(format!(
                "nextUpdate period {next_update} is not between 1 s and {MAX_NEXT_UPDATE}"
            )));
        }
        let signer = Signer::new(key, responder_certificate_der)?;
        if authorities.is_empty() {
            return Err(OcspError::InvalidAuthority("no CA to answer for".into()));
        }
        if let Some(other) = authorities
            .iter()
            .find(|a| a.subject_der != signer.parts.issuer_der)
        {
            return Err(OcspError::InvalidAuthority(format!(
                "CA `{}` did not issue the responder certificate",
                other.name
            )));
        }
        let flights = Flights::new(cache.max_entries);
        let advancing = authorities
            .iter()
            .map(|_| tokio::sync::Mutex::new(()))
            .collect();
        let mark_reads = authorities
            .iter()
            .map(|_| tokio::sync::Mutex::new(None))
            .collect();
        let cache = OcspCache::new(cache, authorities.len());
        let batch = hsm.batch_signer(
            signer.key.clone(),
            crate::ca::sign_mechanism(signer.parts.algorithm),
        );
        let statuses = StatusReader::spawn(storage.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                authorities,
                signer,
                batch,
                storage,
                clock,
                next_update,
                cache,
                flights,
                advancing,
                mark_reads,
                urgent: tokio::sync::Notify::new(),
                statuses,
                signatures: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                refreshes: AtomicU64::new(0),
                certificate_refusing: AtomicBool::new(false),
            }),
        })
    }

    /// Whether the responder certificate is valid at `t`.
    #[must_use]
    pub fn certificate_valid_at(&self, t: time::OffsetDateTime) -> bool {
        let parts = &self.inner.signer.parts;
        parts.not_before <= t && t <= parts.not_after
    }

    /// Whether this responder can answer now, for readiness probes: `Err` when its certificate
    /// is not valid (every answer would be `internalError`), `Ok(Some(warning))` when it expires
    /// within [`CERTIFICATE_WARNING`].
    pub fn readiness(&self) -> Result<Option<String>, String> {
        let parts = &self.inner.signer.parts;
        let now = self.inner.clock.now();
        let name = self
            .inner
            .authorities
            .first()
            .map_or("?", |a| a.name.as_str());
        if !self.certificate_valid_at(now) {
            return Err(format!(
                "{CERTIFICATE_NOT_VALID_CODE} the OCSP responder certificate for `{name}` is not \
                 valid now (valid from {} to {})",
                parts.not_before, parts.not_after
            ));
        }
        let left = parts.not_after - now;
        Ok((left < CERTIFICATE_WARNING).then(|| {
            format!(
                "OCSP206 the OCSP responder certificate for `{name}` expires at {} (in {} days)",
                parts.not_after,
                left.whole_days()
            )
        }))
    }

    /// Responses signed in the HSM since start (for metrics and tests).
    #[must_use]
    pub fn signatures(&self) -> u64 {
        self.inner.signatures.load(Ordering::Relaxed)
    }

    /// Answers served without a signature since start: from the pre-signed cache, or sharing
    /// the signature of a concurrent request for the same `CertID`.
    #[must_use]
    pub fn cache_hits(&self) -> u64 {
        self.inner.cache_hits.load(Ordering::Relaxed)
    }

    /// Cached answers signed again ahead of requests by the refresher since start (counted in
    /// [`Self::signatures`] too).
    #[must_use]
    pub fn refreshes(&self) -> u64 {
        self.inner.refreshes.load(Ordering::Relaxed)
    }

    /// Answers held in the pre-signed cache now.
    #[must_use]
    pub fn cached_answers(&self) -> usize {
        self.inner.cache.len()
    }

    /// The names of the CAs answered for.
    pub fn authorities(&self) -> impl Iterator<Item = &str> {
        self.inner.authorities.iter().map(OcspAuthority::name)
    }

    /// Whether `cert` names one of the CAs answered for.
    #[must_use]
    pub fn speaks_for(&self, cert: &RequestedCert) -> bool {
        self.inner.authorities.iter().any(|a| a.names(cert))
    }

    /// nextUpdate - thisUpdate.
    #[must_use]
    pub fn next_update(&self) -> time::Duration {
        self.inner.next_update
    }

    /// Now, from the responder's clock.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.inner.clock.now()
    }

    /// Answers the DER `OCSPRequest` `request`: always an `OCSPResponse`, whatever happens.
    pub async fn respond(&self, request: &[u8]) -> OcspAnswer {
        let checked = match check_request(request) {
            Ok(checked) => checked,
            Err(refusal) => {
                tracing::debug!(%refusal, "OCSP request refused");
                return OcspAnswer::error(refusal.status(), refusal.code());
            }
        };
        self.respond_checked(&checked).await
    }

    /// Answers a checked request.
    pub async fn respond_checked(&self, request: &CheckedOcspRequest) -> OcspAnswer {
        if !self.certificate_valid_at(self.inner.clock.now()) {
            if !self.inner.certificate_refusing.swap(true, Ordering::AcqRel) {
                let parts = &self.inner.signer.parts;
                tracing::error!(
                    not_before = %parts.not_before,
                    not_after = %parts.not_after,
                    "{CERTIFICATE_NOT_VALID_CODE} OCSP requests answered internalError: the \
                     responder certificate is not valid at this time"
                );
            }
            return OcspAnswer::error(
                OcspResponseStatus::InternalError,
                CERTIFICATE_NOT_VALID_CODE,
            );
        }
        if self.inner.certificate_refusing.load(Ordering::Relaxed) {
            self.inner
                .certificate_refusing
                .store(false, Ordering::Relaxed);
        }
        let mut authorities = Vec::with_capacity(request.requests.len());
        let mut first = None;
        for cert in &request.requests {
            match self
                .inner
                .authorities
                .iter()
                .enumerate()
                .find(|(_, a)| a.names(cert))
            {
                Some((index, authority)) => {
                    first.get_or_insert((index, authority));
                    authorities.push(authority);
                }
                None => {
                    return OcspAnswer::error(OcspResponseStatus::Unauthorized, UNAUTHORIZED_CODE);
                }
            }
        }
        let answer = match (first, request.requests.as_slice()) {
            (Some((index, authority)), [cert])
                if request.nonce.is_none() && self.inner.cache.enabled() =>
            {
                self.cached(request, cert, index, authority).await
            }
            _ => self.sign(request, &authorities).await,
        };
        match answer {
            Ok(answer) => answer,
            Err(error) => {
                let status = error.status();
                tracing::error!(%error, status = status.name(), "cannot answer an OCSP request");
                OcspAnswer::error(status, error.code())
            }
        }
    }

    /// The status of `cert`, issued (or not) by `authority`, as the database has it now.
    async fn status(
        &self,
        authority: &OcspAuthority,
        cert: &RequestedCert,
    ) -> Result<CertStatus, OcspError> {
        // A serial storage cannot hold (zero, negative, over 20 octets) was never issued.
        let Ok(serial) = CertificateSerial::from_der_content(cert.serial_number.as_bytes()) else {
            return Ok(CertStatus::Unknown(Null));
        };
        Ok(
            match self
                .inner
                .statuses
                .issued_status(&authority.name, serial)
                .await?
            {
                None => CertStatus::Unknown(Null),
                Some(IssuedStatus::Good) => CertStatus::Good(Null),
                Some(IssuedStatus::Revoked { reason, revoked_at }) => {
                    CertStatus::Revoked(RevokedInfo {
                        revocation_time: generalized_time(revoked_at)?,
                        // Omitted for `unspecified`, as in the CRL (RFC 5280 section 5.3.1).
                        revocation_reason: (reason != RevocationReason::Unspecified)
                            .then(|| crate::crl::build::crl_reason(reason)),
                    })
                }
            },
        )
    }

    /// Signs a test response with the responder key in the HSM and verifies it with the
    /// responder certificate's public key: a key that does not match its certificate stops the
    /// responder at start (`OCSP203`) instead of reaching relying parties. After it, answers no
    /// longer verify their own signatures (see the module documentation).
    pub async fn check_key(&self) -> Result<(), OcspError> {
        let inner = &*self.inner;
        let signer = &inner.signer.parts;
        let produced_at = generalized_time(truncate_to_seconds(inner.clock.now()))?
            .to_der()
            .map_err(PkiError::encode("producedAt"))?;
        let tbs_der = response_data(&signer.responder_id_der, &produced_at, &[], &[], None);
        let digest = signer.algorithm.digest().digest(&tbs_der);
        let signature = inner.batch.sign(&digest).await?;
        let signature = signature.to_x509_bytes();
        signer
            .algorithm
            .verify_digest(&signer.spki_der, &digest, signature)
            .map_err(|e| {
                OcspError::BadSignature(format!(
                    "the responder key does not match its certificate: {e}"
                ))
            })?;
        let der = assemble(
            &signer.algorithm_der,
            &signer.certs_der,
            &tbs_der,
            signature,
        );
        OcspResponse::from_der(&der)
            .map_err(|e| OcspError::BadSignature(format!("the test response: {e}")))?;
        inner.signer.key_checked.store(true, Ordering::Release);
        Ok(())
    }

    /// Signs the answer to `request`, whose `CertID`s are of `authorities`, with each status
    /// read from the database now.
    pub(super) async fn sign(
        &self,
        request: &CheckedOcspRequest,
        authorities: &[&OcspAuthority],
    ) -> Result<OcspAnswer, OcspError> {
        let inner = &*self.inner;
        let signer = &inner.signer.parts;
        let now = truncate_to_seconds(inner.clock.now());
        let next = now + inner.next_update;
        let this_update = generalized_time(now)?
            .to_der()
            .map_err(PkiError::encode("thisUpdate"))?;
        let next_update = tlv(
            tag::CONTEXT_0,
            &generalized_time(next)?
                .to_der()
                .map_err(PkiError::encode("nextUpdate"))?,
        );
        let mut responses = Vec::with_capacity(request.requests.len());
        for (cert, authority) in request.requests.iter().zip(authorities) {
            responses.push(SingleParts {
                cert_id: cert.cert_id.to_der().map_err(PkiError::encode("CertID"))?,
                status: self
                    .status(authority, cert)
                    .await?
                    .to_der()
                    .map_err(PkiError::encode("CertStatus"))?,
                extensions: &authority.single_extensions_der,
            });
        }
        let tbs_der = response_data(
            &signer.responder_id_der,
            &this_update,
            &next_update,
            &responses,
            request.nonce.as_deref(),
        );
        let digest = signer.algorithm.digest().digest(&tbs_der);
        let signature = inner.batch.sign(&digest).await?;
        inner.signatures.fetch_add(1, Ordering::Relaxed);
        let signature = signature.to_x509_bytes();
        inner.signer.verify_until_checked(&digest, signature)?;
        Ok(OcspAnswer {
            der: assemble(
                &signer.algorithm_der,
                &signer.certs_der,
                &tbs_der,
                signature,
            ),
            status: OcspResponseStatus::Successful,
            validity: Some((now, next)),
            nonce: request.nonce.is_some(),
            error_code: None,
        })
    }
}

mod authority;
#[cfg(test)]
mod tests;
