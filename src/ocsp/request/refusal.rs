//! Why a request is refused ([`OcspRefusal`]): a stable code, and the unsigned `OCSPResponse`
//! that carries only its status.

use const_oid::ObjectIdentifier;
use der::Encode;

use super::{MAX_NONCE_LEN, MAX_REQUEST_LEN, MAX_REQUESTS};
use crate::pki::PkiError;
use crate::pki::ocsp::{OcspResponse, OcspResponseStatus};

/// Why a request is refused. Every message starts with a stable code (`OCSP1nn`); the response
/// itself carries only [`OcspRefusal::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OcspRefusal {
    /// The request is larger than [`MAX_REQUEST_LEN`].
    #[error("OCSP101 request too large: {len} bytes, at most {MAX_REQUEST_LEN}")]
    TooLarge {
        /// The request length.
        len: usize,
    },

    /// The bytes are not a DER `OCSPRequest` (trailing bytes included).
    #[error("OCSP102 malformed request: {0}")]
    Malformed(der::Error),

    /// The request decodes but is not in the one DER form (an explicit DEFAULT written out).
    #[error("OCSP103 request is not DER: a value is not in its canonical encoding")]
    NotCanonical,

    /// `version` is not v1 (0).
    #[error("OCSP104 unsupported request version {0}")]
    BadVersion(u8),

    /// `requestList` is empty.
    #[error("OCSP105 the request asks about no certificate")]
    NoRequests,

    /// `requestList` has more than [`MAX_REQUESTS`] entries.
    #[error("OCSP106 the request asks about {count} certificates, at most {MAX_REQUESTS}")]
    TooManyRequests {
        /// The number of entries.
        count: usize,
    },

    /// A `CertID` hash other than SHA-1 and SHA-256.
    #[error("OCSP107 CertID hash algorithm {0} is not supported")]
    UnsupportedHash(ObjectIdentifier),

    /// `CertID` hash algorithm parameters other than absent or NULL.
    #[error("OCSP108 CertID hash algorithm {0} with parameters")]
    HashParameters(ObjectIdentifier),

    /// `issuerNameHash` or `issuerKeyHash` is not as long as the hash's output.
    #[error("OCSP109 {field} of {len} bytes, {alg} gives {expected}")]
    HashLength {
        /// `issuerNameHash` or `issuerKeyHash`.
        field: &'static str,
        /// The algorithm's name.
        alg: &'static str,
        /// The length received.
        len: usize,
        /// The algorithm's output length.
        expected: usize,
    },

    /// The nonce extension's value is not a DER OCTET STRING.
    #[error("OCSP110 the nonce extension does not hold an OCTET STRING")]
    NonceEncoding,

    /// The nonce is empty or longer than [`MAX_NONCE_LEN`].
    #[error("OCSP111 nonce of {0} octets, expected 1 to {MAX_NONCE_LEN}")]
    NonceLength(usize),

    /// An extensions field is present and empty (`SEQUENCE SIZE (1..MAX) OF Extension`).
    #[error("OCSP112 empty extensions in the {0}")]
    EmptyExtensions(&'static str),

    /// The same extension appears twice in one extensions field.
    #[error("OCSP113 extension {0} appears more than once")]
    DuplicateExtension(ObjectIdentifier),

    /// A critical extension qtsp does not implement.
    #[error("OCSP114 critical extension {0} is not supported")]
    UnsupportedCriticalExtension(ObjectIdentifier),

    /// The HTTP body was not labelled `application/ocsp-request` (RFC 6960 appendix A.1).
    #[error("OCSP115 the request's Content-Type must be application/ocsp-request")]
    ContentType,
}

impl OcspRefusal {
    /// The stable code at the start of the message (`OCSP101`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "OCSP101",
            Self::Malformed(_) => "OCSP102",
            Self::NotCanonical => "OCSP103",
            Self::BadVersion(_) => "OCSP104",
            Self::NoRequests => "OCSP105",
            Self::TooManyRequests { .. } => "OCSP106",
            Self::UnsupportedHash(_) => "OCSP107",
            Self::HashParameters(_) => "OCSP108",
            Self::HashLength { .. } => "OCSP109",
            Self::NonceEncoding => "OCSP110",
            Self::NonceLength(_) => "OCSP111",
            Self::EmptyExtensions(_) => "OCSP112",
            Self::DuplicateExtension(_) => "OCSP113",
            Self::UnsupportedCriticalExtension(_) => "OCSP114",
            Self::ContentType => "OCSP115",
        }
    }

    /// The `OCSPResponseStatus` RFC 6960 assigns to this problem: every request that cannot be
    /// answered as sent is `malformedRequest` ("illegal confirmation request").
    #[must_use]
    pub fn status(&self) -> OcspResponseStatus {
        match self {
            Self::TooLarge { .. }
            | Self::Malformed(_)
            | Self::NotCanonical
            | Self::BadVersion(_)
            | Self::NoRequests
            | Self::TooManyRequests { .. }
            | Self::UnsupportedHash(_)
            | Self::HashParameters(_)
            | Self::HashLength { .. }
            | Self::NonceEncoding
            | Self::NonceLength(_)
            | Self::EmptyExtensions(_)
            | Self::DuplicateExtension(_)
            | Self::UnsupportedCriticalExtension(_)
            | Self::ContentType => OcspResponseStatus::MalformedRequest,
        }
    }

    /// The `OCSPResponse` for this refusal: the status, no `responseBytes`.
    #[must_use]
    pub fn to_response(&self) -> OcspResponse {
        OcspResponse::error(self.status())
    }

    /// The DER of [`OcspRefusal::to_response`], the body of the `application/ocsp-response`.
    pub fn to_response_der(&self) -> Result<Vec<u8>, PkiError> {
        self.to_response()
            .to_der()
            .map_err(PkiError::encode("OCSPResponse"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::oid;
    use der::Decode;
    use std::collections::BTreeSet;

    #[test]
    fn refusal_response_is_the_bare_status() {
        let r = OcspRefusal::NoRequests;
        assert_eq!(
            r.to_response_der().unwrap(),
            vec![0x30, 0x03, 0x0a, 0x01, 0x01]
        );
        assert_eq!(
            OcspResponse::from_der(&r.to_response_der().unwrap()).unwrap(),
            r.to_response()
        );
    }

    #[test]
    fn messages_start_with_their_code() {
        let errors = [
            OcspRefusal::TooLarge { len: 1 },
            OcspRefusal::Malformed(der::ErrorKind::Overflow.into()),
            OcspRefusal::NotCanonical,
            OcspRefusal::BadVersion(1),
            OcspRefusal::NoRequests,
            OcspRefusal::TooManyRequests { count: 21 },
            OcspRefusal::UnsupportedHash(oid::ID_MD5),
            OcspRefusal::HashParameters(oid::ID_SHA1),
            OcspRefusal::HashLength {
                field: "issuerKeyHash",
                alg: "sha1",
                len: 1,
                expected: 20,
            },
            OcspRefusal::NonceEncoding,
            OcspRefusal::NonceLength(0),
            OcspRefusal::EmptyExtensions("request"),
            OcspRefusal::DuplicateExtension(oid::ID_PKIX_OCSP_NONCE),
            OcspRefusal::UnsupportedCriticalExtension(oid::ID_PKIX_OCSP_NONCE),
            OcspRefusal::ContentType,
        ];
        let mut codes = BTreeSet::new();
        for e in errors {
            assert!(e.to_string().starts_with(e.code()), "{e}");
            assert!(codes.insert(e.code()), "{} twice", e.code());
            assert_eq!(e.status(), OcspResponseStatus::MalformedRequest);
            assert_eq!(e.to_response_der().unwrap(), [0x30, 0x03, 0x0a, 0x01, 0x01]);
        }
    }
}
