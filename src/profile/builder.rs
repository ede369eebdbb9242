//! The certificate builder: a [`TbsRequest`] becomes a [`PreparedTbs`] (the DER
//! `TBSCertificate`, its signature algorithm and the digest the HSM must sign), which
//! [`assemble`] turns into a `Certificate` once the signature is back.
//!
//! Nothing here signs: the HSM call happens between [`prepare`] and [`assemble`], outside any
//! builder (docs/ARCHITECTURE.md, "build the to-be-signed bytes, sign, then assemble").

use const_oid::ObjectIdentifier;
use der::asn1::{Any, AnyRef, BitString, Ia5String, Null, OctetString};
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};
use x509_cert::name::RdnSequence;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::error::ProfileError;
use super::spec::{CertificateKind, CertificateProfile, UrlTemplate};
use crate::pki::der_util::{from_x509_time, key_identifier, truncate_to_seconds, x509_time};
use crate::pki::qc::{PdsLocation, PdsLocations, QcStatements, SemanticsInformation, Statement};
use crate::pki::{DigestAlgorithm, KeyAlgorithm, PkiError, SignatureAlgorithm, SubjectName, oid};

/// Longest serial number in octets (RFC 5280 section 4.1.2.2).
pub const MAX_SERIAL_LEN: usize = 20;

/// The base URLs and issuer name that URL templates are rendered with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlContext {
    public_base_url: String,
    pds_base_url: String,
    ca: String,
}

impl UrlContext {
    /// `public_base_url` serves CRLs, OCSP and CA certificates (http or https; plain http is
    /// what EN 319 412-2 asks for CRL distribution points); `pds_base_url` serves the PKI
    /// disclosure statements (https, EN 319 412-5); `ca` is the issuing CA's short name
    /// (`[a-z0-9-]`), the `{ca}` of the templates. No trailing `/` on the bases.
    pub fn new(public_base_url: &str, pds_base_url: &str, ca: &str) -> Result<Self, ProfileError> {
        check_base("urls.public_base_url", public_base_url, false)?;
        check_base("urls.pds_base_url", pds_base_url, true)?;
        if ca.is_empty()
            || !ca
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ProfileError::request(
                "urls.ca",
                format!("{ca:?}: use lower-case letters, digits and '-'"),
            ));
        }
        Ok(Self {
            public_base_url: public_base_url.to_owned(),
            pds_base_url: pds_base_url.to_owned(),
            ca: ca.to_owned(),
        })
    }

    /// Renders a profile template.
    #[must_use]
    pub fn render(&self, template: &UrlTemplate) -> String {
        template
            .as_str()
            .replace("{public_base_url}", &self.public_base_url)
            .replace("{pds_base_url}", &self.pds_base_url)
            .replace("{ca}", &self.ca)
    }
}

fn check_base(field: &'static str, url: &str, https_only: bool) -> Result<(), ProfileError> {
    let scheme_ok = if https_only {
        url.starts_with("https://")
    } else {
        url.starts_with("http://") || url.starts_with("https://")
    };
    let host = url.split_once("://").map_or("", |(_, rest)| rest);
    if !scheme_ok
        || host.is_empty()
        || url.ends_with('/')
        || !url.bytes().all(|b| b.is_ascii_graphic())
        || url.contains(['{', '}', '?', '#'])
    {
        return Err(ProfileError::request(
            field,
            format!(
                "{url:?}: an absolute {} URL without trailing '/', query or fragment",
                if https_only { "https" } else { "http(s)" }
            ),
        ));
    }
    Ok(())
}

/// What the builder needs to know about the issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerInfo {
    name_der: Vec<u8>,
    key_id: Vec<u8>,
    spki_der: Vec<u8>,
    key: KeyAlgorithm,
    validity: Option<(OffsetDateTime, OffsetDateTime)>,
    path_len: Option<u8>,
    self_signed: bool,
}

impl IssuerInfo {
    /// The issuer described by its CA certificate (DER): its subject (byte for byte), its
    /// subjectKeyIdentifier (computed if absent), its key and validity. Refused unless the
    /// certificate is a CA certificate allowed to sign certificates.
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self, ProfileError> {
        let cert = Certificate::from_der(cert_der)
            .map_err(|e| ProfileError::InvalidIssuer(format!("not a DER certificate: {e}")))?;
        let tbs = cert.tbs_certificate();
        let bad = |e: der::Error| ProfileError::InvalidIssuer(e.to_string());
        let bc = tbs
            .get_extension::<BasicConstraints>()
            .map_err(bad)?
            .map(|(_, bc)| bc);
        let Some(bc) = bc.filter(|bc| bc.ca) else {
            return Err(ProfileError::InvalidIssuer(
                "the certificate is not a CA certificate (basicConstraints cA)".into(),
            ));
        };
        if let Some((_, ku)) = tbs.get_extension::<KeyUsage>().map_err(bad)?
            && !ku.key_cert_sign()
        {
            return Err(ProfileError::InvalidIssuer(
                "the CA certificate's keyUsage lacks keyCertSign".into(),
            ));
        }
        let spki_der = tbs.subject_public_key_info().to_der().map_err(bad)?;
        let key_id = match tbs.get_extension::<SubjectKeyIdentifier>().map_err(bad)? {
            Some((_, ski)) => ski.0.as_bytes().to_vec(),
            None => key_identifier(&spki_der)?,
        };
        let validity = tbs.validity();
        Ok(Self {
            name_der: tbs.subject().to_der().map_err(bad)?,
            key_id,
            key: KeyAlgorithm::from_spki_der(&spki_der)?,
            spki_der,
            validity: Some((
                from_x509_time(&validity.not_before)?,
                from_x509_time(&validity.not_after)?,
            )),
            path_len: bc.path_len_constraint,
            self_signed: tbs.subject() == tbs.issuer(),
        })
    }

    /// The issuer of a self-signed certificate: the subject itself, with the key being
    /// certified (its key identifier is the subject key identifier, RFC 7093 method 1).
    pub fn self_signed(subject: &SubjectName, spki_der: &[u8]) -> Result<Self, ProfileError> {
        Ok(Self {
            name_der: subject.to_der()?,
            key_id: key_identifier(spki_der)?,
            key: KeyAlgorithm::from_spki_der(spki_der)?,
            spki_der: spki_der.to_vec(),
            validity: None,
            path_len: None,
            self_signed: true,
        })
    }

    /// DER of the issuer's name.
    #[must_use]
    pub fn name_der(&self) -> &[u8] {
        &self.name_der
    }

    /// The issuer's key identifier (authorityKeyIdentifier of what it issues).
    #[must_use]
    pub fn key_id(&self) -> &[u8] {
        &self.key_id
    }

    /// DER SubjectPublicKeyInfo of the issuer's key.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The issuer's key type.
    #[must_use]
    pub fn key(&self) -> KeyAlgorithm {
        self.key
    }

    /// The issuer certificate's validity (none for a self-signed certificate being built).
    #[must_use]
    pub fn validity(&self) -> Option<(OffsetDateTime, OffsetDateTime)> {
        self.validity
    }

    /// The issuer certificate's pathLenConstraint.
    #[must_use]
    pub fn path_len(&self) -> Option<u8> {
        self.path_len
    }

    /// Whether the issuer certificate is self-issued (a root), or this describes a
    /// self-signed certificate being built.
    #[must_use]
    pub fn is_self_signed(&self) -> bool {
        self.self_signed
    }

    /// The signature algorithm certificates from this issuer carry.
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::for_issuer_key(self.key)
    }
}

/// Everything that goes into one certificate.
#[derive(Clone, Copy, Debug)]
pub struct TbsRequest<'a> {
    /// The profile.
    pub profile: &'a CertificateProfile,
    /// Serial number, big-endian unsigned bytes (leading zeros ignored), non-zero, at most 20
    /// octets once DER-encoded.
    pub serial: &'a [u8],
    /// The subject.
    pub subject: &'a SubjectName,
    /// DER SubjectPublicKeyInfo of the subject's key.
    pub subject_spki_der: &'a [u8],
    /// The issuer ([`IssuerInfo::self_signed`] for a root).
    pub issuer: &'a IssuerInfo,
    /// notBefore (truncated to the second).
    pub not_before: OffsetDateTime,
    /// notAfter (truncated to the second).
    pub not_after: OffsetDateTime,
    /// Base URLs and issuer name for the profile's URL templates.
    pub urls: &'a UrlContext,
}

/// A to-be-signed certificate that passed the pre-issuance checks. Not `Clone`: it is consumed
/// by [`assemble`].
#[derive(Debug)]
pub struct PreparedTbs {
    tbs_der: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    digest: Vec<u8>,
    pub(super) profile: CertificateProfile,
    pub(super) issuer: IssuerInfo,
}

impl PreparedTbs {
    /// DER of the `TBSCertificate`.
    #[must_use]
    pub fn tbs_der(&self) -> &[u8] {
        &self.tbs_der
    }

    /// The signature algorithm (the same in the TBSCertificate and the Certificate).
    #[must_use]
    pub fn signature_algorithm(&self) -> SignatureAlgorithm {
        self.signature_algorithm
    }

    /// Its `AlgorithmIdentifier`.
    #[must_use]
    pub fn algorithm_identifier(&self) -> AlgorithmIdentifierOwned {
        self.signature_algorithm.algorithm_identifier()
    }

    /// The hash to sign with the issuer's key (of [`PreparedTbs::digest_algorithm`]).
    #[must_use]
    pub fn digest_to_sign(&self) -> &[u8] {
        &self.digest
    }

    /// The hash function of [`PreparedTbs::digest_to_sign`].
    #[must_use]
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.signature_algorithm.digest()
    }

    /// The profile this was built from.
    #[must_use]
    pub fn profile(&self) -> &CertificateProfile {
        &self.profile
    }

    /// The issuer it will be signed by.
    #[must_use]
    pub fn issuer(&self) -> &IssuerInfo {
        &self.issuer
    }
}

/// `TBSCertificate` as qtsp writes it (RFC 5280 section 4.1; the unique identifiers are never
/// written). `issuer` and `subjectPublicKeyInfo` are kept as the exact DER given.
///
/// ```text
/// TBSCertificate  ::=  SEQUENCE  {
///      version         [0]  EXPLICIT Version DEFAULT v1,
///      serialNumber         CertificateSerialNumber,
///      signature            AlgorithmIdentifier,
///      issuer               Name,
///      validity             Validity,
///      subject              Name,
///      subjectPublicKeyInfo SubjectPublicKeyInfo,
///      issuerUniqueID  [1]  IMPLICIT UniqueIdentifier OPTIONAL,
///      subjectUniqueID [2]  IMPLICIT UniqueIdentifier OPTIONAL,
///      extensions      [3]  EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Sequence)]
struct TbsCertificateOut {
    #[asn1(context_specific = "0", default = "Default::default")]
    version: Version,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Any,
    validity: Validity,
    subject: RdnSequence,
    subject_public_key_info: Any,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    extensions: Option<Vec<Extension>>,
}

/// `Certificate` (RFC 5280 section 4.1), with the signed TBSCertificate kept byte for byte.
///
/// ```text
/// Certificate  ::=  SEQUENCE  {
///      tbsCertificate       TBSCertificate,
///      signatureAlgorithm   AlgorithmIdentifier,
///      signatureValue       BIT STRING  }
/// ```
#[derive(Sequence)]
struct CertificateOut<'a> {
    tbs_certificate: AnyRef<'a>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature_value: BitString,
}

fn extension<T: Encode>(
    oid: ObjectIdentifier,
    critical: bool,
    value: &T,
    what: &'static str,
) -> Result<Extension, ProfileError> {
    let der = value.to_der().map_err(PkiError::encode(what))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der).map_err(PkiError::encode(what))?,
    })
}

fn uri(url: &str, field: &'static str) -> Result<GeneralName, ProfileError> {
    Ok(GeneralName::UniformResourceIdentifier(
        Ia5String::new(url).map_err(|e| ProfileError::request(field, format!("{url:?}: {e}")))?,
    ))
}

/// Positive serial bytes: leading zeros dropped, refused if zero or longer than 20 octets.
fn serial_number(serial: &[u8]) -> Result<SerialNumber, ProfileError> {
    let significant: &[u8] = match serial.iter().position(|b| *b != 0) {
        Some(i) => &serial[i..],
        None => return Err(ProfileError::request("serial", "zero (must be positive)")),
    };
    let encoded_len = significant.len() + usize::from(significant[0] & 0x80 != 0);
    if encoded_len > MAX_SERIAL_LEN {
        return Err(ProfileError::request(
            "serial",
            format!("{encoded_len} octets once encoded, at most {MAX_SERIAL_LEN}"),
        ));
    }
    SerialNumber::new(significant)
        .map_err(|e| ProfileError::Pki(PkiError::encode("serialNumber")(e)))
}

fn build_extensions(
    req: &TbsRequest<'_>,
    subject_key_id: Vec<u8>,
) -> Result<Vec<Extension>, ProfileError> {
    let p = req.profile;
    let mut exts = Vec::new();

    if let Some(bc) = p.basic_constraints {
        exts.push(extension(
            oid::ID_CE_BASIC_CONSTRAINTS,
            bc.critical,
            &BasicConstraints {
                ca: bc.ca,
                path_len_constraint: bc.path_len,
            },
            "basicConstraints",
        )?);
    }
    exts.push(extension(
        oid::ID_CE_KEY_USAGE,
        p.key_usage.critical,
        &KeyUsage(p.key_usage.flags()),
        "keyUsage",
    )?);
    if let Some(eku) = &p.extended_key_usage {
        exts.push(extension(
            oid::ID_CE_EXT_KEY_USAGE,
            eku.critical,
            &ExtendedKeyUsage(eku.purposes.clone()),
            "extKeyUsage",
        )?);
    }
    exts.push(extension(
        oid::ID_CE_SUBJECT_KEY_IDENTIFIER,
        false,
        &SubjectKeyIdentifier(
            OctetString::new(subject_key_id).map_err(PkiError::encode("subjectKeyIdentifier"))?,
        ),
        "subjectKeyIdentifier",
    )?);
    exts.push(extension(
        oid::ID_CE_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(
                OctetString::new(req.issuer.key_id.clone())
                    .map_err(PkiError::encode("authorityKeyIdentifier"))?,
            ),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
        "authorityKeyIdentifier",
    )?);
    if let Some(cp) = &p.certificate_policies {
        let policies = cp
            .policies
            .iter()
            .map(|o| PolicyInformation {
                policy_identifier: *o,
                policy_qualifiers: None,
            })
            .collect();
        exts.push(extension(
            oid::ID_CE_CERTIFICATE_POLICIES,
            cp.critical,
            &CertificatePolicies(policies),
            "certificatePolicies",
        )?);
    }
    if let Some(t) = &p.urls.crl_distribution_point {
        let url = req.urls.render(t);
        exts.push(extension(
            oid::ID_CE_CRL_DISTRIBUTION_POINTS,
            false,
            &CrlDistributionPoints(vec![DistributionPoint {
                distribution_point: Some(DistributionPointName::FullName(vec![uri(&url, "urls")?])),
                reasons: None,
                crl_issuer: None,
            }]),
            "cRLDistributionPoints",
        )?);
    }
    let mut access = Vec::new();
    if let Some(t) = &p.urls.ocsp {
        access.push(AccessDescription {
            access_method: oid::ID_AD_OCSP,
            access_location: uri(&req.urls.render(t), "urls")?,
        });
    }
    if let Some(t) = &p.urls.ca_issuers {
        access.push(AccessDescription {
            access_method: oid::ID_AD_CA_ISSUERS,
            access_location: uri(&req.urls.render(t), "urls")?,
        });
    }
    if !access.is_empty() {
        exts.push(extension(
            oid::ID_PE_AUTHORITY_INFO_ACCESS,
            false,
            &AuthorityInfoAccessSyntax(access),
            "authorityInfoAccess",
        )?);
    }
    if let Some(qc) = &p.qc_statements {
        let mut statements = Vec::new();
        if qc.compliance {
            statements.push(Statement::Compliance);
        }
        if let Some(t) = qc.qc_type {
            statements.push(Statement::qc_type(t));
        }
        if qc.sscd {
            statements.push(Statement::Sscd);
        }
        if let Some(years) = qc.retention_period_years {
            statements.push(Statement::RetentionPeriod(years));
        }
        if !qc.pds.is_empty() {
            let locations = qc
                .pds
                .iter()
                .map(|l| PdsLocation::new(&req.urls.render(&l.url), &l.language))
                .collect::<Result<Vec<_>, _>>()?;
            statements.push(Statement::Pds(PdsLocations(locations)));
        }
        if let Some(s) = qc.semantics {
            statements.push(Statement::Semantics(SemanticsInformation::with_identifier(
                s,
            )));
        }
        let value = QcStatements::from_statements(&statements)?;
        exts.push(extension(
            oid::ID_PE_QC_STATEMENTS,
            false,
            &value,
            "qcStatements",
        )?);
    }
    if p.ocsp_nocheck {
        exts.push(extension(
            oid::ID_PKIX_OCSP_NOCHECK,
            false,
            &Null,
            "id-pkix-ocsp-nocheck",
        )?);
    }
    Ok(exts)
}

/// Builds the to-be-signed certificate of `req`, runs [`super::check()`] on it and returns what
/// the HSM must sign.
pub fn prepare(req: &TbsRequest<'_>) -> Result<PreparedTbs, ProfileError> {
    let p = req.profile;
    if req.subject.kind() != p.subject {
        return Err(ProfileError::request(
            "subject",
            format!(
                "profile {} takes a {} subject, got a {}",
                p.name,
                p.subject.name(),
                req.subject.kind().name()
            ),
        ));
    }
    let subject_key = KeyAlgorithm::from_spki_der(req.subject_spki_der)?;
    if !p.subject_keys.contains(&subject_key) {
        return Err(ProfileError::request(
            "subject_spki_der",
            format!(
                "profile {} does not take {subject_key} keys (allowed: {})",
                p.name,
                p.subject_keys
                    .iter()
                    .map(KeyAlgorithm::name)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let subject_der = req.subject.to_der()?;
    let self_issued = req.issuer.name_der == subject_der;
    match p.kind {
        CertificateKind::RootCa => {
            if !self_issued || req.issuer.spki_der != req.subject_spki_der {
                return Err(ProfileError::request(
                    "issuer",
                    "a root CA certificate is self-signed: use IssuerInfo::self_signed with the \
                     same subject and key",
                ));
            }
        }
        CertificateKind::SubordinateCa | CertificateKind::EndEntity => {
            if req.issuer.spki_der == req.subject_spki_der {
                return Err(ProfileError::request(
                    "subject_spki_der",
                    "the subject key is the issuer's key",
                ));
            }
        }
    }
    let serial = serial_number(req.serial)?;
    let not_before = truncate_to_seconds(req.not_before);
    let not_after = truncate_to_seconds(req.not_after);
    if not_after <= not_before {
        return Err(ProfileError::request(
            "not_after",
            format!("{not_after} is not after notBefore {not_before}"),
        ));
    }
    if not_after - not_before > p.validity {
        return Err(ProfileError::request(
            "not_after",
            format!(
                "validity of {} exceeds the profile's {}",
                not_after - not_before,
                p.validity
            ),
        ));
    }
    let signature_algorithm = req.issuer.signature_algorithm();
    let extensions = build_extensions(req, key_identifier(req.subject_spki_der)?)?;
    let tbs = TbsCertificateOut {
        version: Version::V3,
        serial_number: serial,
        signature: signature_algorithm.algorithm_identifier(),
        issuer: Any::from_der(&req.issuer.name_der)
            .map_err(|e| ProfileError::InvalidIssuer(format!("issuer name is not DER: {e}")))?,
        validity: Validity::new(x509_time(not_before)?, x509_time(not_after)?),
        subject: req.subject.to_rdn_sequence()?,
        subject_public_key_info: Any::from_der(req.subject_spki_der)
            .map_err(PkiError::decode("SubjectPublicKeyInfo"))?,
        extensions: Some(extensions),
    };
    let tbs_der = tbs.to_der().map_err(PkiError::encode("TBSCertificate"))?;
    let digest = signature_algorithm.digest().digest(&tbs_der);
    let prepared = PreparedTbs {
        tbs_der,
        signature_algorithm,
        digest,
        profile: p.clone(),
        issuer: req.issuer.clone(),
    };
    super::check(&prepared)?;
    Ok(prepared)
}

/// The DER certificate: `prepared` plus the issuer's `signature` over
/// [`PreparedTbs::digest_to_sign`] (the DER `ECDSA-Sig-Value` for ECDSA, the raw PKCS#1 v1.5
/// block for RSA). The signature is verified with the issuer's public key first; a signature that
/// does not verify releases nothing.
pub fn assemble(prepared: PreparedTbs, signature: &[u8]) -> Result<Vec<u8>, ProfileError> {
    prepared
        .signature_algorithm
        .verify_digest(&prepared.issuer.spki_der, &prepared.digest, signature)
        .map_err(|e| ProfileError::BadSignature(e.to_string()))?;
    let cert = CertificateOut {
        tbs_certificate: AnyRef::from_der(&prepared.tbs_der)
            .map_err(PkiError::decode("TBSCertificate"))?,
        signature_algorithm: prepared.signature_algorithm.algorithm_identifier(),
        signature_value: BitString::from_bytes(signature).map_err(PkiError::encode("signature"))?,
    };
    let der = cert.to_der().map_err(PkiError::encode("Certificate"))?;
    // Read it back with the independent x509-cert types: what we release must parse.
    let parsed = Certificate::from_der(&der).map_err(PkiError::decode("Certificate"))?;
    let tbs_again = parsed
        .tbs_certificate()
        .to_der()
        .map_err(PkiError::encode("TBSCertificate"))?;
    if tbs_again != prepared.tbs_der {
        return Err(ProfileError::CheckFailed(vec![super::CheckFailure {
            rule: "der-round-trip",
            detail: "the TBSCertificate does not re-encode to the signed bytes".into(),
        }]));
    }
    Ok(der)
}
