//! RFC 3161 time-stamping authority (issue #4): request parsing and checks so far.
//!
//! [`request`] decodes and checks a `TimeStampReq` and builds the rejection responses; the
//! ASN.1 types live in [`crate::pki::tsp`].

pub mod request;

pub use request::{
    CheckedRequest, ImprintAlgorithm, MAX_REQUEST_LEN, Refusal, RequestError, TimeStampPolicy,
    check_request,
};
