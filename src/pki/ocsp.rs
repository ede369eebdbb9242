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
//!   constructed bit right on their own.) The tests below would catch a missing attribute.
//! - `der::asn1::GeneralizedTime` is the RFC 5280 profile (`YYYYMMDDHHMMSSZ`, no fraction), which
//!   is what RFC 9919 asks of `producedAt`, `thisUpdate`, `nextUpdate` and `revocationTime`. A
//!   response from another responder with fractional seconds would not decode; qtsp only
//!   decodes its own responses.

use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Choice, Enumerated, Sequence};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

/// `Version ::= INTEGER { v1(0) }`: the only value, and the default of every `version` field.
pub const OCSP_V1: u8 = 0;

fn default_v1() -> u8 {
    OCSP_V1
}

/// An OCSP request (RFC 6960 section 4.1.1).
///
/// ```text
/// OCSPRequest ::= SEQUENCE {
///     tbsRequest                  TBSRequest,
///     optionalSignature   [0]     EXPLICIT Signature OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspRequest {
    /// `tbsRequest`.
    pub tbs_request: TbsRequest,
    /// `optionalSignature`.
    #[asn1(context_specific = "0", optional = "true")]
    pub optional_signature: Option<Signature>,
}

/// The signed part of an OCSP request (RFC 6960 section 4.1.1).
///
/// ```text
/// TBSRequest ::= SEQUENCE {
///     version             [0]     EXPLICIT Version DEFAULT v1,
///     requestorName       [1]     EXPLICIT GeneralName OPTIONAL,
///     requestList                 SEQUENCE OF Request,
///     requestExtensions   [2]     EXPLICIT Extensions OPTIONAL }
///
/// Version ::= INTEGER { v1(0) }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TbsRequest {
    /// `version`, omitted from the encoding when v1 (0). Kept as a number so that a wrong
    /// version can be told apart from malformed DER.
    #[asn1(context_specific = "0", default = "default_v1")]
    pub version: u8,
    /// `requestorName`.
    #[asn1(context_specific = "1", optional = "true")]
    pub requestor_name: Option<GeneralName>,
    /// `requestList`.
    pub request_list: Vec<Request>,
    /// `requestExtensions` (the nonce lives here).
    #[asn1(context_specific = "2", optional = "true")]
    pub request_extensions: Option<Vec<Extension>>,
}

/// The signature of a signed request (RFC 6960 section 4.1.1).
///
/// ```text
/// Signature ::= SEQUENCE {
///     signatureAlgorithm      AlgorithmIdentifier,
///     signature               BIT STRING,
///     certs               [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Signature {
    /// `signatureAlgorithm`.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// `signature`.
    pub signature: BitString,
    /// `certs`.
    #[asn1(context_specific = "0", optional = "true")]
    pub certs: Option<Vec<Certificate>>,
}

/// One certificate asked about (RFC 6960 section 4.1.1).
///
/// ```text
/// Request ::= SEQUENCE {
///     reqCert                     CertID,
///     singleRequestExtensions     [0] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct Request {
    /// `reqCert`.
    pub req_cert: CertId,
    /// `singleRequestExtensions`.
    #[asn1(context_specific = "0", optional = "true")]
    pub single_request_extensions: Option<Vec<Extension>>,
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

/// An OCSP response (RFC 6960 section 4.2.1).
///
/// ```text
/// OCSPResponse ::= SEQUENCE {
///    responseStatus         OCSPResponseStatus,
///    responseBytes          [0] EXPLICIT ResponseBytes OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct OcspResponse {
    /// `responseStatus`.
    pub response_status: OcspResponseStatus,
    /// `responseBytes`: present only when the status is `successful`.
    #[asn1(context_specific = "0", optional = "true")]
    pub response_bytes: Option<ResponseBytes>,
}

impl OcspResponse {
    /// The response that carries only an error status: no `responseBytes`, so nothing to sign
    /// (RFC 6960 section 2.3).
    #[must_use]
    pub fn error(status: OcspResponseStatus) -> Self {
        Self {
            response_status: status,
            response_bytes: None,
        }
    }
}

/// The processing status of a request (RFC 6960 section 4.2.1).
///
/// ```text
/// OCSPResponseStatus ::= ENUMERATED {
///     successful            (0),  -- Response has valid confirmations
///     malformedRequest      (1),  -- Illegal confirmation request
///     internalError         (2),  -- Internal error in issuer
///     tryLater              (3),  -- Try again later
///                                 -- (4) is not used
///     sigRequired           (5),  -- Must sign the request
///     unauthorized          (6)   -- Request unauthorized
/// }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enumerated)]
#[repr(u8)]
pub enum OcspResponseStatus {
    /// `successful`: `responseBytes` holds the answer.
    Successful = 0,
    /// `malformedRequest`: the request does not conform to the OCSP syntax.
    MalformedRequest = 1,
    /// `internalError`: the responder reached an inconsistent internal state.
    InternalError = 2,
    /// `tryLater`: the responder cannot answer now.
    TryLater = 3,
    /// `sigRequired`: the request must be signed.
    SigRequired = 5,
    /// `unauthorized`: the client may not query this responder.
    Unauthorized = 6,
}

impl OcspResponseStatus {
    /// The ASN.1 name, as RFC 6960 and openssl spell it (`malformedRequest`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Successful => "successful",
            Self::MalformedRequest => "malformedRequest",
            Self::InternalError => "internalError",
            Self::TryLater => "tryLater",
            Self::SigRequired => "sigRequired",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// The typed answer inside a successful response (RFC 6960 section 4.2.1).
///
/// ```text
/// ResponseBytes ::=       SEQUENCE {
///     responseType   OBJECT IDENTIFIER,
///     response       OCTET STRING }
/// ```
///
/// For `id-pkix-ocsp-basic`, `response` holds the DER of a [`BasicOcspResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseBytes {
    /// `responseType`.
    pub response_type: ObjectIdentifier,
    /// `response`.
    pub response: OctetString,
}

/// The basic response type (RFC 6960 section 4.2.1).
///
/// ```text
/// BasicOCSPResponse       ::= SEQUENCE {
///    tbsResponseData      ResponseData,
///    signatureAlgorithm   AlgorithmIdentifier,
///    signature            BIT STRING,
///    certs            [0] EXPLICIT SEQUENCE OF Certificate OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct BasicOcspResponse {
    /// `tbsResponseData`: the signed part.
    pub tbs_response_data: ResponseData,
    /// `signatureAlgorithm`.
    pub signature_algorithm: AlgorithmIdentifierOwned,
    /// `signature`, over the DER of `tbsResponseData`.
    pub signature: BitString,
    /// `certs`: the delegated responder's certificate, so that clients can check it.
    #[asn1(context_specific = "0", optional = "true")]
    pub certs: Option<Vec<Certificate>>,
}

/// The signed part of a basic response (RFC 6960 section 4.2.1).
///
/// ```text
/// ResponseData ::= SEQUENCE {
///    version              [0] EXPLICIT Version DEFAULT v1,
///    responderID              ResponderID,
///    producedAt               GeneralizedTime,
///    responses                SEQUENCE OF SingleResponse,
///    responseExtensions   [1] EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct ResponseData {
    /// `version`, omitted from the encoding when v1 (0).
    #[asn1(context_specific = "0", default = "default_v1")]
    pub version: u8,
    /// `responderID`.
    pub responder_id: ResponderId,
    /// `producedAt`.
    pub produced_at: GeneralizedTime,
    /// `responses`.
    pub responses: Vec<SingleResponse>,
    /// `responseExtensions` (the echoed nonce lives here).
    #[asn1(context_specific = "1", optional = "true")]
    pub response_extensions: Option<Vec<Extension>>,
}

/// Who signed the response (RFC 6960 section 4.2.1).
///
/// ```text
/// ResponderID ::= CHOICE {
///    byName   [1] Name,
///    byKey    [2] KeyHash }
///
/// KeyHash ::= OCTET STRING -- SHA-1 hash of responder's public key
///                          -- (excluding the tag and length fields)
/// ```
///
/// Both tags are explicit (the module's default): `byName` is `a1 .. 30 ..`, `byKey` is
/// `a2 16 04 14 ..`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum ResponderId {
    /// `byName`: the responder certificate's subject.
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", constructed = "true")]
    ByName(Name),
    /// `byKey`: SHA-1 of the responder's `subjectPublicKey` BIT STRING value.
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", constructed = "true")]
    ByKey(OctetString),
}

/// The status of one certificate (RFC 6960 section 4.2.1).
///
/// ```text
/// SingleResponse ::= SEQUENCE {
///    certID                       CertID,
///    certStatus                   CertStatus,
///    thisUpdate                   GeneralizedTime,
///    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SingleResponse {
    /// `certID`: the request's `CertID`, echoed.
    pub cert_id: CertId,
    /// `certStatus`.
    pub cert_status: CertStatus,
    /// `thisUpdate`: when the status was known to be correct.
    pub this_update: GeneralizedTime,
    /// `nextUpdate`: when newer information will be available.
    #[asn1(context_specific = "0", optional = "true")]
    pub next_update: Option<GeneralizedTime>,
    /// `singleExtensions`.
    #[asn1(context_specific = "1", optional = "true")]
    pub single_extensions: Option<Vec<Extension>>,
}

/// A certificate's status (RFC 6960 section 4.2.1).
///
/// ```text
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
///
/// UnknownInfo ::= NULL
/// ```
///
/// The only IMPLICIT tags of the module: `good` is `80 00`, `revoked` is `a1 ..` (the
/// `RevokedInfo` SEQUENCE's contents directly inside), `unknown` is `82 00`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum CertStatus {
    /// `good`: not revoked (which says nothing of validity).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    /// `revoked`: revoked, with the time and maybe the reason.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    /// `unknown`: the responder does not know the certificate.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// When and why a certificate was revoked (RFC 6960 section 4.2.1).
///
/// ```text
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevokedInfo {
    /// `revocationTime`.
    pub revocation_time: GeneralizedTime,
    /// `revocationReason` (RFC 5280 `CRLReason`, an ENUMERATED).
    #[asn1(context_specific = "0", optional = "true")]
    pub revocation_reason: Option<CrlReason>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::oid;
    use der::{Decode, Encode};
    use std::str::FromStr;

    fn h(v: &impl Encode) -> String {
        hex::encode(v.to_der().unwrap())
    }

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    /// `GeneralizedTime` of 2026-03-01 12:34:56 UTC.
    fn t0() -> GeneralizedTime {
        GeneralizedTime::from_der(&unhex("180f 32303236303330313132333435365a")).unwrap()
    }
    const T0: &str = "180f32303236303330313132333435365a";

    fn sha1_cert_id(serial: &[u8]) -> CertId {
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
    fn sha1_cert_id_hex() -> String {
        format!(
            "303b 3009 06052b0e03021a 0500 0414{} 0414{} 02020102",
            "11".repeat(20),
            "22".repeat(20)
        )
        .replace(' ', "")
    }

    fn round_trip<T>(value: &T, expected_hex: &str)
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

    #[test]
    fn cert_status_tags_are_80_a1_82() {
        // good [0] IMPLICIT NULL: context-specific, primitive, number 0, empty.
        round_trip(&CertStatus::Good(Null), "8000");
        // unknown [2] IMPLICIT UnknownInfo (NULL).
        round_trip(&CertStatus::Unknown(Null), "8200");
        // revoked [1] IMPLICIT RevokedInfo: constructed (a SEQUENCE), no inner 30.
        let revoked = CertStatus::Revoked(RevokedInfo {
            revocation_time: t0(),
            revocation_reason: None,
        });
        round_trip(&revoked, &format!("a111{T0}"));
        // revocationReason [0] EXPLICIT CRLReason: a0 03 0a 01 01 (keyCompromise).
        let revoked = CertStatus::Revoked(RevokedInfo {
            revocation_time: t0(),
            revocation_reason: Some(CrlReason::KeyCompromise),
        });
        round_trip(&revoked, &format!("a116{T0}a0030a0101"));
        // A0 (constructed [0]) is not `good`, nor is an explicit [0] around NULL.
        assert!(CertStatus::from_der(&unhex("a000")).is_err());
        assert!(CertStatus::from_der(&unhex("a0020500")).is_err());
        // An explicitly tagged RevokedInfo (a1 .. 30 ..) is not what the RFC says either.
        assert!(CertStatus::from_der(&unhex(&format!("a1133011{T0}"))).is_err());
        // Tag [3] is no status.
        assert!(CertStatus::from_der(&unhex("8300")).is_err());
    }

    #[test]
    fn revoked_info_reason_is_explicitly_tagged() {
        for (reason, byte) in [
            (CrlReason::Unspecified, 0u8),
            (CrlReason::KeyCompromise, 1),
            (CrlReason::CaCompromise, 2),
            (CrlReason::Superseded, 4),
            (CrlReason::CessationOfOperation, 5),
            (CrlReason::CertificateHold, 6),
            (CrlReason::RemoveFromCRL, 8),
            (CrlReason::PrivilegeWithdrawn, 9),
            (CrlReason::AaCompromise, 10),
        ] {
            let info = RevokedInfo {
                revocation_time: t0(),
                revocation_reason: Some(reason),
            };
            round_trip(&info, &format!("3016{T0}a0030a01{byte:02x}"));
        }
        // 7 is not a CRLReason.
        assert!(RevokedInfo::from_der(&unhex(&format!("3016{T0}a0030a0107"))).is_err());
    }

    #[test]
    fn single_responses_round_trip_good_revoked_unknown() {
        let cert_id = sha1_cert_id(&[0x01, 0x02]);
        let id = sha1_cert_id_hex();
        let next =
            GeneralizedTime::from_der(&unhex("180f 32303236303330323132333435365a")).unwrap();
        let next_hex = "180f32303236303330323132333435365a";

        let good = SingleResponse {
            cert_id: cert_id.clone(),
            cert_status: CertStatus::Good(Null),
            this_update: t0(),
            next_update: Some(next),
            single_extensions: None,
        };
        // 61 + 2 + 17 + (2 + 17) = 99 = 0x63; nextUpdate [0] EXPLICIT: a0 11 18 0f ...
        round_trip(&good, &format!("3063{id}8000{T0}a011{next_hex}"));

        let revoked = SingleResponse {
            cert_status: CertStatus::Revoked(RevokedInfo {
                revocation_time: t0(),
                revocation_reason: Some(CrlReason::Superseded),
            }),
            next_update: None,
            ..good.clone()
        };
        round_trip(&revoked, &format!("3066{id}a116{T0}a0030a0104{T0}"));

        let unknown = SingleResponse {
            cert_status: CertStatus::Unknown(Null),
            next_update: None,
            single_extensions: Some(vec![Extension {
                extn_id: oid::ID_PKIX_OCSP_ARCHIVE_CUTOFF,
                critical: false,
                extn_value: OctetString::new(unhex(T0)).unwrap(),
            }]),
            ..good
        };
        // singleExtensions [1] EXPLICIT: a1, then the SEQUENCE OF (30), then the Extension.
        let ext = format!("06092b0601050507300106 0411{T0}").replace(' ', "");
        round_trip(&unknown, &format!("3074{id}8200{T0}a1223020 301e{ext}"));
    }

    #[test]
    fn responder_id_by_key_and_by_name_are_explicit() {
        let by_key = ResponderId::ByKey(OctetString::new(vec![0xab; 20]).unwrap());
        round_trip(&by_key, &format!("a2160414{}", "ab".repeat(20)));
        // IMPLICIT would have been 82 14 ..: not accepted.
        assert!(ResponderId::from_der(&unhex(&format!("8214{}", "ab".repeat(20)))).is_err());

        let name = Name::from_str("CN=R").unwrap();
        // Name: 30 0c 31 0a 30 08 06 03 55 04 03 0c 01 52 (UTF8String "R").
        let name_hex = "300c310a300806035504030c0152";
        assert_eq!(h(&name), name_hex);
        round_trip(&ResponderId::ByName(name), &format!("a10e{name_hex}"));
    }

    #[test]
    fn response_status_values() {
        for (status, byte) in [
            (OcspResponseStatus::Successful, 0u8),
            (OcspResponseStatus::MalformedRequest, 1),
            (OcspResponseStatus::InternalError, 2),
            (OcspResponseStatus::TryLater, 3),
            (OcspResponseStatus::SigRequired, 5),
            (OcspResponseStatus::Unauthorized, 6),
        ] {
            round_trip(&status, &format!("0a01{byte:02x}"));
        }
        // 4 is not used; 7 is not defined; an INTEGER is not an ENUMERATED.
        for bad in ["0a0104", "0a0107", "020101"] {
            assert!(OcspResponseStatus::from_der(&unhex(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn error_responses_have_no_response_bytes() {
        round_trip(
            &OcspResponse::error(OcspResponseStatus::MalformedRequest),
            "30030a0101",
        );
        round_trip(
            &OcspResponse::error(OcspResponseStatus::TryLater),
            "30030a0103",
        );
    }

    #[test]
    fn successful_response_wraps_a_basic_response() {
        let data = ResponseData {
            version: OCSP_V1,
            responder_id: ResponderId::ByKey(OctetString::new(vec![0xab; 20]).unwrap()),
            produced_at: t0(),
            responses: vec![SingleResponse {
                cert_id: sha1_cert_id(&[0x01, 0x02]),
                cert_status: CertStatus::Good(Null),
                this_update: t0(),
                next_update: None,
                single_extensions: None,
            }],
            response_extensions: Some(vec![Extension {
                extn_id: oid::ID_PKIX_OCSP_NONCE,
                critical: false,
                extn_value: OctetString::new(unhex("0402cafe")).unwrap(),
            }]),
        };
        let single = format!("3050{}8000{T0}", sha1_cert_id_hex());
        // version omitted; responseExtensions [1] EXPLICIT: a1 .. 30 .. 30 ..
        let nonce = "06092b0601050507300102 0404 0402cafe".replace(' ', "");
        let data_hex = format!(
            "308194 a2160414{} {T0} 3052{single} a1153013 3011{nonce}",
            "ab".repeat(20)
        )
        .replace(' ', "");
        round_trip(&data, &data_hex);

        let basic = BasicOcspResponse {
            tbs_response_data: data,
            signature_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ECDSA_WITH_SHA256,
                parameters: None,
            },
            signature: BitString::from_bytes(&[0x30, 0x00]).unwrap(),
            certs: None,
        };
        let basic_hex =
            format!("3081a8{data_hex}300a06082a8648ce3d040302 0303003000").replace(' ', "");
        round_trip(&basic, &basic_hex);

        let response = OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: oid::ID_PKIX_OCSP_BASIC,
                response: OctetString::new(basic.to_der().unwrap()).unwrap(),
            }),
        };
        // responseBytes [0] EXPLICIT: a0 .. 30 .. 06 09 (id-pkix-ocsp-basic) 04 ..
        round_trip(
            &response,
            &format!("3081c20a0100a081bc3081b906092b0601050507300101 0481ab{basic_hex}"),
        );
    }

    #[test]
    fn response_data_version_default_is_omitted_yet_decoded_when_written() {
        let data = ResponseData {
            version: OCSP_V1,
            responder_id: ResponderId::ByKey(OctetString::new(vec![1; 20]).unwrap()),
            produced_at: t0(),
            responses: vec![],
            response_extensions: None,
        };
        let der = data.to_der().unwrap();
        assert_eq!(der[2], 0xa2, "no a0 version before the responder ID");
        // `a0 03 02 01 00` written out: not DER, yet der 0.8 decodes it.
        let mut explicit = vec![0x30, der[1] + 5, 0xa0, 0x03, 0x02, 0x01, 0x00];
        explicit.extend_from_slice(&der[2..]);
        assert_eq!(ResponseData::from_der(&explicit).unwrap(), data);
        // Version 2 (v2 does not exist in OCSP) is written out.
        let v2 = ResponseData { version: 1, ..data };
        assert!(hex::encode(v2.to_der().unwrap()).starts_with("3030a003020101a2"));
    }

    fn tbs_request() -> TbsRequest {
        TbsRequest {
            version: OCSP_V1,
            requestor_name: None,
            request_list: vec![Request {
                req_cert: sha1_cert_id(&[0x01, 0x02]),
                single_request_extensions: None,
            }],
            request_extensions: None,
        }
    }

    #[test]
    fn request_bytes_and_explicit_tags() {
        let req = OcspRequest {
            tbs_request: tbs_request(),
            optional_signature: None,
        };
        let request = format!("303d{}", sha1_cert_id_hex());
        // OCSPRequest { TBSRequest { requestList { Request { CertID } } } }
        round_trip(&req, &format!("30433041303f{request}"));

        let mut tbs = tbs_request();
        tbs.version = 1;
        tbs.requestor_name = Some(GeneralName::DnsName(
            der::asn1::Ia5String::new("a").unwrap(),
        ));
        tbs.request_list[0].single_request_extensions = Some(vec![Extension {
            extn_id: ObjectIdentifier::new_unwrap("1.2.3"),
            critical: true,
            extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
        }]);
        tbs.request_extensions = Some(vec![Extension {
            extn_id: oid::ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(unhex("0401aa")).unwrap(),
        }]);
        let ext = "a00f300d300b06022a030101ff04020500";
        let request = format!("304e{}{ext}", sha1_cert_id_hex());
        let nonce = "a2143012 3010 06092b0601050507300102 0403 0401aa".replace(' ', "");
        // version [0] EXPLICIT a0 03 02 01 01; requestorName [1] EXPLICIT around [2] IMPLICIT
        // IA5String: a1 03 82 01 61; singleRequestExtensions [0] EXPLICIT; requestExtensions
        // [2] EXPLICIT.
        round_trip(
            &tbs,
            &format!("3072 a003020101 a103820161 3050{request} {nonce}").replace(' ', ""),
        );
    }

    #[test]
    fn request_signature_is_explicitly_tagged() {
        let req = OcspRequest {
            tbs_request: tbs_request(),
            optional_signature: Some(Signature {
                signature_algorithm: AlgorithmIdentifierOwned {
                    oid: oid::ECDSA_WITH_SHA256,
                    parameters: None,
                },
                signature: BitString::from_bytes(&[0x30, 0x00]).unwrap(),
                certs: Some(vec![]),
            }),
        };
        let tbs = format!("3041303f303d{}", sha1_cert_id_hex());
        // optionalSignature [0] EXPLICIT: a0 17 30 15 { alg 30 0a, sig 03 03 00 30 00,
        // certs [0] EXPLICIT a0 02 30 00 }.
        round_trip(
            &req,
            &format!("305c{tbs}a0173015300a06082a8648ce3d040302030300300 0a0023000")
                .replace(' ', ""),
        );
    }

    #[test]
    fn tbs_request_version_default_is_omitted() {
        let der = tbs_request().to_der().unwrap();
        assert_eq!(der[2], 0x30, "the requestList comes first");
        let mut explicit = vec![0x30, der[1] + 5, 0xa0, 0x03, 0x02, 0x01, 0x00];
        explicit.extend_from_slice(&der[2..]);
        // der 0.8 accepts the explicit default; the request check refuses it.
        assert_eq!(TbsRequest::from_der(&explicit).unwrap(), tbs_request());
        assert_ne!(tbs_request().to_der().unwrap(), explicit);
    }
}
