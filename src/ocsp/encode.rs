//! DER of signed OCSP answers, written by hand from parts encoded once (the responder ID, each
//! CA's `singleExtensions`, the signature algorithm, the `certs` field), so that an answer signed
//! on demand costs a few buffer writes instead of a value tree per request. The tests hold the
//! output to the `der` crate's encoding of the same values ([`crate::pki::ocsp`]).

use crate::pki::der_write::{push_header, push_tlv, tag, tlv_len};
use crate::pki::oid;

/// BIT STRING tag.
const BIT_STRING: u8 = 0x03;
/// ENUMERATED tag.
const ENUMERATED: u8 = 0x0a;

/// What one `SingleResponse` says, as DER parts.
#[derive(Debug)]
pub(super) struct SingleParts<'a> {
    /// The request's `CertID`, echoed.
    pub cert_id: Vec<u8>,
    /// The `CertStatus` CHOICE.
    pub status: Vec<u8>,
    /// `[1] EXPLICIT Extensions` of the CA (ArchiveCutoff), or empty.
    pub extensions: &'a [u8],
}

impl SingleParts<'_> {
    fn content_len(&self, times_len: usize) -> usize {
        self.cert_id.len() + self.status.len() + times_len + self.extensions.len()
    }
}

/// `[1] EXPLICIT Extensions` holding the extensions whose DER is `extensions`.
pub(super) fn explicit_extensions(extensions: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(tlv_len(extensions.len())));
    push_header(&mut out, tag::CONTEXT_1, tlv_len(extensions.len()));
    push_tlv(&mut out, tag::SEQUENCE, extensions);
    out
}

/// Length of the nonce `Extension`: `SEQUENCE { id-pkix-ocsp-nonce, OCTET STRING { OCTET STRING
/// { nonce } } }` (critical FALSE, the default, is omitted).
fn nonce_extension_content_len(nonce: &[u8]) -> usize {
    tlv_len(oid::ID_PKIX_OCSP_NONCE.as_bytes().len()) + tlv_len(tlv_len(nonce.len()))
}

/// `ResponseData` (version v1, omitted as the DEFAULT) of `responses`, with `produced_at` as
/// producedAt and every thisUpdate (`GeneralizedTime` DER), `next_update` as every nextUpdate
/// (`[0] EXPLICIT GeneralizedTime` DER), and the nonce extension when `nonce` is given.
pub(super) fn response_data(
    responder_id: &[u8],
    produced_at: &[u8],
    next_update: &[u8],
    responses: &[SingleParts<'_>],
    nonce: Option<&[u8]>,
) -> Vec<u8> {
    let times_len = produced_at.len() + next_update.len();
    let responses_len: usize = responses
        .iter()
        .map(|single| tlv_len(single.content_len(times_len)))
        .sum();
    let extensions_len = nonce.map_or(0, |nonce| {
        tlv_len(tlv_len(tlv_len(nonce_extension_content_len(nonce))))
    });
    let content_len =
        responder_id.len() + produced_at.len() + tlv_len(responses_len) + extensions_len;
    let mut out = Vec::with_capacity(tlv_len(content_len));
    push_header(&mut out, tag::SEQUENCE, content_len);
    out.extend_from_slice(responder_id);
    out.extend_from_slice(produced_at);
    push_header(&mut out, tag::SEQUENCE, responses_len);
    for single in responses {
        push_header(&mut out, tag::SEQUENCE, single.content_len(times_len));
        out.extend_from_slice(&single.cert_id);
        out.extend_from_slice(&single.status);
        out.extend_from_slice(produced_at);
        out.extend_from_slice(next_update);
        out.extend_from_slice(single.extensions);
    }
    if let Some(nonce) = nonce {
        let extension_len = nonce_extension_content_len(nonce);
        push_header(&mut out, tag::CONTEXT_1, tlv_len(tlv_len(extension_len)));
        push_header(&mut out, tag::SEQUENCE, tlv_len(extension_len));
        push_header(&mut out, tag::SEQUENCE, extension_len);
        push_tlv(
            &mut out,
            tag::OBJECT_IDENTIFIER,
            oid::ID_PKIX_OCSP_NONCE.as_bytes(),
        );
        push_header(&mut out, tag::OCTET_STRING, tlv_len(nonce.len()));
        push_tlv(&mut out, tag::OCTET_STRING, nonce);
    }
    out
}

/// `OCSPResponse { successful, [0] { id-pkix-ocsp-basic, OCTET STRING { BasicOCSPResponse } } }`
/// around the signed `tbs_der`, in one buffer.
/// `algorithm_der` is the DER `signatureAlgorithm`, `certs_der` the DER `certs` field.
pub(super) fn assemble(
    algorithm_der: &[u8],
    certs_der: &[u8],
    tbs_der: &[u8],
    signature: &[u8],
) -> Vec<u8> {
    // BIT STRING: the unused-bits octet (0), then the signature.
    let bit_string_len = 1 + signature.len();
    let basic_len = tbs_der.len() + algorithm_der.len() + tlv_len(bit_string_len) + certs_der.len();
    let response_type = oid::ID_PKIX_OCSP_BASIC.as_bytes();
    let bytes_len = tlv_len(response_type.len()) + tlv_len(tlv_len(basic_len));
    // responseStatus ENUMERATED successful (0), then responseBytes [0] EXPLICIT.
    let content_len = 3 + tlv_len(tlv_len(bytes_len));
    let mut out = Vec::with_capacity(tlv_len(content_len));
    push_header(&mut out, tag::SEQUENCE, content_len);
    out.extend_from_slice(&[ENUMERATED, 0x01, 0x00]);
    push_header(&mut out, tag::CONTEXT_0, tlv_len(bytes_len));
    push_header(&mut out, tag::SEQUENCE, bytes_len);
    push_tlv(&mut out, tag::OBJECT_IDENTIFIER, response_type);
    push_header(&mut out, tag::OCTET_STRING, tlv_len(basic_len));
    push_header(&mut out, tag::SEQUENCE, basic_len);
    out.extend_from_slice(tbs_der);
    out.extend_from_slice(algorithm_der);
    push_header(&mut out, BIT_STRING, bit_string_len);
    out.push(0);
    out.extend_from_slice(signature);
    out.extend_from_slice(certs_der);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::crl::tests::{T0, key, root};
    use crate::pki::SignatureAlgorithm;
    use crate::pki::der_util::generalized_time;
    use crate::pki::der_write::tlv;
    use crate::pki::ocsp::{
        BasicOcspResponse, CertId, CertStatus, OCSP_V1, OcspResponse, OcspResponseStatus,
        ResponderId, ResponseData, RevokedInfo, SingleResponse,
    };
    use der::asn1::{BitString, Null, OctetString};
    use der::{Decode, Encode};
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::ext::Extension;
    use x509_cert::serial_number::SerialNumber;

    fn cert_id(serial: &[u8]) -> CertId {
        CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ID_SHA1,
                parameters: Some(der::asn1::Any::null()),
            },
            issuer_name_hash: OctetString::new(vec![0x11; 20]).unwrap(),
            issuer_key_hash: OctetString::new(vec![0x22; 20]).unwrap(),
            serial_number: SerialNumber::new(serial).unwrap(),
        }
    }

    /// The hand-written ResponseData of `statuses` (with the nonce if any) and the `der` crate's.
    fn both(statuses: &[CertStatus], nonce: Option<&[u8]>, big: bool) -> (Vec<u8>, Vec<u8>) {
        let responder_id = ResponderId::ByKey(OctetString::new(vec![0xab; 20]).unwrap());
        let this_update = generalized_time(T0).unwrap();
        let next_update = generalized_time(T0 + time::Duration::hours(1)).unwrap();
        // A long extension pushes the lengths past one octet.
        let cutoff = Extension {
            extn_id: oid::ID_PKIX_OCSP_ARCHIVE_CUTOFF,
            critical: false,
            extn_value: OctetString::new(vec![0x18; if big { 300 } else { 17 }]).unwrap(),
        };
        let singles: Vec<SingleResponse> = statuses
            .iter()
            .enumerate()
            .map(|(i, status)| SingleResponse {
                cert_id: cert_id(&[0x40, i as u8 + 1]),
                cert_status: status.clone(),
                this_update,
                next_update: Some(next_update),
                single_extensions: Some(vec![cutoff.clone()]),
            })
            .collect();
        let expected = ResponseData {
            version: OCSP_V1,
            responder_id: responder_id.clone(),
            produced_at: this_update,
            responses: singles.clone(),
            response_extensions: nonce.map(|nonce| {
                vec![Extension {
                    extn_id: oid::ID_PKIX_OCSP_NONCE,
                    critical: false,
                    extn_value: OctetString::new(
                        OctetString::new(nonce.to_vec()).unwrap().to_der().unwrap(),
                    )
                    .unwrap(),
                }]
            }),
        }
        .to_der()
        .unwrap();
        let extensions = explicit_extensions(&cutoff.to_der().unwrap());
        let parts: Vec<SingleParts<'_>> = singles
            .iter()
            .map(|single| SingleParts {
                cert_id: single.cert_id.to_der().unwrap(),
                status: single.cert_status.to_der().unwrap(),
                extensions: &extensions,
            })
            .collect();
        let written = response_data(
            &responder_id.to_der().unwrap(),
            &this_update.to_der().unwrap(),
            &tlv(tag::CONTEXT_0, &next_update.to_der().unwrap()),
            &parts,
            nonce,
        );
        (written, expected)
    }

    #[test]
    fn response_data_is_the_der_encoding_of_the_same_values() {
        let revoked = |reason| {
            CertStatus::Revoked(RevokedInfo {
                revocation_time: generalized_time(T0 + time::Duration::minutes(5)).unwrap(),
                revocation_reason: reason,
            })
        };
        let cases: Vec<(Vec<CertStatus>, Option<Vec<u8>>, bool)> = vec![
            (vec![CertStatus::Good(Null)], None, false),
            (vec![CertStatus::Unknown(Null)], Some(vec![0x5a; 32]), false),
            (
                vec![revoked(Some(
                    x509_cert::ext::pkix::CrlReason::KeyCompromise,
                ))],
                Some(vec![0x01]),
                false,
            ),
            (vec![revoked(None)], None, false),
            (
                vec![
                    CertStatus::Good(Null),
                    revoked(None),
                    CertStatus::Unknown(Null),
                ],
                Some(vec![0x77; 128]),
                true,
            ),
            (vec![], None, false),
        ];
        for (statuses, nonce, big) in cases {
            let (written, expected) = both(&statuses, nonce.as_deref(), big);
            assert_eq!(written, expected, "{statuses:?} nonce {nonce:?}");
        }
    }

    #[test]
    fn assembled_response_decodes_as_a_basic_response() {
        let cert_der = root(&key(9));
        let data = ResponseData {
            version: OCSP_V1,
            responder_id: ResponderId::ByKey(OctetString::new(vec![0xab; 20]).unwrap()),
            produced_at: generalized_time(T0).unwrap(),
            responses: vec![],
            response_extensions: None,
        };
        let tbs_der = data.to_der().unwrap();
        let algorithm = SignatureAlgorithm::EcdsaWithSha256;
        let algorithm_der = algorithm.algorithm_identifier().to_der().unwrap();
        let certs_der = tlv(tag::CONTEXT_0, &tlv(tag::SEQUENCE, &cert_der));
        for signature in [vec![0x30; 70], vec![0x30; 200]] {
            let der = assemble(&algorithm_der, &certs_der, &tbs_der, &signature);
            assert_eq!(der.capacity(), der.len());

            let response = OcspResponse::from_der(&der).unwrap();
            assert_eq!(response.response_status, OcspResponseStatus::Successful);
            let bytes = response.response_bytes.unwrap();
            assert_eq!(bytes.response_type, oid::ID_PKIX_OCSP_BASIC);
            let basic = BasicOcspResponse::from_der(bytes.response.as_bytes()).unwrap();
            assert_eq!(basic.tbs_response_data, data);
            assert_eq!(basic.signature_algorithm, algorithm.algorithm_identifier());
            assert_eq!(basic.signature, BitString::from_bytes(&signature).unwrap());
            let certs = basic.certs.unwrap();
            assert_eq!(certs.len(), 1);
            assert_eq!(certs[0].to_der().unwrap(), cert_der);
            // The same bytes as the der crate's encoding of the whole tree.
            assert_eq!(
                OcspResponse {
                    response_status: OcspResponseStatus::Successful,
                    response_bytes: Some(crate::pki::ocsp::ResponseBytes {
                        response_type: oid::ID_PKIX_OCSP_BASIC,
                        response: OctetString::new(
                            BasicOcspResponse {
                                tbs_response_data: data.clone(),
                                signature_algorithm: algorithm.algorithm_identifier(),
                                signature: BitString::from_bytes(&signature).unwrap(),
                                certs: Some(certs),
                            }
                            .to_der()
                            .unwrap()
                        )
                        .unwrap(),
                    }),
                }
                .to_der()
                .unwrap(),
                der
            );
        }
    }
}
