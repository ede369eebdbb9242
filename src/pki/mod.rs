//! PKI building blocks: object identifiers as named constants ([`oid`]), the ASN.1 types qtsp adds
//! to what `x509-cert` provides ([`qc`]: RFC 3739 / EN 319 412-5 QC statements), signature and
//! key algorithm identifiers ([`alg`]), distinguished names ([`name`]) and DER helpers ([`der_util`]).
//!
//! Only this module and the builders construct ASN.1; nothing here touches the HSM, the clock or
//! the database.

pub mod error;
pub mod oid;
pub mod qc;
pub mod alg;

pub use error::PkiError;
