//! OCSP responder (RFC 6960, RFC 9919 lightweight profile, EN 319 411-2).
//!
//! So far: [`request`] checks an `OCSPRequest` and turns what cannot be answered into an
//! unsigned `OCSPResponse` carrying only its `OCSPResponseStatus`. The status source, the signed
//! `BasicOCSPResponse` and the pre-signed response cache come next; the ASN.1 types are in
//! [`crate::pki::ocsp`].

pub mod request;

pub use request::{
    CertIdHash, CheckedOcspRequest, MAX_NONCE_LEN, MAX_REQUEST_LEN, MAX_REQUESTS, OcspRefusal,
    RequestedCert, check_request,
};
