//! `qtsp bench tsa`: RFC 3161 tokens per second through the real server (HTTP/1.1 keep-alive on
//! loopback, many requests in flight), p50/p99 latency at the maximal rate and at half of it,
//! beside the raw HSM sign rate of a key of the TSU's type measured in the same run, and the
//! server's HTTP floor (`GET /health/live` on the same connections): with the raw rate, it sets
//! the ceiling of what the CPUs, shared by client, server and HSM, allow.

use std::sync::Arc;
use std::time::Duration;

use der::Encode;
use der::asn1::{Int, OctetString};
use hyper::body::Bytes;

use super::load::{LoadConfig, LoadMode, LoadReport, LoadRequest, RequestFactory};
use super::{
    ceiling, describe_cpu, describe_rounds, ensure_bench_entities, http_floor, paired_rounds,
    ratio, run_load,
};
use crate::app::{self, App, AppError};
use crate::config::Config;
use crate::pki::tsp::{MessageImprint, TimeStampReq};
use crate::server::Shutdown;
use qtsp_hsm::bench::{default_mechanism, plain_loop, pool_loop};
use qtsp_hsm::{DigestAlg, KeySpec, SignMechanism};

/// Arguments of `qtsp bench tsa`.
#[derive(Debug, Clone, clap::Args)]
pub struct TsaBenchArgs {
    /// Seconds per measurement (raw HSM loops and each load phase).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Keep-alive connections of the load client (requests in flight). Tokens are answered
    /// after their batch is signed and committed, so throughput needs many requests in flight.
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// TSU key types to measure: p256 (the ceremony's TSU) and p384 (a bench TSU, created once by
    /// the same ceremony under the name `bench-tsu-p384`).
    #[arg(long, value_delimiter = ',', default_value = "p256,p384")]
    pub keys: Vec<String>,
    /// Paired rounds after the main phases: the plain loop (one thread per pool session), then
    /// the closed-loop load, back to back, this many times. 0 skips them.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Seconds of each half of a paired round. Long enough to average over the bursts of CPU a
    /// shared host gives (2 s halves saw the plain P-256 loop at 10.9k-21.9k/s within one run,
    /// 8 s halves at 12.0k-14.9k/s).
    #[arg(long, default_value_t = 8.0)]
    pub round_seconds: f64,
}

/// The hierarchy entity of the TSU used for a key type.
fn unit_for(name: &str) -> Option<(&'static str, KeySpec)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "p256" | "p-256" => Some(("tsu", KeySpec::EcP256)),
        "p384" | "p-384" => Some((BENCH_TSU_P384, KeySpec::EcP384)),
        _ => None,
    }
}

const BENCH_TSU_P384: &str = "bench-tsu-p384";

/// The ceremony's hierarchy plus a P-384 TSU for this benchmark, issued by the qualified CA.
fn bench_hierarchy() -> String {
    format!(
        "{}\n[[issued]]\nname = \"{BENCH_TSU_P384}\"\nissuer = \"qualified-ca\"\nprofile = \"tsu\"\n\
         key = \"ec-p384\"\nvalidity_days = 365\ncountry = \"FR\"\n\
         organization = \"qtsp Demo Trust Services\"\n\
         organization_identifier = \"NTRFR-000000000\"\n\
         common_name = \"qtsp Benchmark Time-Stamping Unit P-384\"\n",
        crate::ca::ceremony::DEFAULT_HIERARCHY
    )
}

/// Distinct requests (random imprints and nonces, certReq true), sent round-robin.
#[derive(Debug)]
struct TsaRequests {
    bodies: Vec<Bytes>,
}

impl TsaRequests {
    fn new(count: usize) -> Result<Self, AppError> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let encode_error = |e: der::Error| AppError::InvalidArgument(format!("bench request: {e}"));
        let mut bodies = Vec::with_capacity(count);
        for _ in 0..count {
            let imprint: Vec<u8> = (0..4).flat_map(|_| next().to_be_bytes()).collect();
            let mut nonce = next().to_be_bytes();
            // A positive INTEGER in its minimal form: top bit clear, first octet not zero.
            nonce[0] = (nonce[0] & 0x7f) | 0x40;
            let request = TimeStampReq {
                version: 1,
                message_imprint: MessageImprint {
                    hash_algorithm: crate::pki::tsp::sha256_algorithm(),
                    hashed_message: OctetString::new(imprint).map_err(encode_error)?,
                },
                req_policy: None,
                nonce: Some(Int::new(&nonce).map_err(encode_error)?),
                cert_req: true,
                extensions: None,
            };
            bodies.push(Bytes::from(request.to_der().map_err(encode_error)?));
        }
        Ok(Self { bodies })
    }
}

impl RequestFactory for TsaRequests {
    fn request(&self, seq: u64) -> LoadRequest {
        let n = self.bodies.len().max(1) as u64;
        let body = self
            .bodies
            .get((seq % n) as usize)
            .cloned()
            .unwrap_or_default();
        LoadRequest::post("/tsa", crate::api::tsa::TIMESTAMP_QUERY, body)
    }

    /// Granted: the `TimeStampResp` starts with `PKIStatusInfo { status 0 }`.
    fn check(&self, status: u16, body: &[u8]) -> bool {
        let header = match body.get(1) {
            Some(len) if *len < 0x80 => 2,
            Some(len) => 2 + usize::from(len & 0x7f),
            None => return false,
        };
        status == 200
            && body.first() == Some(&0x30)
            && body.get(header..header + 5) == Some(&[0x30, 0x03, 0x02, 0x01, 0x00][..])
    }
}

/// One row of the table.
#[derive(Debug)]
struct Row {
    key: &'static str,
    /// Plain cryptoki loop, one thread.
    plain_one: f64,
    /// Plain cryptoki loop, one thread per pool session.
    plain_all: f64,
    /// The TSU key through qtsp's session pool.
    pool: f64,
    /// `GET /health/live` on the same connections.
    floor: LoadReport,
    max: LoadReport,
    half: LoadReport,
    /// The recorder's group commits and the tokens' waits during the maximal and the half-rate
    /// phase.
    max_waits: PhaseWaits,
    half_waits: PhaseWaits,
    /// Paired rounds: the plain loop (one thread per session), then the tokens.
    rounds: Vec<super::PairedRound>,
}

/// `qtsp bench tsa`.
#[allow(clippy::print_stdout)]
pub async fn tsa(config: &Config, args: &TsaBenchArgs) -> Result<(), AppError> {
    let duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    let mut units = Vec::new();
    for name in &args.keys {
        units.push(unit_for(name).ok_or_else(|| {
            AppError::InvalidArgument(format!("unknown TSU key type `{name}`: use p256 or p384"))
        })?);
    }
    ensure_bench_entities(config, &bench_hierarchy(), "tsa").await?;
    let hsm_config = app::hsm_config(config)?;
    let factory = Arc::new(TsaRequests::new(4096)?);

    let mut rows = Vec::new();
    for (unit, spec) in units {
        let mut config = config.clone();
        config.tsa.unit = unit.to_owned();
        // A benchmark machine's clock is whatever it is; the check itself costs one syscall.
        config.tsa.require_clock_sync = false;
        config.server.public_listen = "127.0.0.1:0"
            .parse()
            .map_err(|_| AppError::InvalidArgument("cannot parse the loopback address".into()))?;
        config.server.api_listen = config.server.public_listen;
        config.log.filter = "warn".into();

        // Raw PKCS#11 loops (one thread, and one per pool session) before and after the server
        // runs; each baseline is the mean of its two measurements.
        let plain = |threads: usize| {
            plain_loop(
                &hsm_config.module,
                &hsm_config.token,
                &hsm_config.user_pin,
                spec,
                threads,
                duration,
            )
        };
        let plain_one_before = plain(1).await?;
        let plain_all_before = plain(hsm_config.sessions).await?;

        let app = App::build(config.clone()).await?;
        let journal = app::open_journal(&app.config, &app.hsm, &app.storage, &app.clock).await?;
        let key = unit_key(&app, unit).await?;
        let mechanism = match spec {
            KeySpec::EcP384 => SignMechanism::Ecdsa(DigestAlg::Sha384),
            other => default_mechanism(other),
        };
        // A short first run warms the pool's workers and handle caches.
        pool_loop(
            &app.hsm,
            &key,
            mechanism,
            16 * app.hsm.sessions(),
            duration / 4,
        )
        .await?;
        let raw_pool =
            pool_loop(&app.hsm, &key, mechanism, 16 * app.hsm.sessions(), duration).await?;
        let (der_path, _) =
            crate::ca::ceremony::certificate_paths(&config.data_dir.join("certs"), unit);
        let certificate =
            std::fs::read(&der_path).map_err(|_| AppError::NotInitialized { missing: der_path })?;
        let (tsa, tasks) = app.start_tsa_with(&journal, key, certificate).await?;
        let meters = PhaseMeters {
            commits: tsa.commit_latency().clone(),
            stages: tsa.token_stages().clone(),
        };
        let bound = app.bind().await?;
        let addr = bound.public_addr().ok_or_else(|| {
            AppError::InvalidArgument("the public listener has no address".into())
        })?;
        let shutdown = Shutdown::default();
        // As `qtsp serve` does: the journal is checkpointed while the tokens are journaled.
        let checkpointer = app::spawn_checkpointer(&journal, &shutdown)?;
        let server = {
            let (app, shutdown) = (app.clone(), shutdown.clone());
            tokio::spawn(async move {
                app.serve_on(bound, shutdown, Some(tsa), None, None, None)
                    .await
            })
        };

        let mut load_config = LoadConfig::new(addr, LoadMode::ClosedLoop);
        load_config.connections = args.connections.max(1);
        load_config.duration = duration;
        load_config.warmup = Duration::from_secs(1);
        let floor = http_floor(load_config.clone()).await?; // closed loop, keep-alive
        let (max, max_waits) = meters
            .during(run_load(load_config.clone(), factory.clone()))
            .await;
        let max = max?;
        load_config.mode = LoadMode::FixedRate {
            per_second: (max.rate_per_second / 2.0).max(1.0),
        };
        let (half, half_waits) = meters
            .during(run_load(load_config.clone(), factory.clone()))
            .await;
        let half = half?;

        // Paired rounds (see `paired_rounds`), while the server still runs.
        let rounds = paired_rounds(
            &hsm_config,
            spec,
            load_config,
            factory.clone(),
            args.rounds,
            Duration::from_secs_f64(args.round_seconds.clamp(0.2, 600.0)),
        )
        .await?;

        shutdown.trigger();
        match server.await {
            Ok(result) => result?,
            Err(_) => return Err(AppError::InvalidArgument("the server task died".into())),
        }
        // As `qtsp serve` does: the last records and clock statement land before the last checkpoint.
        app::finish_tsa(tasks).await;
        app::last_checkpoint(&journal, checkpointer).await;
        app.hsm.shutdown().await;
        app.storage.close().await;

        let plain_all_after = plain(hsm_config.sessions).await?;
        let plain_one_after = plain(1).await?;
        rows.push(Row {
            key: spec.name(),
            plain_one: (plain_one_before.per_sec + plain_one_after.per_sec) / 2.0,
            plain_all: (plain_all_before.per_sec + plain_all_after.per_sec) / 2.0,
            pool: raw_pool.per_sec,
            floor,
            max,
            half,
            max_waits,
            half_waits,
            rounds,
        });
    }

    println!(
        "# qtsp bench tsa: {} s per phase, {} keep-alive connections, {} HSM sessions, database {}",
        duration.as_secs_f64(),
        args.connections,
        hsm_config.sessions,
        config.database.redacted_url()
    );
    let sessions = hsm_config.sessions;
    println!(
        "| TSU key | plain 1 thread/s | plain {sessions} threads/s | pool/s | tokens/s | tokens/best raw | tokens/pool | p50 ms | p99 ms | at half rate/s | p50 ms | p99 ms | failed |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for row in &rows {
        tracing::debug!(key = row.key, max = ?row.max, half = ?row.half, "load reports");
        let best_raw = row.plain_one.max(row.plain_all).max(row.pool);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {} |",
            row.key,
            row.plain_one,
            row.plain_all,
            row.pool,
            row.max.rate_per_second,
            ratio(row.max.rate_per_second, best_raw),
            ratio(row.max.rate_per_second, row.pool),
            ms(row.max.p50),
            ms(row.max.p99),
            row.half.rate_per_second,
            ms(row.half.p50),
            ms(row.half.p99),
            row.max.failed
                + row.max.transport_errors
                + row.half.failed
                + row.half.transport_errors
                + row.half.unsent,
        );
    }
    // What the 2 vCPUs allow at best: client and server share them with the signatures, so a
    // token costs at least a signature plus the cheapest request the server answers.
    for row in &rows {
        let best_raw = row.plain_one.max(row.plain_all).max(row.pool);
        let most = ceiling(best_raw, row.floor.rate_per_second);
        println!(
            "# {}: HTTP floor (GET /health/live, same connections) {:.0}/s; ceiling \
             1/(1/best raw + 1/floor) = {most:.0}/s = {:.2} of best raw; tokens/ceiling {:.2}",
            row.key,
            row.floor.rate_per_second,
            ratio(most, best_raw),
            ratio(row.max.rate_per_second, most),
        );
    }
    // Every token waits for its group commit: a slow flush of the storage device shows here.
    for row in &rows {
        println!(
            "# {}: group commits at the maximal rate: {}; at half rate: {}",
            row.key, row.max_waits.commits, row.half_waits.commits
        );
    }
    for row in &rows {
        println!(
            "# {}: a token's waits at the maximal rate: {}; at half rate: {}",
            row.key,
            row.max_waits.stages(),
            row.half_waits.stages()
        );
    }
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    for row in rows.iter().filter(|r| !r.rounds.is_empty()) {
        let (listed, median) = describe_rounds(&row.rounds);
        println!(
            "# {}: paired rounds ({} s plain {sessions} threads, then {} s of tokens): {listed}; \
             median tokens/plain {median:.2}",
            row.key, args.round_seconds, args.round_seconds,
        );
        println!("# {}: {}", row.key, describe_cpu(&row.rounds, cpus));
    }
    Ok(())
}

/// The server's latency meters that a load phase is measured with.
struct PhaseMeters {
    commits: Arc<crate::tsa::CommitLatency>,
    stages: Arc<crate::tsa::TokenStages>,
}

impl PhaseMeters {
    /// Runs `phase` and counts the commits and the tokens' waits meanwhile (its warm-up
    /// included).
    async fn during<T>(&self, phase: impl std::future::Future<Output = T>) -> (T, PhaseWaits) {
        let records_before = self.commits.records();
        let commits = Counting::start(&self.commits.commits);
        let signature = Counting::start(&self.stages.signature);
        let record = Counting::start(&self.stages.record);
        let out = phase.await;
        let commits = PhaseCommits {
            commits: commits.end(),
            records: self.commits.records().saturating_sub(records_before),
        };
        let waits = PhaseWaits {
            commits,
            signature: signature.end(),
            record: record.end(),
        };
        (out, waits)
    }
}

/// A histogram counted over one phase.
struct Counting<'h> {
    histogram: &'h crate::tsa::LatencyHistogram,
    start: crate::tsa::LatencySnapshot,
}

impl<'h> Counting<'h> {
    /// Its counters now, and its longest duration starting over.
    fn start(histogram: &'h crate::tsa::LatencyHistogram) -> Self {
        let _ = histogram.take_max();
        Self {
            histogram,
            start: histogram.snapshot(),
        }
    }

    /// What it counted since [`Counting::start`].
    fn end(self) -> Counted {
        Counted {
            counted: self.histogram.snapshot().since(&self.start),
            longest: self.histogram.take_max(),
        }
    }
}

/// What one load phase counted.
#[derive(Debug, Clone, Copy)]
struct PhaseWaits {
    commits: PhaseCommits,
    /// Per token: the wait for its signature, and for its record.
    signature: Counted,
    record: Counted,
}

impl PhaseWaits {
    /// "signature p50 <= .., p99 <= .., longest ..; record ...".
    fn stages(&self) -> String {
        format!("signature {}; record {}", self.signature, self.record)
    }
}

/// One histogram's counts over a phase, and the longest duration it saw.
#[derive(Debug, Clone, Copy)]
struct Counted {
    counted: crate::tsa::LatencySnapshot,
    longest: Duration,
}

impl Counted {
    /// An upper bound of the quantile: its bucket's bound, or the longest when that is less
    /// (beyond the last bucket only the longest is known).
    fn quantile(&self, q: f64) -> Duration {
        self.counted
            .quantile_bound(q)
            .map_or(self.longest, |bound| bound.min(self.longest))
    }
}

impl std::fmt::Display for Counted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.counted.count == 0 {
            return write!(f, "none");
        }
        write!(
            f,
            "p50 <= {:.2} ms, p99 <= {:.1} ms, longest {:.2} ms",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.99)),
            ms(self.longest),
        )
    }
}

/// The recorder's commits during one load phase.
#[derive(Debug, Clone, Copy)]
struct PhaseCommits {
    commits: Counted,
    /// Token records in them.
    records: u64,
}

impl std::fmt::Display for PhaseCommits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.commits.counted;
        let Some(mean) = c.mean() else {
            return write!(f, "no commits");
        };
        write!(
            f,
            "{} commits of {:.1} tokens, mean {:.2} ms, p99 <= {:.1} ms, longest {:.2} ms",
            c.count,
            ratio(self.records as f64, c.count as f64),
            ms(mean),
            ms(self.commits.quantile(0.99)),
            ms(self.commits.longest),
        )
    }
}

/// A duration in milliseconds, for printing.
fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The private key of a TSU of the bench hierarchy.
async fn unit_key(app: &App, unit: &str) -> Result<qtsp_hsm::KeyRef, AppError> {
    let hierarchy = crate::ca::ceremony::Hierarchy::parse(&bench_hierarchy())?;
    let entity = hierarchy
        .entity(unit)
        .ok_or_else(|| AppError::InvalidArgument(format!("no entity `{unit}`")))?;
    Ok(app
        .hsm
        .find_key(&entity.key_id()?)
        .await?
        .ok_or_else(|| crate::tsa::TsaError::KeyMissing(entity.key_label()))?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::tsa::LatencyHistogram;

    #[test]
    fn a_phase_counts_its_own_waits_and_bounds_quantiles_by_the_longest() {
        let histogram = LatencyHistogram::default();
        histogram.observe(Duration::from_millis(40)); // before the phase: not counted
        let counting = Counting::start(&histogram);
        for _ in 0..99 {
            histogram.observe(Duration::from_micros(600));
        }
        histogram.observe(Duration::from_millis(12));
        let counted = counting.end();
        assert_eq!(counted.counted.count, 100);
        assert_eq!(counted.longest, Duration::from_millis(12));
        // The 1 ms bucket holds 99 of the 100.
        assert_eq!(counted.quantile(0.5), Duration::from_millis(1));
        assert_eq!(counted.quantile(0.99), Duration::from_millis(1));
        // The 15 ms bucket holds the last, but none was longer than 12 ms.
        assert_eq!(counted.quantile(1.0), Duration::from_millis(12));
        assert_eq!(
            counted.to_string(),
            "p50 <= 1.00 ms, p99 <= 1.0 ms, longest 12.00 ms"
        );

        // Past the last bucket only the longest is known.
        let counting = Counting::start(&histogram);
        histogram.observe(Duration::from_secs(3));
        assert_eq!(counting.end().quantile(0.99), Duration::from_secs(3));
        assert_eq!(Counting::start(&histogram).end().to_string(), "none");
    }
}
