//! `qtsp bench ocsp`: OCSP responses per second through the real server on loopback, for the three
//! kinds of traffic relying parties send — GET without a nonce on keep-alive connections (what CDNs
//! and browsers do), POST without a nonce on a new connection per request (openssl's client), and
//! POST with a fresh nonce (signed on demand) — beside the raw HSM sign rate of each responder key
//! (the ceremony's P-256 responder and a P-384 bench responder) measured in the same run.
//!
//! With `--openssl`, openssl's own responder (`openssl ocsp -index ... -port ...`, see
//! [`super::openssl_ocsp`]) answers the same kind of request (POST, a new connection per request,
//! same concurrency) in the same run, and `ab` cross-checks both servers. openssl's responder binds
//! every interface, so this mode runs only inside a network namespace that has only loopback:
//! `unshare -n sh -c 'ip link set lo up && qtsp bench ocsp --openssl'`.

mod report;
mod requests;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use der::Decode;
use x509_cert::Certificate;
use x509_cert::serial_number::SerialNumber;

use report::{Raw, print_report};
use requests::{GetFixed, PostFixed, PostNonce, cert_id, first_status, ocsp_request};

use super::load::{LoadConfig, LoadMode, LoadReport, RequestFactory};
use super::openssl_ocsp::OpensslResponder;
use super::{ab, ensure_bench_entities, http_floor, paired_rounds, run_load};
use crate::app::{self, App, AppError};
use crate::config::Config;
use crate::ocsp::{OcspResponder, OcspService};
use crate::server::Shutdown;
use qtsp_hsm::KeySpec;
use qtsp_hsm::bench::{BenchResult, plain_loop, pool_loop};

/// Media type of an OCSP request.
const OCSP_REQUEST: &str = "application/ocsp-request";

/// Arguments of `qtsp bench ocsp`.
#[derive(Debug, Clone, clap::Args)]
pub struct OcspBenchArgs {
    /// Seconds per measurement (raw HSM loops, each load phase, each `ab` run).
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Keep-alive connections (and concurrent clients in the new-connection mode, for `ab` too).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Responder key types: p256 (the ceremony's responder, `qualified-ca-ocsp`) and p384 (a bench
    /// responder created once by the same ceremony as `bench-ocsp-p384`). Nonce traffic runs
    /// against each; the pre-signed traffic against the first.
    #[arg(long, value_delimiter = ',', default_value = "p256,p384")]
    pub keys: Vec<String>,
    /// Traffic to send: get (keep-alive, pre-signed), post (new connection, pre-signed), nonce
    /// (keep-alive, signed on demand).
    #[arg(long, value_delimiter = ',', default_value = "get,post,nonce")]
    pub traffic: Vec<String>,
    /// Also measure openssl's responder (`openssl ocsp -index ... -port ...`) on POST with a new
    /// connection per request, and cross-check both servers with `ab`. Only inside a network
    /// namespace with loopback alone: `unshare -n sh -c 'ip link set lo up && qtsp bench ocsp
    /// --openssl'`.
    #[arg(long)]
    pub openssl: bool,
    /// Process counts of openssl's responder to measure (more than 1 uses its `-multi`).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub openssl_processes: Vec<usize>,
    /// Paired rounds after the nonce traffic: the plain loop (one thread per pool session), then
    /// the nonce load, back to back, this many times. 0 skips them.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
    /// Seconds of each half of a paired round.
    #[arg(long, default_value_t = 2.0)]
    pub round_seconds: f64,
}

/// The kinds of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    Get,
    Post,
    Nonce,
}

impl Traffic {
    fn parse(name: &str) -> Option<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "get" => Some(Self::Get),
            "post" => Some(Self::Post),
            "nonce" => Some(Self::Nonce),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Get => "GET, keep-alive, no nonce (pre-signed)",
            Self::Post => "POST, new connection, no nonce (pre-signed)",
            Self::Nonce => "POST, keep-alive, nonce (signed on demand)",
        }
    }
}

/// The ceremony's responder entity (P-256) and the bench's P-384 responder.
const RESPONDER_P256: &str = "qualified-ca-ocsp";
const BENCH_RESPONDER_P384: &str = "bench-ocsp-p384";

/// The hierarchy entity of the responder used for a key type.
fn responder_for(name: &str) -> Option<(&'static str, KeySpec)> {
    match name.trim().to_ascii_lowercase().as_str() {
        "p256" | "p-256" => Some((RESPONDER_P256, KeySpec::EcP256)),
        "p384" | "p-384" => Some((BENCH_RESPONDER_P384, KeySpec::EcP384)),
        _ => None,
    }
}

/// The ceremony's hierarchy plus a P-384 delegated OCSP responder of the qualified CA.
fn bench_hierarchy() -> String {
    format!(
        "{}\n[[issued]]\nname = \"{BENCH_RESPONDER_P384}\"\nissuer = \"qualified-ca\"\n\
         profile = \"ocsp-responder\"\nkey = \"ec-p384\"\nvalidity_days = 90\ncountry = \"FR\"\n\
         organization = \"qtsp Demo Trust Services\"\n\
         organization_identifier = \"NTRFR-000000000\"\n\
         common_name = \"qtsp Benchmark OCSP Responder P-384\"\n",
        crate::ca::ceremony::DEFAULT_HIERARCHY
    )
}

fn load_config(addr: SocketAddr, mode: LoadMode, args: &OcspBenchArgs) -> LoadConfig {
    let mut config = LoadConfig::new(addr, mode);
    config.connections = args.connections.max(1);
    config.duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    config.warmup = Duration::from_secs(1);
    config
}

/// Builds the delegated responder `entity` of the bench hierarchy: its HSM key, its certificate
/// from the data directory, answering for its issuer.
async fn bench_responder(app: &App, entity_name: &str) -> Result<OcspResponder, AppError> {
    let hierarchy = crate::ca::ceremony::Hierarchy::parse(&bench_hierarchy())?;
    let entity = hierarchy
        .entity(entity_name)
        .ok_or_else(|| AppError::InvalidArgument(format!("no entity `{entity_name}`")))?;
    let issuer = entity.issuer.as_deref().ok_or_else(|| {
        AppError::InvalidArgument(format!("OCSP responder `{entity_name}` has no issuer"))
    })?;
    let certs = app.config.data_dir.join("certs");
    let read = |name: &str| {
        let (path, _) = crate::ca::ceremony::certificate_paths(&certs, name);
        std::fs::read(&path).map_err(|_| AppError::NotInitialized { missing: path })
    };
    app.ocsp_responder_from(entity, &read(entity_name)?, issuer, &read(issuer)?)
        .await
}

/// The serial the bench asks about: a certificate of the qualified CA if one was issued
/// (`qtsp bench issue`), else one it never issued (answered "unknown", signed all the same).
async fn bench_serial(app: &App) -> Result<SerialNumber, AppError> {
    let issued = app
        .storage
        .certificates_by_issuer("qualified-ca", None, 1)
        .await?;
    match issued.first() {
        Some(record) => SerialNumber::new(record.serial.as_bytes()),
        None => SerialNumber::new(&[0x42, 0x17, 0x00, 0x01]),
    }
    .map_err(|e| AppError::InvalidArgument(format!("serial: {e}")))
}

/// Runs `ab` off the runtime (it blocks for the whole run).
async fn run_ab(
    addr: SocketAddr,
    body: Vec<u8>,
    args: &OcspBenchArgs,
) -> Result<ab::AbReport, AppError> {
    let (connections, duration) = (
        args.connections,
        Duration::from_secs_f64(args.seconds.clamp(1.0, 600.0)),
    );
    tokio::task::spawn_blocking(move || {
        ab::post(addr, "/ocsp", &body, OCSP_REQUEST, connections, duration)
    })
    .await
    .map_err(|e| AppError::InvalidArgument(format!("the ab task failed: {e}")))?
    .map_err(|e| AppError::InvalidArgument(e.to_string()))
}

/// What the runs against one responder key measured.
#[derive(Debug)]
struct ServerRun {
    pool: f64,
    /// `GET /health/live` on keep-alive connections, measured when nonce traffic runs.
    floor: Option<LoadReport>,
    /// `GET /health/live` with a new connection per request, measured when POST traffic runs.
    connection_floor: Option<LoadReport>,
    /// Paired rounds: the plain loop (one thread per session), then the nonce traffic.
    rounds: Vec<super::PairedRound>,
    lines: Vec<(Traffic, LoadReport)>,
    ab: Option<ab::AbReport>,
    status: &'static str,
}

/// Serves `entity`'s responder on loopback and sends each of `traffic` at it; with `ab`, also
/// cross-checks the POST traffic with `ab`.
async fn measure_qtsp(
    config: &Config,
    entity: &str,
    spec: KeySpec,
    traffic: &[Traffic],
    with_ab: bool,
    args: &OcspBenchArgs,
) -> Result<ServerRun, AppError> {
    let duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    let app = App::build(config.clone()).await?;
    let responder = bench_responder(&app, entity).await?;
    let ca_der = app
        .certificates
        .get("qualified-ca")
        .ok_or_else(|| AppError::InvalidArgument("no qualified-ca certificate".into()))?;
    let ca = Certificate::from_der(ca_der)
        .map_err(|e| AppError::InvalidArgument(format!("qualified-ca certificate: {e}")))?;
    let id = cert_id(&ca, &bench_serial(&app).await?)?;
    let fixed = ocsp_request(&id, None)
        .map_err(|e| AppError::InvalidArgument(format!("bench OCSP request: {e}")))?;
    let status = first_status(&responder.respond(&fixed).await.der);

    // The responder key through qtsp's session pool, after a short warm-up of the workers, and
    // again after the load (the mean is reported: the machine drifts).
    let hierarchy = crate::ca::ceremony::Hierarchy::parse(&bench_hierarchy())?;
    let key_id = hierarchy
        .entity(entity)
        .ok_or_else(|| AppError::InvalidArgument(format!("no entity `{entity}`")))?
        .key_id()?;
    let key = app
        .hsm
        .find_key(&key_id)
        .await?
        .ok_or_else(|| AppError::InvalidArgument(format!("no HSM key for `{entity}`")))?;
    let mechanism = crate::ca::sign_mechanism(match spec {
        KeySpec::EcP384 => crate::pki::SignatureAlgorithm::EcdsaWithSha384,
        _ => crate::pki::SignatureAlgorithm::EcdsaWithSha256,
    });
    let tasks = 16 * app.hsm.sessions();
    pool_loop(&app.hsm, &key, mechanism, tasks, duration / 4).await?;
    let pool_before = pool_loop(&app.hsm, &key, mechanism, tasks, duration).await?;

    let bound = app.bind().await?;
    let addr = bound
        .public_addr()
        .ok_or_else(|| AppError::InvalidArgument("the public listener has no address".into()))?;
    let shutdown = Shutdown::default();
    // As `qtsp serve` runs it: behind the routing service, with its refresher.
    let service = OcspService::new(vec![responder])?;
    let refresher = {
        let shutdown = shutdown.clone();
        service.spawn_refresher(async move { shutdown.wait().await })
    };
    let server = {
        let (app, shutdown) = (app.clone(), shutdown.clone());
        tokio::spawn(async move {
            app.serve_on(bound, shutdown, None, None, Some(service), None)
                .await
        })
    };
    let mut lines = Vec::new();
    let mut ab_report = None;
    let (mut floor, mut connection_floor) = (None, None);
    for &kind in traffic {
        // The HTTP floor of the nonce traffic (keep-alive) and of the POST traffic (a new
        // connection per request), once each, right before it.
        let floor_slot = match kind {
            Traffic::Nonce => Some((&mut floor, LoadMode::ClosedLoop)),
            Traffic::Post => Some((&mut connection_floor, LoadMode::NewConnectionPerRequest)),
            Traffic::Get => None,
        };
        if let Some((slot, mode)) = floor_slot
            && slot.is_none()
        {
            match http_floor(load_config(addr, mode, args)).await {
                Ok(report) => *slot = Some(report),
                Err(error) => {
                    shutdown.trigger();
                    let _ = server.await;
                    let _ = refresher.await;
                    return Err(error);
                }
            }
        }
        let (mode, factory): (LoadMode, Arc<dyn RequestFactory>) = match kind {
            Traffic::Get => (
                LoadMode::ClosedLoop,
                Arc::new(GetFixed(format!(
                    "/ocsp/{}",
                    base64::engine::general_purpose::STANDARD.encode(&fixed)
                ))),
            ),
            Traffic::Post => (
                LoadMode::NewConnectionPerRequest,
                Arc::new(PostFixed::new(fixed.clone())),
            ),
            Traffic::Nonce => (LoadMode::ClosedLoop, Arc::new(PostNonce(id.clone()))),
        };
        let measured = match run_load(load_config(addr, mode, args), factory).await {
            Ok(report) if kind == Traffic::Post && with_ab => {
                run_ab(addr, fixed.clone(), args).await.map(|ab| {
                    ab_report = Some(ab);
                    report
                })
            }
            other => other,
        };
        match measured {
            Ok(report) => lines.push((kind, report)),
            Err(error) => {
                // Stop the server before reporting, as on success.
                shutdown.trigger();
                let _ = server.await;
                let _ = refresher.await;
                return Err(error);
            }
        }
    }
    // Paired rounds of the nonce traffic (see `paired_rounds`), while the server still runs.
    let mut rounds = Vec::new();
    if traffic.contains(&Traffic::Nonce) {
        let measured = match app::hsm_config(config) {
            Ok(hsm_config) => {
                paired_rounds(
                    &hsm_config,
                    spec,
                    load_config(addr, LoadMode::ClosedLoop, args),
                    Arc::new(PostNonce(id.clone())),
                    args.rounds,
                    Duration::from_secs_f64(args.round_seconds.clamp(0.2, 600.0)),
                )
                .await
            }
            Err(error) => Err(error),
        };
        match measured {
            Ok(measured) => rounds = measured,
            Err(error) => {
                shutdown.trigger();
                let _ = server.await;
                let _ = refresher.await;
                return Err(error);
            }
        }
    }
    shutdown.trigger();
    match server.await {
        Ok(result) => result?,
        Err(_) => return Err(AppError::InvalidArgument("the server task died".into())),
    }
    let _ = refresher.await;
    let pool_after = pool_loop(&app.hsm, &key, mechanism, tasks, duration).await?;
    app.hsm.shutdown().await;
    app.storage.close().await;
    Ok(ServerRun {
        pool: (pool_before.per_sec + pool_after.per_sec) / 2.0,
        floor,
        connection_floor,
        rounds,
        lines,
        ab: ab_report,
        status,
    })
}

/// What openssl's responder with some process count measured.
#[derive(Debug)]
struct OpensslRun {
    processes: usize,
    command: String,
    load: LoadReport,
    ab: ab::AbReport,
    status: &'static str,
}

/// Starts openssl's responder for `serial` with `processes` processes and sends it POSTs on a
/// new connection per request, with our load client and then with `ab`.
async fn measure_openssl(
    serial: &SerialNumber,
    processes: usize,
    now: time::OffsetDateTime,
    args: &OcspBenchArgs,
) -> Result<OpensslRun, AppError> {
    let bench_error =
        |e: super::openssl_ocsp::OpensslBenchError| AppError::InvalidArgument(e.to_string());
    let serial_hex = hex::encode(serial.as_bytes());
    let responder =
        tokio::task::spawn_blocking(move || OpensslResponder::start(&serial_hex, processes, now))
            .await
            .map_err(|e| AppError::InvalidArgument(format!("the openssl task failed: {e}")))?
            .map_err(bench_error)?;
    let id = cert_id(responder.ca(), serial)?;
    let request = ocsp_request(&id, None)
        .map_err(|e| AppError::InvalidArgument(format!("bench OCSP request: {e}")))?;
    let addr = responder.addr();
    let factory = Arc::new(PostFixed::new(request.clone()));
    let load = run_load(
        load_config(addr, LoadMode::NewConnectionPerRequest, args),
        factory.clone(),
    )
    .await?;
    let ab = run_ab(addr, request, args).await?;
    let status = factory
        .status
        .get()
        .copied()
        .unwrap_or("no successful answer");
    let command = responder.command().to_owned();
    // Stopping waits for the processes: off the runtime.
    tokio::task::spawn_blocking(move || drop(responder))
        .await
        .map_err(|e| AppError::InvalidArgument(format!("the openssl task failed: {e}")))?;
    Ok(OpensslRun {
        processes,
        command,
        load,
        ab,
        status,
    })
}

/// `qtsp bench ocsp`.
#[allow(clippy::print_stdout)]
pub async fn ocsp(config: &Config, args: &OcspBenchArgs) -> Result<(), AppError> {
    let duration = Duration::from_secs_f64(args.seconds.clamp(0.2, 600.0));
    let mut responders = Vec::new();
    for name in &args.keys {
        responders.push(responder_for(name).ok_or_else(|| {
            AppError::InvalidArgument(format!(
                "unknown responder key type `{name}`: use p256 or p384"
            ))
        })?);
    }
    let mut traffic = Vec::new();
    for name in &args.traffic {
        traffic.push(Traffic::parse(name).ok_or_else(|| {
            AppError::InvalidArgument(format!("unknown traffic `{name}`: use get, post or nonce"))
        })?);
    }
    if args.openssl {
        // Refuse before spending minutes on the other measurements.
        super::openssl_ocsp::check_loopback_only()
            .map_err(|e| AppError::InvalidArgument(e.to_string()))?;
        ab::check_available().map_err(|e| AppError::InvalidArgument(e.to_string()))?;
    }
    let mut config = config.clone();
    config.server.public_listen = "127.0.0.1:0"
        .parse()
        .map_err(|_| AppError::InvalidArgument("cannot parse the loopback address".into()))?;
    config.server.api_listen = config.server.public_listen;
    config.log.filter = "warn".into();
    ensure_bench_entities(&config, &bench_hierarchy(), "ocsp").await?;
    let hsm_config = app::hsm_config(&config)?;
    let plain = |spec: KeySpec, threads: usize| {
        plain_loop(
            &hsm_config.module,
            &hsm_config.token,
            &hsm_config.user_pin,
            spec,
            threads,
            duration,
        )
    };

    // Plain cryptoki loops before and after the servers run; each baseline is the mean of the two.
    let mut before: Vec<(BenchResult, BenchResult)> = Vec::new();
    for &(_, spec) in &responders {
        before.push((
            plain(spec, 1).await?,
            plain(spec, hsm_config.sessions).await?,
        ));
    }

    let mut runs = Vec::new();
    for (index, &(entity, spec)) in responders.iter().enumerate() {
        // The pre-signed traffic against the first responder only: its cost does not depend
        // on the key.
        let kinds: Vec<Traffic> = traffic
            .iter()
            .copied()
            .filter(|&t| index == 0 || t == Traffic::Nonce)
            .collect();
        let with_ab = args.openssl && kinds.contains(&Traffic::Post);
        runs.push(measure_qtsp(&config, entity, spec, &kinds, with_ab, args).await?);
    }

    let mut openssl_runs = Vec::new();
    if args.openssl {
        let app = App::build(config.clone()).await?;
        let serial = bench_serial(&app).await?;
        let now = app.clock.now();
        app.hsm.shutdown().await;
        app.storage.close().await;
        for &processes in &args.openssl_processes {
            openssl_runs.push(measure_openssl(&serial, processes.max(1), now, args).await?);
        }
    }

    let mut raws = Vec::new();
    for (index, &(_, spec)) in responders.iter().enumerate().rev() {
        let all = plain(spec, hsm_config.sessions).await?;
        let one = plain(spec, 1).await?;
        let (one_before, all_before) = before.get(index).copied().unwrap_or((one, all));
        raws.push(Raw {
            plain_one: (one.per_sec + one_before.per_sec) / 2.0,
            plain_all: (all.per_sec + all_before.per_sec) / 2.0,
            pool: runs.get(index).map_or(0.0, |r| r.pool),
        });
    }
    raws.reverse();

    print_report(
        &config,
        args,
        hsm_config.sessions,
        &responders,
        &raws,
        &runs,
        &openssl_runs,
    );
    Ok(())
}
