//! The CAs a responder answers for: the `CertID` hashes that name each one (RFC 6960 section
//! 4.1.1), computed once from its certificate, and what every answer about it repeats.

use der::asn1::OctetString;
use der::{Decode, Encode};
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::ext::Extension;

use super::OcspError;
use crate::ocsp::encode::explicit_extensions;
use crate::ocsp::request::{CertIdHash, RequestedCert};
use crate::pki::der_util::{from_x509_time, generalized_time};
use crate::pki::{PkiError, oid};

/// SHA-1 of `data`.
pub(super) fn sha1(data: &[u8]) -> Vec<u8> {
    sha1::Sha1::digest(data).to_vec()
}

/// SHA-256 of `data`.
fn sha256(data: &[u8]) -> Vec<u8> {
    sha2::Sha256::digest(data).to_vec()
}

/// The value of a certificate's `subjectPublicKey` BIT STRING (no tag, length or unused-bits
/// octet), what `issuerKeyHash` and `ResponderID.byKey` hash.
pub(super) fn public_key_bits(cert: &Certificate) -> Result<Vec<u8>, String> {
    cert.tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .map(<[u8]>::to_vec)
        .ok_or_else(|| "the public key BIT STRING has unused bits".to_owned())
}

/// A CA this responder answers for, with the `CertID` hashes that name it.
#[derive(Debug, Clone)]
pub struct OcspAuthority {
    pub(super) name: String,
    sha1_name: Vec<u8>,
    sha1_key: Vec<u8>,
    sha256_name: Vec<u8>,
    sha256_key: Vec<u8>,
    /// DER of `singleExtensions [1] EXPLICIT Extensions` holding the ArchiveCutoff extension
    /// (the CA certificate's notBefore), the same on every answer.
    pub(super) single_extensions_der: Vec<u8>,
    pub(super) subject_der: Vec<u8>,
}

impl OcspAuthority {
    /// The CA `name` (its certificates are stored under that issuer name) with its certificate
    /// (DER).
    pub fn from_certificate_der(name: &str, certificate_der: &[u8]) -> Result<Self, OcspError> {
        let cert = Certificate::from_der(certificate_der)
            .map_err(|e| OcspError::InvalidAuthority(format!("not a DER certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let subject_der = tbs
            .subject()
            .to_der()
            .map_err(PkiError::encode("CA subject"))?;
        let key = public_key_bits(&cert).map_err(OcspError::InvalidAuthority)?;
        let not_before = from_x509_time(&tbs.validity().not_before)?;
        let cutoff = generalized_time(not_before)?
            .to_der()
            .map_err(PkiError::encode("ArchiveCutoff"))?;
        let archive_cutoff = Extension {
            extn_id: oid::ID_PKIX_OCSP_ARCHIVE_CUTOFF,
            critical: false,
            extn_value: OctetString::new(cutoff).map_err(PkiError::encode("ArchiveCutoff"))?,
        };
        let single_extensions_der = explicit_extensions(
            &archive_cutoff
                .to_der()
                .map_err(PkiError::encode("ArchiveCutoff"))?,
        );
        Ok(Self {
            name: name.to_owned(),
            sha1_name: sha1(&subject_der),
            sha1_key: sha1(&key),
            sha256_name: sha256(&subject_der),
            sha256_key: sha256(&key),
            single_extensions_der,
            subject_der,
        })
    }

    /// The CA name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `cert` names this CA.
    pub(crate) fn names(&self, cert: &RequestedCert) -> bool {
        let (name, key) = match cert.hash_alg {
            CertIdHash::Sha1 => (&self.sha1_name, &self.sha1_key),
            CertIdHash::Sha256 => (&self.sha256_name, &self.sha256_key),
        };
        cert.issuer_name_hash == *name && cert.issuer_key_hash == *key
    }
}
