//! The benchmark functions run (quickly). No timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use qtsp_hsm::KeySpec;
use qtsp_hsm::bench::{default_mechanism, plain_loop, pool_loop, temporary_key};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_and_pool_loops_run() {
    let t = common::token();
    let hsm = common::pool(2).await;
    for spec in [KeySpec::EcP256, KeySpec::Rsa2048] {
        let plain = plain_loop(
            &t.module,
            &qtsp_hsm::TokenSelector::Label(t.label.clone()),
            &t.user_pin,
            spec,
            2,
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(plain.ops > 0, "{plain}");
        let key = temporary_key(&hsm, spec).await.unwrap();
        let pooled = pool_loop(
            &hsm,
            &key,
            default_mechanism(spec),
            8,
            Duration::from_millis(200),
        )
        .await
        .unwrap();
        assert!(pooled.ops > 0, "{pooled}");
        hsm.destroy_key(&key).await.unwrap();
        eprintln!("{spec}: plain 2 threads {plain}; pool 2 sessions {pooled}");
    }
}
