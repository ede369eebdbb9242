//! Unit tests of the responder's parts (CertID matching, errors); the assembly is tested in
//! `ocsp::encode`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::crl::tests::{T0, key, root};
use crate::ocsp::request::CertIdHash;
use crate::pki::ocsp::CertId;
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;

fn requested(hash_alg: CertIdHash, name_hash: Vec<u8>, key_hash: Vec<u8>) -> RequestedCert {
    let cert_id = CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: hash_alg.oid(),
            parameters: None,
        },
        issuer_name_hash: OctetString::new(name_hash.clone()).unwrap(),
        issuer_key_hash: OctetString::new(key_hash.clone()).unwrap(),
        serial_number: SerialNumber::new(&[1]).unwrap(),
    };
    RequestedCert {
        hash_alg,
        issuer_name_hash: name_hash,
        issuer_key_hash: key_hash,
        serial_number: cert_id.serial_number.clone(),
        cert_id,
    }
}

#[test]
fn authority_is_named_by_sha1_and_sha256_cert_ids() {
    let der = root(&key(7));
    let authority = OcspAuthority::from_certificate_der("root", &der).unwrap();
    let cert = Certificate::from_der(&der).unwrap();
    let name = cert.tbs_certificate().subject().to_der().unwrap();
    let bits = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes()
        .to_vec();
    let sha1_id = requested(
        CertIdHash::Sha1,
        sha1::Sha1::digest(&name).to_vec(),
        sha1::Sha1::digest(&bits).to_vec(),
    );
    assert!(authority.names(&sha1_id));
    let sha256_id = requested(
        CertIdHash::Sha256,
        sha2::Sha256::digest(&name).to_vec(),
        sha2::Sha256::digest(&bits).to_vec(),
    );
    assert!(authority.names(&sha256_id));
    // The right hashes under the wrong algorithm, or one hash wrong: not this CA.
    let mut swapped = sha1_id.clone();
    swapped.hash_alg = CertIdHash::Sha256;
    assert!(!authority.names(&swapped));
    let mut other_key = sha1_id;
    other_key.issuer_key_hash[0] ^= 1;
    assert!(!authority.names(&other_key));
    // singleExtensions [1] EXPLICIT: ArchiveCutoff, the CA certificate's notBefore,
    // non-critical.
    let extensions = &authority.single_extensions_der;
    assert_eq!(extensions[0], tag::CONTEXT_1);
    let extensions = Vec::<Extension>::from_der(&extensions[2..]).unwrap();
    assert_eq!(extensions.len(), 1);
    assert_eq!(extensions[0].extn_id, oid::ID_PKIX_OCSP_ARCHIVE_CUTOFF);
    assert!(!extensions[0].critical);
    let cutoff = der::asn1::GeneralizedTime::from_der(extensions[0].extn_value.as_bytes()).unwrap();
    assert_eq!(cutoff, generalized_time(T0).unwrap());
}

#[test]
fn errors_become_unsigned_status_answers() {
    let answer = OcspAnswer::error(OcspResponseStatus::Unauthorized, UNAUTHORIZED_CODE);
    assert_eq!(answer.der, [0x30, 0x03, 0x0a, 0x01, 0x06]);
    assert_eq!(answer.validity, None);
    assert_eq!(
        OcspError::Schedule("x".into()).status(),
        OcspResponseStatus::InternalError
    );
    assert_eq!(OcspError::Schedule("x".into()).code(), "OCSP204");
    assert_eq!(
        OcspError::BadSignature("x".into()).status(),
        OcspResponseStatus::InternalError
    );
}

#[test]
fn a_responder_certificate_needs_the_ocsp_signing_eku() {
    // A root CA certificate has no id-kp-OCSPSigning.
    let error = Signer::new_parts(&root(&key(3))).unwrap_err();
    assert!(error.to_string().starts_with("OCSP201"), "{error}");
}
