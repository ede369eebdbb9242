//! OCSP responder (RFC 6960, RFC 9919 lightweight profile, EN 319 411-2).
//!
//! [`request`] checks an `OCSPRequest` and turns what cannot be answered into an unsigned
//! `OCSPResponse` carrying only its `OCSPResponseStatus`; [`responder`] answers the rest with a
//! `BasicOCSPResponse` signed in the HSM, the status read from the database; [`cache`] keeps
//! the signed answers to requests without a nonce, checked against the issuer's revocation mark
//! before each use, and [`presigned`] signs them again before they are due (its refresher task)
//! and shares one signature among concurrent requests (`flight`); [`service`] holds one
//! responder per CA and hands each request to the one that speaks for its issuer. The ASN.1
//! types are in [`crate::pki::ocsp`].

pub mod cache;
mod encode;
mod flight;
pub mod presigned;
pub mod request;
pub mod responder;
pub mod service;
mod status;

pub use cache::OcspCacheSettings;
pub use request::{
    CertIdHash, CheckedOcspRequest, MAX_NONCE_LEN, MAX_REQUEST_LEN, MAX_REQUESTS, OcspRefusal,
    RequestedCert, check_request,
};
pub use responder::{OcspAnswer, OcspAuthority, OcspError, OcspResponder};
pub use service::OcspService;
