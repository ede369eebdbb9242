//! Unit tests of the profiles and the builder with software keys (the HSM-backed hierarchy,
//! openssl and pkilint are in tests/certificates.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use der::{Decode, Encode};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::pkcs8::EncodePublicKey;
use time::OffsetDateTime;
use time::macros::datetime;
use x509_cert::Certificate;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::time::Time;

use super::*;
use crate::pki::qc::{QcStatements, Statement};
use crate::pki::{
    CountryCode, LegalIdentityType, LegalPersonIdentifier, NaturalPersonIdentifier,
    NaturalPersonName, OrganizationName, PersonIdentityType, SubjectName, oid,
};

/// A software key for tests (the HSM signs in production).
enum Key {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl Key {
    fn p256(seed: u8) -> Self {
        Self::P256(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    fn p384(seed: u8) -> Self {
        Self::P384(p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap())
    }
    fn spki(&self) -> Vec<u8> {
        match self {
            Self::P256(k) => k.verifying_key().to_public_key_der().unwrap().into_vec(),
            Self::P384(k) => k.verifying_key().to_public_key_der().unwrap().into_vec(),
        }
    }
    fn sign(&self, digest: &[u8]) -> Vec<u8> {
        match self {
            Self::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign_prehash(digest).unwrap();
                s.as_bytes().to_vec()
            }
            Self::P384(k) => {
                let s: p384::ecdsa::DerSignature = k.sign_prehash(digest).unwrap();
                s.as_bytes().to_vec()
            }
        }
    }
}

fn fr() -> CountryCode {
    CountryCode::new("FR").unwrap()
}

fn org(cn: &str) -> SubjectName {
    SubjectName::Organization(
        OrganizationName::new(
            fr(),
            "qtsp test SAS",
            Some(
                LegalPersonIdentifier::new(
                    LegalIdentityType::NationalTradeRegister,
                    fr(),
                    "123456789",
                )
                .unwrap(),
            ),
            cn,
        )
        .unwrap(),
    )
}

fn person() -> SubjectName {
    SubjectName::NaturalPerson(
        NaturalPersonName::new(
            fr(),
            Some("Jeanne"),
            Some("Martin"),
            "Jeanne Martin",
            NaturalPersonIdentifier::new(PersonIdentityType::IdentityCard, fr(), "A1B2C3").unwrap(),
        )
        .unwrap(),
    )
}

fn urls(ca: &str) -> UrlContext {
    UrlContext::new("http://pki.qtsp.test", "https://www.qtsp.test", ca).unwrap()
}

const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);

#[allow(clippy::too_many_arguments)]
fn issue(
    id: ProfileId,
    serial: &[u8],
    subject: &SubjectName,
    subject_key: &Key,
    issuer: &IssuerInfo,
    issuer_key: &Key,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    ca: &str,
) -> Result<Vec<u8>, ProfileError> {
    let spki = subject_key.spki();
    let u = urls(ca);
    let req = TbsRequest {
        profile: builtin(id)?,
        serial,
        subject,
        subject_spki_der: &spki,
        issuer,
        not_before,
        not_after,
        urls: &u,
    };
    let prepared = prepare(&req)?;
    let sig = issuer_key.sign(prepared.digest_to_sign());
    assemble(prepared, &sig)
}

struct Hierarchy {
    root_key: Key,
    root: Vec<u8>,
    ca_key: Key,
    ca: Vec<u8>,
}

fn hierarchy() -> Hierarchy {
    let root_key = Key::p384(7);
    let root_name = org("qtsp test root");
    let root_issuer = IssuerInfo::self_signed(&root_name, &root_key.spki()).unwrap();
    let root = issue(
        ProfileId::RootCa,
        &[1],
        &root_name,
        &root_key,
        &root_issuer,
        &root_key,
        T0,
        datetime!(2051-01-01 00:00:00 UTC),
        "root",
    )
    .unwrap();
    let ca_key = Key::p384(9);
    let ca = issue(
        ProfileId::IssuingCa,
        &[0x80, 2],
        &org("qtsp test issuing CA"),
        &ca_key,
        &IssuerInfo::from_certificate_der(&root).unwrap(),
        &root_key,
        T0,
        datetime!(2036-01-01 00:00:00 UTC),
        "root",
    )
    .unwrap();
    Hierarchy {
        root_key,
        root,
        ca_key,
        ca,
    }
}

#[test]
fn every_builtin_profile_parses() {
    load_builtin().unwrap();
    for id in ProfileId::ALL {
        let p = builtin(id).unwrap();
        assert_eq!(p.name, id.name());
        assert_eq!(ProfileId::from_name(id.name()).unwrap(), id);
    }
    assert!(ProfileId::from_name("nope").is_err());
    let np = builtin(ProfileId::QualifiedNaturalPerson).unwrap();
    assert_eq!(
        np.certificate_policies.as_ref().unwrap().policies,
        vec![oid::QCP_N_QSCD]
    );
    let qc = np.qc_statements.as_ref().unwrap();
    assert_eq!(qc.semantics, Some(oid::SEMANTICS_ID_NATURAL));
    assert_eq!(qc.qc_type, Some(oid::QCT_ESIGN));
    assert!(qc.compliance && qc.sscd);
}

#[test]
fn a_hierarchy_builds_and_reads_back() {
    let h = hierarchy();
    let root = Certificate::from_der(&h.root).unwrap();
    let tbs = root.tbs_certificate();
    assert_eq!(tbs.subject(), tbs.issuer());
    // 2051 is after 2049: GeneralizedTime; 2026: UTCTime (RFC 5280 section 4.1.2.5).
    assert!(matches!(tbs.validity().not_before, Time::UtcTime(_)));
    assert!(matches!(tbs.validity().not_after, Time::GeneralTime(_)));
    let (_, ski) = tbs
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    let (_, aki) = tbs
        .get_extension::<AuthorityKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(ski.0.as_bytes(), aki.key_identifier.unwrap().as_bytes());
    assert_eq!(ski.0.as_bytes().len(), 20);

    let ca = Certificate::from_der(&h.ca).unwrap();
    // 0x80 0x02 is encoded with a leading zero octet to stay positive.
    assert_eq!(
        ca.tbs_certificate().serial_number().as_bytes(),
        &[0, 0x80, 2]
    );
    let (_, ca_aki) = ca
        .tbs_certificate()
        .get_extension::<AuthorityKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(ca_aki.key_identifier.unwrap().as_bytes(), ski.0.as_bytes());

    let issuing = IssuerInfo::from_certificate_der(&h.ca).unwrap();
    assert_eq!(issuing.path_len(), Some(0));
    let leaf_key = Key::p256(11);
    let leaf = issue(
        ProfileId::QualifiedNaturalPerson,
        &[0x42; 16],
        &person(),
        &leaf_key,
        &issuing,
        &h.ca_key,
        T0,
        T0 + time::Duration::days(3),
        "issuing",
    )
    .unwrap();
    let leaf = Certificate::from_der(&leaf).unwrap();
    assert_eq!(leaf.signature_algorithm().oid, oid::ECDSA_WITH_SHA384);
    let ext = leaf
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == oid::ID_PE_QC_STATEMENTS)
        .unwrap();
    assert!(!ext.critical);
    let statements = QcStatements::from_extension_value(ext.extn_value.as_bytes())
        .unwrap()
        .parse_all()
        .unwrap();
    assert_eq!(statements.len(), 5);
    assert!(statements.contains(&Statement::Compliance));
    assert!(statements.contains(&Statement::Sscd));
    assert!(statements.iter().any(|s| matches!(s,
        Statement::Pds(p) if p.0[0].url.as_str() == "https://www.qtsp.test/pds/en.pdf")));

    // Every other end-entity profile issues under the CA.
    for (i, id) in [
        ProfileId::Tsu,
        ProfileId::OcspResponder,
        ProfileId::AuditCheckpointSigner,
    ]
    .into_iter()
    .enumerate()
    {
        issue(
            id,
            &[0x10 + u8::try_from(i).unwrap()],
            &org(id.name()),
            &Key::p256(20 + u8::try_from(i).unwrap()),
            &issuing,
            &h.ca_key,
            T0,
            T0 + time::Duration::days(30),
            "issuing",
        )
        .unwrap();
    }
    let _ = &h.root_key;
}

#[test]
fn assemble_refuses_a_signature_from_another_key() {
    let h = hierarchy();
    let issuing = IssuerInfo::from_certificate_der(&h.ca).unwrap();
    let spki = Key::p256(11).spki();
    let u = urls("issuing");
    let subject = person();
    let req = TbsRequest {
        profile: builtin(ProfileId::QualifiedNaturalPerson).unwrap(),
        serial: &[5],
        subject: &subject,
        subject_spki_der: &spki,
        issuer: &issuing,
        not_before: T0,
        not_after: T0 + time::Duration::days(1),
        urls: &u,
    };
    let prepared = prepare(&req).unwrap();
    assert_eq!(prepared.digest_to_sign().len(), 48, "P-384 issuer: SHA-384");
    let wrong = h.root_key.sign(prepared.digest_to_sign());
    let e = assemble(prepared, &wrong).unwrap_err();
    assert_eq!(e.code(), "PRF021", "{e}");
    let prepared = prepare(&req).unwrap();
    assert_eq!(
        assemble(prepared, b"\x30\x00").unwrap_err().code(),
        "PRF021"
    );
}

fn failed_rules(e: ProfileError) -> Vec<&'static str> {
    match e {
        ProfileError::CheckFailed(f) => f.into_iter().map(|f| f.rule).collect(),
        other => panic!("expected CheckFailed, got {other}"),
    }
}

#[test]
fn requests_breaking_the_rules_are_refused_before_signing() {
    let h = hierarchy();
    let issuing = IssuerInfo::from_certificate_der(&h.ca).unwrap();
    let leaf_key = Key::p256(11);
    let try_issue = |id, serial: &[u8], subject: &SubjectName, key: &Key, nb, na| {
        issue(
            id, serial, subject, key, &issuing, &h.ca_key, nb, na, "issuing",
        )
    };
    let day = time::Duration::days(1);
    let np = ProfileId::QualifiedNaturalPerson;

    // Outside the issuer's validity: the pre-issuance check catches it.
    let e = try_issue(
        np,
        &[1],
        &person(),
        &leaf_key,
        datetime!(2035-12-31 00:00:00 UTC),
        datetime!(2036-02-01 00:00:00 UTC),
    )
    .unwrap_err();
    assert_eq!(failed_rules(e), vec!["validity-within-issuer"]);
    // Request errors.
    let code = |r: Result<Vec<u8>, ProfileError>| r.unwrap_err().code();
    assert_eq!(
        code(try_issue(np, &[0, 0], &person(), &leaf_key, T0, T0 + day)),
        "PRF010"
    );
    assert_eq!(
        code(try_issue(
            np,
            &[0x7f; 21],
            &person(),
            &leaf_key,
            T0,
            T0 + day
        )),
        "PRF010"
    );
    assert_eq!(
        code(try_issue(
            np,
            &[0x80; 20],
            &person(),
            &leaf_key,
            T0,
            T0 + day
        )),
        "PRF010"
    );
    assert!(try_issue(np, &[0x7f; 20], &person(), &leaf_key, T0, T0 + day).is_ok());
    assert!(try_issue(np, &[0, 0, 0x7f], &person(), &leaf_key, T0, T0 + day).is_ok());
    assert_eq!(
        code(try_issue(np, &[1], &person(), &leaf_key, T0 + day, T0)),
        "PRF010"
    );
    assert_eq!(
        code(try_issue(
            np,
            &[1],
            &person(),
            &leaf_key,
            T0,
            T0 + 400 * day
        )),
        "PRF010"
    );
    assert_eq!(
        code(try_issue(np, &[1], &org("x"), &leaf_key, T0, T0 + day)),
        "PRF010"
    );
    assert_eq!(
        code(try_issue(np, &[1], &person(), &h.ca_key, T0, T0 + day)),
        "PRF010"
    );
    // The root profile takes no P-256 key and must be self-signed.
    assert_eq!(
        code(try_issue(
            ProfileId::RootCa,
            &[1],
            &org("r"),
            &h.root_key,
            T0,
            T0 + day
        )),
        "PRF010"
    );
    // The issuing CA has pathLen 0: it cannot certify another CA.
    let e = try_issue(
        ProfileId::IssuingCa,
        &[1],
        &org("sub"),
        &Key::p384(3),
        T0,
        T0 + day,
    )
    .unwrap_err();
    assert_eq!(failed_rules(e), vec!["issuer-path-length"]);
}

#[test]
fn issuer_info_refuses_end_entity_certificates() {
    let h = hierarchy();
    let issuing = IssuerInfo::from_certificate_der(&h.ca).unwrap();
    let leaf = issue(
        ProfileId::Tsu,
        &[9],
        &org("tsu"),
        &Key::p256(5),
        &issuing,
        &h.ca_key,
        T0,
        T0 + time::Duration::days(1),
        "issuing",
    )
    .unwrap();
    assert_eq!(
        IssuerInfo::from_certificate_der(&leaf).unwrap_err().code(),
        "PRF011"
    );
    assert_eq!(
        IssuerInfo::from_certificate_der(b"\x30\x00")
            .unwrap_err()
            .code(),
        "PRF011"
    );
    assert_eq!(
        IssuerInfo::from_certificate_der(&h.root[..100])
            .unwrap_err()
            .code(),
        "PRF011"
    );
}

#[test]
fn url_context_is_checked() {
    assert!(UrlContext::new("http://pki.example", "https://www.example", "issuing-1").is_ok());
    for (public, pds, ca) in [
        ("http://pki.example/", "https://www.example", "ca"),
        ("ftp://pki.example", "https://www.example", "ca"),
        ("http://", "https://www.example", "ca"),
        ("http://pki.example", "http://www.example", "ca"),
        ("http://pki example", "https://www.example", "ca"),
        ("http://pki.example?x", "https://www.example", "ca"),
        ("http://pki.example", "https://www.example", "Issuing"),
        ("http://pki.example", "https://www.example", ""),
        ("http://pki.example", "https://www.example", "a/b"),
    ] {
        assert_eq!(
            UrlContext::new(public, pds, ca).unwrap_err().code(),
            "PRF010",
            "{public} {pds} {ca}"
        );
    }
    let u = urls("issuing");
    let p = builtin(ProfileId::QualifiedNaturalPerson).unwrap();
    assert_eq!(
        u.render(p.urls.crl_distribution_point.as_ref().unwrap()),
        "http://pki.qtsp.test/crl/issuing.crl"
    );
    assert_eq!(
        u.render(p.urls.ocsp.as_ref().unwrap()),
        "http://pki.qtsp.test/ocsp"
    );
    assert_eq!(
        u.render(p.urls.ca_issuers.as_ref().unwrap()),
        "http://pki.qtsp.test/certs/issuing.crt"
    );
}

#[test]
fn the_tbs_der_is_what_the_digest_covers() {
    let h = hierarchy();
    let issuing = IssuerInfo::from_certificate_der(&h.ca).unwrap();
    let spki = Key::p256(1).spki();
    let u = urls("issuing");
    let subject = org("ocsp");
    let prepared = prepare(&TbsRequest {
        profile: builtin(ProfileId::OcspResponder).unwrap(),
        serial: &[3],
        subject: &subject,
        subject_spki_der: &spki,
        issuer: &issuing,
        not_before: T0,
        not_after: T0 + time::Duration::days(1),
        urls: &u,
    })
    .unwrap();
    assert_eq!(
        prepared.digest_to_sign(),
        crate::pki::DigestAlgorithm::Sha384
            .digest(prepared.tbs_der())
            .as_slice()
    );
    assert_eq!(
        prepared.algorithm_identifier().to_der().unwrap(),
        crate::pki::SignatureAlgorithm::EcdsaWithSha384
            .algorithm_identifier()
            .to_der()
            .unwrap()
    );
    check(&prepared).unwrap();
}
