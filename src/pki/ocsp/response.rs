//! The response envelope: `OCSPResponse`, its status, `ResponseBytes`, and the basic response
//! (`BasicOCSPResponse`, `ResponseData`, `ResponderID`) around the `SingleResponse`s (RFC 6960
//! section 4.2.1).

use der::asn1::{BitString, GeneralizedTime, OctetString};
use der::{Choice, Enumerated, Sequence};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

use super::{SingleResponse, default_v1};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::tests::{T0, h, round_trip, sha1_cert_id, sha1_cert_id_hex, t0, unhex};
    use crate::pki::ocsp::{CertStatus, OCSP_V1};
    use crate::pki::oid;
    use der::asn1::Null;
    use der::{Decode, Encode};
    use std::str::FromStr;

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
}
