//! [`parse`]: a profile's TOML text to a checked [`CertificateProfile`], key by key; the names
//! a profile may use for OIDs and the error context every check reports through.

use const_oid::ObjectIdentifier;

use super::qc_statements::parse_qc;
use super::raw::{RawKind, RawProfile, RawSubject};
use super::url::check_template;
use super::{
    BasicConstraintsSpec, CertificateKind, CertificatePoliciesSpec, CertificateProfile,
    ExtendedKeyUsageSpec, KeyUsageBit, KeyUsageSpec, MAX_PROFILE_VALIDITY_DAYS, PROFILE_VERSION,
    UrlTemplate, UrlTemplates,
};
use crate::pki::name::SubjectKind;
use crate::pki::{KeyAlgorithm, oid};
use crate::profile::error::ProfileError;

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

pub(super) const QC_TYPE_NAMES: [(&str, ObjectIdentifier); 3] = [
    ("esign", oid::QCT_ESIGN),
    ("eseal", oid::QCT_ESEAL),
    ("web", oid::QCT_WEB),
];

pub(super) fn lookup(table: &[(&str, ObjectIdentifier)], name: &str) -> Option<ObjectIdentifier> {
    table.iter().find(|(n, _)| *n == name).map(|(_, o)| *o)
}

pub(super) fn names(table: &[(&str, ObjectIdentifier)]) -> String {
    table.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

/// Collects the profile's name for errors.
pub(super) struct Ctx<'a> {
    profile: &'a str,
}

impl Ctx<'_> {
    pub(super) fn err(&self, key: impl Into<String>, problem: impl Into<String>) -> ProfileError {
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
