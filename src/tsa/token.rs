//! Time-stamp tokens: the `TSTInfo` and the CMS `SignedData` around it (RFC 3161 section 2.4.2,
//! RFC 5652, RFC 5816), assembled from parts encoded once at start.
//!
//! A token is built in three steps, so that no PKCS#11 call happens while DER is being built:
//!
//! 1. [`TokenTemplate::tst_info`] encodes the `TSTInfo` of one request;
//! 2. [`TokenTemplate::signed_attributes`] encodes the signed attributes over it and gives the
//!    digest the HSM signs;
//! 3. [`TokenTemplate::assemble`] wraps everything, with the signature, into the
//!    `TimeStampResp`.
//!
//! Everything that does not change from token to token (policy, accuracy, `tsa` name, the
//! qcStatements extension, the `signingCertificateV2` attribute with its `ESSCertIDv2`, the
//! signer identifier, the algorithm identifiers and the TSU certificate) is encoded once, in
//! [`TokenTemplate::new`]; per token only the variable fields are written, into one buffer sized
//! in advance.
//!
//! ```text
//! TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken ContentInfo }
//! ContentInfo ::= SEQUENCE { contentType id-signedData, content [0] EXPLICIT SignedData }
//! SignedData ::= SEQUENCE {
//!   version CMSVersion,                        -- 3: eContentType is not id-data
//!   digestAlgorithms SET OF DigestAlgorithmIdentifier,
//!   encapContentInfo EncapsulatedContentInfo,  -- id-ct-TSTInfo, [0] EXPLICIT OCTET STRING
//!   certificates [0] IMPLICIT CertificateSet OPTIONAL,  -- the TSU certificate, when certReq
//!   signerInfos SET OF SignerInfo }
//! SignerInfo ::= SEQUENCE {
//!   version CMSVersion,                        -- 1: sid is issuerAndSerialNumber
//!   sid SignerIdentifier,
//!   digestAlgorithm DigestAlgorithmIdentifier,
//!   signedAttrs [0] IMPLICIT SignedAttributes, -- contentType, messageDigest, signingCertificateV2
//!   signatureAlgorithm SignatureAlgorithmIdentifier,
//!   signature SignatureValue }
//! ```

use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;

use crate::pki::der_util::from_x509_time;
use crate::pki::der_write::{HeaderBytes, push_header, push_tlv, tag, tlv, tlv_len};
use crate::pki::qc::{QcStatement, QcStatements};
use crate::pki::tsp::{
    Accuracy, EssCertIdV2, IssuerSerial, SigningCertificateV2, TstTime, sha256_algorithm,
};
use crate::pki::{DigestAlgorithm, KeyAlgorithm, PkiError, SignatureAlgorithm, oid};

/// What goes into every token, from the TSA policy and configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenSettings {
    /// `TSTInfo.policy`.
    pub policy: ObjectIdentifier,
    /// `TSTInfo.accuracy`.
    pub accuracy: Accuracy,
    /// Whether `TSTInfo.tsa` names the TSU (its certificate's subject as a `directoryName`).
    pub include_tsa_name: bool,
    /// Whether the token is a qualified electronic time-stamp: a qcStatements extension with
    /// `esi4-qtstStatement-1` (EN 319 422 section 9.1).
    pub qualified: bool,
}

/// The per-request fields of a `TSTInfo`.
#[derive(Clone, Copy, Debug)]
pub struct TstFields<'a> {
    /// `serialNumber`, as the content octets of a positive DER INTEGER.
    pub serial: &'a [u8],
    /// `genTime`.
    pub gen_time: TstTime,
    /// The request's `MessageImprint`, as DER, echoed unchanged.
    pub message_imprint_der: &'a [u8],
    /// The request's nonce, as the content octets of its DER INTEGER.
    pub nonce: Option<&'a [u8]>,
}

/// The signed attributes of one token and the digest the TSU key signs.
#[derive(Clone, Debug)]
pub struct SignedAttributes {
    /// The content octets of the `SET OF Attribute` (without tag and length), in DER order.
    content: Vec<u8>,
    /// The digest of the DER `SET OF Attribute` (tag `0x31`), what the HSM signs.
    digest: [u8; 64],
    digest_len: usize,
}

impl SignedAttributes {
    /// The digest to sign, in the hash of [`TokenTemplate::signature_algorithm`].
    #[must_use]
    pub fn digest(&self) -> &[u8] {
        self.digest.get(..self.digest_len).unwrap_or(&[])
    }

    /// The DER `SET OF Attribute` whose digest is signed (RFC 5652 section 5.4).
    #[must_use]
    pub fn to_signed_bytes(&self) -> Vec<u8> {
        tlv(tag::SET, &self.content)
    }
}

/// Everything constant in the tokens of one TSU, encoded once.
#[derive(Clone, Debug)]
pub struct TokenTemplate {
    signature_algorithm: SignatureAlgorithm,
    digest_algorithm: DigestAlgorithm,
    key_algorithm: KeyAlgorithm,
    /// `OBJECT IDENTIFIER` TLV of the policy.
    policy_tlv: Vec<u8>,
    /// `Accuracy` TLV, empty when no accuracy is declared.
    accuracy_tlv: Vec<u8>,
    /// `[0] GeneralName` TLV, empty without a TSA name.
    tsa_name_tlv: Vec<u8>,
    /// `[1] IMPLICIT Extensions` TLV, empty when not qualified.
    extensions_tlv: Vec<u8>,
    /// The `AlgorithmIdentifier` TLV of the digest (parameters absent, RFC 5754 section 2).
    digest_algorithm_tlv: Vec<u8>,
    /// The `SignatureAlgorithmIdentifier` TLV.
    signature_algorithm_tlv: Vec<u8>,
    /// `IssuerAndSerialNumber` TLV of the TSU certificate.
    sid_tlv: Vec<u8>,
    /// The contentType attribute TLV (`id-ct-TSTInfo`).
    content_type_attribute: Vec<u8>,
    /// The prefix of the messageDigest attribute TLV, up to and including the OCTET STRING
    /// header; the digest follows.
    message_digest_attribute_prefix: Vec<u8>,
    /// The signingCertificateV2 attribute TLV.
    signing_certificate_attribute: Vec<u8>,
    /// `[0] IMPLICIT CertificateSet` TLV holding the TSU certificate.
    certificates_tlv: Vec<u8>,
    /// The TSU certificate, DER.
    certificate: Vec<u8>,
    /// Its validity period: tokens are issued within it only.
    not_before: time::OffsetDateTime,
    not_after: time::OffsetDateTime,
}

/// Room for the messageDigest attribute: its prefix (SEQUENCE, OID, SET and OCTET STRING
/// headers) is 17 octets, the digest at most 64.
const MESSAGE_DIGEST_ATTRIBUTE_MAX: usize = 96;

/// `PKIStatusInfo` of a granted response: `SEQUENCE { INTEGER 0 }`.
const STATUS_GRANTED: [u8; 5] = [0x30, 0x03, 0x02, 0x01, 0x00];
/// `INTEGER 1`, the version of `TSTInfo` and of `SignerInfo` with `issuerAndSerialNumber`.
const INTEGER_1: [u8; 3] = [0x02, 0x01, 0x01];
/// `INTEGER 3`, the version of `SignedData` whose content is not `id-data`.
const INTEGER_3: [u8; 3] = [0x02, 0x01, 0x03];

fn encode<T: Encode>(what: &'static str, value: &T) -> Result<Vec<u8>, PkiError> {
    value.to_der().map_err(PkiError::encode(what))
}

fn oid_tlv(oid: &ObjectIdentifier) -> Result<Vec<u8>, PkiError> {
    encode("OBJECT IDENTIFIER", oid)
}

/// `Attribute ::= SEQUENCE { attrType OBJECT IDENTIFIER, attrValues SET OF AttributeValue }`
/// with one value.
fn attribute(attr_type: &ObjectIdentifier, value_tlv: &[u8]) -> Result<Vec<u8>, PkiError> {
    let mut content = oid_tlv(attr_type)?;
    push_tlv(&mut content, tag::SET, value_tlv);
    Ok(tlv(tag::SEQUENCE, &content))
}

fn hash_parts(alg: DigestAlgorithm, parts: &[&[u8]]) -> ([u8; 64], usize) {
    fn run<D: sha2::Digest>(parts: &[&[u8]], out: &mut [u8; 64]) -> usize {
        let mut hasher = D::new();
        for part in parts {
            hasher.update(part);
        }
        let digest = hasher.finalize();
        let len = digest.len();
        if let Some(slot) = out.get_mut(..len) {
            slot.copy_from_slice(&digest);
        }
        len
    }
    let mut out = [0u8; 64];
    let len = match alg {
        DigestAlgorithm::Sha256 => run::<sha2::Sha256>(parts, &mut out),
        DigestAlgorithm::Sha384 => run::<sha2::Sha384>(parts, &mut out),
        DigestAlgorithm::Sha512 => run::<sha2::Sha512>(parts, &mut out),
    };
    (out, len)
}

impl TokenTemplate {
    /// Encodes the constant parts for the TSU whose certificate is `tsu_certificate` (DER).
    ///
    /// The certificate must be a TSU certificate: extended key usage `id-kp-timeStamping`,
    /// critical, and nothing else (RFC 3161 section 2.3); anything else is refused here, at
    /// start, rather than producing tokens that verifiers reject.
    pub fn new(settings: &TokenSettings, tsu_certificate: &[u8]) -> Result<Self, PkiError> {
        settings.accuracy.validate()?;
        let certificate =
            Certificate::from_der(tsu_certificate).map_err(PkiError::decode("TSU certificate"))?;
        check_time_stamping_eku(&certificate)?;
        let tbs = &certificate.tbs_certificate();
        let not_before = from_x509_time(&tbs.validity().not_before)?;
        let not_after = from_x509_time(&tbs.validity().not_after)?;
        let spki_der = encode("SubjectPublicKeyInfo", tbs.subject_public_key_info())?;
        let key_algorithm = KeyAlgorithm::from_spki_der(&spki_der)?;
        let signature_algorithm = SignatureAlgorithm::for_issuer_key(key_algorithm);
        let digest_algorithm = signature_algorithm.digest();

        let accuracy_tlv = if settings.accuracy == Accuracy::default() {
            Vec::new()
        } else {
            encode("Accuracy", &settings.accuracy)?
        };
        let tsa_name_tlv = if settings.include_tsa_name {
            // tsa [0] GeneralName: EXPLICIT, GeneralName being a CHOICE.
            let name = encode(
                "GeneralName",
                &GeneralName::DirectoryName(tbs.subject().clone()),
            )?;
            tlv(tag::CONTEXT_0, &name)
        } else {
            Vec::new()
        };
        let extensions_tlv = if settings.qualified {
            let statements =
                QcStatements(vec![QcStatement::without_info(oid::ESI4_QTST_STATEMENT_1)]);
            let extension = Extension {
                extn_id: oid::ID_PE_QC_STATEMENTS,
                critical: false,
                extn_value: der::asn1::OctetString::new(statements.to_extension_value()?)
                    .map_err(PkiError::encode("qcStatements"))?,
            };
            // extensions [1] IMPLICIT Extensions: the SEQUENCE OF tag replaced by [1].
            tlv(tag::CONTEXT_1, &encode("Extension", &extension)?)
        } else {
            Vec::new()
        };

        let digest_algorithm_tlv = encode(
            "DigestAlgorithmIdentifier",
            &AlgorithmIdentifierOwned {
                oid: digest_algorithm.oid(),
                parameters: None,
            },
        )?;
        let signature_algorithm_tlv = encode(
            "SignatureAlgorithmIdentifier",
            &signature_algorithm.algorithm_identifier(),
        )?;

        // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber CertificateSerialNumber }
        let mut sid = encode("Name", tbs.issuer())?;
        sid.extend_from_slice(&encode("CertificateSerialNumber", tbs.serial_number())?);
        let sid_tlv = tlv(tag::SEQUENCE, &sid);

        let content_type_attribute =
            attribute(&oid::ID_CONTENT_TYPE, &oid_tlv(&oid::ID_CT_TST_INFO)?)?;

        let digest_len = digest_algorithm.output_len();
        let mut message_digest_attribute_prefix = Vec::new();
        let md_oid = oid_tlv(&oid::ID_MESSAGE_DIGEST)?;
        let octet_string_len = tlv_len(digest_len);
        let set_len = tlv_len(octet_string_len);
        push_header(
            &mut message_digest_attribute_prefix,
            tag::SEQUENCE,
            md_oid.len() + set_len,
        );
        message_digest_attribute_prefix.extend_from_slice(&md_oid);
        push_header(
            &mut message_digest_attribute_prefix,
            tag::SET,
            octet_string_len,
        );
        push_header(
            &mut message_digest_attribute_prefix,
            tag::OCTET_STRING,
            digest_len,
        );
        if message_digest_attribute_prefix.len() + digest_len > MESSAGE_DIGEST_ATTRIBUTE_MAX {
            return Err(PkiError::invalid(
                "messageDigest attribute",
                format!(
                    "{} octets, more than the {MESSAGE_DIGEST_ATTRIBUTE_MAX} reserved",
                    message_digest_attribute_prefix.len() + digest_len
                ),
            ));
        }

        // RFC 5816: ESSCertIDv2 over the whole certificate, SHA-256 (the DEFAULT, so omitted),
        // with issuerSerial so that the certificate is pinned by issuer and serial as well.
        let signing_certificate = SigningCertificateV2 {
            certs: vec![EssCertIdV2 {
                hash_algorithm: sha256_algorithm(),
                cert_hash: der::asn1::OctetString::new(
                    sha2::Sha256::digest(tsu_certificate).to_vec(),
                )
                .map_err(PkiError::encode("ESSCertIDv2.certHash"))?,
                issuer_serial: Some(IssuerSerial {
                    issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                    serial_number: tbs.serial_number().clone(),
                }),
            }],
            policies: None,
        };
        let signing_certificate_attribute = attribute(
            &oid::ID_AA_SIGNING_CERTIFICATE_V2,
            &encode("SigningCertificateV2", &signing_certificate)?,
        )?;

        Ok(Self {
            signature_algorithm,
            digest_algorithm,
            key_algorithm,
            policy_tlv: oid_tlv(&settings.policy)?,
            accuracy_tlv,
            tsa_name_tlv,
            extensions_tlv,
            digest_algorithm_tlv,
            signature_algorithm_tlv,
            sid_tlv,
            content_type_attribute,
            message_digest_attribute_prefix,
            signing_certificate_attribute,
            certificates_tlv: tlv(tag::CONTEXT_0, tsu_certificate),
            certificate: tsu_certificate.to_vec(),
            not_before,
            not_after,
        })
    }

    /// The TSU certificate's validity period (`notBefore`, `notAfter`).
    #[must_use]
    pub fn certificate_validity(&self) -> (time::OffsetDateTime, time::OffsetDateTime) {
        (self.not_before, self.not_after)
    }

    /// Whether a token with this `genTime` falls within the TSU certificate's validity: outside
    /// it, relying parties reject the token.
    #[must_use]
    pub fn certificate_valid_at(&self, gen_time: time::OffsetDateTime) -> bool {
        self.not_before <= gen_time && gen_time <= self.not_after
    }

    /// How the TSU key signs (and so the digest the HSM receives).
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// The TSU key's algorithm, from its certificate.
    #[must_use]
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }

    /// The TSU certificate (DER).
    #[must_use]
    pub fn certificate(&self) -> &[u8] {
        &self.certificate
    }

    /// The DER `TSTInfo` for one request.
    #[must_use]
    pub fn tst_info(&self, fields: &TstFields<'_>) -> Vec<u8> {
        let gen_time = fields.gen_time.to_tlv();
        let gen_time = gen_time.as_bytes();
        let nonce_len = fields.nonce.map_or(0, |n| tlv_len(n.len()));
        let content_len = INTEGER_1.len()
            + self.policy_tlv.len()
            + fields.message_imprint_der.len()
            + tlv_len(fields.serial.len())
            + gen_time.len()
            + self.accuracy_tlv.len()
            + nonce_len
            + self.tsa_name_tlv.len()
            + self.extensions_tlv.len();
        let mut out = Vec::with_capacity(tlv_len(content_len));
        push_header(&mut out, tag::SEQUENCE, content_len);
        out.extend_from_slice(&INTEGER_1);
        out.extend_from_slice(&self.policy_tlv);
        out.extend_from_slice(fields.message_imprint_der);
        push_tlv(&mut out, tag::INTEGER, fields.serial);
        out.extend_from_slice(gen_time);
        out.extend_from_slice(&self.accuracy_tlv);
        // ordering: FALSE, the DEFAULT, so absent.
        if let Some(nonce) = fields.nonce {
            push_tlv(&mut out, tag::INTEGER, nonce);
        }
        out.extend_from_slice(&self.tsa_name_tlv);
        out.extend_from_slice(&self.extensions_tlv);
        out
    }

    /// The signed attributes over `tst_info` and the digest to sign.
    #[must_use]
    pub fn signed_attributes(&self, tst_info: &[u8]) -> SignedAttributes {
        let (message_digest, md_len) = hash_parts(self.digest_algorithm, &[tst_info]);
        // The messageDigest attribute, on the stack (its size is checked in `new`).
        let mut md_buffer = [0u8; MESSAGE_DIGEST_ATTRIBUTE_MAX];
        let md_parts = [
            self.message_digest_attribute_prefix.as_slice(),
            message_digest.get(..md_len).unwrap_or(&[]),
        ];
        let md_attribute_len: usize = md_parts.iter().map(|p| p.len()).sum();
        for (slot, byte) in md_buffer.iter_mut().zip(md_parts.into_iter().flatten()) {
            *slot = *byte;
        }
        let md_attribute = md_buffer.get(..md_attribute_len).unwrap_or(&[]);

        // DER orders the elements of a SET OF by their encodings (X.690 clause 11.6).
        let mut attributes = [
            self.content_type_attribute.as_slice(),
            md_attribute,
            self.signing_certificate_attribute.as_slice(),
        ];
        attributes.sort_unstable();
        let content_len: usize = attributes.iter().map(|a| a.len()).sum();
        let mut content = Vec::with_capacity(content_len);
        for attribute in attributes {
            content.extend_from_slice(attribute);
        }
        let header = HeaderBytes::new(tag::SET, content.len());
        let (digest, digest_len) =
            hash_parts(self.digest_algorithm, &[header.as_bytes(), &content]);
        SignedAttributes {
            content,
            digest,
            digest_len,
        }
    }

    /// The DER `TimeStampResp` (status granted) holding the token: `tst_info` signed with
    /// `signature` (DER `ECDSA-Sig-Value`, or the RSA signature octets) over `signed`. The TSU
    /// certificate is included when `include_certificate` (the request's `certReq`).
    #[must_use]
    pub fn assemble(
        &self,
        tst_info: &[u8],
        signed: &SignedAttributes,
        signature: &[u8],
        include_certificate: bool,
    ) -> Vec<u8> {
        let signer_info_len = INTEGER_1.len()
            + self.sid_tlv.len()
            + self.digest_algorithm_tlv.len()
            + tlv_len(signed.content.len())
            + self.signature_algorithm_tlv.len()
            + tlv_len(signature.len());
        let signer_infos_len = tlv_len(signer_info_len);
        let e_content_len = tlv_len(tst_info.len());
        let encap_len = oid_len(&oid::ID_CT_TST_INFO) + tlv_len(e_content_len);
        let certificates_len = if include_certificate {
            self.certificates_tlv.len()
        } else {
            0
        };
        let signed_data_len = INTEGER_3.len()
            + tlv_len(self.digest_algorithm_tlv.len())
            + tlv_len(encap_len)
            + certificates_len
            + tlv_len(signer_infos_len);
        let content_info_len = oid_len(&oid::ID_SIGNED_DATA) + tlv_len(tlv_len(signed_data_len));
        let response_len = STATUS_GRANTED.len() + tlv_len(content_info_len);

        let mut out = Vec::with_capacity(tlv_len(response_len));
        push_header(&mut out, tag::SEQUENCE, response_len);
        out.extend_from_slice(&STATUS_GRANTED);
        // ContentInfo
        push_header(&mut out, tag::SEQUENCE, content_info_len);
        push_oid(&mut out, &oid::ID_SIGNED_DATA);
        push_header(&mut out, tag::CONTEXT_0, tlv_len(signed_data_len));
        // SignedData
        push_header(&mut out, tag::SEQUENCE, signed_data_len);
        out.extend_from_slice(&INTEGER_3);
        push_tlv(&mut out, tag::SET, &self.digest_algorithm_tlv);
        push_header(&mut out, tag::SEQUENCE, encap_len);
        push_oid(&mut out, &oid::ID_CT_TST_INFO);
        push_header(&mut out, tag::CONTEXT_0, e_content_len);
        push_tlv(&mut out, tag::OCTET_STRING, tst_info);
        if include_certificate {
            out.extend_from_slice(&self.certificates_tlv);
        }
        push_header(&mut out, tag::SET, signer_infos_len);
        // SignerInfo
        push_header(&mut out, tag::SEQUENCE, signer_info_len);
        out.extend_from_slice(&INTEGER_1);
        out.extend_from_slice(&self.sid_tlv);
        out.extend_from_slice(&self.digest_algorithm_tlv);
        // signedAttrs [0] IMPLICIT: the SET OF tag replaced by [0].
        push_tlv(&mut out, tag::CONTEXT_0, &signed.content);
        out.extend_from_slice(&self.signature_algorithm_tlv);
        push_tlv(&mut out, tag::OCTET_STRING, signature);
        out
    }
}

fn oid_len(oid: &ObjectIdentifier) -> usize {
    tlv_len(oid.as_bytes().len())
}

fn push_oid(out: &mut Vec<u8>, oid: &ObjectIdentifier) {
    push_tlv(out, tag::OBJECT_IDENTIFIER, oid.as_bytes());
}

/// RFC 3161 section 2.3: the TSU certificate has exactly one extended key usage,
/// `id-kp-timeStamping`, and the extension is critical.
fn check_time_stamping_eku(certificate: &Certificate) -> Result<(), PkiError> {
    let extension = certificate
        .tbs_certificate()
        .extensions()
        .and_then(|exts| exts.iter().find(|e| e.extn_id == oid::ID_CE_EXT_KEY_USAGE))
        .ok_or_else(|| {
            PkiError::invalid(
                "TSU certificate",
                "has no extendedKeyUsage (id-kp-timeStamping required)",
            )
        })?;
    let usages = x509_cert::ext::pkix::ExtendedKeyUsage::from_der(extension.extn_value.as_bytes())
        .map_err(PkiError::decode("ExtendedKeyUsage"))?;
    if !extension.critical || usages.0 != [oid::ID_KP_TIME_STAMPING] {
        return Err(PkiError::invalid(
            "TSU certificate",
            "extendedKeyUsage must be id-kp-timeStamping only, and critical",
        ));
    }
    Ok(())
}
