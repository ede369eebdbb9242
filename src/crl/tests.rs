//! Unit tests of the CRL builder with software keys (the HSM-signed CRLs served over HTTP,
//! openssl and pkilint are in tests/crl.rs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use der::asn1::GeneralizedTime;
use der::{Decode, Encode};
use p384::ecdsa::signature::hazmat::PrehashSigner;
use p384::pkcs8::EncodePublicKey;
use time::OffsetDateTime;
use time::macros::datetime;
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;

use crate::pki::{DigestAlgorithm, SignatureAlgorithm};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason, SubjectKeyIdentifier};

use super::*;
use crate::pki::{CountryCode, LegalIdentityType, LegalPersonIdentifier, OrganizationName, oid};
use crate::pki::{SubjectName, der_util::x509_time};
use crate::profile::{self, IssuerInfo, ProfileId, TbsRequest, UrlContext};
use crate::storage::{CertificateSerial, RevocationReason, RevocationRecord};

pub(crate) const T0: OffsetDateTime = datetime!(2026-01-01 00:00:00 UTC);
const NOW: OffsetDateTime = datetime!(2026-06-15 08:30:12.345 UTC);

pub(crate) fn key(seed: u8) -> p384::ecdsa::SigningKey {
    p384::ecdsa::SigningKey::from_slice(&[seed; 48]).unwrap()
}

fn spki(key: &p384::ecdsa::SigningKey) -> Vec<u8> {
    key.verifying_key().to_public_key_der().unwrap().into_vec()
}

fn sign(key: &p384::ecdsa::SigningKey, digest: &[u8]) -> Vec<u8> {
    let s: p384::ecdsa::DerSignature = key.sign_prehash(digest).unwrap();
    s.as_bytes().to_vec()
}

fn org(cn: &str) -> SubjectName {
    let fr = CountryCode::new("FR").unwrap();
    SubjectName::Organization(
        OrganizationName::new(
            fr,
            "qtsp test SAS",
            Some(
                LegalPersonIdentifier::new(LegalIdentityType::NationalTradeRegister, fr, "123")
                    .unwrap(),
            ),
            cn,
        )
        .unwrap(),
    )
}

/// A self-signed P-384 root certificate with notBefore T0.
pub(crate) fn root(key: &p384::ecdsa::SigningKey) -> Vec<u8> {
    let name = org("qtsp test root");
    let spki = spki(key);
    let urls = UrlContext::new("http://pki.qtsp.test", "https://www.qtsp.test", "root").unwrap();
    let prepared = profile::prepare(&TbsRequest {
        profile: profile::builtin(ProfileId::RootCa).unwrap(),
        serial: &[1],
        subject: &name,
        subject_spki_der: &spki,
        issuer: &IssuerInfo::self_signed(&name, &spki).unwrap(),
        not_before: T0,
        not_after: datetime!(2040-01-01 00:00:00 UTC),
        urls: &urls,
    })
    .unwrap();
    let signature = sign(key, prepared.digest_to_sign());
    profile::assemble(prepared, &signature).unwrap()
}

fn revocation(
    id: u64,
    serial_hex: &str,
    reason: RevocationReason,
    invalidity: Option<OffsetDateTime>,
) -> RevocationRecord {
    RevocationRecord {
        id,
        serial: CertificateSerial::from_hex(serial_hex).unwrap(),
        issuer: "root".into(),
        reason,
        revoked_at: datetime!(2026-06-01 10:00:00.5 UTC),
        invalidity_date: invalidity,
    }
}

fn build(
    info: &CrlIssuerInfo,
    key: &p384::ecdsa::SigningKey,
    number: u64,
    revocations: &[RevocationRecord],
) -> Result<Vec<u8>, CrlError> {
    let prepared = prepare(&CrlContent {
        issuer: info,
        crl_number: number,
        this_update: NOW,
        next_update: NOW + DEFAULT_NEXT_UPDATE,
        revocations,
    })?;
    let signature = sign(key, prepared.digest_to_sign());
    assemble(prepared, &signature)
}

fn extension(
    exts: &[x509_cert::ext::Extension],
    id: const_oid::ObjectIdentifier,
) -> &x509_cert::ext::Extension {
    exts.iter()
        .find(|e| e.extn_id == id)
        .unwrap_or_else(|| panic!("no extension {id}"))
}

#[test]
fn empty_crl_is_v2_signed_by_the_ca_with_its_extensions() {
    let key = key(7);
    let cert_der = root(&key);
    let cert = Certificate::from_der(&cert_der).unwrap();
    let info = CrlIssuerInfo::from_certificate_der(&cert_der).unwrap();
    assert_eq!(
        info.signature_algorithm(),
        SignatureAlgorithm::EcdsaWithSha384
    );
    assert_eq!(info.not_before(), T0);

    let der = build(&info, &key, 7, &[]).unwrap();
    let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
    let tbs = &crl.tbs_cert_list;
    assert_eq!(tbs.version, x509_cert::Version::V2);
    assert_eq!(tbs.signature.oid, oid::ECDSA_WITH_SHA384);
    assert!(tbs.signature.parameters.is_none());
    assert_eq!(crl.signature_algorithm, tbs.signature);
    assert_eq!(&tbs.issuer, cert.tbs_certificate().subject());
    assert_eq!(tbs.this_update, x509_time(NOW).unwrap());
    assert_eq!(
        tbs.next_update,
        Some(x509_time(NOW + time::Duration::hours(24)).unwrap())
    );
    // RFC 5280 section 5.1.2.6: no revoked certificate, no (empty) list.
    assert!(tbs.revoked_certificates.is_none());

    let exts = tbs.crl_extensions.as_deref().unwrap();
    assert_eq!(exts.len(), 3);
    assert!(exts.iter().all(|e| !e.critical));
    let aki = AuthorityKeyIdentifier::from_der(
        extension(exts, oid::ID_CE_AUTHORITY_KEY_IDENTIFIER)
            .extn_value
            .as_bytes(),
    )
    .unwrap();
    let (_, ski) = cert
        .tbs_certificate()
        .get_extension::<SubjectKeyIdentifier>()
        .unwrap()
        .unwrap();
    assert_eq!(aki.key_identifier.unwrap(), ski.0);
    assert!(aki.authority_cert_issuer.is_none() && aki.authority_cert_serial_number.is_none());
    let number =
        CrlNumber::from_der(extension(exts, oid::ID_CE_CRL_NUMBER).extn_value.as_bytes()).unwrap();
    assert_eq!(number, CrlNumber::try_from(7u64).unwrap());
    let expired = GeneralizedTime::from_der(
        extension(exts, oid::ID_CE_EXPIRED_CERTS_ON_CRL)
            .extn_value
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        expired.to_unix_duration().as_secs(),
        T0.unix_timestamp() as u64
    );

    // The signature covers the TBSCertList with the CA key.
    let digest = DigestAlgorithm::Sha384.digest(&tbs.to_der().unwrap());
    SignatureAlgorithm::EcdsaWithSha384
        .verify_digest(info.spki_der(), &digest, crl.signature.as_bytes().unwrap())
        .unwrap();
}

#[test]
fn entries_carry_serial_date_reason_and_invalidity_date() {
    let key = key(7);
    let info = CrlIssuerInfo::from_certificate_der(&root(&key)).unwrap();
    let records = [
        revocation(1, "4a01", RevocationReason::KeyCompromise, None),
        revocation(2, "00ff", RevocationReason::Unspecified, None),
        revocation(
            3,
            "7f0203",
            RevocationReason::CessationOfOperation,
            Some(datetime!(2026-05-31 23:00:00 UTC)),
        ),
    ];
    let der = build(&info, &key, 1, &records).unwrap();
    let crl = CertificateList::<x509_cert::certificate::Rfc5280>::from_der(&der).unwrap();
    let entries = crl.tbs_cert_list.revoked_certificates.unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].serial_number.as_bytes(), [0x4a, 0x01]);
    // The leading zero of 00ff is DER (the value is positive), not part of the number.
    assert_eq!(entries[1].serial_number.as_bytes(), [0x00, 0xff]);
    assert_eq!(
        entries[0].revocation_date,
        x509_time(datetime!(2026-06-01 10:00:00 UTC)).unwrap()
    );

    let reason = |i: usize| {
        entries[i]
            .crl_entry_extensions
            .as_deref()
            .and_then(|exts| exts.iter().find(|e| e.extn_id == oid::ID_CE_CRL_REASONS))
            .map(|e| {
                assert!(!e.critical);
                CrlReason::from_der(e.extn_value.as_bytes()).unwrap()
            })
    };
    assert_eq!(reason(0), Some(CrlReason::KeyCompromise));
    // unspecified: no reasonCode at all (RFC 5280 section 5.3.1), and so no extensions.
    assert_eq!(reason(1), None);
    assert!(entries[1].crl_entry_extensions.is_none());
    assert_eq!(reason(2), Some(CrlReason::CessationOfOperation));
    let exts = entries[2].crl_entry_extensions.as_deref().unwrap();
    let invalidity = GeneralizedTime::from_der(
        extension(exts, oid::ID_CE_INVALIDITY_DATE)
            .extn_value
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        invalidity.to_unix_duration().as_secs(),
        datetime!(2026-05-31 23:00:00 UTC).unix_timestamp() as u64
    );

    // Every reason qtsp stores maps to its RFC 5280 code.
    for reason in RevocationReason::ALL {
        assert_eq!(build::crl_reason(reason) as u32, u32::from(reason.code()));
    }
}

#[test]
fn a_signature_by_another_key_releases_nothing() {
    let key_a = key(7);
    let info = CrlIssuerInfo::from_certificate_der(&root(&key_a)).unwrap();
    let prepared = prepare(&CrlContent {
        issuer: &info,
        crl_number: 1,
        this_update: NOW,
        next_update: NOW + DEFAULT_NEXT_UPDATE,
        revocations: &[],
    })
    .unwrap();
    let wrong = sign(&key(8), prepared.digest_to_sign());
    let err = assemble(prepared, &wrong).unwrap_err();
    assert!(matches!(err, CrlError::BadSignature(_)), "{err}");
    assert!(err.to_string().starts_with("CRL003"), "{err}");
}

#[test]
fn bad_content_and_issuers_are_refused() {
    let key = key(7);
    let info = CrlIssuerInfo::from_certificate_der(&root(&key)).unwrap();
    let content = |number, next_update| CrlContent {
        issuer: &info,
        crl_number: number,
        this_update: NOW,
        next_update,
        revocations: &[],
    };
    assert!(matches!(
        prepare(&content(0, NOW + DEFAULT_NEXT_UPDATE)),
        Err(CrlError::Invalid(_))
    ));
    // Same second once truncated: not after thisUpdate.
    assert!(matches!(
        prepare(&content(1, NOW + time::Duration::milliseconds(100))),
        Err(CrlError::Invalid(_))
    ));
    assert!(matches!(
        CrlIssuerInfo::from_certificate_der(b"\x30\x00"),
        Err(CrlError::InvalidIssuer(_))
    ));
}

#[test]
fn schedule_bounds() {
    let h = time::Duration::hours;
    assert_eq!(
        CrlSchedule::default(),
        CrlSchedule::new(h(24), h(1)).unwrap()
    );
    assert!(CrlSchedule::new(h(24 * 7), h(23)).is_ok());
    assert!(CrlSchedule::new(h(24 * 7 + 1), h(1)).is_err());
    assert!(CrlSchedule::new(h(1), h(1)).is_err());
    assert!(CrlSchedule::new(h(24), time::Duration::ZERO).is_err());
    let settings = crate::config::CrlSettings {
        next_update: std::time::Duration::from_secs(48 * 3600),
        refresh: std::time::Duration::from_secs(1800),
        revocation_poll: std::time::Duration::from_secs(5),
    };
    let schedule = CrlSchedule::from_settings(&settings).unwrap();
    assert_eq!(schedule.next_update(), h(48));
    assert_eq!(schedule.refresh(), time::Duration::minutes(30));
}
