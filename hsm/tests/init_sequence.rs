//! The `qtsp init` sequence on a fresh SoftHSM2 data directory, in one process: configuration,
//! token initialization through PKCS#11 (C_InitToken, C_InitPIN), KEK ceremony as security
//! officer, then the user pool; and back again.
//!
//! SoftHSM2 reads SOFTHSM2_CONF when the module is initialized and a test cannot set it for its own
//! process without `unsafe`, so the parent test re-runs this test binary as a child process with
//! SOFTHSM2_CONF pointing into a fresh temporary directory, and the child does the work.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use qtsp_hsm::softhsm::{SoftHsmSetup, TokenStatus, find_softhsm_module};
use qtsp_hsm::{
    DigestAlg, Hsm, HsmConfig, HsmError, KeyId, KeySpec, Pin, RvError, SignMechanism,
    TokenSelector, init_kek_as_security_officer,
};

const CHILD_ENV: &str = "QTSP_HSM_INIT_SEQUENCE_DIR";

#[test]
fn qtsp_init_sequence_in_one_fresh_process() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("var");
    let out = Command::new(std::env::current_exe().unwrap())
        .env("SOFTHSM2_CONF", data.join("softhsm2.conf"))
        .env(CHILD_ENV, &data)
        .args([
            "--exact",
            "init_sequence_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "child did not run:\n{stdout}\n{stderr}"
    );
    // The token lives in the data directory, nowhere else.
    assert!(
        std::fs::read_dir(data.join("tokens"))
            .unwrap()
            .next()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run in a child process by qtsp_init_sequence_in_one_fresh_process"]
async fn init_sequence_child() {
    let Some(data) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let setup = SoftHsmSetup::new(&data);
    let module = find_softhsm_module().expect("SoftHSM2 installed");
    let so_pin = Pin::new("so-pin-for-init-test");
    let user_pin = Pin::new("user-pin-for-init-test");

    // 1. Token, through PKCS#11 itself. Idempotent.
    let status = setup
        .ensure_token(&module, "qtsp", &so_pin, &user_pin)
        .await
        .unwrap();
    assert_eq!(status, TokenStatus::Created);
    let status = setup
        .ensure_token(&module, "qtsp", &so_pin, &user_pin)
        .await
        .unwrap();
    assert_eq!(status, TokenStatus::AlreadyPresent);

    // 2. KEK as security officer, before any pool. Idempotent.
    let cfg = HsmConfig::new(
        &module,
        TokenSelector::Label("qtsp".into()),
        user_pin.clone(),
    );
    let kek_id = KeyId::new(b"kek-1").unwrap();
    let kek = init_kek_as_security_officer(&cfg, &so_pin, "qtsp kek", &kek_id)
        .await
        .unwrap();
    let again = init_kek_as_security_officer(&cfg, &so_pin, "qtsp kek", &kek_id)
        .await
        .unwrap();
    assert_eq!(kek, again);

    // 3. The user pool, in the same process.
    let hsm = Hsm::start(&cfg).await.unwrap();
    let report = hsm.check().await.unwrap();
    assert_eq!(report.token_label, "qtsp");

    // The SO cannot log in while the user is logged in (same application).
    let err = init_kek_as_security_officer(&cfg, &so_pin, "qtsp kek", &kek_id)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            HsmError::Login {
                rv: RvError::UserAnotherAlreadyLoggedIn,
                ..
            }
        ),
        "{err}"
    );

    let ca = hsm
        .generate_key_pair(KeySpec::EcP384, "ca", &KeyId::new(b"ca-1").unwrap())
        .await
        .unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha384);
    let digest = DigestAlg::Sha384.digest(b"tbsCertificate");
    let sig = hsm.sign_digest(&ca.key, mech, &digest).await.unwrap();
    assert!(matches!(sig, qtsp_hsm::Signature::Ecdsa(_)));

    let wrapped = hsm
        .generate_wrapped_signer_key(KeySpec::EcP256, &kek)
        .await
        .unwrap();
    let sigs = hsm
        .sign_with_wrapped_key(
            &kek,
            &wrapped,
            SignMechanism::Ecdsa(DigestAlg::Sha256),
            vec![vec![7u8; 32]],
        )
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);

    // 4. Pool stopped: the module is finalized, the SO can log in again, then a new pool starts.
    hsm.shutdown().await;
    drop(hsm);
    let again = init_kek_as_security_officer(&cfg, &so_pin, "qtsp kek", &kek_id)
        .await
        .unwrap();
    assert_eq!(again, kek);
    let hsm = Hsm::start(&cfg).await.unwrap();
    let sigs = hsm
        .sign_with_wrapped_key(
            &kek,
            &wrapped,
            SignMechanism::Ecdsa(DigestAlg::Sha256),
            vec![vec![8u8; 32]],
        )
        .await
        .unwrap();
    assert_eq!(sigs.len(), 1);
    assert!(hsm.find_key(&ca.key.id).await.unwrap().is_some());
    hsm.shutdown().await;
}
