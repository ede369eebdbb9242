//! Signer keys wrapped under the trusted KEK: generate, unwrap, sign, destroy; nothing left behind;
//! an untrusted key cannot wrap them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use cryptoki::types::Ulong;
use qtsp_hsm::{DigestAlg, Hsm, HsmError, KeyRef, KeySpec, RvError, SignMechanism};

/// Session objects are visible to the whole application, so the tests of this file, which count
/// them, run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Private-key session objects visible to this application (CKA_TOKEN=false).
async fn session_private_keys(hsm: &Hsm) -> usize {
    hsm.with_session(|s| {
        s.find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Token(false),
        ])
        .unwrap()
        .len()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrap_unwrap_sign_destroy_for_every_spec() {
    let _serial = SERIAL.lock().await;
    let kek = common::kek().await;
    let hsm = common::pool(2).await;
    let before = session_private_keys(&hsm).await;
    for spec in KeySpec::ALL {
        let wrapped = hsm.generate_wrapped_signer_key(spec, &kek).await.unwrap();
        assert_eq!(wrapped.spec, spec);
        if spec == KeySpec::EcP256 {
            // As recorded in ARCHITECTURE.md: 80 bytes for P-256 with CKM_AES_KEY_WRAP_PAD.
            assert_eq!(wrapped.wrapped.len(), 80);
        }
        assert_eq!(
            session_private_keys(&hsm).await,
            before,
            "generation leaves nothing"
        );

        for mech in common::mechanisms_for(spec) {
            let digests: Vec<Vec<u8>> = (0..3)
                .map(|i| {
                    mech.digest_alg()
                        .digest(format!("{spec} {mech} {i}").as_bytes())
                })
                .collect();
            let sigs = hsm
                .sign_with_wrapped_key(&kek, &wrapped, mech, digests.clone())
                .await
                .unwrap();
            assert_eq!(sigs.len(), 3);
            for (d, s) in digests.iter().zip(&sigs) {
                common::verify(&wrapped.spki_der, mech, d, s);
            }
        }
        assert_eq!(
            session_private_keys(&hsm).await,
            before,
            "signing leaves nothing"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_after_unwrap_still_destroy_the_session_key() {
    let _serial = SERIAL.lock().await;
    let kek = common::kek().await;
    let hsm = common::pool(1).await;
    let before = session_private_keys(&hsm).await;
    let mut wrapped = hsm
        .generate_wrapped_signer_key(KeySpec::EcP256, &kek)
        .await
        .unwrap();

    // The record claims P-384 but the blob is P-256: refused after unwrapping, object destroyed.
    wrapped.spec = KeySpec::EcP384;
    let err = hsm
        .sign_with_wrapped_key(
            &kek,
            &wrapped,
            SignMechanism::Ecdsa(DigestAlg::Sha256),
            vec![vec![0u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HsmError::BadWrappedKey(_)), "{err}");
    assert_eq!(session_private_keys(&hsm).await, before);

    // A tampered blob fails the AES-KWP integrity check.
    wrapped.spec = KeySpec::EcP256;
    let mut tampered = wrapped.clone();
    if let Some(b) = tampered.wrapped.get_mut(10) {
        *b ^= 0x01;
    }
    let err = hsm
        .sign_with_wrapped_key(
            &kek,
            &tampered,
            SignMechanism::Ecdsa(DigestAlg::Sha256),
            vec![vec![0u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HsmError::BadWrappedKey(_) | HsmError::Pkcs11 { .. }),
        "{err}"
    );
    assert_eq!(session_private_keys(&hsm).await, before);

    // Wrong mechanism for the key type: refused before anything is unwrapped.
    let err = hsm
        .sign_with_wrapped_key(
            &kek,
            &wrapped,
            SignMechanism::RsaPkcs1v15(DigestAlg::Sha256),
            vec![vec![0u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, HsmError::UnsupportedMechanism { .. }),
        "{err}"
    );

    // The untouched blob still signs.
    let digest = DigestAlg::Sha256.digest(b"still fine");
    let sigs = hsm
        .sign_with_wrapped_key(
            &kek,
            &wrapped,
            SignMechanism::Ecdsa(DigestAlg::Sha256),
            vec![digest.clone()],
        )
        .await
        .unwrap();
    common::verify(
        &wrapped.spki_der,
        SignMechanism::Ecdsa(DigestAlg::Sha256),
        &digest,
        &sigs[0],
    );
    assert_eq!(session_private_keys(&hsm).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_key_cannot_wrap_signer_keys() {
    let _serial = SERIAL.lock().await;
    let _ = common::kek().await;
    let hsm = common::pool(1).await;
    let id = common::key_id("untrusted-aes");
    // A user can make an AES key that may wrap, but cannot make it trusted.
    let id_bytes = id.as_bytes().to_vec();
    hsm.with_session(move |s| {
        s.generate_key(
            &Mechanism::AesKeyGen,
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::ValueLen(Ulong::from(32u64)),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Wrap(true),
                Attribute::Unwrap(true),
                Attribute::Id(id_bytes),
            ],
        )
        .unwrap()
    })
    .await
    .unwrap();
    let untrusted = KeyRef {
        id: id.clone(),
        label: "untrusted".into(),
    };
    let before = session_private_keys(&hsm).await;
    let err = hsm
        .generate_wrapped_signer_key(KeySpec::EcP256, &untrusted)
        .await
        .unwrap_err();
    assert_eq!(err.rv(), Some(RvError::KeyNotWrappable), "{err}");
    assert_eq!(
        err.to_string(),
        "HSM006 C_WrapKey failed: CKR_KEY_NOT_WRAPPABLE"
    );
    assert_eq!(
        session_private_keys(&hsm).await,
        before,
        "the refused key was destroyed"
    );

    // Clean up the AES key.
    let id_bytes = id.as_bytes().to_vec();
    hsm.with_session(move |s| {
        for h in s
            .find_objects(&[Attribute::Token(true), Attribute::Id(id_bytes)])
            .unwrap()
        {
            s.destroy_object(h).unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kek_init_is_idempotent_and_kek_is_locked_down() {
    let _serial = SERIAL.lock().await;
    let kek = common::kek().await;
    let hsm = common::pool(1).await;
    let id = kek.id.as_bytes().to_vec();
    let attrs = hsm
        .with_session(move |s| {
            let found = s
                .find_objects(&[Attribute::Class(ObjectClass::SECRET_KEY), Attribute::Id(id)])
                .unwrap();
            assert_eq!(found.len(), 1, "exactly one KEK");
            s.get_attributes(
                found[0],
                &[
                    cryptoki::object::AttributeType::Trusted,
                    cryptoki::object::AttributeType::Sensitive,
                    cryptoki::object::AttributeType::Extractable,
                    cryptoki::object::AttributeType::NeverExtractable,
                    cryptoki::object::AttributeType::Encrypt,
                    cryptoki::object::AttributeType::Wrap,
                    cryptoki::object::AttributeType::Private,
                ],
            )
            .unwrap()
        })
        .await
        .unwrap();
    let expect = [
        Attribute::Trusted(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::NeverExtractable(true),
        Attribute::Encrypt(false),
        Attribute::Wrap(true),
        Attribute::Private(false),
    ];
    for e in expect {
        assert!(attrs.contains(&e), "KEK lacks {e:?}: {attrs:?}");
    }
}
