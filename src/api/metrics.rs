//! `GET /metrics` in the Prometheus text format: request counts and latency per listener and status
//! class. Counters are plain atomics: no lock on the request path.

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
    if let Some(ocsp) = &state.ocsp {
        render_ocsp(&mut out, ocsp);
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        out,
    )
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
