//! Requests built here and answers read back: the SHA-2 hashes, hand-built requests, granted
//! tokens decoded with the `cms` crate and checked field by field, and rejections.

use std::path::Path;

use cms::cert::CertificateChoices;
use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString};
use der::{Decode, Encode, Sequence};
use qtsp::pki::tsp::{
    Accuracy, MessageImprint, PkiFailureInfo, PkiStatus, SigningCertificateV2, TimeStampReq,
    TimeStampResp, TstInfo,
};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;

use crate::processes::{openssl_ok, path_str};

// OIDs written out here rather than taken from `qtsp::pki::oid`, so that a wrong constant there
// cannot hide behind the same wrong constant here.
const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");
const ID_PE_QC_STATEMENTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.3");
const ESI4_QTST_STATEMENT_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("0.4.0.19422.1.1");
pub(crate) const BASELINE_POLICY: &str = "0.4.0.2023.1.1";

// ---------------------------------------------------------------------------------------------
// Hashes and requests
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub(crate) const ALL: [Self; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    pub(crate) fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1"),
            Self::Sha384 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2"),
            Self::Sha512 => ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3"),
        }
    }

    fn from_oid(oid: &ObjectIdentifier) -> Self {
        Self::ALL
            .into_iter()
            .find(|h| h.oid() == *oid)
            .unwrap_or_else(|| panic!("{oid} is not a SHA-2 hash"))
    }

    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A request built here (not by openssl), for what openssl cannot or will not produce.
pub(crate) fn hand_built(
    alg: ObjectIdentifier,
    imprint: Vec<u8>,
    nonce: Option<u64>,
    cert_req: bool,
) -> TimeStampReq {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: alg,
                parameters: None,
            },
            hashed_message: OctetString::new(imprint).unwrap(),
        },
        req_policy: None,
        // 0x01 first: positive and minimal whatever the number.
        nonce: nonce.map(|n| Int::new(&[&[0x01][..], &n.to_be_bytes()].concat()).unwrap()),
        cert_req,
        extensions: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// The TSU as `qtsp init` wrote it.
pub(crate) struct Tsu {
    der: Vec<u8>,
    certificate: Certificate,
    /// `openssl x509 -subject -nameopt compat`, as `openssl ts -reply -text` prints a DirName.
    pub(crate) subject_compat: String,
}

impl Tsu {
    pub(crate) fn load(data: &Path) -> Self {
        let der = std::fs::read(data.join("certs/tsu.crt")).unwrap();
        let certificate = Certificate::from_der(&der).unwrap();
        let subject = openssl_ok(&[
            "x509",
            "-noout",
            "-subject",
            "-nameopt",
            "compat",
            "-in",
            path_str(&data.join("certs/tsu.pem")),
        ]);
        let subject_compat = subject
            .trim()
            .strip_prefix("subject=")
            .unwrap_or_else(|| panic!("{subject}"))
            .to_owned();
        Self {
            der,
            certificate,
            subject_compat,
        }
    }
}

/// A granted token, decoded with the `cms` crate and qtsp's `TstInfo`.
pub(crate) struct Token {
    pub(crate) tst_info: TstInfo,
    /// The eContent octets: the DER `TSTInfo` that was signed.
    tst_der: Vec<u8>,
    pub(crate) signed_data: SignedData,
}

/// Decodes a `TimeStampResp` that must be granted.
pub(crate) fn granted(reply: &[u8]) -> Token {
    let response = TimeStampResp::from_der(reply).unwrap_or_else(|e| {
        panic!(
            "TimeStampResp does not decode ({e}): {}",
            hex::encode(reply)
        )
    });
    assert_eq!(
        response.status.status,
        PkiStatus::Granted,
        "{:?}",
        response.status
    );
    assert_eq!(response.status.fail_info, None);
    let token = response.time_stamp_token.expect("granted without a token");
    let content_info = ContentInfo::from_der(&token.to_der().unwrap()).unwrap();
    assert_eq!(content_info.content_type, ID_SIGNED_DATA);
    let signed_data: SignedData = content_info.content.decode_as().unwrap();
    assert_eq!(signed_data.encap_content_info.econtent_type, ID_CT_TST_INFO);
    let econtent = signed_data
        .encap_content_info
        .econtent
        .as_ref()
        .expect("the TSTInfo is encapsulated");
    let tst_der = econtent
        .decode_as::<OctetString>()
        .unwrap()
        .as_bytes()
        .to_vec();
    let tst_info = TstInfo::from_der(&tst_der).unwrap();
    tst_info.validate().unwrap();
    Token {
        tst_info,
        tst_der,
        signed_data,
    }
}

/// Decodes a `TimeStampResp` that must be a rejection: its one `failInfo` and its text.
pub(crate) fn rejected(reply: &[u8]) -> (PkiFailureInfo, String) {
    let response = TimeStampResp::from_der(reply).unwrap_or_else(|e| {
        panic!(
            "TimeStampResp does not decode ({e}): {}",
            hex::encode(reply)
        )
    });
    assert_eq!(
        response.status.status,
        PkiStatus::Rejection,
        "{:?}",
        response.status
    );
    assert!(response.time_stamp_token.is_none());
    let text = response.status.status_string.unwrap_or_default().join(" ");
    (response.status.fail_info.expect("a failInfo"), text)
}

/// `SEQUENCE { statementId OBJECT IDENTIFIER, statementInfo ANY OPTIONAL }` (RFC 3739).
#[derive(Debug, Sequence)]
struct QcStatement {
    statement_id: ObjectIdentifier,
    statement_info: Option<Any>,
}

/// Serial number: positive, and at most 160 bits.
pub(crate) fn assert_serial(serial: &Int) {
    let bytes = serial.as_bytes();
    assert!(
        bytes.first().is_some_and(|b| b & 0x80 == 0),
        "negative serial {bytes:02x?}"
    );
    let magnitude = match bytes {
        [0, rest @ ..] => rest,
        all => all,
    };
    assert!(magnitude.iter().any(|b| *b != 0), "zero serial");
    assert!(magnitude.len() <= 20, "serial over 160 bits: {bytes:02x?}");
}

/// Everything issue #4 asks of a token, read from the structures (not from openssl's text).
pub(crate) fn check_token(
    token: &Token,
    request: &TimeStampReq,
    tsu: &Tsu,
    before: OffsetDateTime,
    after: OffsetDateTime,
) {
    let info = &token.tst_info;
    let context = format!("{info:?}");
    assert_eq!(info.version, 1, "{context}");
    assert_eq!(info.policy.to_string(), BASELINE_POLICY, "{context}");
    assert_eq!(info.message_imprint, request.message_imprint, "{context}");
    assert_eq!(info.nonce, request.nonce, "{context}");
    assert_serial(&info.serial_number);
    let gen_time = info.gen_time.to_offset_date_time();
    let slack = time::Duration::seconds(3);
    assert!(
        gen_time >= before - slack && gen_time <= after + slack,
        "genTime {gen_time} is not around {before}..{after}"
    );
    assert_eq!(
        info.accuracy,
        Some(Accuracy {
            seconds: Some(1),
            millis: None,
            micros: None
        })
    );
    assert!(!info.ordering);
    assert_eq!(
        info.tsa,
        Some(GeneralName::DirectoryName(
            tsu.certificate.tbs_certificate().subject().clone()
        )),
        "{context}"
    );
    let extensions: &[Extension] = info.extensions.as_deref().unwrap_or_default();
    let qc = extensions
        .iter()
        .find(|e| e.extn_id == ID_PE_QC_STATEMENTS)
        .unwrap_or_else(|| panic!("no qcStatements in {context}"));
    assert!(!qc.critical);
    let statements = Vec::<QcStatement>::from_der(qc.extn_value.as_bytes()).unwrap();
    assert!(
        statements
            .iter()
            .any(|s| s.statement_id == ESI4_QTST_STATEMENT_1),
        "{statements:?}"
    );

    // The CMS around it.
    let signed = &token.signed_data;
    match &signed.certificates {
        Some(set) if request.cert_req => {
            let certificates: Vec<&CertificateChoices> = set.0.iter().collect();
            assert_eq!(certificates.len(), 1);
            let CertificateChoices::Certificate(certificate) = certificates[0] else {
                panic!("not an X.509 certificate");
            };
            assert_eq!(certificate.to_der().unwrap(), tsu.der);
        }
        None if !request.cert_req => {}
        other => panic!(
            "certReq {} but certificates {}",
            request.cert_req,
            if other.is_some() { "present" } else { "absent" }
        ),
    }
    let signers: Vec<_> = signed.signer_infos.0.iter().collect();
    assert_eq!(signers.len(), 1);
    let signer = signers[0];
    let SignerIdentifier::IssuerAndSerialNumber(sid) = &signer.sid else {
        panic!("sid is not issuerAndSerialNumber");
    };
    let tbs = tsu.certificate.tbs_certificate();
    assert_eq!(&sid.issuer, tbs.issuer());
    assert_eq!(&sid.serial_number, tbs.serial_number());
    assert!(
        signed
            .digest_algorithms
            .iter()
            .any(|a| a == &signer.digest_alg)
    );

    let attributes = signer.signed_attrs.as_ref().expect("signed attributes");
    let value = |oid: ObjectIdentifier| -> &Any {
        let attribute = attributes
            .iter()
            .find(|a| a.oid == oid)
            .unwrap_or_else(|| panic!("no signed attribute {oid}"));
        assert_eq!(attribute.values.len(), 1, "{oid}");
        attribute.values.iter().next().unwrap()
    };
    assert_eq!(
        value(ID_CONTENT_TYPE)
            .decode_as::<ObjectIdentifier>()
            .unwrap(),
        ID_CT_TST_INFO
    );
    let digest = Hash::from_oid(&signer.digest_alg.oid).digest(&token.tst_der);
    assert_eq!(
        value(ID_MESSAGE_DIGEST)
            .decode_as::<OctetString>()
            .unwrap()
            .as_bytes(),
        digest.as_slice()
    );
    let signing_certificate =
        SigningCertificateV2::from_der(&value(ID_SIGNING_CERTIFICATE_V2).to_der().unwrap())
            .unwrap();
    let first = signing_certificate.certs.first().expect("an ESSCertIDv2");
    assert_eq!(first.hash_algorithm.oid, Hash::Sha256.oid());
    assert_eq!(
        first.cert_hash.as_bytes(),
        sha2::Sha256::digest(&tsu.der).as_slice(),
        "ESSCertIDv2.certHash is not the SHA-256 of certs/tsu.crt"
    );
    if let Some(issuer_serial) = &first.issuer_serial {
        assert_eq!(
            issuer_serial.issuer,
            vec![GeneralName::DirectoryName(tbs.issuer().clone())]
        );
        assert_eq!(&issuer_serial.serial_number, tbs.serial_number());
    }
}
