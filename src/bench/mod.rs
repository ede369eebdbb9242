//! `qtsp bench ...`: benchmark drivers. They print tables for docs/BENCHMARKS.md; nothing here asserts
//! a speed (tests never time anything).

mod ab;
mod cpu;
pub mod load;
mod ocsp;
mod openssl_ocsp;
mod tsa;

pub use ocsp::{OcspBenchArgs, ocsp};
pub use tsa::{TsaBenchArgs, tsa};

/// Runs the load client on its own thread and runtime, so that it does not share the server's
/// scheduler (it still shares the machine's cores, as a client on the same host does).
async fn run_load(
    config: load::LoadConfig,
    factory: std::sync::Arc<dyn load::RequestFactory>,
) -> Result<load::LoadReport, AppError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(cpu::LOAD_CLIENT_THREAD.to_owned())
        .spawn(move || {
            let cpu_start = qtsp_hsm::bench::thread_cpu_time();
            let result = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| AppError::InvalidArgument(format!("load client runtime: {e}")))
                .and_then(|rt| {
                    rt.block_on(load::run(&config, factory))
                        .map_err(|e| AppError::InvalidArgument(e.to_string()))
                });
            let result = result.map(|mut report| {
                report.client_cpu = cpu_start
                    .zip(qtsp_hsm::bench::thread_cpu_time())
                    .map(|(before, after)| after.saturating_sub(before));
                report
            });
            let _ = tx.send(result);
        });
    spawned.map_err(|e| AppError::InvalidArgument(format!("load client thread: {e}")))?;
    rx.await
        .map_err(|_| AppError::InvalidArgument("the load client thread died".into()))?
}

/// `GET /health/live`: the cheapest request the server answers (no HSM, no database). Its
/// keep-alive rate, client and server on the same CPUs, is the HTTP floor of a benchmark: what
/// one request costs before the service does anything.
#[derive(Debug)]
struct Liveness;

impl load::RequestFactory for Liveness {
    fn request(&self, _seq: u64) -> load::LoadRequest {
        load::LoadRequest::get("/health/live")
    }

    fn check(&self, status: u16, _body: &[u8]) -> bool {
        status == 200
    }
}

/// Measures the HTTP floor of the server with the client settings of `config` (keep-alive, or
/// a new connection per request).
async fn http_floor(config: load::LoadConfig) -> Result<load::LoadReport, AppError> {
    run_load(config, std::sync::Arc::new(Liveness)).await
}

/// One paired round: the plain loop, then the load, back to back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PairedRound {
    /// Signatures per second of the plain loop.
    pub plain: f64,
    /// Answers per second of the load.
    pub answers: f64,
    /// CPU microseconds of the plain loop's threads per signature (0 where not measured).
    pub plain_cpu: f64,
    /// CPU of this process per answer of the load, by thread role (the load client included).
    pub answers_cpu: cpu::PerUnit,
}

/// Paired rounds: `rounds` times, the plain loop (one thread per pool session of `hsm`), then
/// the closed-loop `load` of `factory`, each `slice` long, back to back. A round's ratio
/// compares measurements a second apart, which the host's drift (other VMs on the same cores)
/// disturbs far less than baselines taken minutes apart; the CPU each signature and each
/// answer cost, by thread, is read over the same windows.
async fn paired_rounds(
    hsm: &qtsp_hsm::HsmConfig,
    spec: KeySpec,
    mut load: load::LoadConfig,
    factory: std::sync::Arc<dyn load::RequestFactory>,
    rounds: usize,
    slice: Duration,
) -> Result<Vec<PairedRound>, AppError> {
    load.mode = load::LoadMode::ClosedLoop;
    load.duration = slice;
    load.warmup = Duration::from_millis(500);
    let mut measured = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let baseline = plain_loop(
            &hsm.module,
            &hsm.token,
            &hsm.user_pin,
            spec,
            hsm.sessions,
            slice,
        )
        .await?;
        let before_load = cpu::CpuSnapshot::take();
        let answers = run_load(load.clone(), factory.clone()).await?;
        let mut used = cpu::CpuSnapshot::take().since(&before_load);
        // The client's thread may have ended before the snapshot: it measured itself.
        if let Some(client) = answers.client_cpu {
            used.load_client = client;
        }
        // The CPU spans the load's warmup too: it is spread over every answer of the warmup
        // and the window, at the window's rate.
        let answered = answers.rate_per_second * (slice + load.warmup).as_secs_f64();
        measured.push(PairedRound {
            plain: baseline.per_sec,
            answers: answers.rate_per_second,
            plain_cpu: baseline.cpu.map_or(0.0, |cpu| {
                ratio(cpu.as_secs_f64() * 1e6, baseline.ops as f64)
            }),
            answers_cpu: used.per_unit(answered),
        });
    }
    Ok(measured)
}

/// `a / b`, or 0 when `b` is not positive (a rate that was not measured).
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Paired rounds as printed, `answers/plain = ratio` each, and the median ratio.
pub(crate) fn describe_rounds(rounds: &[PairedRound]) -> (String, f64) {
    let mut ratios: Vec<f64> = rounds.iter().map(|r| ratio(r.answers, r.plain)).collect();
    let listed: Vec<String> = rounds
        .iter()
        .map(|r| {
            format!(
                "{:.0}/{:.0} = {:.2}",
                r.answers,
                r.plain,
                ratio(r.answers, r.plain)
            )
        })
        .collect();
    (listed.join(", "), median(&mut ratios))
}

/// Where the CPU of the paired rounds went, medians over the rounds: per signature of the plain
/// loop, per answer of the load by thread role, and how busy the process kept the host's CPUs
/// in each half. `cpus` is the number of CPUs the host offers.
pub(crate) fn describe_cpu(rounds: &[PairedRound], cpus: usize) -> String {
    let med = |f: &dyn Fn(&PairedRound) -> f64| {
        let mut values: Vec<f64> = rounds.iter().map(f).collect();
        median(&mut values)
    };
    let busy = |rate: f64, micros: f64| 100.0 * rate * micros / 1e6 / cpus.max(1) as f64;
    format!(
        "CPU per signature of the plain loop {:.0} us; per answer {:.0} us (HSM workers {:.0}, \
         server {:.0}, database {:.0}, load client {:.0}); the process kept {:.0}% of the {cpus} \
         CPUs busy in the plain loop, {:.0}% under load",
        med(&|r| r.plain_cpu),
        med(&|r| r.answers_cpu.total),
        med(&|r| r.answers_cpu.hsm),
        med(&|r| r.answers_cpu.server),
        med(&|r| r.answers_cpu.database),
        med(&|r| r.answers_cpu.load_client),
        med(&|r| busy(r.plain, r.plain_cpu)),
        med(&|r| busy(r.answers, r.answers_cpu.total)),
    )
}

/// Creates the bench entities that `hierarchy` (TOML) adds to the ceremony's, with the ceremony,
/// once; a second run changes nothing. `bench` names the benchmark in the journal's actor.
async fn ensure_bench_entities(
    config: &Config,
    hierarchy: &str,
    bench: &str,
) -> Result<(), AppError> {
    use crate::ca::ceremony::{self, CeremonySettings, Hierarchy};
    let hierarchy = Hierarchy::parse(hierarchy)?;
    let hsm = app::open_hsm(config).await?;
    let storage = app::open_storage(config).await?;
    let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::SystemClock);
    let journal = app::open_journal(config, &hsm, &storage, &clock).await?;
    let settings = CeremonySettings {
        certs_dir: config.data_dir.join("certs"),
        public_base_url: config.pki.public_base_url.clone(),
        pds_base_url: config.pki.pds_base_url.clone(),
        actor: format!("qtsp bench {bench} on {}", config.node_id),
    };
    let result = ceremony::run(&hierarchy, &settings, &hsm, &storage, &journal, &clock).await;
    hsm.shutdown().await;
    storage.close().await;
    result?;
    Ok(())
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    let below = mid.checked_sub(1).and_then(|i| values.get(i));
    match (values.get(mid), below) {
        (None, _) => 0.0,
        (Some(&middle), _) if values.len() % 2 == 1 => middle,
        (Some(&upper), Some(&lower)) => (upper + lower) / 2.0,
        (Some(&only), None) => only,
    }
}

/// The highest rate of answers that each cost one signature (at `raw` per second) and one
/// request (at `floor` per second) when both share the same CPUs: their costs add up,
/// `1 / (1/raw + 1/floor)`. Zero when either rate is unknown.
pub(crate) fn ceiling(raw: f64, floor: f64) -> f64 {
    if raw > 0.0 && floor > 0.0 {
        1.0 / (1.0 / raw + 1.0 / floor)
    } else {
        0.0
    }
}

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
    /// Concurrent async tasks per pool session (requests in flight, as in a busy server).
    #[arg(long, default_value_t = 16)]
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

/// Arguments of `qtsp bench issue`.
#[derive(Debug, Clone, clap::Args)]
pub struct IssueBenchArgs {
    /// Seconds of issuance (and as long for the raw HSM rate beside it).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Concurrent issuance tasks.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Skip the raw HSM measurement (used by tests that only need a burst of issuances).
    #[arg(long)]
    pub no_baseline: bool,
}

/// `qtsp bench issue`: qualified natural-person certificates per second, end to end (P-256 key
/// generated in the HSM and wrapped under the KEK, certificate prepared, intent and audit record
/// persisted, signed by the P-384 issuing CA in the HSM, recorded and audited), beside the raw HSM
/// P-384 sign rate of the same CA key in the same run.
#[allow(clippy::print_stdout)]
pub async fn issue(config: &Config, args: &IssueBenchArgs) -> Result<(), AppError> {
    use crate::audit::{Journal, NodeInfo};
    use crate::ca::ceremony::{Hierarchy, certificate_paths};
    use crate::ca::{CertificateAuthority, IssuanceRequest};
    use crate::clock::{SharedClock, SystemClock};
    use crate::pki::{
        CountryCode, NaturalPersonIdentifier, NaturalPersonName, PersonIdentityType, SubjectName,
    };
    use crate::profile::{ProfileId, UrlContext};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let duration = Duration::from_secs_f64(args.seconds.clamp(0.05, 3600.0));
    let hsm = app::open_hsm(config).await?;
    let storage = app::open_storage(config).await?;
    let clock: SharedClock = Arc::new(SystemClock);
    let journal = Journal::new(
        storage.clone(),
        clock.clone(),
        NodeInfo::new(&config.node_id),
    );
    let hierarchy = Hierarchy::default_hierarchy()?;
    let ca_name = "qualified-ca";
    let entity = hierarchy
        .entity(ca_name)
        .ok_or_else(|| AppError::InvalidArgument(format!("the hierarchy has no `{ca_name}`")))?;
    let not_initialized = || AppError::NotInitialized {
        missing: config.data_dir.join("certs").join(format!("{ca_name}.crt")),
    };
    let key = hsm
        .find_key(&entity.key_id()?)
        .await?
        .ok_or_else(not_initialized)?;
    // The KEK is a secret key, which find_key (private keys) does not look for; a missing KEK shows
    // at the first wrap.
    let kek = qtsp_hsm::KeyRef {
        id: qtsp_hsm::KeyId::new(crate::init::KEK_ID)?,
        label: crate::init::KEK_LABEL.to_owned(),
    };
    let (der_path, _) = certificate_paths(&config.data_dir.join("certs"), ca_name);
    let ca_der = std::fs::read(&der_path).map_err(|_| not_initialized())?;
    let urls = UrlContext::new(
        &config.pki.public_base_url,
        &config.pki.pds_base_url,
        ca_name,
    )
    .map_err(crate::ca::CaError::from)?;
    let ca = Arc::new(CertificateAuthority::new(
        ca_name,
        key.clone(),
        &ca_der,
        urls,
        hsm.clone(),
        storage.clone(),
        journal,
        clock.clone(),
    )?);
    let profile = crate::profile::builtin(ProfileId::QualifiedNaturalPerson)
        .map_err(crate::ca::CaError::from)?;
    let country = CountryCode::new("FR").map_err(crate::ca::CaError::from)?;

    let issued = Arc::new(AtomicU64::new(0));
    let started = std::time::Instant::now();
    let deadline = started + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..args.concurrency.max(1) {
        let (ca, hsm, kek, clock, issued) = (
            ca.clone(),
            hsm.clone(),
            kek.clone(),
            clock.clone(),
            issued.clone(),
        );
        tasks.spawn(async move {
            let mut n = 0u64;
            while std::time::Instant::now() < deadline {
                n += 1;
                let signer = hsm
                    .generate_wrapped_signer_key(KeySpec::EcP256, &kek)
                    .await?;
                let reference = format!("BENCH{task}X{n}");
                let identifier = NaturalPersonIdentifier::new(
                    PersonIdentityType::IdentityCard,
                    country,
                    &reference,
                )
                .map_err(crate::ca::CaError::from)?;
                let subject = SubjectName::NaturalPerson(
                    NaturalPersonName::new(
                        country,
                        Some("Marianne"),
                        Some("Synthetique"),
                        "Marianne Synthetique",
                        identifier,
                    )
                    .map_err(crate::ca::CaError::from)?,
                );
                let now = clock.now();
                let not_before = now.replace_nanosecond(0).unwrap_or(now);
                let prepared = ca
                    .prepare(&IssuanceRequest {
                        profile,
                        subject: &subject,
                        subject_spki_der: &signer.spki_der,
                        not_before,
                        not_after: not_before + time::Duration::hours(1),
                        actor: "qtsp bench issue",
                    })
                    .await?;
                ca.issue(prepared).await?;
                issued.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Ok::<(), crate::ca::CaError>(())
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| AppError::InvalidArgument(format!("an issuance task failed: {e}")))??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let count = issued.load(Ordering::Relaxed);
    let rate = count as f64 / elapsed.max(1e-9);
    println!(
        "# qtsp bench issue: {count} certificates in {elapsed:.2} s, {} tasks",
        args.concurrency
    );
    println!("issuance/s {rate:.1}");
    if !args.no_baseline {
        let raw = pool_loop(
            &hsm,
            &key,
            qtsp_hsm::SignMechanism::Ecdsa(qtsp_hsm::DigestAlg::Sha384),
            hsm.sessions() * 4,
            duration,
        )
        .await?;
        println!("raw HSM P-384 signatures/s {:.1}", raw.per_sec);
        println!("issuance / raw sign {:.3}", rate / raw.per_sec.max(1e-9));
    }
    hsm.shutdown().await;
    storage.close().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::{PairedRound, ceiling, cpu, describe_cpu, median};

    #[test]
    fn cpu_description_takes_medians_and_busy_shares() {
        let per = |hsm: f64, server: f64| cpu::PerUnit {
            hsm,
            database: 10.0,
            load_client: 5.0,
            server,
            total: hsm + server + 15.0,
        };
        let round = |plain: f64, answers: f64, server: f64| PairedRound {
            plain,
            answers,
            plain_cpu: 115.0,
            answers_cpu: per(100.0, server),
        };
        // Server CPU 20, 40, 60 us per answer: the median round's 40.
        let rounds = [
            round(20_000.0, 8_000.0, 20.0),
            round(20_000.0, 10_000.0, 40.0),
            round(20_000.0, 12_000.0, 60.0),
        ];
        let text = describe_cpu(&rounds, 2);
        // Plain: 115 us x 20k/s = 2.3 CPUs of 2 -> 115%; load: 155 us x 10k/s -> 77.5%, and
        // 135 x 8k -> 54%, 175 x 12k -> 105%: median 78%.
        assert_eq!(
            text,
            "CPU per signature of the plain loop 115 us; per answer 155 us (HSM workers 100, \
             server 40, database 10, load client 5); the process kept 115% of the 2 CPUs busy \
             in the plain loop, 78% under load"
        );
        assert!(describe_cpu(&[], 2).starts_with("CPU per signature of the plain loop 0 us"));
    }

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(&mut [0.9, 0.8, 0.85]), 0.85);
        assert!((median(&mut [0.8, 0.9, 0.7, 1.0]) - 0.85).abs() < 1e-12);
        assert_eq!(median(&mut [0.5]), 0.5);
        assert_eq!(median(&mut [0.5, 0.7]), 0.6);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn ceiling_adds_the_costs_of_a_signature_and_a_request() {
        // A signature at 1000/s and a request at 1000/s: 2 ms per answer.
        assert!((ceiling(1000.0, 1000.0) - 500.0).abs() < 1e-9);
        // A free request leaves the signature rate.
        assert!((ceiling(3000.0, f64::INFINITY) - 3000.0).abs() < 1e-9);
        assert!((ceiling(32041.0, 46395.0) - 18952.3).abs() < 0.1);
        assert_eq!(ceiling(0.0, 1000.0), 0.0);
        assert_eq!(ceiling(1000.0, 0.0), 0.0);
    }
}
