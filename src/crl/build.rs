//! The CRL builder: a [`CrlContent`] becomes a [`PreparedCrl`] (the DER `TBSCertList`, its
//! signature algorithm and the digest the HSM must sign), which [`assemble`] turns into a
//! `CertificateList` once the signature is back and verified.
//!
//! Nothing here signs or reads the clock: the HSM call happens between [`prepare`] and
//! [`assemble`] (docs/ARCHITECTURE.md, "build the to-be-signed bytes, sign, then assemble").

use der::asn1::{BitString, OctetString};
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CrlNumber, CrlReason, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use super::CrlError;
use crate::pki::der_util::{
    from_x509_time, generalized_time, key_identifier, truncate_to_seconds, x509_time,
};
use crate::pki::{DigestAlgorithm, KeyAlgorithm, PkiError, SignatureAlgorithm, oid};
use crate::storage::{RevocationReason, RevocationRecord};

/// What the builder needs to know about the CA that signs the CRL, read from its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrlIssuerInfo {
    name: Name,
    key_id: Vec<u8>,
    spki_der: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    not_before: OffsetDateTime,
}

impl CrlIssuerInfo {
    /// The CA described by its certificate (DER): its subject (the CRL issuer), its
    /// subjectKeyIdentifier (computed as RFC 7093 method 1 if absent, as the certificate
    /// builder does), its key and its notBefore. Refused unless the certificate is a CA
    /// certificate whose keyUsage allows cRLSign.
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self, CrlError> {
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| CrlError::InvalidIssuer(format!("not a DER certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let bad = |e: der::Error| CrlError::InvalidIssuer(e.to_string());
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(bad)?
            .is_some_and(|(_, bc)| bc.ca);
        if !is_ca {
            return Err(CrlError::InvalidIssuer(
                "the certificate is not a CA certificate (basicConstraints cA)".into(),
            ));
        }
        if let Some((_, ku)) = tbs.get_extension::<KeyUsage>().map_err(bad)?
            && !ku.crl_sign()
        {
            return Err(CrlError::InvalidIssuer(
                "the CA certificate's keyUsage lacks cRLSign".into(),
            ));
        }
        let spki_der = tbs.subject_public_key_info().to_der().map_err(bad)?;
        let key_id = match tbs.get_extension::<SubjectKeyIdentifier>().map_err(bad)? {
            Some((_, ski)) => ski.0.as_bytes().to_vec(),
            None => key_identifier(&spki_der)?,
        };
        let key = KeyAlgorithm::from_spki_der(&spki_der)?;
        Ok(Self {
            name: tbs.subject().clone(),
            key_id,
            spki_der,
            signature_algorithm: SignatureAlgorithm::for_issuer_key(key),
            not_before: from_x509_time(&tbs.validity().not_before)?,
        })
    }

    /// The key identifier the CRL's authorityKeyIdentifier carries.
    #[must_use]
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// DER SubjectPublicKeyInfo of the CA key.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The signature algorithm of the CA key (ECDSA P-384 signs with ecdsa-with-SHA384).
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// The CA certificate's notBefore (the expiredCertsOnCRL value).
    #[must_use]
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
}

/// Everything that goes into one CRL.
#[derive(Clone, Copy, Debug)]
pub struct CrlContent<'a> {
    /// The signing CA.
    pub issuer: &'a CrlIssuerInfo,
    /// cRLNumber (positive; allocated by storage so that it only increases).
    pub crl_number: u64,
    /// thisUpdate (truncated to the second).
    pub this_update: OffsetDateTime,
    /// nextUpdate (truncated to the second), after thisUpdate.
    pub next_update: OffsetDateTime,
    /// The CA's revocations, in the order they are listed. Entries of expired certificates are
    /// kept (the CRL says so with expiredCertsOnCRL).
    pub revocations: &'a [RevocationRecord],
}

/// A to-be-signed CRL. Not `Clone`: it is consumed by [`assemble`].
#[derive(Debug)]
pub struct PreparedCrl {
    tbs: TbsCertList,
    tbs_der: Vec<u8>,
    digest: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    spki_der: Vec<u8>,
}

impl PreparedCrl {
    /// DER of the `TBSCertList`.
    #[must_use]
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The hash to sign with the CA key (of [`PreparedCrl::digest_algorithm`]).
    #[must_use]
    pub fn digest_to_sign(&self) -> &[u8] {
        &self.digest
    }

    /// The hash function of [`PreparedCrl::digest_to_sign`].
    #[must_use]
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.signature_algorithm.digest()
    }

    /// The signature algorithm (the same in the TBSCertList and the CertificateList).
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }
}

fn extension<T: Encode>(
    oid: const_oid::ObjectIdentifier,
    value: &T,
    what: &'static str,
) -> Result<Extension, PkiError> {
    let der = value.to_der().map_err(PkiError::encode(what))?;
    Ok(Extension {
        extn_id: oid,
        // Every extension qtsp writes in a CRL is non-critical (RFC 5280 sections 5.2 and 5.3).
        critical: false,
        extn_value: OctetString::new(der).map_err(PkiError::encode(what))?,
    })
}

pub(crate) fn crl_reason(reason: RevocationReason) -> CrlReason {
    match reason {
        RevocationReason::Unspecified => CrlReason::Unspecified,
        RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
        RevocationReason::CaCompromise => CrlReason::CaCompromise,
        RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
        RevocationReason::Superseded => CrlReason::Superseded,
        RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        RevocationReason::AaCompromise => CrlReason::AaCompromise,
    }
}

/// One revokedCertificates entry: serial, revocationDate, and the entry extensions reasonCode
/// (absent for `unspecified`, as RFC 5280 section 5.3.1 recommends) and invalidityDate (when
/// known).
fn revoked_entry(record: &RevocationRecord) -> Result<RevokedCert, PkiError> {
    let mut extensions = Vec::new();
    if record.reason != RevocationReason::Unspecified {
        extensions.push(extension(
            oid::ID_CE_CRL_REASONS,
            &crl_reason(record.reason),
            "reasonCode",
        )?);
    }
    if let Some(invalidity) = record.invalidity_date {
        extensions.push(extension(
            oid::ID_CE_INVALIDITY_DATE,
            &generalized_time(invalidity)?,
            "invalidityDate",
        )?);
    }
    Ok(RevokedCert {
        serial_number: SerialNumber::new(record.serial.as_bytes())
            .map_err(PkiError::encode("userCertificate"))?,
        revocation_date: x509_time(record.revoked_at)?,
        crl_entry_extensions: (!extensions.is_empty()).then_some(extensions),
    })
}

/// Builds the to-be-signed CRL: version v2, the CA key's signature algorithm, issuer = the CA
/// subject, thisUpdate / nextUpdate, one entry per revocation (`revokedCertificates` absent when
/// there is none, as RFC 5280 requires), and the CRL extensions authorityKeyIdentifier (keyIdentifier
/// only), cRLNumber and expiredCertsOnCRL (the CA certificate's notBefore: entries are never
/// dropped when certificates expire, EN 319 411-2 / X.509 clause 9.6.2.9).
pub fn prepare(content: &CrlContent<'_>) -> Result<PreparedCrl, CrlError> {
    let this_update = truncate_to_seconds(content.this_update);
    let next_update = truncate_to_seconds(content.next_update);
    if next_update <= this_update {
        return Err(CrlError::Invalid(format!(
            "nextUpdate {next_update} is not after thisUpdate {this_update}"
        )));
    }
    if content.crl_number == 0 {
        return Err(CrlError::Invalid("cRLNumber 0 (numbers start at 1)".into()));
    }
    let issuer = content.issuer;
    let revoked = content
        .revocations
        .iter()
        .map(revoked_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let crl_extensions = vec![
        extension(
            oid::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            &AuthorityKeyIdentifier {
                key_identifier: Some(
                    OctetString::new(issuer.key_id.clone())
                        .map_err(PkiError::encode("authorityKeyIdentifier"))?,
                ),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            },
            "authorityKeyIdentifier",
        )?,
        extension(
            oid::ID_CE_CRL_NUMBER,
            &CrlNumber::try_from(content.crl_number).map_err(PkiError::encode("cRLNumber"))?,
            "cRLNumber",
        )?,
        extension(
            oid::ID_CE_EXPIRED_CERTS_ON_CRL,
            &generalized_time(issuer.not_before)?,
            "expiredCertsOnCRL",
        )?,
    ];
    let signature_algorithm = issuer.signature_algorithm;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: signature_algorithm.algorithm_identifier(),
        issuer: issuer.name.clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!revoked.is_empty()).then_some(revoked),
        crl_extensions: Some(crl_extensions),
    };
    let tbs_der = tbs.to_der().map_err(PkiError::encode("TBSCertList"))?;
    let digest = signature_algorithm.digest().digest(&tbs_der);
    Ok(PreparedCrl {
        tbs,
        tbs_der,
        digest,
        signature_algorithm,
        spki_der: issuer.spki_der.clone(),
    })
}

/// The DER CRL: `prepared` plus the CA's `signature` over [`PreparedCrl::digest_to_sign`] (the
/// DER `ECDSA-Sig-Value` for ECDSA, the raw PKCS#1 v1.5 block for RSA). The signature is
/// verified with the CA public key first, and the result is read back: a CRL that does not
/// verify or does not re-encode to the signed bytes is never released.
pub fn assemble(prepared: PreparedCrl, signature: &[u8]) -> Result<Vec<u8>, CrlError> {
    prepared
        .signature_algorithm
        .verify_digest(&prepared.spki_der, &prepared.digest, signature)
        .map_err(|e| CrlError::BadSignature(e.to_string()))?;
    let crl = CertificateList {
        tbs_cert_list: prepared.tbs,
        signature_algorithm: prepared.signature_algorithm.algorithm_identifier(),
        signature: BitString::from_bytes(signature).map_err(PkiError::encode("signature"))?,
    };
    let der = crl.to_der().map_err(PkiError::encode("CertificateList"))?;
    let parsed = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der)
        .map_err(PkiError::decode("CertificateList"))?;
    let tbs_again = parsed
        .tbs_cert_list
        .to_der()
        .map_err(PkiError::encode("TBSCertList"))?;
    if tbs_again != prepared.tbs_der {
        return Err(CrlError::Invalid(
            "the TBSCertList does not re-encode to the signed bytes".into(),
        ));
    }
    Ok(der)
}
