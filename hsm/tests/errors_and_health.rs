//! Typed errors, random, health check, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use qtsp_hsm::{
    DigestAlg, Hsm, HsmConfig, HsmError, KeyRef, KeySpec, Pin, RvError, SignMechanism,
    TokenSelector,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_digest_length_is_a_typed_error() {
    let hsm = common::pool(1).await;
    let key = hsm
        .generate_key_pair(KeySpec::EcP256, "digest len", &common::key_id("dlen"))
        .await
        .unwrap()
        .key;
    let err = hsm
        .sign_digest(&key, SignMechanism::Ecdsa(DigestAlg::Sha256), &[0u8; 31])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HsmError::BadDigestLength {
                expected: 32,
                got: 31,
                ..
            }
        ),
        "{err}"
    );
    // A batch is refused as a whole if one digest is wrong.
    let err = hsm
        .sign_digests(
            &key,
            SignMechanism::Ecdsa(DigestAlg::Sha384),
            vec![vec![0u8; 48], vec![0u8; 32]],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, HsmError::BadDigestLength { .. }), "{err}");
    // RSA mechanism on an EC key.
    let err = hsm
        .sign_digest(&key, SignMechanism::RsaPss(DigestAlg::Sha256), &[0u8; 32])
        .await
        .unwrap_err();
    assert!(
        matches!(err, HsmError::UnsupportedMechanism { .. }),
        "{err}"
    );
    hsm.destroy_key(&key).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key_is_a_typed_error() {
    let hsm = common::pool(1).await;
    let ghost = KeyRef {
        id: common::key_id("ghost"),
        label: "ghost".into(),
    };
    assert!(hsm.find_key(&ghost.id).await.unwrap().is_none());
    let err = hsm
        .sign_digest(&ghost, SignMechanism::Ecdsa(DigestAlg::Sha256), &[1u8; 32])
        .await
        .unwrap_err();
    assert!(matches!(err, HsmError::KeyNotFound { .. }), "{err}");
    assert!(err.to_string().starts_with("HSM007 "), "{err}");
    assert!(matches!(
        hsm.public_key_spki(&ghost).await.unwrap_err(),
        HsmError::KeyNotFound { .. }
    ));
    assert!(matches!(
        hsm.key_attributes(&ghost).await.unwrap_err(),
        HsmError::KeyNotFound { .. }
    ));
    assert!(matches!(
        hsm.destroy_key(&ghost).await.unwrap_err(),
        HsmError::KeyNotFound { .. }
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_cka_id_is_refused() {
    let hsm = common::pool(2).await;
    let id = common::key_id("dup");
    let first = hsm
        .generate_key_pair(KeySpec::EcP256, "dup", &id)
        .await
        .unwrap();
    let err = hsm
        .generate_key_pair(KeySpec::EcP384, "dup again", &id)
        .await
        .unwrap_err();
    assert!(matches!(err, HsmError::KeyExists { .. }), "{err}");
    // The first key is untouched and still the only one.
    let found = hsm.find_key(&id).await.unwrap().unwrap();
    assert_eq!(found.label, "dup");
    let spki = hsm.public_key_spki(&found).await.unwrap();
    assert_eq!(spki, first.spki_der);
    hsm.destroy_key(&found).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_bytes_differ_between_calls() {
    let hsm = common::pool(2).await;
    let a = hsm.random(32).await.unwrap();
    let b = hsm.random(32).await.unwrap();
    assert_eq!(a.len(), 32);
    assert_eq!(b.len(), 32);
    assert_ne!(a, b);
    assert!(hsm.random(0).await.unwrap().is_empty());
    assert!(matches!(
        hsm.random(qtsp_hsm::MAX_RANDOM_LEN + 1).await.unwrap_err(),
        HsmError::InvalidArgument(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_the_token_and_live_sessions() {
    let hsm = common::pool(3).await;
    let report = hsm.check().await.unwrap();
    assert_eq!(report.token_label, common::token().label);
    assert_eq!(report.sessions_alive, 3);
    assert_eq!(report.sessions_configured, 3);
    assert!(!report.serial.is_empty());
    assert_eq!(report.manufacturer, "SoftHSM project");
    assert!(!report.firmware.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_the_pool() {
    let hsm = common::pool(2).await;
    let clone = hsm.clone();
    hsm.shutdown().await;
    assert!(matches!(
        clone.random(8).await.unwrap_err(),
        HsmError::PoolClosed
    ));
    assert!(matches!(
        hsm.check().await.unwrap_err(),
        HsmError::PoolClosed
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_token_and_bad_module_are_typed_errors() {
    let _ = common::kek().await;
    let t = common::token();
    let mut cfg = t.config(1);
    cfg.token = TokenSelector::Label("no-such-token".into());
    let err = Hsm::start(&cfg).await.unwrap_err();
    assert!(matches!(err, HsmError::TokenNotFound { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "HSM003 no token with label \"no-such-token\" is present"
    );

    let cfg = HsmConfig::new(
        "/nonexistent/libpkcs11.so",
        TokenSelector::Label("x".into()),
        Pin::new("1234"),
    );
    let err = Hsm::start(&cfg).await.unwrap_err();
    assert!(err.to_string().starts_with("HSM0"), "{err}");
}

/// A wrong PIN is reported with its CKR name; the error never contains the PIN. It runs against a
/// token of its own so that the shared token's retry counter is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_pin_is_a_login_error_without_the_pin() {
    let _ = common::kek().await;
    let t = qtsp_hsm::testing::prepare_test_token_with_label(
        &qtsp_hsm::testing::default_test_dir(),
        "qtsp-test-wrong-pin",
    )
    .unwrap();
    let mut cfg = t.config(2);
    cfg.user_pin = Pin::new("definitely-wrong-pin");
    let err = Hsm::start(&cfg).await.unwrap_err();
    assert!(
        matches!(
            err,
            HsmError::Login {
                rv: RvError::PinIncorrect,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "HSM005 C_Login as user failed: CKR_PIN_INCORRECT"
    );
    assert!(!format!("{err:?}").contains("definitely-wrong-pin"));
    // The right PIN still works (one failed attempt does not lock SoftHSM2).
    let hsm = Hsm::start(&t.config(1)).await.unwrap();
    hsm.check().await.unwrap();
}
