//! The request types: `OCSPRequest`, `TBSRequest`, `Signature` and `Request` (RFC 6960
//! section 4.1.1).

use der::Sequence;
use der::asn1::BitString;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;

use super::{CertId, default_v1};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::OCSP_V1;
    use crate::pki::ocsp::tests::{round_trip, sha1_cert_id, sha1_cert_id_hex, unhex};
    use crate::pki::oid;
    use der::asn1::OctetString;
    use der::{Decode, Encode};
    use spki::ObjectIdentifier;

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
