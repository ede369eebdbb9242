//! PKI building blocks: object identifiers as named constants ([`oid`]), the ASN.1 types qtsp adds
//! to what `x509-cert` provides ([`qc`]: RFC 3739 / EN 319 412-5 QC statements), key and
//! signature algorithm identifiers ([`alg`]), typed distinguished names ([`name`]) and DER
//! helpers ([`der_util`]: RFC 5280 times, key identifiers), the RFC 3161 / RFC 5816
//! time-stamp protocol types ([`tsp`]) and the RFC 6960 OCSP types ([`ocsp`]).
//!
//! Only this module and the builders construct ASN.1; nothing here touches the HSM, the clock or
//! the database.

pub mod alg;
pub mod der_util;
pub mod der_write;
pub mod error;
pub mod name;
pub mod ocsp;
pub mod oid;
pub mod qc;
pub mod tsp;

pub use alg::{DigestAlgorithm, KeyAlgorithm, SignatureAlgorithm};
pub use error::PkiError;
pub use name::{
    CountryCode, LegalIdentityType, LegalPersonIdentifier, NaturalPersonIdentifier,
    NaturalPersonName, OrganizationName, PersonIdentityType, SubjectKind, SubjectName,
};
