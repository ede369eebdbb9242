//! Checking an RFC 3161 `TimeStampReq` before anything is signed.
//!
//! [`check_request`] takes the raw body of an `application/timestamp-query` and either returns
//! the few facts the TSA needs ([`CheckedRequest`]) or a [`Refusal`] that maps onto a
//! `TimeStampResp` with status `rejection` and a `failInfo` bit ([`Refusal::to_response_der`]).
//!
//! What is refused, and how (RFC 3161 section 2.4.2, ETSI EN 319 421):
//!
//! | problem                                                   | failInfo              |
//! |-----------------------------------------------------------|-----------------------|
//! | more than [`MAX_REQUEST_LEN`] bytes                        | `badRequest`          |
//! | not DER, trailing bytes, explicit DEFAULT (`certReq FALSE`) | `badRequest`          |
//! | version other than 1                                       | `badRequest`          |
//! | SHA-1, MD5, any hash not in the policy, odd parameters     | `badAlg`              |
//! | imprint length not the hash's output length                | `badDataFormat`       |
//! | `reqPolicy` present and not ours                           | `unacceptedPolicy`    |
//! | any request extension, critical or not                     | `unacceptedExtension` |
//! | HTTP body not labelled `application/timestamp-query`       | `badRequest`          |
//!
//! Extensions: RFC 3161 section 2.4.2 says a TSA must reject a request carrying an extension it
//! does not recognise with `unacceptedExtension`. qtsp recognises none, so *every* extension is
//! refused, non-critical ones included. Non-canonical DER is refused because `der` 0.8 accepts
//! an explicitly encoded DEFAULT value on decoding; the check re-encodes the decoded request and
//! compares it with the input.
//!
//! Nothing here panics, whatever the input.

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use der::{Decode, Encode};

use crate::pki::PkiError;
use crate::pki::oid;
use crate::pki::tsp::{PkiFailureInfo, PkiStatus, PkiStatusInfo, TimeStampReq, TimeStampResp};

/// Largest request accepted, in bytes. A request is ~100 bytes; 8 KiB leaves room for nonces and
/// extensions while bounding the work done on garbage.
pub const MAX_REQUEST_LEN: usize = 8 * 1024;

/// Hash algorithms a time-stamp request may use for its message imprint.
///
/// SHA-1 and MD5 are recognised only to be refused (see [`RequestError::WeakHash`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ImprintAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
    /// SHA3-256.
    Sha3_256,
    /// SHA3-384.
    Sha3_384,
    /// SHA3-512.
    Sha3_512,
}

impl ImprintAlgorithm {
    /// All the algorithms qtsp can accept, strongest families last.
    pub const ALL: [Self; 6] = [
        Self::Sha256,
        Self::Sha384,
        Self::Sha512,
        Self::Sha3_256,
        Self::Sha3_384,
        Self::Sha3_512,
    ];

    /// The hash OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oid::ID_SHA256,
            Self::Sha384 => oid::ID_SHA384,
            Self::Sha512 => oid::ID_SHA512,
            Self::Sha3_256 => oid::ID_SHA3_256,
            Self::Sha3_384 => oid::ID_SHA3_384,
            Self::Sha3_512 => oid::ID_SHA3_512,
        }
    }

    /// The algorithm of a hash OID, if it is one of ours.
    #[must_use]
    pub fn from_oid(oid: &ObjectIdentifier) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.oid() == *oid)
    }

    /// Output length in bytes.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Sha3_256 => 32,
            Self::Sha384 | Self::Sha3_384 => 48,
            Self::Sha512 | Self::Sha3_512 => 64,
        }
    }

    /// The name openssl prints (`sha256`, `sha3-256`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
            Self::Sha3_256 => "sha3-256",
            Self::Sha3_384 => "sha3-384",
            Self::Sha3_512 => "sha3-512",
        }
    }
}

/// What the TSA accepts in a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampPolicy {
    /// The TSA policy the tokens are issued under; a request's `reqPolicy`, when present, must
    /// be this one.
    pub policy: ObjectIdentifier,
    /// Accepted message imprint hash algorithms.
    pub accepted_algorithms: Vec<ImprintAlgorithm>,
}

impl Default for TimeStampPolicy {
    /// The EN 319 421 baseline policy (`0.4.0.2023.1.1`), all of SHA-2 and SHA-3 accepted.
    fn default() -> Self {
        Self {
            policy: oid::TSA_BASELINE_POLICY,
            accepted_algorithms: ImprintAlgorithm::ALL.to_vec(),
        }
    }
}

/// The facts of an accepted request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedRequest {
    /// The imprint's hash algorithm.
    pub hash_alg: ImprintAlgorithm,
    /// The imprint (`hashedMessage`), exactly `hash_alg.output_len()` bytes.
    pub imprint: Vec<u8>,
    /// The request's `MessageImprint` as DER, to echo in `TSTInfo` byte for byte.
    pub message_imprint_der: Vec<u8>,
    /// The nonce as the content octets of its DER INTEGER, to echo unchanged.
    pub nonce: Option<Vec<u8>>,
    /// Whether the TSA certificate must be included in the token.
    pub cert_req: bool,
    /// The `reqPolicy`, when given (it then equals the TSA policy).
    pub requested_policy: Option<ObjectIdentifier>,
}

/// Why a request is refused. Every message starts with a stable code (`TSA1nn`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The body is larger than [`MAX_REQUEST_LEN`].
    #[error("TSA101 request too large: {len} bytes, at most {MAX_REQUEST_LEN}")]
    TooLarge {
        /// The body length.
        len: usize,
    },

    /// The body is not a DER `TimeStampReq` (trailing bytes included).
    #[error("TSA102 malformed request: {0}")]
    Malformed(der::Error),

    /// The body decodes but is not in the one DER form (e.g. `certReq FALSE` written out).
    #[error("TSA103 request is not DER: a value is not in its canonical encoding")]
    NotCanonical,

    /// `version` is not 1.
    #[error("TSA104 unsupported request version {0}")]
    BadVersion(u8),

    /// A hash that is too weak to time-stamp with (SHA-1, MD5).
    #[error("TSA105 hash algorithm {0} is too weak")]
    WeakHash(&'static str),

    /// A hash not accepted by the policy (unknown, or known and not configured).
    #[error("TSA106 hash algorithm {0} is not accepted")]
    UnacceptedHash(ObjectIdentifier),

    /// Hash algorithm parameters other than absent or NULL (RFC 5754 section 2).
    #[error("TSA107 hash algorithm {0} with parameters")]
    HashParameters(ObjectIdentifier),

    /// The imprint's length does not match the hash algorithm.
    #[error("TSA108 {alg} imprint of {len} bytes, expected {expected}")]
    ImprintLength {
        /// The algorithm's name.
        alg: &'static str,
        /// The imprint length received.
        len: usize,
        /// The algorithm's output length.
        expected: usize,
    },

    /// `reqPolicy` names a policy the TSA does not issue under.
    #[error("TSA109 policy {0} is not accepted")]
    UnacceptedPolicy(ObjectIdentifier),

    /// The request carries an extension (qtsp recognises none).
    #[error("TSA110 extension {oid} is not accepted{}", if *critical { " (critical)" } else { "" })]
    UnacceptedExtension {
        /// The extension's id.
        oid: ObjectIdentifier,
        /// Whether it was marked critical.
        critical: bool,
    },

    /// The HTTP body was not labelled `application/timestamp-query` (RFC 3161 section 3.4).
    #[error("TSA111 the request's Content-Type must be application/timestamp-query")]
    ContentType,
}

impl RequestError {
    /// The stable code at the start of the message (`TSA101`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "TSA101",
            Self::Malformed(_) => "TSA102",
            Self::NotCanonical => "TSA103",
            Self::BadVersion(_) => "TSA104",
            Self::WeakHash(_) => "TSA105",
            Self::UnacceptedHash(_) => "TSA106",
            Self::HashParameters(_) => "TSA107",
            Self::ImprintLength { .. } => "TSA108",
            Self::UnacceptedPolicy(_) => "TSA109",
            Self::UnacceptedExtension { .. } => "TSA110",
            Self::ContentType => "TSA111",
        }
    }

    /// The `failInfo` bit RFC 3161 assigns to this problem.
    #[must_use]
    pub fn fail_info(&self) -> PkiFailureInfo {
        match self {
            // What cannot be read as a TimeStampReq at all is a bad request; a readable
            // request whose imprint has the wrong size is a bad data format.
            Self::TooLarge { .. }
            | Self::Malformed(_)
            | Self::NotCanonical
            | Self::BadVersion(_)
            | Self::ContentType => PkiFailureInfo::BAD_REQUEST,
            Self::ImprintLength { .. } => PkiFailureInfo::BAD_DATA_FORMAT,
            Self::WeakHash(_) | Self::UnacceptedHash(_) | Self::HashParameters(_) => {
                PkiFailureInfo::BAD_ALG
            }
            Self::UnacceptedPolicy(_) => PkiFailureInfo::UNACCEPTED_POLICY,
            Self::UnacceptedExtension { .. } => PkiFailureInfo::UNACCEPTED_EXTENSION,
        }
    }
}

/// A refused request: what goes into the `PKIStatusInfo` of the response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct Refusal {
    /// Always [`PkiStatus::Rejection`] for a request refused here.
    pub status: PkiStatus,
    /// The one failure bit.
    pub fail_info: PkiFailureInfo,
    /// The `statusString`, starting with the stable code.
    pub text: String,
    /// The typed reason.
    pub reason: RequestError,
}

impl From<RequestError> for Refusal {
    fn from(reason: RequestError) -> Self {
        Self {
            status: PkiStatus::Rejection,
            fail_info: reason.fail_info(),
            text: reason.to_string(),
            reason,
        }
    }
}

impl Refusal {
    /// The refusal of a body that is not labelled `application/timestamp-query`.
    #[must_use]
    pub fn content_type() -> Self {
        RequestError::ContentType.into()
    }

    /// The stable code of the reason (`TSA101`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.reason.code()
    }

    /// The `TimeStampResp` for this refusal: status, `statusString` with the text, `failInfo`,
    /// no token.
    #[must_use]
    pub fn to_response(&self) -> TimeStampResp {
        TimeStampResp {
            status: PkiStatusInfo {
                status: self.status,
                status_string: Some(vec![self.text.clone()]),
                fail_info: Some(self.fail_info),
            },
            time_stamp_token: None,
        }
    }

    /// The DER of [`Refusal::to_response`], the body of the `application/timestamp-reply`.
    pub fn to_response_der(&self) -> Result<Vec<u8>, PkiError> {
        self.to_response()
            .to_der()
            .map_err(PkiError::encode("TimeStampResp"))
    }
}

/// Checks a DER `TimeStampReq` against `policy`.
pub fn check_request(der: &[u8], policy: &TimeStampPolicy) -> Result<CheckedRequest, Refusal> {
    Ok(check(der, policy)?)
}

fn check(der: &[u8], policy: &TimeStampPolicy) -> Result<CheckedRequest, RequestError> {
    if der.len() > MAX_REQUEST_LEN {
        return Err(RequestError::TooLarge { len: der.len() });
    }
    // `from_der` refuses trailing bytes.
    let req = TimeStampReq::from_der(der).map_err(RequestError::Malformed)?;
    // Re-encoded on the stack: a request is at most MAX_REQUEST_LEN octets, and so is its
    // canonical form when it is one (a longer form is no match either).
    let mut canonical = [0u8; MAX_REQUEST_LEN];
    if req.encode_to_slice(&mut canonical).ok() != Some(der) {
        return Err(RequestError::NotCanonical);
    }
    if req.version != 1 {
        return Err(RequestError::BadVersion(req.version));
    }

    let alg_id = &req.message_imprint.hash_algorithm;
    if alg_id.oid == oid::ID_SHA1 {
        return Err(RequestError::WeakHash("SHA-1"));
    }
    if alg_id.oid == oid::ID_MD5 {
        return Err(RequestError::WeakHash("MD5"));
    }
    let hash_alg = ImprintAlgorithm::from_oid(&alg_id.oid)
        .filter(|a| policy.accepted_algorithms.contains(a))
        .ok_or(RequestError::UnacceptedHash(alg_id.oid))?;
    if let Some(params) = &alg_id.parameters
        && params.decode_as::<Null>().is_err()
    {
        return Err(RequestError::HashParameters(alg_id.oid));
    }
    let imprint = req.message_imprint.hashed_message.as_bytes();
    if imprint.len() != hash_alg.output_len() {
        return Err(RequestError::ImprintLength {
            alg: hash_alg.name(),
            len: imprint.len(),
            expected: hash_alg.output_len(),
        });
    }

    if let Some(requested) = req.req_policy
        && requested != policy.policy
    {
        return Err(RequestError::UnacceptedPolicy(requested));
    }

    if let Some(extensions) = &req.extensions {
        // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
        let first = extensions.first().ok_or(RequestError::NotCanonical)?;
        return Err(RequestError::UnacceptedExtension {
            oid: first.extn_id,
            critical: extensions.iter().any(|e| e.critical),
        });
    }

    let message_imprint_der = req
        .message_imprint
        .to_der()
        .map_err(RequestError::Malformed)?;
    Ok(CheckedRequest {
        hash_alg,
        imprint: req.message_imprint.hashed_message.into_bytes().into_vec(),
        message_imprint_der,
        nonce: req.nonce.as_ref().map(|n| n.as_bytes().to_vec()),
        cert_req: req.cert_req,
        requested_policy: req.req_policy,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::tsp::MessageImprint;
    use der::asn1::{Any, Int, OctetString};
    use spki::AlgorithmIdentifierOwned;
    use x509_cert::ext::Extension;

    fn request(alg: ObjectIdentifier, imprint_len: usize) -> TimeStampReq {
        TimeStampReq {
            version: 1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: alg,
                    parameters: None,
                },
                hashed_message: OctetString::new(vec![7; imprint_len]).unwrap(),
            },
            req_policy: None,
            nonce: Some(Int::new(&[0x00, 0x99]).unwrap()),
            cert_req: true,
            extensions: None,
        }
    }

    fn refusal(req: &TimeStampReq) -> Refusal {
        check_request(&req.to_der().unwrap(), &TimeStampPolicy::default()).unwrap_err()
    }

    #[test]
    fn accepts_every_configured_hash() {
        for alg in ImprintAlgorithm::ALL {
            let req = request(alg.oid(), alg.output_len());
            let checked = check_request(&req.to_der().unwrap(), &TimeStampPolicy::default())
                .unwrap_or_else(|r| panic!("{alg:?}: {r}"));
            assert_eq!(checked.hash_alg, alg);
            assert_eq!(checked.imprint, vec![7; alg.output_len()]);
            assert_eq!(checked.nonce, Some(vec![0x00, 0x99]));
            assert!(checked.cert_req);
            assert_eq!(checked.requested_policy, None);
        }
    }

    #[test]
    fn refuses_weak_unknown_and_unconfigured_hashes() {
        for (alg, len, code) in [
            (oid::ID_SHA1, 20, "TSA105"),
            (oid::ID_MD5, 16, "TSA105"),
            (ObjectIdentifier::new_unwrap("1.2.3.4"), 32, "TSA106"),
        ] {
            let r = refusal(&request(alg, len));
            assert_eq!(r.fail_info, PkiFailureInfo::BAD_ALG);
            assert_eq!(r.code(), code);
            assert_eq!(r.status, PkiStatus::Rejection);
        }
        let only_sha512 = TimeStampPolicy {
            accepted_algorithms: vec![ImprintAlgorithm::Sha512],
            ..TimeStampPolicy::default()
        };
        let der = request(oid::ID_SHA256, 32).to_der().unwrap();
        let r = check_request(&der, &only_sha512).unwrap_err();
        assert_eq!(r.fail_info, PkiFailureInfo::BAD_ALG);
    }

    #[test]
    fn hash_parameters_may_be_absent_or_null_only() {
        let mut req = request(oid::ID_SHA256, 32);
        req.message_imprint.hash_algorithm.parameters = Some(Any::from(Null));
        check_request(&req.to_der().unwrap(), &TimeStampPolicy::default()).unwrap();
        req.message_imprint.hash_algorithm.parameters = Some(Any::encode_from(&1u8).unwrap());
        let r = refusal(&req);
        assert_eq!((r.code(), r.fail_info), ("TSA107", PkiFailureInfo::BAD_ALG));
    }

    #[test]
    fn refuses_wrong_imprint_lengths() {
        for len in [0, 31, 33, 48] {
            let r = refusal(&request(oid::ID_SHA256, len));
            assert_eq!(r.fail_info, PkiFailureInfo::BAD_DATA_FORMAT, "{len}");
            assert_eq!(r.code(), "TSA108");
        }
    }

    #[test]
    fn refuses_other_versions_with_bad_request() {
        let mut req = request(oid::ID_SHA256, 32);
        req.version = 2;
        let r = refusal(&req);
        assert_eq!(
            (r.code(), r.fail_info),
            ("TSA104", PkiFailureInfo::BAD_REQUEST)
        );
    }

    #[test]
    fn policy_must_be_ours_when_given() {
        let mut req = request(oid::ID_SHA256, 32);
        req.req_policy = Some(oid::TSA_BASELINE_POLICY);
        let checked = check_request(&req.to_der().unwrap(), &TimeStampPolicy::default()).unwrap();
        assert_eq!(checked.requested_policy, Some(oid::TSA_BASELINE_POLICY));
        req.req_policy = Some(ObjectIdentifier::new_unwrap("1.2.3.4"));
        let r = refusal(&req);
        assert_eq!(
            (r.code(), r.fail_info),
            ("TSA109", PkiFailureInfo::UNACCEPTED_POLICY)
        );
    }

    #[test]
    fn refuses_every_extension() {
        for critical in [true, false] {
            let mut req = request(oid::ID_SHA256, 32);
            req.extensions = Some(vec![Extension {
                extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
                critical,
                extn_value: OctetString::new(vec![5, 0]).unwrap(),
            }]);
            let r = refusal(&req);
            assert_eq!(
                (r.code(), r.fail_info),
                ("TSA110", PkiFailureInfo::UNACCEPTED_EXTENSION)
            );
            assert_eq!(r.text.contains("critical"), critical);
        }
        // An empty [0] is not even valid: SIZE (1..MAX).
        let mut req = request(oid::ID_SHA256, 32);
        req.extensions = Some(vec![]);
        assert_eq!(refusal(&req).fail_info, PkiFailureInfo::BAD_REQUEST);
    }

    #[test]
    fn refuses_non_der_trailing_bytes_and_oversize() {
        let mut req = request(oid::ID_SHA256, 32);
        req.cert_req = false;
        let der = req.to_der().unwrap();
        // certReq FALSE written out: decodes with der 0.8, refused as non-canonical.
        let mut explicit = der.clone();
        explicit.extend_from_slice(&[0x01, 0x01, 0x00]);
        explicit[1] += 3;
        let r = check_request(&explicit, &TimeStampPolicy::default()).unwrap_err();
        assert_eq!(
            (r.code(), r.fail_info),
            ("TSA103", PkiFailureInfo::BAD_REQUEST)
        );

        let mut trailing = der.clone();
        trailing.push(0);
        let r = check_request(&trailing, &TimeStampPolicy::default()).unwrap_err();
        assert_eq!(
            (r.code(), r.fail_info),
            ("TSA102", PkiFailureInfo::BAD_REQUEST)
        );

        let big = vec![0x30; MAX_REQUEST_LEN + 1];
        let r = check_request(&big, &TimeStampPolicy::default()).unwrap_err();
        assert_eq!(
            (r.code(), r.fail_info),
            ("TSA101", PkiFailureInfo::BAD_REQUEST)
        );

        for garbage in [&[][..], &[0x30], &[0x30, 0x80], &[0xff; 16]] {
            let r = check_request(garbage, &TimeStampPolicy::default()).unwrap_err();
            assert_eq!(r.fail_info, PkiFailureInfo::BAD_REQUEST);
        }
    }

    #[test]
    fn refusal_response_bytes() {
        let r = Refusal::from(RequestError::WeakHash("MD5"));
        let der = r.to_response_der().unwrap();
        let text = "TSA105 hash algorithm MD5 is too weak";
        let mut expected = vec![0x30, 0, 0x30, 0, 0x02, 0x01, 0x02, 0x30, 0, 0x0c, 0];
        expected[10] = u8::try_from(text.len()).unwrap();
        expected[8] = expected[10] + 2;
        expected.extend_from_slice(text.as_bytes());
        expected.extend_from_slice(&[0x03, 0x02, 0x07, 0x80]);
        expected[3] = u8::try_from(expected.len() - 4).unwrap();
        expected[1] = u8::try_from(expected.len() - 2).unwrap();
        assert_eq!(hex::encode(&der), hex::encode(&expected));
        assert_eq!(TimeStampResp::from_der(&der).unwrap(), r.to_response());
    }

    #[test]
    fn messages_start_with_their_code() {
        let errors = [
            RequestError::TooLarge { len: 1 },
            RequestError::Malformed(der::ErrorKind::Overflow.into()),
            RequestError::NotCanonical,
            RequestError::BadVersion(2),
            RequestError::WeakHash("MD5"),
            RequestError::UnacceptedHash(oid::ID_SHA1),
            RequestError::HashParameters(oid::ID_SHA256),
            RequestError::ImprintLength {
                alg: "sha256",
                len: 1,
                expected: 32,
            },
            RequestError::UnacceptedPolicy(oid::QCP_N),
            RequestError::UnacceptedExtension {
                oid: oid::QCP_N,
                critical: true,
            },
            RequestError::ContentType,
        ];
        for e in errors {
            assert!(e.to_string().starts_with(e.code()), "{e}");
            let r = Refusal::from(e.clone());
            assert_eq!(r.code(), e.code());
            assert_eq!(r.fail_info.bits().count_ones(), 1);
        }
    }
}
