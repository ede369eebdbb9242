//! Checking an RFC 6960 `OCSPRequest` before anything is looked up or signed.
//!
//! [`check_request`] takes the DER of an OCSP request (the body of a POST, or the decoded path of
//! a GET) and either returns the few facts the responder needs ([`CheckedOcspRequest`]) or an
//! [`OcspRefusal`], whose [`OcspRefusal::to_response_der`] is the unsigned `OCSPResponse`
//! carrying only the status (RFC 6960 section 2.3: error responses are not signed).
//!
//! What is refused, and how:
//!
//! | problem                                                             | status             |
//! |---------------------------------------------------------------------|--------------------|
//! | more than [`MAX_REQUEST_LEN`] bytes                                 | `malformedRequest` |
//! | not DER, trailing bytes                                             | `malformedRequest` |
//! | explicit DEFAULT written out (`version [0] 0`, `critical FALSE`)    | `malformedRequest` |
//! | version other than v1 (0)                                           | `malformedRequest` |
//! | empty `requestList`, or more than [`MAX_REQUESTS`] entries          | `malformedRequest` |
//! | `CertID` hash other than SHA-1 or SHA-256, or with odd parameters   | `malformedRequest` |
//! | `issuerNameHash` / `issuerKeyHash` not the hash's output length     | `malformedRequest` |
//! | nonce not an OCTET STRING of 1 to [`MAX_NONCE_LEN`] octets          | `malformedRequest` |
//! | empty or repeated extensions, an unknown *critical* extension       | `malformedRequest` |
//! | HTTP body not labelled `application/ocsp-request`                   | `malformedRequest` |
//!
//! Choices, and why:
//!
//! - **SHA-1 `CertID`s are accepted.** A `CertID` hash only names a certificate; it is not a
//!   signature, and collisions in it buy an attacker nothing (the serial number and the issuer
//!   are public). openssl, and most clients, still hash `CertID`s with SHA-1 by default; RFC 9919
//!   has clients use SHA-1 or SHA-256, so both are answered.
//! - **Signed requests are accepted, and the signature is ignored.** The responder answers
//!   anyone about any certificate of its CAs (EN 319 411-2 wants the status public), so a
//!   signature would authorise nothing; RFC 9919, like RFC 5019, lets responders ignore it.
//!   Requests are never refused with `sigRequired`. The signature must still decode (it is part
//!   of the DER), and [`CheckedOcspRequest::signed`] says it was there.
//! - **At most [`MAX_REQUESTS`] certificates per request.** RFC 9919 clients send one; openssl
//!   sends one per `-cert`. Each entry costs a status lookup and a `SingleResponse` in a signed
//!   answer that cannot come from the pre-signed cache, so a 64 KiB request of ~700 `CertID`s
//!   would turn one cheap request into much work. 20 is far above what clients send.
//! - **Nonce of 1 to 128 octets** (RFC 9654, which obsoletes the 1..32 of RFC 8954): the
//!   extension's `extnValue` must hold the DER OCTET STRING `Nonce`; a raw value is refused.
//! - **Extensions**: RFC 6960 section 4.4 says unrecognised extensions are ignored unless
//!   critical. The nonce is the only one qtsp reads; the others (acceptable responses, preferred
//!   signature algorithms, service locator...) are ignored when non-critical, and a critical
//!   one is refused, since qtsp cannot honour it.
//! - **Non-canonical DER is refused**, because `der` 0.8 accepts an explicitly encoded DEFAULT
//!   on decoding: the decoded request is re-encoded and compared with the input.
//!
//! Nothing here panics, whatever the input.

use std::collections::BTreeSet;

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Decode, Encode};
use x509_cert::ext::Extension;

use crate::pki::ocsp::{OCSP_V1, OcspRequest};
use crate::pki::oid;

mod cert_id;
mod refusal;

use cert_id::check_cert_id;
pub use cert_id::{CertIdHash, RequestedCert};
pub use refusal::OcspRefusal;

/// Largest request accepted, in bytes. An unsigned request for one certificate is ~80 bytes,
/// ~110 with a nonce; 64 KiB leaves room for a signed request carrying certificates.
pub const MAX_REQUEST_LEN: usize = 64 * 1024;

/// Most `Request`s (certificates asked about) in one `OCSPRequest`; see the module notes.
pub const MAX_REQUESTS: usize = 20;

/// Longest nonce accepted, in octets (RFC 9654 section 2.1: `OCTET STRING (SIZE(1..128))`).
pub const MAX_NONCE_LEN: usize = 128;

/// The facts of an accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedOcspRequest {
    /// The certificates asked about, in request order: 1 to [`MAX_REQUESTS`].
    pub requests: Vec<RequestedCert>,
    /// The nonce (the content of the `Nonce` OCTET STRING, 1 to [`MAX_NONCE_LEN`] octets), to
    /// echo in the response.
    pub nonce: Option<Vec<u8>>,
    /// Whether the request carried `optionalSignature` (not verified; see the module notes).
    pub signed: bool,
}

/// Checks a DER `OCSPRequest`.
pub fn check_request(der: &[u8]) -> Result<CheckedOcspRequest, OcspRefusal> {
    if der.len() > MAX_REQUEST_LEN {
        return Err(OcspRefusal::TooLarge { len: der.len() });
    }
    // `from_der` refuses trailing bytes.
    let req = OcspRequest::from_der(der).map_err(OcspRefusal::Malformed)?;
    if req.to_der().map_err(OcspRefusal::Malformed)? != der {
        return Err(OcspRefusal::NotCanonical);
    }
    let tbs = &req.tbs_request;
    if tbs.version != OCSP_V1 {
        return Err(OcspRefusal::BadVersion(tbs.version));
    }
    let count = tbs.request_list.len();
    if count == 0 {
        return Err(OcspRefusal::NoRequests);
    }
    if count > MAX_REQUESTS {
        return Err(OcspRefusal::TooManyRequests { count });
    }

    let nonce = match &tbs.request_extensions {
        Some(extensions) => {
            check_extensions(extensions, "request", &[oid::ID_PKIX_OCSP_NONCE])?;
            extensions
                .iter()
                .find(|e| e.extn_id == oid::ID_PKIX_OCSP_NONCE)
                .map(nonce_of)
                .transpose()?
        }
        None => None,
    };

    let requests = tbs
        .request_list
        .iter()
        .map(|r| {
            if let Some(extensions) = &r.single_request_extensions {
                check_extensions(extensions, "single request", &[])?;
            }
            check_cert_id(&r.req_cert)
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(CheckedOcspRequest {
        requests,
        nonce,
        signed: req.optional_signature.is_some(),
    })
}

/// Non-empty, no extension twice, no critical extension outside `understood`.
fn check_extensions(
    extensions: &[Extension],
    place: &'static str,
    understood: &[ObjectIdentifier],
) -> Result<(), OcspRefusal> {
    if extensions.is_empty() {
        return Err(OcspRefusal::EmptyExtensions(place));
    }
    let mut seen = BTreeSet::new();
    for e in extensions {
        if !seen.insert(e.extn_id) {
            return Err(OcspRefusal::DuplicateExtension(e.extn_id));
        }
        if e.critical && !understood.contains(&e.extn_id) {
            return Err(OcspRefusal::UnsupportedCriticalExtension(e.extn_id));
        }
    }
    Ok(())
}

/// The nonce inside the extension: `extnValue` holds the DER of `Nonce ::= OCTET STRING`.
fn nonce_of(extension: &Extension) -> Result<Vec<u8>, OcspRefusal> {
    let nonce = OctetString::from_der(extension.extn_value.as_bytes())
        .map_err(|_| OcspRefusal::NonceEncoding)?;
    let len = nonce.as_bytes().len();
    if !(1..=MAX_NONCE_LEN).contains(&len) {
        return Err(OcspRefusal::NonceLength(len));
    }
    Ok(nonce.into_bytes().into_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::{CertId, OcspResponseStatus, Request, Signature, TbsRequest};
    use der::asn1::{Any, BitString, Null};
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::serial_number::SerialNumber;

    pub(super) fn cert_id(alg: CertIdHash, serial: u8) -> CertId {
        CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg.oid(),
                parameters: Some(Any::from(Null)),
            },
            issuer_name_hash: OctetString::new(vec![1; alg.output_len()]).unwrap(),
            issuer_key_hash: OctetString::new(vec![2; alg.output_len()]).unwrap(),
            serial_number: SerialNumber::new(&[serial]).unwrap(),
        }
    }

    pub(super) fn extension(id: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Extension {
        Extension {
            extn_id: id,
            critical,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    pub(super) fn nonce_extension(nonce: &[u8]) -> Extension {
        let value = OctetString::new(nonce.to_vec()).unwrap().to_der().unwrap();
        extension(oid::ID_PKIX_OCSP_NONCE, false, value)
    }

    pub(super) fn request(cert_ids: Vec<CertId>) -> OcspRequest {
        OcspRequest {
            tbs_request: TbsRequest {
                version: OCSP_V1,
                requestor_name: None,
                request_list: cert_ids
                    .into_iter()
                    .map(|req_cert| Request {
                        req_cert,
                        single_request_extensions: None,
                    })
                    .collect(),
                request_extensions: Some(vec![nonce_extension(&[0xaa; 16])]),
            },
            optional_signature: None,
        }
    }

    pub(super) fn refusal(req: &OcspRequest) -> OcspRefusal {
        check_request(&req.to_der().unwrap()).unwrap_err()
    }
    #[test]
    fn accepts_sha1_and_sha256_cert_ids_and_returns_their_facts() {
        let req = request(vec![
            cert_id(CertIdHash::Sha1, 5),
            cert_id(CertIdHash::Sha256, 6),
        ]);
        let checked = check_request(&req.to_der().unwrap()).unwrap();
        assert_eq!(checked.nonce, Some(vec![0xaa; 16]));
        assert!(!checked.signed);
        assert_eq!(checked.requests.len(), 2);
        for (r, (alg, serial)) in checked
            .requests
            .iter()
            .zip([(CertIdHash::Sha1, 5), (CertIdHash::Sha256, 6)])
        {
            assert_eq!(r.hash_alg, alg);
            assert_eq!(r.issuer_name_hash, vec![1; alg.output_len()]);
            assert_eq!(r.issuer_key_hash, vec![2; alg.output_len()]);
            assert_eq!(r.serial_number.as_bytes(), &[serial]);
            assert_eq!(r.cert_id, cert_id(alg, serial));
        }
    }

    #[test]
    fn request_count_is_1_to_max() {
        assert_eq!(refusal(&request(vec![])), OcspRefusal::NoRequests);
        let ids = |n: usize| {
            (0..n)
                .map(|i| cert_id(CertIdHash::Sha1, i as u8 + 1))
                .collect()
        };
        let checked = check_request(&request(ids(MAX_REQUESTS)).to_der().unwrap()).unwrap();
        assert_eq!(checked.requests.len(), MAX_REQUESTS);
        assert_eq!(
            refusal(&request(ids(MAX_REQUESTS + 1))),
            OcspRefusal::TooManyRequests {
                count: MAX_REQUESTS + 1
            }
        );
    }

    #[test]
    fn nonce_is_an_octet_string_of_1_to_128_octets() {
        for len in [1, 16, 32, 33, MAX_NONCE_LEN] {
            let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
            req.tbs_request.request_extensions = Some(vec![nonce_extension(&vec![7; len])]);
            let checked = check_request(&req.to_der().unwrap()).unwrap();
            assert_eq!(checked.nonce, Some(vec![7; len]), "{len}");
        }
        for len in [0, MAX_NONCE_LEN + 1, 1000] {
            let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
            req.tbs_request.request_extensions = Some(vec![nonce_extension(&vec![7; len])]);
            assert_eq!(refusal(&req), OcspRefusal::NonceLength(len));
        }
        // A raw value (no inner OCTET STRING), and an OCTET STRING with trailing bytes.
        for raw in [vec![0x01, 0x02, 0x03], vec![0x04, 0x01, 0xaa, 0x00]] {
            let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
            req.tbs_request.request_extensions =
                Some(vec![extension(oid::ID_PKIX_OCSP_NONCE, false, raw)]);
            assert_eq!(refusal(&req), OcspRefusal::NonceEncoding);
        }
        // No extensions at all: no nonce.
        let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
        req.tbs_request.request_extensions = None;
        assert_eq!(check_request(&req.to_der().unwrap()).unwrap().nonce, None);
        // A critical nonce is understood, so accepted.
        let mut nonce = nonce_extension(&[1; 32]);
        nonce.critical = true;
        req.tbs_request.request_extensions = Some(vec![nonce]);
        assert_eq!(
            check_request(&req.to_der().unwrap()).unwrap().nonce,
            Some(vec![1; 32])
        );
    }

    #[test]
    fn extensions_unknown_ignored_unless_critical_never_empty_or_repeated() {
        let other = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.4");
        let base = || request(vec![cert_id(CertIdHash::Sha1, 1)]);

        let mut req = base();
        req.tbs_request.request_extensions = Some(vec![
            extension(other, false, vec![0x30, 0x00]),
            nonce_extension(&[3; 20]),
        ]);
        assert_eq!(
            check_request(&req.to_der().unwrap()).unwrap().nonce,
            Some(vec![3; 20])
        );
        req.tbs_request.request_extensions = Some(vec![extension(other, true, vec![0x30, 0x00])]);
        assert_eq!(
            refusal(&req),
            OcspRefusal::UnsupportedCriticalExtension(other)
        );
        req.tbs_request.request_extensions =
            Some(vec![nonce_extension(&[1]), nonce_extension(&[2])]);
        assert_eq!(
            refusal(&req),
            OcspRefusal::DuplicateExtension(oid::ID_PKIX_OCSP_NONCE)
        );
        req.tbs_request.request_extensions = Some(vec![]);
        assert_eq!(refusal(&req), OcspRefusal::EmptyExtensions("request"));

        // singleRequestExtensions: the same rules, and no extension is understood there.
        let mut req = base();
        req.tbs_request.request_list[0].single_request_extensions =
            Some(vec![extension(other, false, vec![0x05, 0x00])]);
        check_request(&req.to_der().unwrap()).unwrap();
        req.tbs_request.request_list[0].single_request_extensions =
            Some(vec![nonce_extension(&[1])]);
        check_request(&req.to_der().unwrap()).unwrap();
        let mut critical_nonce = nonce_extension(&[1]);
        critical_nonce.critical = true;
        req.tbs_request.request_list[0].single_request_extensions = Some(vec![critical_nonce]);
        assert_eq!(refusal(&req).code(), "OCSP114");
        req.tbs_request.request_list[0].single_request_extensions = Some(vec![]);
        assert_eq!(
            refusal(&req),
            OcspRefusal::EmptyExtensions("single request")
        );
    }

    #[test]
    fn signed_requests_are_accepted_and_flagged() {
        let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
        req.optional_signature = Some(Signature {
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&[0x30, 0x00]).unwrap(),
            certs: None,
        });
        let checked = check_request(&req.to_der().unwrap()).unwrap();
        assert!(checked.signed);
    }

    #[test]
    fn refuses_other_versions_non_der_trailing_bytes_and_oversize() {
        let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
        req.tbs_request.version = 1;
        assert_eq!(refusal(&req), OcspRefusal::BadVersion(1));

        // version [0] v1 written out: decodes with der 0.8, refused as non-canonical.
        let req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
        let der = req.to_der().unwrap();
        let tbs = req.tbs_request.to_der().unwrap();
        let mut explicit_tbs = vec![0x30, tbs[1] + 5, 0xa0, 0x03, 0x02, 0x01, 0x00];
        explicit_tbs.extend_from_slice(&tbs[2..]);
        let mut explicit = vec![0x30, der[1] + 5];
        explicit.extend_from_slice(&explicit_tbs);
        assert_eq!(
            check_request(&explicit).unwrap_err(),
            OcspRefusal::NotCanonical
        );

        // critical FALSE written out in an extension.
        let mut req = request(vec![cert_id(CertIdHash::Sha1, 1)]);
        req.tbs_request.request_extensions = None;
        let plain = req.to_der().unwrap();
        let ext = hex::decode("a2123010300e06032a0304010100040405020000").unwrap();
        let mut with_false = plain.clone();
        with_false[1] += u8::try_from(ext.len()).unwrap();
        with_false[3] += u8::try_from(ext.len()).unwrap();
        with_false.extend_from_slice(&ext);
        assert_eq!(
            check_request(&with_false).unwrap_err(),
            OcspRefusal::NotCanonical
        );

        let mut trailing = der.clone();
        trailing.push(0);
        assert_eq!(check_request(&trailing).unwrap_err().code(), "OCSP102");

        let big = vec![0x30; MAX_REQUEST_LEN + 1];
        assert_eq!(
            check_request(&big).unwrap_err(),
            OcspRefusal::TooLarge {
                len: MAX_REQUEST_LEN + 1
            }
        );

        for garbage in [&[][..], &[0x30], &[0x30, 0x80], &[0xff; 16], &[0x30, 0x00]] {
            let r = check_request(garbage).unwrap_err();
            assert_eq!(r.status(), OcspResponseStatus::MalformedRequest);
        }
    }
}
