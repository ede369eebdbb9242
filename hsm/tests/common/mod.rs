//! Shared by the integration tests: one SoftHSM2 token for the whole workspace, one KEK, pools,
//! and verifiers built on the RustCrypto crates (an independent implementation).
#![allow(dead_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::pkcs8::DecodePublicKey;
use qtsp_hsm::testing::{TestToken, default_test_dir, prepare_test_token, unique_key_id};
use qtsp_hsm::{
    DigestAlg, Hsm, KeyId, KeyRef, SignMechanism, Signature, init_kek_as_security_officer,
};

/// CKA_ID of the KEK shared by every test binary.
pub const KEK_ID: &[u8] = b"qtsp-test-kek";
pub const KEK_LABEL: &str = "qtsp-test-kek";

/// The shared test token, prepared once per process.
pub fn token() -> &'static TestToken {
    static TOKEN: OnceLock<TestToken> = OnceLock::new();
    TOKEN.get_or_init(|| prepare_test_token(&default_test_dir()).expect("prepare test token"))
}

/// The KEK, created by the security officer once per process before any pool of this process
/// exists (SO and user cannot be logged in at the same time in one application).
pub async fn kek() -> KeyRef {
    static KEK: tokio::sync::OnceCell<KeyRef> = tokio::sync::OnceCell::const_new();
    KEK.get_or_init(|| async {
        let t = token();
        init_kek_as_security_officer(
            &t.config(1),
            &t.so_pin,
            KEK_LABEL,
            &KeyId::new(KEK_ID).unwrap(),
        )
        .await
        .expect("KEK as SO")
    })
    .await
    .clone()
}

/// A pool on the shared token. Always goes through [`kek`] first.
pub async fn pool(sessions: usize) -> Hsm {
    let _ = kek().await;
    Hsm::start(&token().config(sessions))
        .await
        .expect("start pool")
}

pub fn key_id(prefix: &str) -> KeyId {
    unique_key_id(prefix)
}

/// Verifies `sig` over `digest` with the public key `spki` using RustCrypto.
pub fn verify(spki: &[u8], mech: SignMechanism, digest: &[u8], sig: &Signature) {
    match (mech, sig) {
        (SignMechanism::Ecdsa(_), Signature::Ecdsa(s)) => {
            verify_ecdsa(spki, digest, &s.raw, &s.der)
        }
        (SignMechanism::RsaPkcs1v15(alg), Signature::Rsa(s)) => {
            let key = rsa::PublicKey::from_public_key_der(spki).expect("RSA SPKI");
            let scheme = match alg {
                DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            };
            key.verify(scheme, digest, s)
                .expect("PKCS#1 v1.5 signature verifies");
        }
        (SignMechanism::RsaPss(alg), Signature::Rsa(s)) => {
            let key = rsa::PublicKey::from_public_key_der(spki).expect("RSA SPKI");
            match alg {
                DigestAlg::Sha256 => key.verify(rsa::Pss::<sha2::Sha256>::new(), digest, s),
                DigestAlg::Sha384 => key.verify(rsa::Pss::<sha2::Sha384>::new(), digest, s),
                DigestAlg::Sha512 => key.verify(rsa::Pss::<sha2::Sha512>::new(), digest, s),
            }
            .expect("PSS signature verifies");
        }
        other => panic!("signature kind does not match mechanism: {other:?}"),
    }
}

fn verify_ecdsa(spki: &[u8], digest: &[u8], raw: &[u8], der: &[u8]) {
    if let Ok(vk) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
        assert_eq!(raw.len(), 64);
        let s = p256::ecdsa::Signature::from_slice(raw).expect("raw P-256 signature");
        vk.verify_prehash(digest, &s)
            .expect("P-256 raw signature verifies");
        let d = p256::ecdsa::Signature::from_der(der).expect("DER P-256 signature");
        assert_eq!(d, s, "raw and DER forms carry the same r and s");
        vk.verify_prehash(digest, &d)
            .expect("P-256 DER signature verifies");
        return;
    }
    let vk = p384::ecdsa::VerifyingKey::from_public_key_der(spki).expect("P-256 or P-384 SPKI");
    assert_eq!(raw.len(), 96);
    let s = p384::ecdsa::Signature::from_slice(raw).expect("raw P-384 signature");
    vk.verify_prehash(digest, &s)
        .expect("P-384 raw signature verifies");
    let d = p384::ecdsa::Signature::from_der(der).expect("DER P-384 signature");
    assert_eq!(d, s, "raw and DER forms carry the same r and s");
    vk.verify_prehash(digest, &d)
        .expect("P-384 DER signature verifies");
}

/// Every mechanism that applies to a key spec, with every hash.
pub fn mechanisms_for(spec: qtsp_hsm::KeySpec) -> Vec<SignMechanism> {
    let mut out = Vec::new();
    for alg in DigestAlg::ALL {
        if spec.curve().is_some() {
            out.push(SignMechanism::Ecdsa(alg));
        } else {
            out.push(SignMechanism::RsaPkcs1v15(alg));
            out.push(SignMechanism::RsaPss(alg));
        }
    }
    out
}
