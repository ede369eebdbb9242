//! The OCSP service of a node: one delegated responder per CA ([`OcspResponder`], each with its
//! own HSM key, certificate, pre-signed cache and batch signer), and the routing that hands each
//! request to the responder that speaks for its issuer.
//!
//! A delegated responder may sign only for the CA that certified it (RFC 6960 section 4.2.2.2)
//! and a `BasicOCSPResponse` has one signer, so a request is answered only when one responder
//! speaks for every `CertID` in it. A request naming a CA that is not ours, or CAs of two
//! different responders, gets `unauthorized` ("the server is not capable of responding
//! authoritatively", RFC 6960 section 2.3), unsigned. Clients following RFC 9919 send one
//! `CertID` per request, so the mixed case is rare and refusing it costs them nothing.

use std::sync::Arc;

use time::OffsetDateTime;

use super::request::{CheckedOcspRequest, RequestedCert, check_request};
use super::responder::{OcspAnswer, OcspError, OcspResponder, UNAUTHORIZED_CODE};
use crate::ca::RevocationObserver;
use crate::pki::ocsp::OcspResponseStatus;
use crate::storage::RevocationRecord;

/// The code of an `unauthorized` answer to a request whose `CertID`s name CAs of different
/// responders.
pub const MIXED_ISSUERS_CODE: &str = "OCSP121";

/// Who answers a request, by position in the responder list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// This responder speaks for every `CertID`.
    One(usize),
    /// Some `CertID` names a CA none of ours answers for.
    NotOurs,
    /// Every `CertID` names one of our CAs, but no single responder speaks for all of them.
    Mixed,
}

/// The responder, among `responders`, that speaks for every cert of `certs` (`speaks_for` tells
/// whether one speaks for one cert). The first cert picks the candidate; an empty list (which
/// [`check_request`] never lets through) is `NotOurs`.
fn route<T>(
    responders: &[T],
    certs: &[RequestedCert],
    speaks_for: impl Fn(&T, &RequestedCert) -> bool,
) -> Route {
    let Some((first, rest)) = certs.split_first() else {
        return Route::NotOurs;
    };
    let Some(index) = responders.iter().position(|r| speaks_for(r, first)) else {
        return Route::NotOurs;
    };
    let mut mixed = false;
    for cert in rest {
        if responders.get(index).is_some_and(|r| speaks_for(r, cert)) {
            continue;
        }
        if !responders.iter().any(|r| speaks_for(r, cert)) {
            return Route::NotOurs;
        }
        mixed = true;
    }
    if mixed {
        Route::Mixed
    } else {
        Route::One(index)
    }
}

/// A revocation committed by this process reaches the responder of its issuer (the others
/// ignore a CA they do not answer for).
impl RevocationObserver for OcspService {
    fn revoked<'a>(
        &'a self,
        record: &'a RevocationRecord,
        started: std::time::Instant,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            for responder in self.responders.iter() {
                responder.revoked(record, started).await;
            }
        })
    }
}

/// The responders of a node, one per CA. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OcspService {
    responders: Arc<[OcspResponder]>,
}

impl OcspService {
    /// The service of `responders`: at least one, and no CA answered for by two of them (a
    /// request must have exactly one responder that may sign for it).
    pub fn new(responders: Vec<OcspResponder>) -> Result<Self, OcspError> {
        if responders.is_empty() {
            return Err(OcspError::InvalidAuthority("no OCSP responder".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for name in responders.iter().flat_map(OcspResponder::authorities) {
            if !seen.insert(name) {
                return Err(OcspError::InvalidAuthority(format!(
                    "CA `{name}` has more than one OCSP responder"
                )));
            }
        }
        Ok(Self {
            responders: responders.into(),
        })
    }

    /// The responders, in the order given.
    #[must_use]
    pub fn responders(&self) -> &[OcspResponder] {
        &self.responders
    }

    /// Whether every responder can answer now, for readiness probes: `Err` listing the
    /// responders whose certificate is not valid, else `Ok` with the warnings of those whose
    /// certificate expires soon (see [`OcspResponder::readiness`]).
    pub fn readiness(&self) -> Result<Option<String>, String> {
        let (mut errors, mut warnings) = (Vec::new(), Vec::new());
        for responder in self.responders.iter() {
            match responder.readiness() {
                Ok(None) => {}
                Ok(Some(warning)) => warnings.push(warning),
                Err(error) => errors.push(error),
            }
        }
        if errors.is_empty() {
            Ok((!warnings.is_empty()).then(|| warnings.join("; ")))
        } else {
            Err(errors.join("; "))
        }
    }

    /// The responder answering for the CA `name`.
    #[must_use]
    pub fn responder_for(&self, name: &str) -> Option<&OcspResponder> {
        self.responders
            .iter()
            .find(|r| r.authorities().any(|a| a == name))
    }

    /// Responses signed in the HSM since start, by all responders.
    #[must_use]
    pub fn signatures(&self) -> u64 {
        self.responders.iter().map(OcspResponder::signatures).sum()
    }

    /// Answers served from the pre-signed caches since start, by all responders.
    #[must_use]
    pub fn cache_hits(&self) -> u64 {
        self.responders.iter().map(OcspResponder::cache_hits).sum()
    }

    /// Pre-signed answers signed again ahead of requests, by all responders' refreshers.
    #[must_use]
    pub fn refreshes(&self) -> u64 {
        self.responders.iter().map(OcspResponder::refreshes).sum()
    }

    /// Starts every responder's refresher; the task ends when all of them have stopped
    /// (`shutdown` resolved, each after the round under way).
    pub fn spawn_refresher(
        &self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> tokio::task::JoinHandle<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let refreshers: Vec<_> = self
            .responders
            .iter()
            .map(|responder| {
                let mut stopped = stopped.clone();
                responder.spawn_refresher(async move {
                    // An error means the sender is gone, which is a stop too.
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
            })
            .collect();
        tokio::spawn(async move {
            shutdown.await;
            // No receiver left means every refresher has already ended.
            let _ = stop.send(true);
            for refresher in refreshers {
                if let Err(error) = refresher.await {
                    tracing::error!(%error, "an OCSP refresher failed");
                }
            }
        })
    }

    /// Answers held in the pre-signed caches now, all responders together.
    #[must_use]
    pub fn cached_answers(&self) -> usize {
        self.responders
            .iter()
            .map(OcspResponder::cached_answers)
            .sum()
    }

    /// Now, from the responders' clock.
    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        match self.responders.first() {
            Some(responder) => responder.now(),
            // `new` refuses an empty list; the system clock would do if it ever were.
            None => OffsetDateTime::now_utc(),
        }
    }

    /// Answers the DER `OCSPRequest` `request`: always an `OCSPResponse`, whatever happens.
    pub async fn respond(&self, request: &[u8]) -> OcspAnswer {
        match check_request(request) {
            Ok(checked) => self.respond_checked(&checked).await,
            Err(refusal) => {
                tracing::debug!(%refusal, "OCSP request refused");
                OcspAnswer::error(refusal.status(), refusal.code())
            }
        }
    }

    /// Answers a checked request with the responder that speaks for all its `CertID`s.
    pub async fn respond_checked(&self, request: &CheckedOcspRequest) -> OcspAnswer {
        match route(
            &self.responders,
            &request.requests,
            OcspResponder::speaks_for,
        ) {
            Route::One(index) => match self.responders.get(index) {
                Some(responder) => responder.respond_checked(request).await,
                None => OcspAnswer::error(OcspResponseStatus::Unauthorized, UNAUTHORIZED_CODE),
            },
            Route::NotOurs => {
                OcspAnswer::error(OcspResponseStatus::Unauthorized, UNAUTHORIZED_CODE)
            }
            Route::Mixed => {
                tracing::debug!(
                    certs = request.requests.len(),
                    "OCSP request names CAs of different responders"
                );
                OcspAnswer::error(OcspResponseStatus::Unauthorized, MIXED_ISSUERS_CODE)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::crl::tests::{key, root};
    use crate::ocsp::OcspAuthority;
    use crate::ocsp::request::CertIdHash;
    use crate::pki::ocsp::CertId;
    use der::asn1::OctetString;
    use der::{Decode, Encode};
    use sha2::Digest as _;
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::Certificate;
    use x509_cert::serial_number::SerialNumber;

    /// A CA certificate (its own key) and the authority made of it.
    fn authority(seed: u8) -> (OcspAuthority, Vec<u8>) {
        let der = root(&key(seed));
        (
            OcspAuthority::from_certificate_der(&format!("ca-{seed}"), &der).unwrap(),
            der,
        )
    }

    /// A SHA-256 `CertID` of serial `serial` under the CA certificate `ca_der`.
    fn cert_of(ca_der: &[u8], serial: u8) -> RequestedCert {
        let ca = Certificate::from_der(ca_der).unwrap();
        let tbs = ca.tbs_certificate();
        let name_hash = sha2::Sha256::digest(tbs.subject().to_der().unwrap()).to_vec();
        let key_hash =
            sha2::Sha256::digest(tbs.subject_public_key_info().subject_public_key.raw_bytes())
                .to_vec();
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: CertIdHash::Sha256.oid(),
                parameters: None,
            },
            issuer_name_hash: OctetString::new(name_hash.clone()).unwrap(),
            issuer_key_hash: OctetString::new(key_hash.clone()).unwrap(),
            serial_number: SerialNumber::new(&[serial]).unwrap(),
        };
        RequestedCert {
            hash_alg: CertIdHash::Sha256,
            issuer_name_hash: name_hash,
            issuer_key_hash: key_hash,
            serial_number: cert_id.serial_number.clone(),
            cert_id,
        }
    }

    #[test]
    fn each_request_goes_to_the_responder_of_its_issuer() {
        let (a, a_der) = authority(11);
        let (b, b_der) = authority(12);
        let (_, stranger_der) = authority(13);
        // Responders as lists of the authorities they speak for.
        let responders = vec![vec![a], vec![b]];
        let speaks = |r: &Vec<OcspAuthority>, c: &RequestedCert| r.iter().any(|a| a.names(c));
        let route_of = |certs: &[RequestedCert]| route(&responders, certs, speaks);

        assert_eq!(route_of(&[cert_of(&a_der, 1)]), Route::One(0));
        assert_eq!(route_of(&[cert_of(&b_der, 1)]), Route::One(1));
        assert_eq!(
            route_of(&[cert_of(&b_der, 1), cert_of(&b_der, 2)]),
            Route::One(1)
        );
        // Two of our CAs with different responders: no one may sign for both.
        assert_eq!(
            route_of(&[cert_of(&a_der, 1), cert_of(&b_der, 2)]),
            Route::Mixed
        );
        assert_eq!(
            route_of(&[cert_of(&b_der, 1), cert_of(&a_der, 2)]),
            Route::Mixed
        );
        // A CA that is not ours, first, last or after a mix: unauthorized as not ours.
        assert_eq!(route_of(&[cert_of(&stranger_der, 1)]), Route::NotOurs);
        assert_eq!(
            route_of(&[cert_of(&a_der, 1), cert_of(&stranger_der, 2)]),
            Route::NotOurs
        );
        assert_eq!(
            route_of(&[
                cert_of(&a_der, 1),
                cert_of(&b_der, 2),
                cert_of(&stranger_der, 3)
            ]),
            Route::NotOurs
        );
        assert_eq!(route_of(&[]), Route::NotOurs);
    }

    #[test]
    fn a_responder_speaking_for_two_cas_answers_for_both() {
        let (a, a_der) = authority(21);
        let (b, b_der) = authority(22);
        let responders = vec![vec![a, b]];
        let speaks = |r: &Vec<OcspAuthority>, c: &RequestedCert| r.iter().any(|a| a.names(c));
        assert_eq!(
            route(
                &responders,
                &[cert_of(&a_der, 1), cert_of(&b_der, 1)],
                speaks
            ),
            Route::One(0)
        );
    }

    #[test]
    fn an_empty_service_is_refused() {
        let error = OcspService::new(Vec::new()).unwrap_err();
        assert!(error.to_string().starts_with("OCSP202"), "{error}");
    }
}
