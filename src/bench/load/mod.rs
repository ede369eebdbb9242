//! HTTP load generator for the service benchmarks (`qtsp bench tsa`, later `qtsp bench ocsp`).
//!
//! The client speaks HTTP/1.1 itself (the `wire` module): one task per connection, each request written
//! from one reused buffer, each response parsed in place, no pool, no redirects. A general-purpose
//! client spends enough CPU per request to become part of what we would then measure (client,
//! server and HSM share the benchmark machine's CPUs).
//!
//! What to send and what counts as a good answer comes from a [`RequestFactory`]; how to send it
//! (keep-alive closed loop, a new connection per request, or a fixed open-loop rate) from
//! [`LoadMode`]. Latency samples are kept per connection and merged at the end, so the hot path
//! shares nothing but one atomic counter.

mod wire;

use hyper::Method;
use hyper::body::Bytes;
use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep, sleep_until, timeout_at};
use wire::{Link, WireError};

/// Pause after a failed connect, so that a dead server yields a bounded count of transport errors
/// instead of a busy loop that would also starve the other connections of CPU.
const RECONNECT_BACKOFF: Duration = Duration::from_millis(10);

/// Latency samples preallocated per connection in the closed-loop modes (they grow if needed).
const CLOSED_LOOP_SAMPLES: usize = 4096;

/// Upper bound of the samples preallocated per connection from a fixed rate.
const MAX_PREALLOCATED_SAMPLES: usize = 1 << 22;

/// One request as the factory describes it; the generator adds `Host` (and `Connection: close`
/// when the mode asks for it). `Content-Length` follows from the body.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadRequest {
    pub method: Method,
    /// Origin-form target, starting with `/` (`/tsa`, `/ocsp/MEow...`).
    pub path_and_query: String,
    pub content_type: Option<&'static str>,
    pub body: Bytes,
}

impl LoadRequest {
    /// A GET without a body.
    #[must_use]
    pub fn get(path_and_query: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path_and_query: path_and_query.into(),
            content_type: None,
            body: Bytes::new(),
        }
    }

    /// A POST of `body` with the given media type.
    #[must_use]
    pub fn post(
        path_and_query: impl Into<String>,
        content_type: &'static str,
        body: impl Into<Bytes>,
    ) -> Self {
        Self {
            method: Method::POST,
            path_and_query: path_and_query.into(),
            content_type: Some(content_type),
            body: body.into(),
        }
    }
}

/// What a benchmark sends and how it judges the answers. Called from every connection at once,
/// hence `Send + Sync`; keep both methods cheap, their time is part of the client's cost.
pub trait RequestFactory: Send + Sync + 'static {
    /// The request numbered `seq`: 0, 1, 2, ... across all connections, warmup included, so a
    /// factory can vary nonces or serial numbers without a lock.
    fn request(&self, seq: u64) -> LoadRequest;

    /// Whether a 2xx reply is a success (for example, a time-stamp response that parses and
    /// grants). Replies with any other status are failures without asking.
    fn check(&self, status: u16, body: &[u8]) -> bool;
}

/// How requests are put on the wire.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LoadMode {
    /// Each connection sends its next request as soon as the previous reply has arrived, over
    /// one keep-alive connection: the server's throughput at `connections` requests in flight.
    ClosedLoop,
    /// Closed loop, but every request opens a new TCP connection and says `Connection: close`, as
    /// openssl's OCSP client and many relying parties do. Latency includes the TCP connect.
    NewConnectionPerRequest,
    /// Open loop: request `i` is due at `start + i / per_second` and goes out on whichever
    /// connection is free first. Latency is measured from the due time, not from the moment a
    /// connection got to it, so a stalled server shows in the percentiles instead of merely
    /// slowing the client down (no coordinated omission).
    FixedRate { per_second: f64 },
}

impl fmt::Display for LoadMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedLoop => f.write_str("closed loop, keep-alive"),
            Self::NewConnectionPerRequest => f.write_str("closed loop, new connection per request"),
            Self::FixedRate { per_second } => write!(f, "fixed rate {per_second}/s"),
        }
    }
}

/// Where and how hard to send. Start from [`LoadConfig::new`] and set the fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadConfig {
    pub addr: SocketAddr,
    /// Value of the `Host` header (the server may route on it).
    pub host: String,
    /// Concurrent connections (requests in flight at most).
    pub connections: usize,
    /// Measurement window, after the warmup.
    pub duration: Duration,
    /// Load before the window whose requests are not counted: lets connections, caches, HSM
    /// sessions and the CPU frequency settle.
    pub warmup: Duration,
    pub mode: LoadMode,
    /// A request without a complete reply after this long is a transport error and its
    /// connection is replaced. It also bounds how long [`run`] waits past the window.
    pub request_timeout: Duration,
}

impl LoadConfig {
    /// One connection, 1 s warmup, 5 s window, 10 s request timeout, `Host` from `addr`.
    #[must_use]
    pub fn new(addr: SocketAddr, mode: LoadMode) -> Self {
        Self {
            addr,
            host: addr.to_string(),
            connections: 1,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            mode,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Outcome of a [`run`]: counts of the requests started inside the measurement window.
#[derive(Clone)]
#[non_exhaustive]
pub struct LoadReport {
    /// 2xx replies that the factory's `check` accepted.
    pub requests_ok: u64,
    /// Replies that were not 2xx or that `check` rejected.
    pub failed: u64,
    /// Requests without a reply: connect refused, connection reset, timeout.
    pub transport_errors: u64,
    /// [`LoadMode::FixedRate`] only: requests due inside the window that no connection was free to
    /// send before it closed. Non-zero means the server (or the number of connections) could not
    /// keep up, and the latencies of the requests that were sent are already too optimistic.
    pub unsent: u64,
    /// The measurement window (warmup excluded).
    pub elapsed: Duration,
    /// `requests_ok` per second of `elapsed`.
    pub rate_per_second: f64,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// CPU time of the load client's thread over the whole run, warmup included, when the
    /// runner measured it (see `bench::run_load`).
    pub client_cpu: Option<Duration>,
    /// Latencies of the successful requests in microseconds, sorted. Failures are left out so that
    /// fast error replies cannot flatter the figures; they are counted apart.
    samples: Vec<u32>,
}

impl fmt::Debug for LoadReport {
    // Not derived: the samples can run into millions.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoadReport")
            .field("requests_ok", &self.requests_ok)
            .field("failed", &self.failed)
            .field("transport_errors", &self.transport_errors)
            .field("unsent", &self.unsent)
            .field("elapsed", &self.elapsed)
            .field("rate_per_second", &self.rate_per_second)
            .field("p50", &self.p50)
            .field("p90", &self.p90)
            .field("p99", &self.p99)
            .field("max", &self.max)
            .field("samples", &self.samples.len())
            .finish()
    }
}

impl LoadReport {
    fn new(stats: WorkerStats, elapsed: Duration) -> Self {
        let WorkerStats {
            ok,
            failed,
            transport_errors,
            unsent,
            mut samples,
        } = stats;
        samples.sort_unstable();
        let secs = elapsed.as_secs_f64();
        let mut report = Self {
            requests_ok: ok,
            failed,
            transport_errors,
            unsent,
            elapsed,
            rate_per_second: if secs > 0.0 { ok as f64 / secs } else { 0.0 },
            p50: Duration::ZERO,
            p90: Duration::ZERO,
            p99: Duration::ZERO,
            max: Duration::ZERO,
            client_cpu: None,
            samples,
        };
        report.p50 = report.latency_at(0.50);
        report.p90 = report.latency_at(0.90);
        report.p99 = report.latency_at(0.99);
        report.max = report.latency_at(1.0);
        report
    }

    /// Latency at quantile `q` (0.0..=1.0, clamped) of the successful requests, nearest rank;
    /// zero when none succeeded. Resolution is one microsecond.
    #[must_use]
    pub fn latency_at(&self, q: f64) -> Duration {
        let n = self.samples.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = (q * n as f64).ceil() as usize;
        let index = rank.saturating_sub(1).min(n - 1);
        self.samples
            .get(index)
            .map_or(Duration::ZERO, |&us| Duration::from_micros(u64::from(us)))
    }

    /// Number of latency samples (equals `requests_ok`).
    #[must_use]
    pub fn samples(&self) -> usize {
        self.samples.len()
    }
}

/// Why a load run could not take place. Messages start with a stable code (`BENCH0xx`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("BENCH001 invalid load configuration: {problem}")]
    InvalidConfig { problem: String },
    #[error(
        "BENCH002 cannot connect to {addr}: {source}; is the server running and listening there?"
    )]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("BENCH004 request {seq} from the benchmark cannot be sent: {problem}")]
    InvalidRequest { seq: u64, problem: String },
    #[error("BENCH005 a load connection task stopped unexpectedly: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// Sends load as `config` says and reports what came back from inside the measurement window.
///
/// All connections are opened first (for [`LoadMode::NewConnectionPerRequest`], one probe
/// connection), so an unreachable server is an error rather than a report full of transport
/// errors. After that, failures are counted and connections replaced; nothing aborts the run
/// except a request the factory built wrongly. Returns at most `request_timeout` after the window.
pub async fn run(
    config: &LoadConfig,
    factory: Arc<dyn RequestFactory>,
) -> Result<LoadReport, LoadError> {
    validate(config)?;
    if config.host.is_empty()
        || config
            .host
            .bytes()
            .any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(LoadError::InvalidConfig {
            problem: format!("`{}` is not a valid Host header value", config.host),
        });
    }
    let host = config.host.clone();

    let preopened = match config.mode {
        LoadMode::NewConnectionPerRequest => 1,
        _ => config.connections,
    };
    let mut opening = JoinSet::new();
    for _ in 0..preopened {
        let (addr, limit) = (config.addr, config.request_timeout);
        opening.spawn(async move {
            match tokio::time::timeout(limit, Link::open(addr)).await {
                Ok(result) => result,
                Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
            }
        });
    }
    let mut links = Vec::with_capacity(preopened);
    while let Some(joined) = opening.join_next().await {
        match joined? {
            Ok(link) => links.push(link),
            Err(source) => {
                return Err(LoadError::Connect {
                    addr: config.addr,
                    source,
                });
            }
        }
    }
    // The new-connection mode's probe is not closed unused: it carries the first worker's first
    // request. openssl's OCSP responder (3.0) serves one connection at a time and spins forever
    // on a connection closed before its request arrived, so an unused probe would stall it for
    // the whole run.

    let start = Instant::now();
    let too_long = || LoadError::InvalidConfig {
        problem: "warmup plus duration is too long".to_owned(),
    };
    let measure_from = start.checked_add(config.warmup).ok_or_else(too_long)?;
    let deadline = measure_from
        .checked_add(config.duration)
        .ok_or_else(too_long)?;
    let sample_capacity = match config.mode {
        LoadMode::FixedRate { per_second } => {
            let expected = per_second * config.duration.as_secs_f64() / config.connections as f64;
            ((expected * 1.25) as usize + 64).min(MAX_PREALLOCATED_SAMPLES)
        }
        _ => CLOSED_LOOP_SAMPLES,
    };
    let plan = Arc::new(Plan {
        addr: config.addr,
        host,
        mode: config.mode,
        start,
        measure_from,
        deadline,
        request_timeout: config.request_timeout,
        next_seq: AtomicU64::new(0),
        factory,
        sample_capacity,
    });

    let mut workers = JoinSet::new();
    let mut links = links.into_iter();
    for _ in 0..config.connections {
        let link = links.next();
        workers.spawn(worker(Arc::clone(&plan), link));
    }
    let mut total = WorkerStats::with_capacity(0);
    while let Some(joined) = workers.join_next().await {
        // An early return drops the JoinSet, which aborts the remaining workers.
        total.merge(joined??);
    }
    Ok(LoadReport::new(total, config.duration))
}

fn validate(config: &LoadConfig) -> Result<(), LoadError> {
    let invalid = |problem: &str| {
        Err(LoadError::InvalidConfig {
            problem: problem.to_owned(),
        })
    };
    if config.connections == 0 {
        return invalid("connections must be at least 1");
    }
    if config.duration.is_zero() {
        return invalid("duration must be longer than zero");
    }
    if config.request_timeout.is_zero() {
        return invalid("request_timeout must be longer than zero");
    }
    if let LoadMode::FixedRate { per_second } = config.mode
        && !(per_second.is_finite() && per_second > 0.0)
    {
        return invalid("FixedRate per_second must be a positive number");
    }
    Ok(())
}

/// What all connections of one run share.
struct Plan {
    addr: SocketAddr,
    host: String,
    mode: LoadMode,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
    request_timeout: Duration,
    /// Next request number; in [`LoadMode::FixedRate`] also the next slot of the schedule.
    next_seq: AtomicU64,
    factory: Arc<dyn RequestFactory>,
    sample_capacity: usize,
}

impl Plan {
    /// Due time of request `seq` at a fixed rate; `None` if beyond any representable time.
    fn due(&self, seq: u64, per_second: f64) -> Option<Instant> {
        let offset = Duration::try_from_secs_f64(seq as f64 / per_second).ok()?;
        self.start.checked_add(offset)
    }

    /// Writes request `seq`, head and body, into `out` (cleared first).
    fn write_request(&self, seq: u64, out: &mut Vec<u8>) -> Result<(), LoadError> {
        let spec = self.factory.request(seq);
        let target = &spec.path_and_query;
        if !target.starts_with('/') || target.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(LoadError::InvalidRequest {
                seq,
                problem: format!("the target `{target}` must start with `/` (origin form)"),
            });
        }
        if spec.method == Method::HEAD {
            // Its response announces a body that never comes: the reader would wait for it.
            return Err(LoadError::InvalidRequest {
                seq,
                problem: "HEAD is not supported by the load client".to_owned(),
            });
        }
        out.clear();
        // Writing into a Vec cannot fail.
        let _ = write!(
            out,
            "{} {target} HTTP/1.1\r\nHost: {}\r\n",
            spec.method, self.host
        );
        if let Some(content_type) = spec.content_type {
            let _ = write!(out, "Content-Type: {content_type}\r\n");
        }
        if !spec.body.is_empty() || spec.method == Method::POST || spec.method == Method::PUT {
            let _ = write!(out, "Content-Length: {}\r\n", spec.body.len());
        }
        if matches!(self.mode, LoadMode::NewConnectionPerRequest) {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&spec.body);
        Ok(())
    }
}

/// Counts and latency samples of one connection (or, merged, of the run).
struct WorkerStats {
    ok: u64,
    failed: u64,
    transport_errors: u64,
    unsent: u64,
    samples: Vec<u32>,
}

impl WorkerStats {
    fn with_capacity(samples: usize) -> Self {
        Self {
            ok: 0,
            failed: 0,
            transport_errors: 0,
            unsent: 0,
            samples: Vec::with_capacity(samples),
        }
    }

    fn merge(&mut self, other: Self) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.transport_errors += other.transport_errors;
        self.unsent += other.unsent;
        self.samples.extend_from_slice(&other.samples);
    }

    fn record(&mut self, outcome: Outcome, latency: Duration) {
        match outcome {
            Outcome::Ok => {
                self.ok += 1;
                self.samples
                    .push(u32::try_from(latency.as_micros()).unwrap_or(u32::MAX));
            }
            Outcome::Failed => self.failed += 1,
            Outcome::Transport | Outcome::ConnectFailed => self.transport_errors += 1,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Failed,
    Transport,
    ConnectFailed,
}

/// One request on `link`, opening a connection if there is none. A kept-alive connection that the
/// server closed while idle is replaced once without counting an error: that is ordinary
/// keep-alive behaviour, not a failed request.
async fn attempt(
    plan: &Plan,
    link: &mut Option<Link>,
    request: &[u8],
    close_after: bool,
) -> Outcome {
    let mut fresh = false;
    let reply = loop {
        if link.is_none() {
            match Link::open(plan.addr).await {
                Ok(opened) => *link = Some(opened),
                Err(_) => return Outcome::ConnectFailed,
            }
            fresh = true;
        }
        let Some(current) = link.as_mut() else {
            return Outcome::ConnectFailed;
        };
        match current.exchange(request).await {
            Ok(reply) => break reply,
            Err(WireError::ClosedBeforeResponse) if !fresh => *link = None,
            Err(error) => {
                tracing::debug!(%error, "benchmark request without a response");
                *link = None;
                return Outcome::Transport;
            }
        }
    };
    let Some(current) = link.as_mut() else {
        return Outcome::Transport;
    };
    let outcome = if (200..300).contains(&reply.status)
        && plan.factory.check(reply.status, current.body(&reply))
    {
        Outcome::Ok
    } else {
        Outcome::Failed
    };
    if reply.close || close_after {
        *link = None;
    }
    outcome
}

/// Waits until `when` while keeping an idle connection watched, so that a close by the server is
/// noticed and the connection replaced now rather than inside the next request's latency.
async fn idle_until(plan: &Plan, link: &mut Option<Link>, when: Instant) {
    if let Some(current) = link.as_mut() {
        if current.idle_until(when).await {
            return;
        }
        *link = timeout_at(when, Link::open(plan.addr))
            .await
            .ok()
            .and_then(Result::ok);
    }
    sleep_until(when).await;
}

/// One connection's loop: takes request numbers until the window closes, sends them and records
/// the outcomes of those that started inside the window.
async fn worker(plan: Arc<Plan>, mut link: Option<Link>) -> Result<WorkerStats, LoadError> {
    let mut stats = WorkerStats::with_capacity(plan.sample_capacity);
    let close_after = matches!(plan.mode, LoadMode::NewConnectionPerRequest);
    let mut request = Vec::with_capacity(1024);
    loop {
        let seq = plan.next_seq.fetch_add(1, Ordering::Relaxed);
        let due = match plan.mode {
            LoadMode::FixedRate { per_second } => {
                let Some(due) = plan.due(seq, per_second).filter(|due| *due < plan.deadline) else {
                    break;
                };
                if Instant::now() >= plan.deadline {
                    // Due inside the run but the window closed before a connection was free.
                    if due >= plan.measure_from {
                        stats.unsent += 1;
                    }
                    continue;
                }
                idle_until(&plan, &mut link, due).await;
                Some(due)
            }
            _ => {
                if Instant::now() >= plan.deadline {
                    break;
                }
                None
            }
        };
        // Built before the clock starts in the closed-loop modes: the factory's work is the
        // client's cost, not the server's.
        plan.write_request(seq, &mut request)?;
        let started = due.unwrap_or_else(Instant::now);
        let outcome = match timeout_at(
            Instant::now() + plan.request_timeout,
            attempt(&plan, &mut link, &request, close_after),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(_) => {
                // The connection may still carry the unanswered request: replace it.
                link = None;
                Outcome::Transport
            }
        };
        if started >= plan.measure_from && started < plan.deadline {
            stats.record(outcome, started.elapsed());
        }
        if outcome == Outcome::ConnectFailed {
            sleep(RECONNECT_BACKOFF).await;
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests;
