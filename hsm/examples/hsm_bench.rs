//! Plain cryptoki loop vs the async pool, on the workspace's test token.
//!
//! `cargo run --release -p qtsp-hsm --example hsm_bench -- [seconds] [spec...]`
//! (specs: ec-p256 ec-p384 rsa-2048 rsa-3072; default: ec-p256; rounds of 1 second).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]

use std::time::Duration;

use qtsp_hsm::bench::{default_mechanism, plain_loop, pool_loop, temporary_key};
use qtsp_hsm::testing::{default_test_dir, prepare_test_token};
use qtsp_hsm::{Hsm, KeySpec, TokenSelector};

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let secs: f64 = args.next().map_or(1.0, |s| s.parse().expect("seconds"));
    let duration = Duration::from_secs_f64(secs);
    let mut specs: Vec<KeySpec> = args
        .map(|a| {
            KeySpec::ALL
                .into_iter()
                .find(|s| s.name() == a)
                .expect("unknown spec")
        })
        .collect();
    if specs.is_empty() {
        specs.push(KeySpec::EcP256);
    }
    let token = prepare_test_token(&default_test_dir()).expect("test token");
    let selector = TokenSelector::Label(token.label.clone());
    for spec in specs {
        for n in [1usize, 2] {
            // Alternate short rounds and keep the medians: the host's load drifts.
            let hsm = Hsm::start(&token.config(n)).await.unwrap();
            let key = temporary_key(&hsm, spec).await.unwrap();
            let (mut plain, mut pooled) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                plain.push(
                    plain_loop(&token.module, &selector, &token.user_pin, spec, n, duration)
                        .await
                        .unwrap()
                        .per_sec,
                );
                pooled.push(
                    pool_loop(&hsm, &key, default_mechanism(spec), 16, duration)
                        .await
                        .unwrap()
                        .per_sec,
                );
            }
            hsm.destroy_key(&key).await.unwrap();
            hsm.shutdown().await;
            let (plain, pooled) = (median(&mut plain), median(&mut pooled));
            println!(
                "{spec} {n} session(s): plain {plain:>8.0}/s  pool {pooled:>8.0}/s  ({:+.1}%)  [median of {ROUNDS} alternating rounds of {secs} s]",
                (pooled / plain - 1.0) * 100.0
            );
        }
    }
}

const ROUNDS: usize = 5;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}
