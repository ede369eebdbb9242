#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::profile::error::ProfileError;

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
