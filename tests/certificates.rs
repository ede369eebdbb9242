//! Certificates built by `qtsp::profile` and signed by real SoftHSM2 keys, judged by independent
//! tools: `openssl verify` / `openssl x509 -text`, and pkilint (PKIX and ETSI lints).
//!
//! The hierarchy: a self-signed root CA (P-384), the issuing CA (P-384), and under it a TSU
//! (P-256), an OCSP responder (P-256), an audit checkpoint signer (P-256) and a qualified natural
//! person (P-256). Times are fixed; openssl checks them with `-attime`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::pki::{
    LintReport, TokenKey, generate, hsm, issue, openssl, pkilint, run_pkilint, write_cert,
};
use qtsp::pki::{
    CountryCode, LegalIdentityType, LegalPersonIdentifier, NaturalPersonIdentifier,
    NaturalPersonName, OrganizationName, PersonIdentityType, SubjectName,
};
use qtsp::profile::{IssuerInfo, ProfileId, UrlContext};
use qtsp_hsm::{Hsm, KeySpec};
use time::OffsetDateTime;
use time::macros::datetime;

/// Validity start of every certificate.
const T0: OffsetDateTime = datetime!(2026-03-01 00:00:00 UTC);
/// The instant openssl verifies at (inside every validity period).
const VERIFY_AT: OffsetDateTime = datetime!(2026-03-02 12:00:00 UTC);

fn fr() -> CountryCode {
    CountryCode::new("FR").unwrap()
}

fn organization(cn: &str) -> SubjectName {
    SubjectName::Organization(
        OrganizationName::new(
            fr(),
            "QTSP Test SAS",
            Some(
                LegalPersonIdentifier::new(
                    LegalIdentityType::NationalTradeRegister,
                    fr(),
                    "552100554",
                )
                .unwrap(),
            ),
            cn,
        )
        .unwrap(),
    )
}

fn natural_person() -> SubjectName {
    SubjectName::NaturalPerson(
        NaturalPersonName::new(
            fr(),
            Some("Jeanne"),
            Some("Dupont"),
            "Jeanne Dupont",
            NaturalPersonIdentifier::new(PersonIdentityType::IdentityCard, fr(), "X4RTBA1C9")
                .unwrap(),
        )
        .unwrap(),
    )
}

/// The certificates of one hierarchy, written as DER and PEM in a temporary directory.
struct Hierarchy {
    dir: tempfile::TempDir,
    /// (name, DER)
    certs: Vec<(&'static str, Vec<u8>)>,
    keys: Vec<TokenKey>,
}

impl Hierarchy {
    fn der(&self, name: &str) -> &[u8] {
        &self.certs.iter().find(|(n, _)| *n == name).unwrap().1
    }
    fn pem(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.pem"))
    }
    fn der_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.der"))
    }
    async fn destroy_keys(&self, hsm: &Hsm) {
        for k in &self.keys {
            let _ = hsm.destroy_key(&k.key).await;
        }
    }
}

const LEAVES: [&str; 4] = ["tsu", "ocsp", "audit", "person"];

async fn build_hierarchy(hsm: &Hsm) -> Hierarchy {
    let root_key = generate(hsm, KeySpec::EcP384, "cert-test-root").await;
    let ca_key = generate(hsm, KeySpec::EcP384, "cert-test-issuing").await;
    let tsu_key = generate(hsm, KeySpec::EcP256, "cert-test-tsu").await;
    let ocsp_key = generate(hsm, KeySpec::EcP256, "cert-test-ocsp").await;
    let audit_key = generate(hsm, KeySpec::EcP256, "cert-test-audit").await;
    let person_key = generate(hsm, KeySpec::EcP256, "cert-test-person").await;

    let days = |n| time::Duration::days(n);
    let root_urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        "root",
    )
    .unwrap();
    let ca_urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        "issuing",
    )
    .unwrap();

    let root_name = organization("QTSP Test Root CA");
    let root = issue(
        hsm,
        ProfileId::RootCa,
        &[0x01],
        &root_name,
        &root_key.spki_der,
        &IssuerInfo::self_signed(&root_name, &root_key.spki_der).unwrap(),
        &root_key,
        (T0, T0 + days(9000)),
        &root_urls,
    )
    .await
    .expect("root CA");
    let root_issuer = IssuerInfo::from_certificate_der(&root).unwrap();

    let ca = issue(
        hsm,
        ProfileId::IssuingCa,
        &[0x5a, 0x17, 0x00, 0x01],
        &organization("QTSP Test Qualified CA"),
        &ca_key.spki_der,
        &root_issuer,
        &root_key,
        (T0, T0 + days(3650)),
        &root_urls,
    )
    .await
    .expect("issuing CA");
    let ca_issuer = IssuerInfo::from_certificate_der(&ca).unwrap();

    // A 16-byte random-looking serial whose top bit is set (encoded with a leading 0x00).
    let person_serial = hex::decode("9f3c5e7a11d04b2c8e6f0a1b2c3d4e5f").unwrap();
    let mut certs = vec![("root", root), ("issuing", ca)];
    for (name, profile, subject, key, serial, lifetime) in [
        (
            "tsu",
            ProfileId::Tsu,
            organization("QTSP Test TSU 1"),
            &tsu_key,
            vec![0x10],
            days(2000),
        ),
        (
            "ocsp",
            ProfileId::OcspResponder,
            organization("QTSP Test OCSP Responder"),
            &ocsp_key,
            vec![0x11],
            days(30),
        ),
        (
            "audit",
            ProfileId::AuditCheckpointSigner,
            organization("QTSP Test Audit Checkpoints"),
            &audit_key,
            vec![0x12],
            days(1000),
        ),
        (
            "person",
            ProfileId::QualifiedNaturalPerson,
            natural_person(),
            &person_key,
            person_serial.clone(),
            days(3),
        ),
    ] {
        let der = issue(
            hsm,
            profile,
            &serial,
            &subject,
            &key.spki_der,
            &ca_issuer,
            &ca_key,
            (T0, T0 + lifetime),
            &ca_urls,
        )
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        certs.push((name, der));
    }

    let dir = tempfile::tempdir().unwrap();
    for (name, der) in &certs {
        write_cert(dir.path(), name, der);
    }
    // To look at the certificates by hand: QTSP_TEST_KEEP_CERTS=<directory>.
    if let Some(keep) = std::env::var_os("QTSP_TEST_KEEP_CERTS") {
        std::fs::create_dir_all(&keep).unwrap();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, Path::new(&keep).join(path.file_name().unwrap())).unwrap();
        }
    }
    Hierarchy {
        dir,
        certs,
        keys: vec![root_key, ca_key, tsu_key, ocsp_key, audit_key, person_key],
    }
}

fn verify(h: &Hierarchy, leaf: &str, extra: &[&str]) -> (bool, String) {
    let at = VERIFY_AT.unix_timestamp().to_string();
    let root = h.pem("root");
    let issuing = h.pem("issuing");
    let leaf_pem = h.pem(leaf);
    let mut args = vec![
        "verify",
        "-x509_strict",
        "-attime",
        &at,
        "-CAfile",
        root.to_str().unwrap(),
    ];
    if leaf != "root" && leaf != "issuing" {
        args.extend(["-untrusted", issuing.to_str().unwrap()]);
    }
    args.extend(extra);
    args.push(leaf_pem.to_str().unwrap());
    let (ok, out, err) = openssl(&args);
    (
        ok && out.trim_end().ends_with(": OK"),
        format!("{out}{err}"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_verifies_every_certificate_of_the_hierarchy() {
    let hsm = hsm().await;
    let h = build_hierarchy(&hsm).await;

    for name in ["root", "issuing"].into_iter().chain(LEAVES) {
        let (ok, out) = verify(&h, name, &[]);
        assert!(ok, "openssl verify {name}:\n{out}");
    }
    // Purposes where openssl has one.
    let (ok, out) = verify(&h, "tsu", &["-purpose", "timestampsign"]);
    assert!(ok, "TSU as timestampsign:\n{out}");
    let (ok, out) = verify(&h, "ocsp", &["-purpose", "ocsphelper"]);
    assert!(ok, "OCSP responder as ocsphelper:\n{out}");
    let (ok, out) = verify(&h, "person", &["-purpose", "smimesign"]);
    assert!(ok, "natural person as smimesign (nonRepudiation):\n{out}");
    // ... and openssl really checks them: the signing certificate is no TSU.
    let (ok, out) = verify(&h, "person", &["-purpose", "timestampsign"]);
    assert!(
        !ok,
        "a natural person's certificate must not verify for timestampsign:\n{out}"
    );
    assert!(out.contains("unsuitable certificate purpose"), "{out}");
    // The validity is enforced: before T0 nothing verifies.
    let before = (T0 - time::Duration::days(1)).unix_timestamp().to_string();
    let (ok, out) = verify(&h, "person", &["-attime", &before]);
    assert!(!ok, "verify before notBefore:\n{out}");

    h.destroy_keys(&hsm).await;
    hsm.shutdown().await;
}

fn text(h: &Hierarchy, name: &str) -> String {
    let (ok, out, err) = openssl(&[
        "x509",
        "-noout",
        "-text",
        "-in",
        h.pem(name).to_str().unwrap(),
    ]);
    assert!(ok, "openssl x509 -text {name}: {err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_shows_the_profile_contents() {
    let hsm = hsm().await;
    let h = build_hierarchy(&hsm).await;

    let person = text(&h, "person");
    for expected in [
        "Version: 3 (0x2)",
        // Encoded with a leading 00 octet to stay positive; openssl prints the value.
        "9f:3c:5e:7a:11:d0:4b:2c:8e:6f:0a:1b:2c:3d:4e:5f",
        "Signature Algorithm: ecdsa-with-SHA384",
        "Issuer: C = FR, O = QTSP Test SAS, organizationIdentifier = NTRFR-552100554, CN = QTSP Test Qualified CA",
        "Subject: C = FR, GN = Jeanne, SN = Dupont, serialNumber = IDCFR-X4RTBA1C9, CN = Jeanne Dupont",
        "Not Before: Mar  1 00:00:00 2026 GMT",
        "Not After : Mar  4 00:00:00 2026 GMT",
        "X509v3 Key Usage: critical",
        "Non Repudiation",
        "X509v3 Certificate Policies:",
        "Policy: 0.4.0.194112.1.2",
        "X509v3 CRL Distribution Points:",
        "URI:http://pki.qtsp-example.eu/crl/issuing.crl",
        "OCSP - URI:http://pki.qtsp-example.eu/ocsp",
        "CA Issuers - URI:http://pki.qtsp-example.eu/certs/issuing.crt",
        // openssl 3 knows the extension's name but not its syntax: it dumps the DER.
        "qcStatements:",
    ] {
        assert!(
            person.contains(expected),
            "missing {expected:?} in:\n{person}"
        );
    }
    assert!(!person.contains("Digital Signature"), "{person}");
    assert!(!person.contains("Basic Constraints"), "{person}");
    // The QC statements themselves, through openssl's ASN.1 parser, in the profile's order.
    let qc = qc_statements_dump(&h.der_path("person"));
    let expected = [
        ":0.4.0.1862.1.1",   // QcCompliance
        ":0.4.0.1862.1.6",   // QcType
        ":0.4.0.1862.1.6.1", // esign
        ":0.4.0.1862.1.4",   // QcSSCD
        ":0.4.0.1862.1.5",   // QcPDS
        "IA5STRING         :https://www.qtsp-example.eu/pds/en.pdf",
        "PRINTABLESTRING   :en",
        ":1.3.6.1.5.5.7.11.2", // id-qcs-pkixQCSyntax-v2
        ":0.4.0.194121.1.1",   // semantics identifier: natural person
    ];
    let mut rest = qc.as_str();
    for e in expected {
        let at = rest
            .find(e)
            .unwrap_or_else(|| panic!("missing {e:?} (in order) in the qcStatements:\n{qc}"));
        rest = &rest[at + e.len()..];
    }

    let tsu = text(&h, "tsu");
    assert!(tsu.contains("X509v3 Extended Key Usage: critical"), "{tsu}");
    assert!(tsu.contains("Time Stamping"), "{tsu}");
    assert!(tsu.contains("Digital Signature"), "{tsu}");
    assert!(!tsu.contains("qcStatements"), "{tsu}");

    let ocsp = text(&h, "ocsp");
    assert!(ocsp.contains("OCSP Signing"), "{ocsp}");
    assert!(ocsp.contains("OCSP No Check"), "{ocsp}");
    assert!(!ocsp.contains("CRL Distribution Points"), "{ocsp}");

    let issuing = text(&h, "issuing");
    assert!(issuing.contains("CA:TRUE, pathlen:0"), "{issuing}");
    assert!(issuing.contains("Certificate Sign, CRL Sign"), "{issuing}");
    assert!(issuing.contains("Policy: X509v3 Any Policy"), "{issuing}");
    assert!(
        issuing.contains("URI:http://pki.qtsp-example.eu/crl/root.crl"),
        "{issuing}"
    );

    let root = text(&h, "root");
    assert!(root.contains("CA:TRUE"), "{root}");
    assert!(!root.contains("pathlen"), "{root}");
    assert!(
        root.contains("Not After : Oct 21 00:00:00 2050 GMT"),
        "{root}"
    );
    // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
    let (ok, asn1, err) = openssl(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        h.der_path("root").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(asn1.contains("UTCTIME           :260301000000Z"), "{asn1}");
    assert!(
        asn1.contains("GENERALIZEDTIME   :20501021000000Z"),
        "{asn1}"
    );
    assert_eq!(h.der("root")[0], 0x30);

    h.destroy_keys(&hsm).await;
    hsm.shutdown().await;
}

/// The qcStatements extension value, parsed by `openssl asn1parse -strparse`.
fn qc_statements_dump(der_path: &Path) -> String {
    let (ok, out, err) = openssl(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // The OCTET STRING right after the qcStatements OID holds the extension value.
    let lines: Vec<&str> = out.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(":qcStatements"))
        .expect("qcStatements in the certificate");
    let offset = lines[i + 1].split(':').next().unwrap().trim().to_owned();
    let (ok, out, err) = openssl(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        der_path.to_str().unwrap(),
        "-strparse",
        &offset,
    ]);
    assert!(ok, "{err}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pkilint_finds_no_error_in_any_certificate() {
    let Some(bin) = pkilint() else {
        return;
    };
    let hsm = hsm().await;
    let h = build_hierarchy(&hsm).await;

    let mut reports: Vec<LintReport> = Vec::new();
    for name in ["root", "issuing"].into_iter().chain(LEAVES) {
        reports.push(run_pkilint(&bin, "lint_pkix_cert", &[], &h.der_path(name)));
    }
    reports.push(run_pkilint(
        &bin,
        "lint_etsi_cert",
        &["-t", "QCP-N-QSCD-EIDAS-FINAL-CERTIFICATE"],
        &h.der_path("person"),
    ));
    // pkilint's own detection agrees on what the natural person's certificate is.
    let detected = run_pkilint(&bin, "lint_etsi_cert", &["-d", "-o"], &h.der_path("person"));
    assert!(
        detected
            .output
            .contains("QCP-N-QSCD-EIDAS-FINAL-CERTIFICATE"),
        "pkilint detects:\n{}",
        detected.output
    );
    reports.push(detected);
    for r in &reports {
        eprintln!("== {}\n{}", r.command, r.output);
    }
    for r in &reports {
        r.assert_clean();
    }

    h.destroy_keys(&hsm).await;
    hsm.shutdown().await;
}

/// An RSA-3072 issuing CA (signing with sha256WithRSAEncryption, NULL parameters) under the
/// P-384 root: the builder, the HSM's PKCS#1 v1.5 signature, openssl and pkilint agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rsa_issuing_ca_signs_with_sha256_with_rsa_encryption() {
    let hsm = hsm().await;
    let root_key = generate(&hsm, KeySpec::EcP384, "cert-test-rsa-root").await;
    let ca_key = generate(&hsm, KeySpec::Rsa3072, "cert-test-rsa-ca").await;
    let leaf_key = generate(&hsm, KeySpec::EcP256, "cert-test-rsa-leaf").await;
    let days = |n| time::Duration::days(n);
    let root_urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        "root",
    )
    .unwrap();
    let ca_urls = UrlContext::new(
        "http://pki.qtsp-example.eu",
        "https://www.qtsp-example.eu",
        "rsa",
    )
    .unwrap();
    let root_name = organization("QTSP Test Root CA");
    let root = issue(
        &hsm,
        ProfileId::RootCa,
        &[1],
        &root_name,
        &root_key.spki_der,
        &IssuerInfo::self_signed(&root_name, &root_key.spki_der).unwrap(),
        &root_key,
        (T0, T0 + days(9000)),
        &root_urls,
    )
    .await
    .unwrap();
    let ca = issue(
        &hsm,
        ProfileId::IssuingCa,
        &[2],
        &organization("QTSP Test RSA CA"),
        &ca_key.spki_der,
        &IssuerInfo::from_certificate_der(&root).unwrap(),
        &root_key,
        (T0, T0 + days(3650)),
        &root_urls,
    )
    .await
    .unwrap();
    let rsa_issuer = IssuerInfo::from_certificate_der(&ca).unwrap();
    assert_eq!(
        rsa_issuer.signature_algorithm(),
        qtsp::pki::SignatureAlgorithm::Sha256WithRsa
    );
    let leaf = issue(
        &hsm,
        ProfileId::QualifiedNaturalPerson,
        &[3],
        &natural_person(),
        &leaf_key.spki_der,
        &rsa_issuer,
        &ca_key,
        (T0, T0 + days(3)),
        &ca_urls,
    )
    .await
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    for (name, der) in [("root", &root), ("issuing", &ca), ("person", &leaf)] {
        write_cert(dir.path(), name, der);
    }
    let pem = |n: &str| dir.path().join(format!("{n}.pem"));
    let at = VERIFY_AT.unix_timestamp().to_string();
    let (ok, out, err) = openssl(&[
        "verify",
        "-x509_strict",
        "-attime",
        &at,
        "-CAfile",
        pem("root").to_str().unwrap(),
        "-untrusted",
        pem("issuing").to_str().unwrap(),
        pem("person").to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let (ok, asn1, err) = openssl(&[
        "asn1parse",
        "-inform",
        "DER",
        "-in",
        dir.path().join("person.der").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    // AlgorithmIdentifier { sha256WithRSAEncryption, NULL }, in the TBS and in the certificate.
    assert_eq!(
        asn1.matches("OBJECT            :sha256WithRSAEncryption")
            .count(),
        2,
        "{asn1}"
    );
    assert_eq!(asn1.matches("prim: NULL").count(), 2, "{asn1}");

    if let Some(bin) = pkilint() {
        for name in ["issuing", "person"] {
            run_pkilint(
                &bin,
                "lint_pkix_cert",
                &[],
                &dir.path().join(format!("{name}.der")),
            )
            .assert_clean();
        }
        run_pkilint(
            &bin,
            "lint_etsi_cert",
            &["-t", "QCP-N-QSCD-EIDAS-FINAL-CERTIFICATE"],
            &dir.path().join("person.der"),
        )
        .assert_clean();
    }
    for k in [&root_key, &ca_key, &leaf_key] {
        let _ = hsm.destroy_key(&k.key).await;
    }
    hsm.shutdown().await;
}

/// The qcStatements of a real certificate decode to what the profile says, and no corruption of
/// the bytes makes the decoder panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qc_statements_of_a_real_certificate_decode_and_corruptions_never_panic() {
    use der::Decode;
    use qtsp::pki::oid;
    use qtsp::pki::qc::{QcStatements, Statement};

    let hsm = hsm().await;
    let h = build_hierarchy(&hsm).await;
    let cert = x509_cert::Certificate::from_der(h.der("person")).unwrap();
    let ext = cert
        .tbs_certificate()
        .extensions()
        .unwrap()
        .iter()
        .find(|e| e.extn_id == oid::ID_PE_QC_STATEMENTS)
        .unwrap();
    let value = ext.extn_value.as_bytes().to_vec();
    let statements = QcStatements::from_extension_value(&value).unwrap();
    assert_eq!(statements.to_extension_value().unwrap(), value);
    let parsed = statements.parse_all().unwrap();
    let ids: Vec<_> = parsed.iter().map(Statement::statement_id).collect();
    assert_eq!(
        ids,
        vec![
            oid::QCS_QC_COMPLIANCE,
            oid::QCS_QC_TYPE,
            oid::QCS_QC_SSCD,
            oid::QCS_QC_PDS,
            oid::ID_QCS_PKIX_QC_SYNTAX_V2
        ]
    );

    let mut decoded = 0usize;
    for i in 0..value.len() {
        for b in [0x00, 0x01, 0x7f, 0x80, 0xff, value[i] ^ 0x20] {
            let mut v = value.clone();
            v[i] = b;
            if let Ok(s) = QcStatements::from_extension_value(&v) {
                decoded += 1;
                let _ = s.parse_all();
            }
        }
        let _ = QcStatements::from_extension_value(&value[..i]).map(|s| s.parse_all());
    }
    assert!(
        decoded > 0,
        "some corruptions (inside strings) still decode"
    );
    // Whole-certificate truncations are refused by the issuer reader, never a panic.
    for cut in [
        0,
        1,
        2,
        10,
        h.der("issuing").len() / 2,
        h.der("issuing").len() - 1,
    ] {
        assert!(IssuerInfo::from_certificate_der(&h.der("issuing")[..cut]).is_err());
    }

    h.destroy_keys(&hsm).await;
    hsm.shutdown().await;
}

/// The profiles in policies/ refuse edits that break the schema, with errors naming the key.
#[test]
fn built_in_profiles_refuse_broken_edits() {
    for id in ProfileId::ALL {
        let source = id.source();
        let file = format!("{}.toml", id.name());
        assert!(qtsp::profile::parse(&file, source).is_ok(), "{file}");

        let unknown = source.replacen("version = 1", "version = 1\nbogus_key = true", 1);
        let e = qtsp::profile::parse(&file, &unknown).unwrap_err();
        assert_eq!(e.code(), "PRF001", "{e}");
        assert!(e.to_string().contains("bogus_key"), "{e}");

        let v2 = source.replacen("version = 1", "version = 2", 1);
        assert_eq!(
            qtsp::profile::parse(&file, &v2).unwrap_err().code(),
            "PRF002"
        );

        let no_ku = source.replacen("[key_usage]", "[key_usage_typo]", 1);
        let e = qtsp::profile::parse(&file, &no_ku).unwrap_err();
        assert_eq!(e.code(), "PRF001", "{e}");

        let bad_ku = source.replacen("usages = [", "usages = [\"signEverything\", ", 1);
        let e = qtsp::profile::parse(&file, &bad_ku).unwrap_err();
        assert!(
            matches!(&e, qtsp::profile::ProfileError::InvalidValue { key, .. } if key == "key_usage.usages[0]"),
            "{e}"
        );
    }
    let np = ProfileId::QualifiedNaturalPerson.source();
    let eidas = np.replace("semantics = \"natural\"", "semantics = \"eidas-natural\"");
    let e = qtsp::profile::parse("qualified-natural-person.toml", &eidas).unwrap_err();
    assert!(e.to_string().contains("qc_statements.semantics"), "{e}");
    let http_pds = np.replace(
        "url = \"{pds_base_url}/pds/en.pdf\"",
        "url = \"http://x/pds.pdf\"",
    );
    let e = qtsp::profile::parse("qualified-natural-person.toml", &http_pds).unwrap_err();
    assert!(e.to_string().contains("qc_statements.pds[0].url"), "{e}");
}
