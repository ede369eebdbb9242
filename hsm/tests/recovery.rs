//! Recovery of the pool when the application's login is lost. In a file (process) of its own:
//! logging out affects every session of the process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use qtsp_hsm::{DigestAlg, KeySpec, SignMechanism};

/// When the application is logged out behind the pool's back, the workers log in again by
/// themselves and the callers never notice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_recover_when_the_login_is_lost() {
    let hsm = common::pool(2).await;
    let key = hsm
        .generate_key_pair(KeySpec::EcP256, "recover", &common::key_id("recover"))
        .await
        .unwrap();
    let mech = SignMechanism::Ecdsa(DigestAlg::Sha256);
    let d = DigestAlg::Sha256.digest(b"recover");
    hsm.sign_digest(&key.key, mech, &d).await.unwrap();
    // C_Logout on one session logs the whole application out of the token.
    hsm.with_session(|s| s.logout().unwrap()).await.unwrap();
    for _ in 0..8 {
        let sig = hsm.sign_digest(&key.key, mech, &d).await.unwrap();
        common::verify(&key.spki_der, mech, &d, &sig);
    }
    assert_eq!(hsm.check().await.unwrap().sessions_alive, 2);
    hsm.destroy_key(&key.key).await.unwrap();
}
