//! The `CertID` of each certificate asked about: the hashes it may use ([`CertIdHash`]), its
//! check, and what the responder keeps of it ([`RequestedCert`]).

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use x509_cert::serial_number::SerialNumber;

use super::OcspRefusal;
use crate::pki::ocsp::CertId;
use crate::pki::oid;

/// Hash algorithms a `CertID` may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertIdHash {
    /// SHA-1: openssl's default, and RFC 9919's legacy choice.
    Sha1,
    /// SHA-256.
    Sha256,
}

impl CertIdHash {
    /// Both, in the order RFC 9919 lists them.
    pub const ALL: [Self; 2] = [Self::Sha1, Self::Sha256];

    /// The hash OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha1 => oid::ID_SHA1,
            Self::Sha256 => oid::ID_SHA256,
        }
    }

    /// The algorithm of a hash OID, if accepted in a `CertID`.
    #[must_use]
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.oid() == *oid)
    }

    /// Output length in bytes: the length of `issuerNameHash` and `issuerKeyHash`.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
        }
    }

    /// The name openssl prints (`sha1`, `sha256`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
        }
    }
}

/// One certificate the client asks about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedCert {
    /// The `CertID` hash algorithm.
    pub hash_alg: CertIdHash,
    /// `issuerNameHash`: `hash_alg` of the DER of the issuer's Name, `output_len()` bytes.
    pub issuer_name_hash: Vec<u8>,
    /// `issuerKeyHash`: `hash_alg` of the issuer's `subjectPublicKey` bits, `output_len()`
    /// bytes.
    pub issuer_key_hash: Vec<u8>,
    /// `serialNumber`.
    pub serial_number: SerialNumber,
    /// The `CertID` as received, to echo in the `SingleResponse` (RFC 6960 section 4.2.2.3
    /// matches responses to requests by it). Its DER is the request's, byte for byte.
    pub cert_id: CertId,
}

pub(super) fn check_cert_id(cert_id: &CertId) -> Result<RequestedCert, OcspRefusal> {
    let alg_id = &cert_id.hash_algorithm;
    let hash_alg =
        CertIdHash::from_oid(&alg_id.oid).ok_or(OcspRefusal::UnsupportedHash(alg_id.oid))?;
    if let Some(params) = &alg_id.parameters
        && params.decode_as::<Null>().is_err()
    {
        return Err(OcspRefusal::HashParameters(alg_id.oid));
    }
    for (field, hash) in [
        ("issuerNameHash", &cert_id.issuer_name_hash),
        ("issuerKeyHash", &cert_id.issuer_key_hash),
    ] {
        let len = hash.as_bytes().len();
        if len != hash_alg.output_len() {
            return Err(OcspRefusal::HashLength {
                field,
                alg: hash_alg.name(),
                len,
                expected: hash_alg.output_len(),
            });
        }
    }
    Ok(RequestedCert {
        hash_alg,
        issuer_name_hash: cert_id.issuer_name_hash.as_bytes().to_vec(),
        issuer_key_hash: cert_id.issuer_key_hash.as_bytes().to_vec(),
        serial_number: cert_id.serial_number.clone(),
        cert_id: cert_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::ocsp::request::check_request;
    use crate::ocsp::request::tests::{cert_id, refusal, request};
    use crate::pki::ocsp::OcspResponseStatus;
    use der::Encode;
    use der::asn1::{Any, OctetString};

    #[test]
    fn hash_parameters_may_be_absent_or_null_only() {
        let mut id = cert_id(CertIdHash::Sha256, 1);
        id.hash_algorithm.parameters = None;
        check_request(&request(vec![id.clone()]).to_der().unwrap()).unwrap();
        id.hash_algorithm.parameters = Some(Any::encode_from(&1u8).unwrap());
        let r = refusal(&request(vec![id]));
        assert_eq!(r.code(), "OCSP108");
    }

    #[test]
    fn refuses_other_hashes_and_wrong_hash_lengths() {
        for alg in [oid::ID_SHA384, oid::ID_MD5, oid::ID_SHA3_256] {
            let mut id = cert_id(CertIdHash::Sha256, 1);
            id.hash_algorithm.oid = alg;
            let r = refusal(&request(vec![id]));
            assert_eq!(r, OcspRefusal::UnsupportedHash(alg));
            assert_eq!(r.status(), OcspResponseStatus::MalformedRequest);
        }
        let mut id = cert_id(CertIdHash::Sha1, 1);
        id.issuer_key_hash = OctetString::new(vec![0; 32]).unwrap();
        let r = refusal(&request(vec![id]));
        assert_eq!(r.code(), "OCSP109");
        assert!(
            r.to_string()
                .contains("issuerKeyHash of 32 bytes, sha1 gives 20")
        );
        let mut id = cert_id(CertIdHash::Sha256, 1);
        id.issuer_name_hash = OctetString::new(vec![]).unwrap();
        assert_eq!(refusal(&request(vec![id])).code(), "OCSP109");
    }
}
