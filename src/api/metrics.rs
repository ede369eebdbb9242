//! `GET /metrics` in the Prometheus text format: request counts and latency per listener and status
//! class. Counters are plain atomics: no lock on the request path.

use crate::tsa::latency::BUCKET_BOUNDS_MICROS;
use crate::tsa::{CommitLatencySnapshot, LatencySnapshot, TimeStampAuthority};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Which listener a request arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Public = 0,
    Api = 1,
}

impl Listener {
    fn name(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Api => "api",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: [AtomicU64; 5],
    micros: [AtomicU64; 5],
}

/// Process-wide request metrics, shared by both listeners.
#[derive(Debug, Default)]
pub struct Metrics {
    listeners: [Counters; 2],
    /// Time-stamp answers: [granted, rejected].
    timestamps: [AtomicU64; 2],
}

impl Metrics {
    /// Counts one time-stamp answer.
    pub fn record_timestamp(&self, granted: bool) {
        self.timestamps[usize::from(!granted)].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one answered request that started at `started`.
    pub fn record_request(&self, listener: Listener, status: u16, started: Instant) {
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.record(listener, status, micros);
    }

    fn record(&self, listener: Listener, status: u16, elapsed_micros: u64) {
        let class = usize::from((status / 100).clamp(1, 5) - 1);
        let counters = &self.listeners[listener as usize];
        counters.requests[class].fetch_add(1, Ordering::Relaxed);
        counters.micros[class].fetch_add(elapsed_micros, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(1024);
        let _ = writeln!(out, "# HELP qtsp_build_info Build of this qtsp process.");
        let _ = writeln!(out, "# TYPE qtsp_build_info gauge");
        let _ = writeln!(
            out,
            "qtsp_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        let _ = writeln!(
            out,
            "# HELP qtsp_http_requests_total HTTP requests answered."
        );
        let _ = writeln!(out, "# TYPE qtsp_http_requests_total counter");
        let _ = writeln!(
            out,
            "# HELP qtsp_http_request_seconds_total Time spent answering HTTP requests."
        );
        let _ = writeln!(out, "# TYPE qtsp_http_request_seconds_total counter");
        for listener in [Listener::Public, Listener::Api] {
            let counters = &self.listeners[listener as usize];
            for (i, class) in CLASSES.iter().enumerate() {
                let labels = format!("listener=\"{}\",status=\"{class}\"", listener.name());
                let requests = counters.requests[i].load(Ordering::Relaxed);
                let seconds = counters.micros[i].load(Ordering::Relaxed) as f64 / 1e6;
                let _ = writeln!(out, "qtsp_http_requests_total{{{labels}}} {requests}");
                let _ = writeln!(out, "qtsp_http_request_seconds_total{{{labels}}} {seconds}");
            }
        }
        let _ = writeln!(
            out,
            "# HELP qtsp_timestamps_total RFC 3161 answers, by outcome."
        );
        let _ = writeln!(out, "# TYPE qtsp_timestamps_total counter");
        for (i, outcome) in ["granted", "rejected"].iter().enumerate() {
            let n = self.timestamps[i].load(Ordering::Relaxed);
            let _ = writeln!(out, "qtsp_timestamps_total{{outcome=\"{outcome}\"}} {n}");
        }
        out
    }
}

/// Middleware that counts every answered request.
pub(super) async fn track(
    State((metrics, listener)): State<(Arc<Metrics>, Listener)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record_request(listener, response.status().as_u16(), started);
    response
}

pub(super) async fn render(State(state): State<super::ApiState>) -> impl IntoResponse {
    let mut out = state.metrics.render();
    if let Some(tsa) = &state.tsa {
        render_tsa(&mut out, tsa);
    }
    if let Some(ocsp) = &state.ocsp {
        render_ocsp(&mut out, ocsp);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
}

/// The TSA's latencies: its group commits (every token waits for its commit, so a slow
/// database shows here first) with the token records they made durable, and each granted token's
/// waits for its signature and for its record.
fn render_tsa(out: &mut String, tsa: &TimeStampAuthority) {
    render_tsa_commits(out, &tsa.commit_latency().snapshot());
    let stages = tsa.token_stages();
    render_histogram(
        out,
        "qtsp_tsa_signature_wait_seconds",
        "Time a granted time-stamp token waited for its signature (the signer's queue and the HSM).",
        &stages.signature.snapshot(),
    );
    render_histogram(
        out,
        "qtsp_tsa_record_wait_seconds",
        "Time a granted time-stamp token waited for its record to be committed.",
        &stages.record.snapshot(),
    );
}

fn render_tsa_commits(out: &mut String, commits: &CommitLatencySnapshot) {
    render_histogram(
        out,
        "qtsp_tsa_commit_seconds",
        "Time taken by the TSA's group commits of token records.",
        &commits.commits,
    );
    let name = "qtsp_tsa_committed_records_total";
    let _ = writeln!(
        out,
        "# HELP {name} Token records made durable by the TSA's group commits."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {}", commits.records);
}

/// One latency histogram, its buckets cumulative as Prometheus wants them.
fn render_histogram(out: &mut String, name: &str, help: &str, histogram: &LatencySnapshot) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0u64;
    for (count, bound) in histogram.buckets.iter().zip(BUCKET_BOUNDS_MICROS) {
        cumulative += count;
        let le = bound as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", histogram.count);
    let _ = writeln!(out, "{name}_sum {}", histogram.micros as f64 / 1e6);
    let _ = writeln!(out, "{name}_count {}", histogram.count);
}

/// The OCSP responders' counters, summed over the CAs: HSM signatures (of which the
/// refresher's), answers served without a signature, and the number of answers cached now.
fn render_ocsp(out: &mut String, ocsp: &crate::ocsp::OcspService) {
    for (name, kind, help, value) in [
        (
            "qtsp_ocsp_signatures_total",
            "counter",
            "OCSP responses signed in the HSM.",
            ocsp.signatures(),
        ),
        (
            "qtsp_ocsp_cache_hits_total",
            "counter",
            "OCSP answers served without a signature (pre-signed, or shared with a concurrent request).",
            ocsp.cache_hits(),
        ),
        (
            "qtsp_ocsp_refreshes_total",
            "counter",
            "Pre-signed OCSP responses signed again ahead of requests (also in signatures_total).",
            ocsp.refreshes(),
        ),
        (
            "qtsp_ocsp_cached_responses",
            "gauge",
            "OCSP responses held in the pre-signed response cache.",
            u64::try_from(ocsp.cached_answers()).unwrap_or(u64::MAX),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsa_commits_render_as_a_cumulative_histogram() {
        let latency = crate::tsa::CommitLatency::default();
        latency.observe(4, std::time::Duration::from_micros(400));
        latency.observe(6, std::time::Duration::from_micros(1_500));
        latency.observe(1, std::time::Duration::from_secs(5));
        let mut text = String::new();
        render_tsa_commits(&mut text, &latency.snapshot());
        for line in [
            "# TYPE qtsp_tsa_commit_seconds histogram",
            "qtsp_tsa_commit_seconds_bucket{le=\"0.00025\"} 0",
            "qtsp_tsa_commit_seconds_bucket{le=\"0.0005\"} 1",
            "qtsp_tsa_commit_seconds_bucket{le=\"0.001\"} 1",
            "qtsp_tsa_commit_seconds_bucket{le=\"0.0015\"} 2",
            "qtsp_tsa_commit_seconds_bucket{le=\"0.002\"} 2",
            "qtsp_tsa_commit_seconds_bucket{le=\"2\"} 2",
            "qtsp_tsa_commit_seconds_bucket{le=\"+Inf\"} 3",
            "qtsp_tsa_commit_seconds_sum 5.0019",
            "qtsp_tsa_commit_seconds_count 3",
            "qtsp_tsa_committed_records_total 11",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    #[test]
    fn counts_by_listener_and_class() {
        let metrics = Metrics::default();
        metrics.record(Listener::Public, 200, 1_500_000);
        metrics.record(Listener::Public, 204, 500_000);
        metrics.record(Listener::Api, 503, 10);
        let text = metrics.render();
        assert!(text.contains("qtsp_http_requests_total{listener=\"public\",status=\"2xx\"} 2"));
        assert!(
            text.contains("qtsp_http_request_seconds_total{listener=\"public\",status=\"2xx\"} 2")
        );
        assert!(text.contains("qtsp_http_requests_total{listener=\"api\",status=\"5xx\"} 1"));
        assert!(text.contains("qtsp_http_requests_total{listener=\"api\",status=\"2xx\"} 0"));
    }
}
