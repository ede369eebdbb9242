//! Certificate profiles: the TOML schema of `policies/*.toml` ([`parse`]) and the typed
//! [`CertificateProfile`] it becomes.
//!
//! The schema is strict (`deny_unknown_fields` everywhere); every rule that TOML types cannot
//! express is checked here and reported as [`ProfileError::InvalidValue`] naming the key.

use const_oid::ObjectIdentifier;
use serde::Deserialize;
use x509_cert::der::flagset::FlagSet;
use x509_cert::ext::pkix::KeyUsages;

use super::error::ProfileError;
use crate::pki::name::SubjectKind;
use crate::pki::{KeyAlgorithm, oid};

/// The profile schema version this code reads.
pub const PROFILE_VERSION: u32 = 1;

/// Longest validity a profile may declare (30 years).
pub const MAX_PROFILE_VALIDITY_DAYS: i64 = 30 * 366;

/// What a certificate is for in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    /// A self-signed trust anchor.
    RootCa,
    /// A CA certified by another CA.
    SubordinateCa,
    /// A certificate that certifies nothing (signer, TSU, OCSP responder...).
    EndEntity,
}

impl CertificateKind {
    /// Whether certificates of this kind are CA certificates.
    #[must_use]
    pub fn is_ca(self) -> bool {
        matches!(self, Self::RootCa | Self::SubordinateCa)
    }
}

/// A key usage bit (RFC 5280 section 4.2.1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyUsageBit {
    /// `digitalSignature` (0).
    DigitalSignature,
    /// `nonRepudiation`, also called `contentCommitment` (1).
    NonRepudiation,
    /// `keyEncipherment` (2).
    KeyEncipherment,
    /// `dataEncipherment` (3).
    DataEncipherment,
    /// `keyAgreement` (4).
    KeyAgreement,
    /// `keyCertSign` (5).
    KeyCertSign,
    /// `cRLSign` (6).
    CrlSign,
}

impl KeyUsageBit {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "digitalSignature" => Self::DigitalSignature,
            "nonRepudiation" | "contentCommitment" => Self::NonRepudiation,
            "keyEncipherment" => Self::KeyEncipherment,
            "dataEncipherment" => Self::DataEncipherment,
            "keyAgreement" => Self::KeyAgreement,
            "keyCertSign" => Self::KeyCertSign,
            "cRLSign" => Self::CrlSign,
            _ => return None,
        })
    }

    /// The `x509-cert` flag.
    #[must_use]
    pub fn flag(self) -> KeyUsages {
        match self {
            Self::DigitalSignature => KeyUsages::DigitalSignature,
            Self::NonRepudiation => KeyUsages::NonRepudiation,
            Self::KeyEncipherment => KeyUsages::KeyEncipherment,
            Self::DataEncipherment => KeyUsages::DataEncipherment,
            Self::KeyAgreement => KeyUsages::KeyAgreement,
            Self::KeyCertSign => KeyUsages::KeyCertSign,
            Self::CrlSign => KeyUsages::CRLSign,
        }
    }
}

/// The keyUsage extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyUsageSpec {
    /// Marked critical.
    pub critical: bool,
    /// The bits set, in profile order.
    pub usages: Vec<KeyUsageBit>,
}

impl KeyUsageSpec {
    /// The bits as a flag set.
    #[must_use]
    pub fn flags(&self) -> FlagSet<KeyUsages> {
        self.usages
            .iter()
            .fold(FlagSet::default(), |acc, b| acc | b.flag())
    }

    /// Whether `bit` is set.
    #[must_use]
    pub fn has(&self, bit: KeyUsageBit) -> bool {
        self.usages.contains(&bit)
    }
}

/// The basicConstraints extension of a profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BasicConstraintsSpec {
    /// Marked critical.
    pub critical: bool,
    /// `cA`.
    pub ca: bool,
    /// `pathLenConstraint`.
    pub path_len: Option<u8>,
}

/// The extendedKeyUsage extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtendedKeyUsageSpec {
    /// Marked critical.
    pub critical: bool,
    /// `KeyPurposeId`s, in profile order.
    pub purposes: Vec<ObjectIdentifier>,
}

/// The certificatePolicies extension of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificatePoliciesSpec {
    /// Marked critical.
    pub critical: bool,
    /// Policy identifiers, in profile order, without qualifiers.
    pub policies: Vec<ObjectIdentifier>,
}

/// A URL with placeholders, rendered at issuance with [`super::UrlContext`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(String);

/// Placeholders a URL template may use.
pub const URL_PLACEHOLDERS: [&str; 3] = ["{public_base_url}", "{pds_base_url}", "{ca}"];

impl UrlTemplate {
    /// The template text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One PKI disclosure statement location of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PdsTemplate {
    /// URL template (renders to an https URL).
    pub url: UrlTemplate,
    /// ISO 639-1 language code.
    pub language: String,
}

/// The qcStatements extension of a profile (EN 319 412-5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QcStatementsSpec {
    /// `QcCompliance`.
    pub compliance: bool,
    /// `QcSSCD`.
    pub sscd: bool,
    /// `QcType` ([`oid::QCT_ESIGN`], [`oid::QCT_ESEAL`], [`oid::QCT_WEB`]).
    pub qc_type: Option<ObjectIdentifier>,
    /// Semantics identifier of the `id-qcs-pkixQCSyntax-v2` statement.
    pub semantics: Option<ObjectIdentifier>,
    /// `QcRetentionPeriod` in years.
    pub retention_period_years: Option<u32>,
    /// `QcPDS` locations (empty: no statement).
    pub pds: Vec<PdsTemplate>,
}

/// Which URLs go into the certificate.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UrlTemplates {
    /// cRLDistributionPoints (one fullName URI).
    pub crl_distribution_point: Option<UrlTemplate>,
    /// authorityInfoAccess id-ad-ocsp.
    pub ocsp: Option<UrlTemplate>,
    /// authorityInfoAccess id-ad-caIssuers.
    pub ca_issuers: Option<UrlTemplate>,
}

/// A typed certificate profile: everything that goes into a certificate except the subject,
/// its key, the serial, the dates and the issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertificateProfile {
    /// Profile name (`qualified-natural-person`).
    pub name: String,
    /// One line for humans.
    pub description: String,
    /// Root CA, subordinate CA or end entity.
    pub kind: CertificateKind,
    /// The kind of subject name the profile takes.
    pub subject: SubjectKind,
    /// Public key types the subject may have.
    pub subject_keys: Vec<KeyAlgorithm>,
    /// Longest allowed `notAfter - notBefore`.
    pub validity: time::Duration,
    /// keyUsage.
    pub key_usage: KeyUsageSpec,
    /// basicConstraints, if present.
    pub basic_constraints: Option<BasicConstraintsSpec>,
    /// extendedKeyUsage, if present.
    pub extended_key_usage: Option<ExtendedKeyUsageSpec>,
    /// certificatePolicies, if present.
    pub certificate_policies: Option<CertificatePoliciesSpec>,
    /// qcStatements, if present.
    pub qc_statements: Option<QcStatementsSpec>,
    /// id-pkix-ocsp-nocheck.
    pub ocsp_nocheck: bool,
    /// URLs to include.
    pub urls: UrlTemplates,
}

// ----------------------------------------------------------------------------------------------
// The TOML schema.
// ----------------------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    version: i64,
    name: String,
    description: String,
    kind: RawKind,
    subject: RawSubject,
    subject_keys: Vec<String>,
    validity: RawValidity,
    key_usage: RawKeyUsage,
    basic_constraints: Option<RawBasicConstraints>,
    extended_key_usage: Option<RawExtendedKeyUsage>,
    certificate_policies: Option<RawPolicies>,
    qc_statements: Option<RawQcStatements>,
    #[serde(default)]
    extensions: RawExtensions,
    urls: RawUrls,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum RawKind {
    RootCa,
    SubordinateCa,
    EndEntity,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum RawSubject {
    NaturalPerson,
    Organization,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawValidity {
    #[serde(default)]
    days: i64,
    #[serde(default)]
    hours: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKeyUsage {
    critical: bool,
    usages: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBasicConstraints {
    critical: bool,
    ca: bool,
    path_len: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtendedKeyUsage {
    critical: bool,
    purposes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicies {
    critical: bool,
    policies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQcStatements {
    #[serde(default)]
    compliance: bool,
    #[serde(default)]
    sscd: bool,
    #[serde(rename = "type")]
    qc_type: Option<String>,
    semantics: Option<String>,
    retention_period_years: Option<i64>,
    #[serde(default)]
    pds: Vec<RawPds>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPds {
    url: String,
    language: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExtensions {
    #[serde(default)]
    ocsp_nocheck: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUrls {
    crl_distribution_point: Option<String>,
    ocsp: Option<String>,
    ca_issuers: Option<String>,
}

/// Named certificate policies a profile may list (dotted OIDs are accepted too, for the CA's
/// own policy).
const POLICY_NAMES: [(&str, ObjectIdentifier); 6] = [
    ("qcp-n", oid::QCP_N),
    ("qcp-l", oid::QCP_L),
    ("qcp-n-qscd", oid::QCP_N_QSCD),
    ("qcp-l-qscd", oid::QCP_L_QSCD),
    ("qcp-w", oid::QCP_W),
    ("any-policy", oid::ANY_POLICY),
];

/// Named key purposes a profile may list.
const PURPOSE_NAMES: [(&str, ObjectIdentifier); 4] = [
    ("serverAuth", oid::ID_KP_SERVER_AUTH),
    ("clientAuth", oid::ID_KP_CLIENT_AUTH),
    ("timeStamping", oid::ID_KP_TIME_STAMPING),
    ("OCSPSigning", oid::ID_KP_OCSP_SIGNING),
];

const QC_TYPE_NAMES: [(&str, ObjectIdentifier); 3] = [
    ("esign", oid::QCT_ESIGN),
    ("eseal", oid::QCT_ESEAL),
    ("web", oid::QCT_WEB),
];

fn lookup(table: &[(&str, ObjectIdentifier)], name: &str) -> Option<ObjectIdentifier> {
    table.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

fn names(table: &[(&str, ObjectIdentifier)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Collects the profile's name for errors.
struct Ctx<'a> {
    profile: &'a str,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ProfileError {
        ProfileError::InvalidValue {
            profile: self.profile.to_owned(),
            key: key.into(),
            problem: problem.into(),
        }
    }
}

/// Parses and checks one profile. `origin` names it in errors (a file name).
pub fn parse(origin: &str, text: &str) -> Result<CertificateProfile, ProfileError> {
    let raw: RawProfile = toml::from_str(text).map_err(|e| ProfileError::Toml {
        profile: origin.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    if raw.version != i64::from(PROFILE_VERSION) {
        return Err(ProfileError::UnsupportedVersion {
            profile: origin.to_owned(),
            found: raw.version,
            supported: PROFILE_VERSION,
        });
    }
    let cx = Ctx { profile: origin };

    if raw.name.is_empty()
        || !raw
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(cx.err("name", "use lower-case letters, digits and '-'"));
    }
    let kind = match raw.kind {
        RawKind::RootCa => CertificateKind::RootCa,
        RawKind::SubordinateCa => CertificateKind::SubordinateCa,
        RawKind::EndEntity => CertificateKind::EndEntity,
    };
    let subject = match raw.subject {
        RawSubject::NaturalPerson => SubjectKind::NaturalPerson,
        RawSubject::Organization => SubjectKind::Organization,
    };
    if kind.is_ca() && subject != SubjectKind::Organization {
        return Err(cx.err("subject", "a CA's subject is an organization"));
    }

    // subject_keys
    if raw.subject_keys.is_empty() {
        return Err(cx.err("subject_keys", "list at least one key type"));
    }
    let mut subject_keys = Vec::new();
    for (i, k) in raw.subject_keys.iter().enumerate() {
        let key = KeyAlgorithm::from_name(k).ok_or_else(|| {
            cx.err(
                format!("subject_keys[{i}]"),
                format!("{k:?} is not one of ec-p256, ec-p384, rsa-<bits> (bits >= 2048)"),
            )
        })?;
        if subject_keys.contains(&key) {
            return Err(cx.err(
                format!("subject_keys[{i}]"),
                format!("{k:?} is listed twice"),
            ));
        }
        subject_keys.push(key);
    }

    // validity
    if raw.validity.days < 0 || raw.validity.hours < 0 {
        return Err(cx.err("validity", "days and hours cannot be negative"));
    }
    let validity = time::Duration::days(raw.validity.days.min(MAX_PROFILE_VALIDITY_DAYS + 1))
        + time::Duration::hours(raw.validity.hours.min(24 * (MAX_PROFILE_VALIDITY_DAYS + 1)));
    if validity <= time::Duration::ZERO {
        return Err(cx.err("validity", "set days and/or hours to a positive duration"));
    }
    if validity > time::Duration::days(MAX_PROFILE_VALIDITY_DAYS) {
        return Err(cx.err(
            "validity",
            format!("longer than {MAX_PROFILE_VALIDITY_DAYS} days"),
        ));
    }

    // key_usage
    if raw.key_usage.usages.is_empty() {
        return Err(cx.err("key_usage.usages", "list at least one usage"));
    }
    let mut usages = Vec::new();
    for (i, u) in raw.key_usage.usages.iter().enumerate() {
        let bit = KeyUsageBit::from_name(u).ok_or_else(|| {
            cx.err(
                format!("key_usage.usages[{i}]"),
                format!(
                    "{u:?} is not one of digitalSignature, nonRepudiation (contentCommitment), \
                     keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign"
                ),
            )
        })?;
        if usages.contains(&bit) {
            return Err(cx.err(
                format!("key_usage.usages[{i}]"),
                format!("{u:?} is listed twice"),
            ));
        }
        usages.push(bit);
    }
    let key_usage = KeyUsageSpec {
        critical: raw.key_usage.critical,
        usages,
    };
    if !key_usage.critical {
        return Err(cx.err(
            "key_usage.critical",
            "qtsp marks keyUsage critical (RFC 5280 section 4.2.1.3 SHOULD; EN 319 412-2)",
        ));
    }

    // basic_constraints
    let basic_constraints = match raw.basic_constraints {
        None => None,
        Some(bc) => {
            let path_len = match bc.path_len {
                None => None,
                Some(p) => Some(u8::try_from(p).map_err(|_| {
                    cx.err("basic_constraints.path_len", "must be between 0 and 255")
                })?),
            };
            if path_len.is_some() && !bc.ca {
                return Err(cx.err(
                    "basic_constraints.path_len",
                    "only a CA certificate has a path length constraint",
                ));
            }
            Some(BasicConstraintsSpec {
                critical: bc.critical,
                ca: bc.ca,
                path_len,
            })
        }
    };
    if kind.is_ca() {
        match basic_constraints {
            Some(bc) if bc.ca && bc.critical => {}
            _ => {
                return Err(cx.err(
                    "basic_constraints",
                    "a CA profile needs [basic_constraints] with ca = true and critical = true \
                     (RFC 5280 section 4.2.1.9)",
                ));
            }
        }
        if !key_usage.has(KeyUsageBit::KeyCertSign) {
            return Err(cx.err("key_usage.usages", "a CA profile needs keyCertSign"));
        }
    } else {
        if basic_constraints.is_some_and(|bc| bc.ca) {
            return Err(cx.err(
                "basic_constraints.ca",
                "an end-entity profile has ca = false",
            ));
        }
        if key_usage.has(KeyUsageBit::KeyCertSign) || key_usage.has(KeyUsageBit::CrlSign) {
            return Err(cx.err(
                "key_usage.usages",
                "keyCertSign and cRLSign are for CA profiles",
            ));
        }
    }

    // extended_key_usage
    let extended_key_usage = match raw.extended_key_usage {
        None => None,
        Some(eku) => {
            if eku.purposes.is_empty() {
                return Err(cx.err("extended_key_usage.purposes", "list at least one purpose"));
            }
            let mut purposes = Vec::new();
            for (i, p) in eku.purposes.iter().enumerate() {
                let o = lookup(&PURPOSE_NAMES, p).ok_or_else(|| {
                    cx.err(
                        format!("extended_key_usage.purposes[{i}]"),
                        format!("{p:?} is not one of {}", names(&PURPOSE_NAMES)),
                    )
                })?;
                if purposes.contains(&o) {
                    return Err(cx.err(
                        format!("extended_key_usage.purposes[{i}]"),
                        format!("{p:?} is listed twice"),
                    ));
                }
                purposes.push(o);
            }
            if purposes.contains(&oid::ID_KP_TIME_STAMPING)
                && (purposes.len() != 1 || !eku.critical)
            {
                return Err(cx.err(
                    "extended_key_usage",
                    "a time-stamping certificate has timeStamping as its only purpose, critical \
                     (RFC 3161 section 2.3)",
                ));
            }
            if kind.is_ca() {
                return Err(cx.err("extended_key_usage", "qtsp's CA profiles have no EKU"));
            }
            Some(ExtendedKeyUsageSpec {
                critical: eku.critical,
                purposes,
            })
        }
    };

    // certificate_policies
    let certificate_policies = match raw.certificate_policies {
        None => None,
        Some(cp) => {
            if cp.policies.is_empty() {
                return Err(cx.err("certificate_policies.policies", "list at least one policy"));
            }
            let mut policies = Vec::new();
            for (i, p) in cp.policies.iter().enumerate() {
                let key = format!("certificate_policies.policies[{i}]");
                let o = match lookup(&POLICY_NAMES, p) {
                    Some(o) => o,
                    None => ObjectIdentifier::new(p).map_err(|_| {
                        cx.err(
                            key.clone(),
                            format!(
                                "{p:?} is neither one of {} nor a dotted OID",
                                names(&POLICY_NAMES)
                            ),
                        )
                    })?,
                };
                if policies.contains(&o) {
                    return Err(cx.err(key, format!("{p:?} is listed twice")));
                }
                policies.push(o);
            }
            if policies.contains(&oid::ANY_POLICY) && !kind.is_ca() {
                return Err(cx.err(
                    "certificate_policies.policies",
                    "any-policy belongs in CA certificates only",
                ));
            }
            let qualified = [
                oid::QCP_N,
                oid::QCP_L,
                oid::QCP_N_QSCD,
                oid::QCP_L_QSCD,
                oid::QCP_W,
            ];
            if policies.iter().filter(|p| qualified.contains(p)).count() > 1 {
                return Err(cx.err(
                    "certificate_policies.policies",
                    "at most one QCP policy (EN 319 412-2 QCS-5.2-1)",
                ));
            }
            if cp.critical {
                return Err(cx.err(
                    "certificate_policies.critical",
                    "certificatePolicies is not critical (EN 319 412-2 GEN-4.3.3-1)",
                ));
            }
            Some(CertificatePoliciesSpec {
                critical: cp.critical,
                policies,
            })
        }
    };

    // qc_statements
    let qc_statements = match raw.qc_statements {
        None => None,
        Some(qc) => Some(parse_qc(
            &cx,
            qc,
            kind,
            subject,
            certificate_policies.as_ref(),
        )?),
    };

    // extensions
    let ocsp_nocheck = raw.extensions.ocsp_nocheck;
    if ocsp_nocheck
        && extended_key_usage
            .as_ref()
            .is_none_or(|e| e.purposes != [oid::ID_KP_OCSP_SIGNING])
    {
        return Err(cx.err(
            "extensions.ocsp_nocheck",
            "only for OCSP responder certificates (extended_key_usage.purposes = [\"OCSPSigning\"])",
        ));
    }

    // urls
    let url = |key: &str, v: Option<String>| -> Result<Option<UrlTemplate>, ProfileError> {
        v.map(|t| check_template(&cx, key, t, false)).transpose()
    };
    let urls = UrlTemplates {
        crl_distribution_point: url(
            "urls.crl_distribution_point",
            raw.urls.crl_distribution_point,
        )?,
        ocsp: url("urls.ocsp", raw.urls.ocsp)?,
        ca_issuers: url("urls.ca_issuers", raw.urls.ca_issuers)?,
    };
    if kind == CertificateKind::RootCa
        && (urls.crl_distribution_point.is_some()
            || urls.ocsp.is_some()
            || urls.ca_issuers.is_some())
    {
        return Err(cx.err(
            "urls",
            "a self-signed root has no issuer to point at: leave [urls] empty",
        ));
    }
    if ocsp_nocheck && (urls.ocsp.is_some() || urls.crl_distribution_point.is_some()) {
        return Err(cx.err(
            "urls",
            "an ocsp_nocheck certificate is never checked: no ocsp or crl_distribution_point",
        ));
    }

    Ok(CertificateProfile {
        name: raw.name,
        description: raw.description,
        kind,
        subject,
        subject_keys,
        validity,
        key_usage,
        basic_constraints,
        extended_key_usage,
        certificate_policies,
        qc_statements,
        ocsp_nocheck,
        urls,
    })
}

fn parse_qc(
    cx: &Ctx<'_>,
    qc: RawQcStatements,
    kind: CertificateKind,
    subject: SubjectKind,
    policies: Option<&CertificatePoliciesSpec>,
) -> Result<QcStatementsSpec, ProfileError> {
    if kind.is_ca() {
        return Err(cx.err(
            "qc_statements",
            "QC statements belong in end-entity certificates",
        ));
    }
    if !qc.compliance {
        return Err(cx.err(
            "qc_statements.compliance",
            "qtsp issues QC statements only for EU qualified certificates: set compliance = true",
        ));
    }
    let qc_type = qc
        .qc_type
        .as_deref()
        .map(|t| {
            lookup(&QC_TYPE_NAMES, t).ok_or_else(|| {
                cx.err(
                    "qc_statements.type",
                    format!("{t:?} is not one of {}", names(&QC_TYPE_NAMES)),
                )
            })
        })
        .transpose()?;
    match (qc_type, subject) {
        (Some(t), SubjectKind::NaturalPerson) if t != oid::QCT_ESIGN => {
            return Err(cx.err(
                "qc_statements.type",
                "a natural person's qualified certificate is of type esign",
            ));
        }
        (Some(t), SubjectKind::Organization) if t == oid::QCT_ESIGN => {
            return Err(cx.err(
                "qc_statements.type",
                "esign is for natural persons; an organization's type is eseal or web",
            ));
        }
        _ => {}
    }
    let semantics = match (qc.semantics.as_deref(), subject) {
        (None, _) => None,
        (Some("natural"), SubjectKind::NaturalPerson) => Some(oid::SEMANTICS_ID_NATURAL),
        (Some("legal"), SubjectKind::Organization) => Some(oid::SEMANTICS_ID_LEGAL),
        (Some("natural" | "legal"), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!("does not match subject = {:?}", subject.name()),
            ));
        }
        (Some(s @ ("eidas-natural" | "eidas-legal")), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!(
                    "{s:?} needs eIDAS identifiers (\"FR/FR/...\") in the subject; qtsp writes \
                     EN 319 412-1 identifiers (\"IDCFR-...\", \"NTRFR-...\"): use natural or legal"
                ),
            ));
        }
        (Some(s), _) => {
            return Err(cx.err(
                "qc_statements.semantics",
                format!("{s:?} is not one of natural, legal"),
            ));
        }
    };
    let retention_period_years = qc
        .retention_period_years
        .map(|y| {
            u32::try_from(y).ok().filter(|y| *y > 0).ok_or_else(|| {
                cx.err(
                    "qc_statements.retention_period_years",
                    "a positive number of years",
                )
            })
        })
        .transpose()?;
    let mut pds = Vec::new();
    for (i, p) in qc.pds.into_iter().enumerate() {
        let url = check_template(cx, &format!("qc_statements.pds[{i}].url"), p.url, true)?;
        if p.language.len() != 2 || !p.language.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(cx.err(
                format!("qc_statements.pds[{i}].language"),
                "two lower-case letters (ISO 639-1)",
            ));
        }
        pds.push(PdsTemplate {
            url,
            language: p.language,
        });
    }
    if qc.sscd
        && let Some(cp) = policies
        && (cp.policies.contains(&oid::QCP_N) || cp.policies.contains(&oid::QCP_L))
    {
        return Err(cx.err(
            "qc_statements.sscd",
            "QcSSCD with a non-QSCD policy (qcp-n / qcp-l): use qcp-n-qscd / qcp-l-qscd",
        ));
    }
    if !qc.sscd
        && let Some(cp) = policies
        && (cp.policies.contains(&oid::QCP_N_QSCD) || cp.policies.contains(&oid::QCP_L_QSCD))
    {
        return Err(cx.err(
            "qc_statements.sscd",
            "a -qscd policy requires sscd = true (EN 319 412-5)",
        ));
    }
    Ok(QcStatementsSpec {
        compliance: qc.compliance,
        sscd: qc.sscd,
        qc_type,
        semantics,
        retention_period_years,
        pds,
    })
}

/// Checks a URL template: known placeholders only, starts with a base placeholder or a literal
/// http(s) URL, printable ASCII without spaces; a PDS URL must render to https.
fn check_template(
    cx: &Ctx<'_>,
    key: &str,
    template: String,
    https_only: bool,
) -> Result<UrlTemplate, ProfileError> {
    if !template.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(cx.err(key, "printable ASCII without spaces only"));
    }
    // Every `{...}` must be a known placeholder.
    let mut rest = template.as_str();
    while let Some(open) = rest.find('{') {
        let after = &rest[open..];
        let close = after
            .find('}')
            .ok_or_else(|| cx.err(key, "an unclosed '{'"))?;
        let placeholder = &after[..=close];
        if !URL_PLACEHOLDERS.contains(&placeholder) {
            return Err(cx.err(
                key,
                format!(
                    "unknown placeholder {placeholder}; use {}",
                    URL_PLACEHOLDERS.join(", ")
                ),
            ));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err(cx.err(key, "a '}' without '{'"));
    }
    let ok_start = if https_only {
        template.starts_with("{pds_base_url}") || template.starts_with("https://")
    } else {
        template.starts_with("{public_base_url}")
            || template.starts_with("{pds_base_url}")
            || template.starts_with("http://")
            || template.starts_with("https://")
    };
    if !ok_start {
        return Err(cx.err(
            key,
            if https_only {
                "start with {pds_base_url} or https://"
            } else {
                "start with {public_base_url}, {pds_base_url}, http:// or https://"
            },
        ));
    }
    Ok(UrlTemplate(template))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const MINIMAL: &str = r#"
version = 1
name = "t"
description = "test"
kind = "end-entity"
subject = "organization"
subject_keys = ["ec-p256"]
[validity]
days = 1
[key_usage]
critical = true
usages = ["digitalSignature"]
[urls]
"#;

    fn with(extra: &str) -> String {
        format!("{MINIMAL}{extra}")
    }

    fn invalid_key(text: &str) -> String {
        match parse("t.toml", text) {
            Err(ProfileError::InvalidValue { key, .. }) => key,
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn minimal_profile_parses() {
        let p = parse("t.toml", MINIMAL).unwrap();
        assert_eq!(p.kind, CertificateKind::EndEntity);
        assert_eq!(p.validity, time::Duration::days(1));
        assert!(p.basic_constraints.is_none() && p.qc_statements.is_none());
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = parse(
            "t.toml",
            &MINIMAL.replace("critical = true", "critical = true\ncritcal = 1"),
        )
        .unwrap_err();
        assert_eq!(e.code(), "PRF001");
        assert!(e.to_string().contains("critcal"), "{e}");
        let e = parse(
            "t.toml",
            &with("[qc_statements]\ncompliance = true\nsscd_x = true\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("sscd_x"), "{e}");
        let e = parse("t.toml", &MINIMAL.replace("version = 1\n", "")).unwrap_err();
        assert!(e.to_string().contains("version"), "{e}");
        let e = parse("t.toml", "version = ").unwrap_err();
        assert_eq!(e.code(), "PRF001");
    }

    #[test]
    fn unsupported_version_is_reported() {
        let e = parse("t.toml", &MINIMAL.replace("version = 1", "version = 2")).unwrap_err();
        assert!(matches!(
            e,
            ProfileError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ));
    }

    #[test]
    fn invalid_values_name_their_key() {
        let m = MINIMAL;
        assert_eq!(
            invalid_key(&m.replace("\"digitalSignature\"", "\"digitalSignature\", \"signing\"")),
            "key_usage.usages[1]"
        );
        assert_eq!(
            invalid_key(&m.replace("[\"ec-p256\"]", "[\"ec-p256\", \"ed25519\"]")),
            "subject_keys[1]"
        );
        assert_eq!(invalid_key(&m.replace("days = 1", "days = 0")), "validity");
        assert_eq!(
            invalid_key(&m.replace("days = 1", "days = 99999")),
            "validity"
        );
        assert_eq!(
            invalid_key(&m.replace("critical = true", "critical = false")),
            "key_usage.critical"
        );
        assert_eq!(
            invalid_key(&with("crl_distribution_point = \"{base}/x.crl\"\n")),
            "urls.crl_distribution_point"
        );
        assert_eq!(invalid_key(&with("ocsp = \"ftp://x/ocsp\"\n")), "urls.ocsp");
        assert_eq!(
            invalid_key(&with(
                "[extended_key_usage]\ncritical = false\npurposes = [\"timeStamping\"]\n"
            )),
            "extended_key_usage"
        );
        assert_eq!(
            invalid_key(&with(
                "[extended_key_usage]\ncritical = true\npurposes = [\"timeStamping\", \"clientAuth\"]\n"
            )),
            "extended_key_usage"
        );
        assert_eq!(
            invalid_key(&with(
                "[certificate_policies]\ncritical = false\npolicies = [\"qcp-x\"]\n"
            )),
            "certificate_policies.policies[0]"
        );
        assert_eq!(
            invalid_key(&with(
                "[certificate_policies]\ncritical = false\npolicies = [\"qcp-n\", \"qcp-n-qscd\"]\n"
            )),
            "certificate_policies.policies"
        );
        assert_eq!(
            invalid_key(&with("[extensions]\nocsp_nocheck = true\n")),
            "extensions.ocsp_nocheck"
        );
        assert_eq!(
            invalid_key(&with(
                "[qc_statements]\ncompliance = true\nsemantics = \"natural\"\n"
            )),
            "qc_statements.semantics"
        );
        assert_eq!(
            invalid_key(&with(
                "[qc_statements]\ncompliance = true\nsemantics = \"eidas-legal\"\n"
            )),
            "qc_statements.semantics"
        );
        assert_eq!(
            invalid_key(&with(
                "[qc_statements]\ncompliance = true\ntype = \"esign\"\n"
            )),
            "qc_statements.type"
        );
        assert_eq!(
            invalid_key(&with(
                "[qc_statements]\ncompliance = true\n[[qc_statements.pds]]\nurl = \"http://x/pds\"\nlanguage = \"en\"\n"
            )),
            "qc_statements.pds[0].url"
        );
        assert_eq!(
            invalid_key(&with(
                "[qc_statements]\ncompliance = true\n[[qc_statements.pds]]\nurl = \"{pds_base_url}/pds\"\nlanguage = \"EN\"\n"
            )),
            "qc_statements.pds[0].language"
        );
        assert_eq!(
            invalid_key(&with("[basic_constraints]\ncritical = true\nca = true\n")),
            "basic_constraints.ca"
        );
        assert_eq!(
            invalid_key(&m.replace("kind = \"end-entity\"", "kind = \"subordinate-ca\"")),
            "basic_constraints"
        );
        assert_eq!(
            invalid_key(
                &m.replace("kind = \"end-entity\"", "kind = \"root-ca\"").replace(
                    "[urls]",
                    "[basic_constraints]\ncritical = true\nca = true\n[urls]\nocsp = \"{public_base_url}/ocsp\""
                ).replace("\"digitalSignature\"", "\"keyCertSign\"")
            ),
            "urls"
        );
    }

    #[test]
    fn wrong_types_and_enum_values_are_toml_errors() {
        let e = parse("t.toml", &MINIMAL.replace("days = 1", "days = \"1\"")).unwrap_err();
        assert_eq!(e.code(), "PRF001");
        assert!(e.to_string().contains("days"), "{e}");
        let e = parse("t.toml", &MINIMAL.replace("\"end-entity\"", "\"leaf\"")).unwrap_err();
        assert_eq!(e.code(), "PRF001");
        assert!(e.to_string().contains("leaf"), "{e}");
    }
}
