//! Online Certificate Status Protocol: the ASN.1 types of RFC 6960 section 4 (requests and
//! responses), owned.
//!
//! The OCSP module (RFC 6960 appendix B.1, `OCSP-2013-88`) is `DEFINITIONS EXPLICIT TAGS`: every
//! tag below is explicit unless the ASN.1 says `IMPLICIT`, which only `CertStatus` does. So
//! `ResponderID.byKey` is `a2 16 04 14 <20 octets>` (the OCTET STRING keeps its own tag inside),
//! while `CertStatus.good` is `80 00` (primitive, the NULL tag replaced) and `CertStatus.revoked`
//! is `a1 ..` (constructed, because `RevokedInfo` is a SEQUENCE). The tests pin every tag.
//!
//! RFC 9919 (the lightweight profile, which obsoletes RFC 5019) changes no type: it narrows
//! their use (one `Request` per request, SHA-1 or SHA-256 `CertID`s, request signatures that
//! responders may ignore); the choices are made in [`crate::ocsp`], not here.
//!
//! Notes on `der` 0.8 that shape these types:
//!
//! - `#[asn1(context_specific = "0", default = "...")]` (the `version [0] EXPLICIT Version
//!   DEFAULT v1` fields) omits a default value when encoding, as DER requires, but the decoder
//!   *accepts* `a0 03 02 01 00` written out. [`crate::ocsp::request`] rejects such requests by
//!   re-encoding and comparing, like the TSA does.
//! - A derived `Choice` takes each variant's tag from its attributes alone, and a
//!   context-specific tag is primitive unless the attribute says `constructed = "true"`. An
//!   EXPLICIT variant, or an IMPLICIT one around a SEQUENCE, without it is *encoded* with a
//!   primitive tag (`82 16 04 14 ..` for `byKey`, `81 ..` for `revoked`: not even valid BER) and
//!   refuses the right encoding. (Context-specific fields of a derived `Sequence` get the
//!   constructed bit right on their own.) The tests would catch a missing attribute.
//! - `der::asn1::GeneralizedTime` is the RFC 5280 profile (`YYYYMMDDHHMMSSZ`, no fraction), which
//!   is what RFC 9919 asks of `producedAt`, `thisUpdate`, `nextUpdate` and `revocationTime`. A
//!   response from another responder with fractional seconds would not decode; qtsp only
//!   decodes its own responses.

use der::Sequence;
use der::asn1::OctetString;
use spki::AlgorithmIdentifierOwned;
use x509_cert::serial_number::SerialNumber;

mod request;
mod response;
mod single_response;

pub use request::{OcspRequest, Request, Signature, TbsRequest};
pub use response::{
    BasicOcspResponse, OcspResponse, OcspResponseStatus, ResponderId, ResponseBytes, ResponseData,
};
pub use single_response::{CertStatus, RevokedInfo, SingleResponse};

/// `Version ::= INTEGER { v1(0) }`: the only value, and the default of every `version` field.
pub const OCSP_V1: u8 = 0;

fn default_v1() -> u8 {
    OCSP_V1
}

/// Identifies a certificate by its issuer's hashes and its serial number (RFC 6960 section
/// 4.1.1).
///
/// ```text
/// CertID ::= SEQUENCE {
///     hashAlgorithm       AlgorithmIdentifier,
///     issuerNameHash      OCTET STRING, -- Hash of issuer's DN
///     issuerKeyHash       OCTET STRING, -- Hash of issuer's public key
///     serialNumber        CertificateSerialNumber }
/// ```
///
/// `issuerNameHash` hashes the DER of the issuer's `Name` (the certificate's `issuer` field);
/// `issuerKeyHash` hashes the value of the issuer's `subjectPublicKey` BIT STRING, without the
/// tag, the length and the unused-bits octet.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// `hashAlgorithm`.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// `issuerNameHash`.
    pub issuer_name_hash: OctetString,
    /// `issuerKeyHash`.
    pub issuer_key_hash: OctetString,
    /// `serialNumber`.
    pub serial_number: SerialNumber,
}

#[cfg(test)]
mod tests {
    //! The helpers shared by the tests of every OCSP type, and the `CertID` test.
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::oid;
    use der::asn1::{GeneralizedTime, Null};
    use der::{Decode, Encode};

    pub(super) fn h(v: &impl Encode) -> String {
        hex::encode(v.to_der().unwrap())
    }

    pub(super) fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// `GeneralizedTime` of 2026-03-01 12:34:56 UTC.
    pub(super) fn t0() -> GeneralizedTime {
        GeneralizedTime::from_der(&unhex("180f 32303236303330313132333435365a")).unwrap()
    }
    pub(super) const T0: &str = "180f32303236303330313132333435365a";

    pub(super) fn sha1_cert_id(serial: &[u8]) -> CertId {
        CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ID_SHA1,
                parameters: Some(Null.into()),
            },
            issuer_name_hash: OctetString::new(vec![0x11; 20]).unwrap(),
            issuer_key_hash: OctetString::new(vec![0x22; 20]).unwrap(),
            serial_number: SerialNumber::new(serial).unwrap(),
        }
    }

    /// The DER of `sha1_cert_id(&[0x01, 0x02])`, as openssl writes a SHA-1 CertID (with NULL
    /// parameters).
    pub(super) fn sha1_cert_id_hex() -> String {
        format!(
            "303b 3009 06052b0e03021a 0500 0414{} 0414{} 02020102",
            "11".repeat(20),
            "22".repeat(20)
        )
        .replace(' ', "")
    }

    pub(super) fn round_trip<T>(value: &T, expected_hex: &str)
    where
        T: Encode + for<'a> Decode<'a> + PartialEq + std::fmt::Debug,
        for<'a> <T as Decode<'a>>::Error: std::fmt::Debug,
    {
        let expected = expected_hex.replace(' ', "");
        assert_eq!(h(value), expected);
        assert_eq!(&T::from_der(&unhex(&expected)).unwrap(), value);
    }

    #[test]
    fn cert_id_bytes() {
        round_trip(&sha1_cert_id(&[0x01, 0x02]), &sha1_cert_id_hex());
    }
}
