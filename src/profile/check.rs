//! Pre-issuance checks: qtsp's own lint of a [`PreparedTbs`], run before anything is signed.
//!
//! The to-be-signed bytes are decoded again with the `x509-cert` types (not the structs that
//! built them) and checked against RFC 5280, the profile and the issuer. Every failed rule is
//! reported, not just the first.

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::{Decode, Encode};
use time::OffsetDateTime;
use x509_cert::TbsCertificate;
use x509_cert::certificate::Version;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{
    AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies,
    CrlDistributionPoints, ExtendedKeyUsage, KeyUsage, SubjectKeyIdentifier,
};

use super::builder::{MAX_SERIAL_LEN, PreparedTbs};
use super::error::{CheckFailure, ProfileError};
use super::spec::CertificateKind;
use crate::pki::der_util::{from_x509_time, key_identifier};
use crate::pki::name::SubjectKind;
use crate::pki::qc::{QcStatements, Statement};
use crate::pki::{KeyAlgorithm, SignatureAlgorithm, oid};

struct Findings(Vec<CheckFailure>);

impl Findings {
    fn fail(&mut self, rule: &'static str, detail: impl Into<String>) {
        self.0.push(CheckFailure {
            rule,
            detail: detail.into(),
        });
    }

    fn expect(&mut self, ok: bool, rule: &'static str, detail: impl FnOnce() -> String) {
        if !ok {
            self.fail(rule, detail());
        }
    }
}

/// Decodes one extension's value, recording a failure if it is malformed.
fn decode_ext<T>(f: &mut Findings, ext: &Extension, rule: &'static str) -> Option<T>
where
    T: for<'a> Decode<'a, Error = der::Error>,
{
    match T::from_der(ext.extn_value.as_bytes()) {
        Ok(v) => Some(v),
        Err(e) => {
            f.fail(
                rule,
                format!("extension {} does not decode: {e}", ext.extn_id),
            );
            None
        }
    }
}

fn http_uri(gn: &GeneralName) -> Option<&str> {
    match gn {
        GeneralName::UniformResourceIdentifier(u)
            if u.as_str().starts_with("http://") || u.as_str().starts_with("https://") =>
        {
            Some(u.as_str())
        }
        _ => None,
    }
}

/// Runs every pre-issuance rule on `prepared`; `Err(CheckFailed)` lists all the failures.
pub fn check(prepared: &PreparedTbs) -> Result<(), ProfileError> {
    let mut f = Findings(Vec::new());
    let tbs = match TbsCertificate::from_der(prepared.tbs_der()) {
        Ok(t) => t,
        Err(e) => {
            return Err(ProfileError::CheckFailed(vec![CheckFailure {
                rule: "der",
                detail: format!("the TBSCertificate does not decode: {e}"),
            }]));
        }
    };
    if tbs.to_der().ok().as_deref() != Some(prepared.tbs_der()) {
        f.fail(
            "der",
            "the TBSCertificate does not re-encode to the same bytes",
        );
    }
    let profile = prepared.profile();
    let issuer = prepared.issuer();

    // Version, serial, signature algorithm, issuer.
    f.expect(tbs.version() == Version::V3, "version", || {
        format!("{:?}, expected v3", tbs.version())
    });
    // The INTEGER's content octets, two's complement.
    let serial = tbs.serial_number().as_bytes();
    f.expect(
        serial.iter().any(|b| *b != 0)
            && serial.first().is_some_and(|b| b & 0x80 == 0)
            && serial.len() <= MAX_SERIAL_LEN,
        "serial",
        || {
            format!(
                "{} octets; must be positive, at most 20 octets",
                serial.len()
            )
        },
    );
    match SignatureAlgorithm::from_algorithm_identifier(tbs.signature()) {
        Ok(alg) => {
            f.expect(
                alg == prepared.signature_algorithm(),
                "signature-algorithm",
                || {
                    format!(
                        "{alg} differs from the prepared {}",
                        prepared.signature_algorithm()
                    )
                },
            );
            f.expect(alg.fits_key(issuer.key()), "signature-algorithm", || {
                format!(
                    "{alg} cannot be made with the issuer's {} key",
                    issuer.key()
                )
            });
        }
        Err(e) => f.fail("signature-algorithm", e.to_string()),
    }
    f.expect(
        tbs.issuer().to_der().ok().as_deref() == Some(issuer.name_der()),
        "issuer-name",
        || "the issuer field differs from the issuer's subject".into(),
    );

    // Validity.
    let v = tbs.validity();
    match (from_x509_time(&v.not_before), from_x509_time(&v.not_after)) {
        (Ok(nb), Ok(na)) => check_validity(&mut f, prepared, nb, na),
        _ => f.fail("validity", "notBefore or notAfter out of range"),
    }

    // Subject and key.
    check_subject(&mut f, &tbs, profile.subject);
    let spki_der = tbs.subject_public_key_info().to_der().unwrap_or_default();
    match KeyAlgorithm::from_spki_der(&spki_der) {
        Ok(k) => f.expect(profile.subject_keys.contains(&k), "subject-key", || {
            format!("{k} is not allowed by profile {}", profile.name)
        }),
        Err(e) => f.fail("subject-key", e.to_string()),
    }
    if profile.kind == CertificateKind::RootCa {
        f.expect(
            tbs.subject() == tbs.issuer() && spki_der == issuer.spki_der(),
            "self-signed",
            || "a root certificate has subject = issuer and is signed by its own key".into(),
        );
    } else if issuer.path_len() == Some(0) && profile.kind.is_ca() {
        f.fail(
            "issuer-path-length",
            "the issuer's pathLenConstraint is 0: it cannot certify a CA",
        );
    }

    check_extensions(&mut f, &tbs, prepared, &spki_der);

    if f.0.is_empty() {
        Ok(())
    } else {
        Err(ProfileError::CheckFailed(f.0))
    }
}

fn check_validity(
    f: &mut Findings,
    prepared: &PreparedTbs,
    nb: OffsetDateTime,
    na: OffsetDateTime,
) {
    let profile = prepared.profile();
    f.expect(nb < na, "validity", || {
        format!("notBefore {nb} is not before notAfter {na}")
    });
    f.expect(na - nb <= profile.validity, "validity-length", || {
        format!("{} exceeds the profile's {}", na - nb, profile.validity)
    });
    if let Some((inb, ina)) = prepared.issuer().validity() {
        f.expect(inb <= nb && na <= ina, "validity-within-issuer", || {
            format!("[{nb}, {na}] is not inside the issuer's [{inb}, {ina}]")
        });
    }
}

fn check_subject(f: &mut Findings, tbs: &TbsCertificate, kind: SubjectKind) {
    let subject = tbs.subject();
    if subject.is_empty() {
        f.fail("subject", "the subject is empty");
        return;
    }
    let count = |o: ObjectIdentifier| subject.iter().filter(|a| a.oid == o).count();
    f.expect(count(oid::AT_COUNTRY_NAME) == 1, "subject", || {
        "exactly one countryName".into()
    });
    f.expect(count(oid::AT_COMMON_NAME) == 1, "subject", || {
        "exactly one commonName".into()
    });
    match kind {
        SubjectKind::NaturalPerson => {
            f.expect(
                count(oid::AT_GIVEN_NAME) + count(oid::AT_SURNAME) > 0,
                "subject",
                || "a natural person's name has givenName and/or surname".into(),
            );
            f.expect(count(oid::AT_SERIAL_NUMBER) == 1, "subject", || {
                "a natural person's name has one serialNumber".into()
            });
            f.expect(count(oid::AT_ORGANIZATION_NAME) == 0, "subject", || {
                "a natural person's name has no organizationName".into()
            });
        }
        SubjectKind::Organization => {
            f.expect(count(oid::AT_ORGANIZATION_NAME) == 1, "subject", || {
                "an organization's name has one organizationName".into()
            });
            f.expect(
                count(oid::AT_GIVEN_NAME) + count(oid::AT_SURNAME) == 0,
                "subject",
                || "an organization's name has no givenName or surname".into(),
            );
        }
    }
}

fn find(exts: &[Extension], o: ObjectIdentifier) -> Option<&Extension> {
    exts.iter().find(|e| e.extn_id == o)
}

fn check_extensions(
    f: &mut Findings,
    tbs: &TbsCertificate,
    prepared: &PreparedTbs,
    spki_der: &[u8],
) {
    let profile = prepared.profile();
    let exts: &[Extension] = tbs.extensions().map_or(&[], Vec::as_slice);
    for (i, e) in exts.iter().enumerate() {
        if exts[..i].iter().any(|o| o.extn_id == e.extn_id) {
            f.fail("extensions-unique", format!("{} appears twice", e.extn_id));
        }
        let known = [
            oid::ID_CE_BASIC_CONSTRAINTS,
            oid::ID_CE_KEY_USAGE,
            oid::ID_CE_EXT_KEY_USAGE,
            oid::ID_CE_SUBJECT_KEY_IDENTIFIER,
            oid::ID_CE_AUTHORITY_KEY_IDENTIFIER,
            oid::ID_CE_CERTIFICATE_POLICIES,
            oid::ID_CE_CRL_DISTRIBUTION_POINTS,
            oid::ID_PE_AUTHORITY_INFO_ACCESS,
            oid::ID_PE_QC_STATEMENTS,
            oid::ID_PKIX_OCSP_NOCHECK,
        ];
        f.expect(known.contains(&e.extn_id), "extensions-known", || {
            format!("unexpected extension {}", e.extn_id)
        });
    }

    // keyUsage
    match find(exts, KeyUsage::OID) {
        None => f.fail("key-usage", "keyUsage is absent"),
        Some(e) => {
            f.expect(
                e.critical == profile.key_usage.critical,
                "key-usage",
                || "criticality differs from the profile".into(),
            );
            if let Some(ku) = decode_ext::<KeyUsage>(f, e, "key-usage") {
                f.expect(ku.0 == profile.key_usage.flags(), "key-usage", || {
                    format!(
                        "{:?} differs from the profile's {:?}",
                        ku.0,
                        profile.key_usage.flags()
                    )
                });
                f.expect(
                    ku.key_cert_sign() == profile.kind.is_ca(),
                    "ca-consistency",
                    || "keyCertSign is set exactly on CA certificates".into(),
                );
            }
        }
    }

    // basicConstraints
    let bc = find(exts, BasicConstraints::OID);
    match (&profile.basic_constraints, bc) {
        (None, None) => {}
        (Some(spec), Some(e)) => {
            f.expect(e.critical == spec.critical, "basic-constraints", || {
                "criticality differs from the profile".into()
            });
            if let Some(v) = decode_ext::<BasicConstraints>(f, e, "basic-constraints") {
                f.expect(
                    v.ca == spec.ca && v.path_len_constraint == spec.path_len,
                    "basic-constraints",
                    || format!("{v:?} differs from the profile"),
                );
                f.expect(v.ca == profile.kind.is_ca(), "ca-consistency", || {
                    "basicConstraints cA is set exactly on CA certificates".into()
                });
            }
        }
        (Some(_), None) => f.fail("basic-constraints", "basicConstraints is absent"),
        (None, Some(_)) => f.fail(
            "basic-constraints",
            "basicConstraints is not in the profile",
        ),
    }

    // extendedKeyUsage
    match (
        &profile.extended_key_usage,
        find(exts, ExtendedKeyUsage::OID),
    ) {
        (None, None) => {}
        (Some(spec), Some(e)) => {
            f.expect(e.critical == spec.critical, "extended-key-usage", || {
                "criticality differs from the profile".into()
            });
            if let Some(v) = decode_ext::<ExtendedKeyUsage>(f, e, "extended-key-usage") {
                f.expect(v.0 == spec.purposes, "extended-key-usage", || {
                    "purposes differ from the profile".into()
                });
            }
        }
        _ => f.fail("extended-key-usage", "presence differs from the profile"),
    }

    // subjectKeyIdentifier / authorityKeyIdentifier
    match find(exts, SubjectKeyIdentifier::OID) {
        None => f.fail("subject-key-identifier", "absent"),
        Some(e) => {
            if let Some(v) = decode_ext::<SubjectKeyIdentifier>(f, e, "subject-key-identifier") {
                let expected = key_identifier(spki_der).unwrap_or_default();
                f.expect(v.0.as_bytes() == expected, "subject-key-identifier", || {
                    "not the RFC 7093 method 1 identifier of the subject key".into()
                });
                f.expect(!e.critical, "subject-key-identifier", || {
                    "marked critical".into()
                });
            }
        }
    }
    match find(exts, AuthorityKeyIdentifier::OID) {
        None => f.fail("authority-key-identifier", "absent"),
        Some(e) => {
            if let Some(v) = decode_ext::<AuthorityKeyIdentifier>(f, e, "authority-key-identifier")
            {
                f.expect(
                    v.key_identifier.as_ref().map(|k| k.as_bytes())
                        == Some(prepared.issuer().key_id()),
                    "authority-key-identifier",
                    || "keyIdentifier is not the issuer's key identifier".into(),
                );
                f.expect(!e.critical, "authority-key-identifier", || {
                    "marked critical".into()
                });
            }
        }
    }

    // certificatePolicies
    match (
        &profile.certificate_policies,
        find(exts, CertificatePolicies::OID),
    ) {
        (None, None) => {}
        (Some(spec), Some(e)) => {
            if let Some(v) = decode_ext::<CertificatePolicies>(f, e, "certificate-policies") {
                let got: Vec<ObjectIdentifier> = v.0.iter().map(|p| p.policy_identifier).collect();
                f.expect(got == spec.policies, "certificate-policies", || {
                    "policies differ from the profile".into()
                });
            }
        }
        _ => f.fail("certificate-policies", "presence differs from the profile"),
    }

    check_urls(f, exts, prepared);
    check_qc(f, exts, prepared);

    let nocheck = find(exts, oid::ID_PKIX_OCSP_NOCHECK);
    f.expect(
        nocheck.is_some() == profile.ocsp_nocheck,
        "ocsp-nocheck",
        || "presence differs from the profile".into(),
    );
    if let Some(e) = nocheck {
        f.expect(
            e.extn_value.as_bytes() == [0x05, 0x00],
            "ocsp-nocheck",
            || "the value is not NULL".into(),
        );
    }
}

fn check_urls(f: &mut Findings, exts: &[Extension], prepared: &PreparedTbs) {
    let urls = &prepared.profile().urls;
    match (
        urls.crl_distribution_point.is_some(),
        find(exts, CrlDistributionPoints::OID),
    ) {
        (false, None) => {}
        (true, Some(e)) => {
            if let Some(v) = decode_ext::<CrlDistributionPoints>(f, e, "crl-distribution-points") {
                let ok = v.0.iter().any(|dp| {
                    matches!(&dp.distribution_point,
                        Some(DistributionPointName::FullName(names))
                            if names.iter().any(|n| http_uri(n).is_some_and(|u| u.starts_with("http://"))))
                });
                f.expect(ok, "crl-distribution-points", || {
                    "no http:// fullName URI (EN 319 412-2 GEN-4.3.11-4)".into()
                });
                f.expect(!e.critical, "crl-distribution-points", || {
                    "marked critical".into()
                });
            }
        }
        _ => f.fail(
            "crl-distribution-points",
            "presence differs from the profile",
        ),
    }
    let aia_expected = urls.ocsp.is_some() || urls.ca_issuers.is_some();
    match (aia_expected, find(exts, AuthorityInfoAccessSyntax::OID)) {
        (false, None) => {}
        (true, Some(e)) => {
            if let Some(v) = decode_ext::<AuthorityInfoAccessSyntax>(f, e, "authority-info-access")
            {
                let has = |m: ObjectIdentifier| {
                    v.0.iter()
                        .any(|ad| ad.access_method == m && http_uri(&ad.access_location).is_some())
                };
                f.expect(
                    has(oid::ID_AD_OCSP) == urls.ocsp.is_some(),
                    "authority-info-access",
                    || "id-ad-ocsp differs from the profile".into(),
                );
                f.expect(
                    has(oid::ID_AD_CA_ISSUERS) == urls.ca_issuers.is_some(),
                    "authority-info-access",
                    || "id-ad-caIssuers differs from the profile".into(),
                );
                f.expect(!e.critical, "authority-info-access", || {
                    "marked critical".into()
                });
            }
        }
        _ => f.fail("authority-info-access", "presence differs from the profile"),
    }
}

fn check_qc(f: &mut Findings, exts: &[Extension], prepared: &PreparedTbs) {
    let spec = prepared.profile().qc_statements.as_ref();
    match (spec, find(exts, QcStatements::OID)) {
        (None, None) => {}
        (Some(spec), Some(e)) => {
            f.expect(!e.critical, "qc-statements", || {
                "marked critical (EN 319 412-5 QCS-4.1-02)".into()
            });
            let parsed = QcStatements::from_extension_value(e.extn_value.as_bytes())
                .and_then(|s| s.parse_all());
            match parsed {
                Err(err) => f.fail("qc-statements", err.to_string()),
                Ok(statements) => {
                    let has = |pred: &dyn Fn(&Statement) -> bool| statements.iter().any(pred);
                    f.expect(
                        has(&|s| matches!(s, Statement::Compliance)) == spec.compliance,
                        "qc-statements",
                        || "QcCompliance differs from the profile".into(),
                    );
                    f.expect(
                        has(&|s| matches!(s, Statement::Sscd)) == spec.sscd,
                        "qc-statements",
                        || "QcSSCD differs from the profile".into(),
                    );
                    f.expect(
                        statements.iter().find_map(|s| match s {
                            Statement::Type(t) => t.0.first().copied(),
                            _ => None,
                        }) == spec.qc_type,
                        "qc-statements",
                        || "QcType differs from the profile".into(),
                    );
                    f.expect(
                        statements.iter().find_map(|s| match s {
                            Statement::Semantics(i) => i.semantics_identifier,
                            _ => None,
                        }) == spec.semantics,
                        "qc-statements",
                        || "semantics identifier differs from the profile".into(),
                    );
                    f.expect(
                        !has(&|s| matches!(s, Statement::CcLegislation(_))),
                        "qc-statements",
                        || "QcCClegislation is for non-EU legislation only".into(),
                    );
                }
            }
        }
        _ => f.fail("qc-statements", "presence differs from the profile"),
    }
}
