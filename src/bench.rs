//! `qtsp bench ...`: benchmark drivers. They print tables for docs/BENCHMARKS.md; nothing here asserts
//! a speed (tests never time anything).

use crate::app::{self, AppError};
use crate::config::Config;
use qtsp_hsm::bench::{BenchResult, default_mechanism, plain_loop, pool_loop, temporary_key};
use qtsp_hsm::{Hsm, KeySpec};
use std::time::Duration;

/// Arguments of `qtsp bench hsm`.
#[derive(Debug, Clone, clap::Args)]
pub struct HsmBenchArgs {
    /// Seconds per measurement.
    #[arg(long, default_value_t = 3.0)]
    pub seconds: f64,
    /// Rounds; each round measures every configuration once, in alternating order. Best round wins.
    #[arg(long, default_value_t = 3)]
    pub rounds: u32,
    /// Key types: p256, p384, rsa2048, rsa3072 (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "p256,p384,rsa2048")]
    pub keys: Vec<String>,
    /// Concurrent async tasks per pool session.
    #[arg(long, default_value_t = 4)]
    pub tasks_per_session: usize,
}

fn parse_spec(name: &str) -> Option<KeySpec> {
    match name.trim().to_ascii_lowercase().as_str() {
        "p256" | "p-256" => Some(KeySpec::EcP256),
        "p384" | "p-384" => Some(KeySpec::EcP384),
        "rsa2048" => Some(KeySpec::Rsa2048),
        "rsa3072" => Some(KeySpec::Rsa3072),
        _ => None,
    }
}

/// One row: the four measurements of a key type.
#[derive(Debug, Clone, Copy, Default)]
struct Row {
    plain: [f64; 2],
    pool: [f64; 2],
}

/// `qtsp bench hsm`: sign rate through our pool with 1 and 2 sessions, each beside a plain cryptoki
/// loop with as many sessions and threads, in the same run.
#[allow(clippy::print_stdout)]
pub async fn hsm(config: &Config, args: &HsmBenchArgs) -> Result<(), AppError> {
    let base = app::hsm_config(config)?;
    let duration = Duration::from_secs_f64(args.seconds.clamp(0.05, 600.0));
    let mut specs = Vec::new();
    for name in &args.keys {
        match parse_spec(name) {
            Some(spec) => specs.push(spec),
            None => {
                return Err(AppError::InvalidArgument(format!(
                    "unknown key type `{name}`: use p256, p384, rsa2048 or rsa3072"
                )));
            }
        }
    }
    println!(
        "# qtsp bench hsm: {} s per measurement, best of {} rounds, {} tasks per pool session",
        duration.as_secs_f64(),
        args.rounds,
        args.tasks_per_session
    );
    println!("# module {}", base.module.display());
    println!(
        "| key | plain 1 thread/s | pool 1 session/s | pool/plain | plain 2 threads/s | pool 2 sessions/s | pool/plain | pool 2/1 |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for spec in specs {
        let mech = default_mechanism(spec);
        let mut best = Row::default();
        for round in 0..args.rounds.max(1) {
            for slot in 0..2 {
                let sessions = slot + 1;
                let mut pool_config = base.clone();
                pool_config.sessions = sessions;
                let run_plain = || {
                    plain_loop(
                        &base.module,
                        &base.token,
                        &base.user_pin,
                        spec,
                        sessions,
                        duration,
                    )
                };
                let run_pool = || async {
                    let hsm = Hsm::start(&pool_config).await?;
                    let key = temporary_key(&hsm, spec).await?;
                    let result = pool_loop(
                        &hsm,
                        &key,
                        mech,
                        sessions * args.tasks_per_session.max(1),
                        duration,
                    )
                    .await;
                    hsm.destroy_key(&key).await?;
                    hsm.shutdown().await;
                    result
                };
                // Alternate which side goes first, so that drift of the machine hurts both alike.
                let (plain, pool): (BenchResult, BenchResult) = if round % 2 == 0 {
                    let plain = run_plain().await?;
                    (plain, run_pool().await?)
                } else {
                    let pool = run_pool().await?;
                    (run_plain().await?, pool)
                };
                best.plain[slot] = best.plain[slot].max(plain.per_sec);
                best.pool[slot] = best.pool[slot].max(pool.per_sec);
            }
        }
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} | {:.2} | {:.2} |",
            spec.name(),
            best.plain[0],
            best.pool[0],
            ratio(best.pool[0], best.plain[0]),
            best.plain[1],
            best.pool[1],
            ratio(best.pool[1], best.plain[1]),
            ratio(best.pool[1], best.pool[0]),
        );
    }
    Ok(())
}
