//! `POST /tsa`: RFC 3161 over HTTP (section 3.4).

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;

use std::sync::Arc;
use std::time::Instant;

use super::ApiState;
use super::error::{ApiError, TimestampHttp, timestamp_reply};
use super::metrics::{Listener, Metrics};
use crate::pki::tsp::PkiFailureInfo;
use crate::tsa::{Outcome, TimeStampAuthority};

/// Where time-stamp requests are posted, on the public listener.
pub const PATH: &str = "/tsa";
/// Media type of a request.
pub const TIMESTAMP_QUERY: &str = "application/timestamp-query";
/// Media type of a reply.
pub const TIMESTAMP_REPLY: &str = "application/timestamp-reply";

/// Longest text of a client address (an IPv6 address with an embedded IPv4 one).
const REQUESTER_MAX: usize = 45;

/// Whether the request's Content-Type is `application/timestamp-query` (parameters ignored).
fn is_timestamp_query(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(TIMESTAMP_QUERY))
}

pub async fn time_stamp(
    State(state): State<ApiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let tsa = state.tsa.as_ref().ok_or_else(|| {
        ApiError::TemporarilyUnavailable("the time-stamping authority is not running".into())
    })?;
    let requester = peer.map(|Extension(ConnectInfo(addr))| addr);
    Ok(answer(tsa, &state.metrics, &headers, &body, requester).await)
}

/// POST /tsa for the public listener's direct route (`server::DirectRoute`, wired by the app):
/// the same answers as [`time_stamp`] without the router, counted in the request metrics as the
/// router's middleware counts the others.
#[derive(Clone, Debug)]
pub struct DirectTsa {
    tsa: TimeStampAuthority,
    metrics: Arc<Metrics>,
}

impl DirectTsa {
    /// The direct route's handler, when this node runs a TSA.
    pub fn new(state: &ApiState) -> Option<Self> {
        Some(Self {
            tsa: state.tsa.clone()?,
            metrics: state.metrics.clone(),
        })
    }

    pub async fn answer(&self, headers: &HeaderMap, body: &[u8], peer: SocketAddr) -> Response {
        let started = Instant::now();
        let response = answer(&self.tsa, &self.metrics, headers, body, Some(peer)).await;
        self.metrics
            .record_request(Listener::Public, response.status().as_u16(), started);
        response
    }
}

async fn answer(
    tsa: &TimeStampAuthority,
    metrics: &Metrics,
    headers: &HeaderMap,
    body: &[u8],
    requester: Option<SocketAddr>,
) -> Response {
    if !is_timestamp_query(headers) {
        let refusal = crate::tsa::Refusal::content_type();
        metrics.record_timestamp(false);
        return timestamp_reply(
            refusal.to_response_der().unwrap_or_default(),
            TimestampHttp::WrongContentType,
        );
    }
    // Written into room for the longest address at once, not grown digit by digit.
    let requester = requester.map(|addr| {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(REQUESTER_MAX);
        let _ = write!(text, "{}", addr.ip());
        text
    });
    let reply = tsa.stamp(body, requester).await;
    match &reply.outcome {
        Outcome::Granted { .. } => metrics.record_timestamp(true),
        Outcome::Rejected { code, fail_info } => {
            metrics.record_timestamp(false);
            if fail_info.contains(PkiFailureInfo::SYSTEM_FAILURE) {
                tracing::warn!(code, "time-stamp request failed inside the service");
            }
        }
    }
    timestamp_reply(reply.der, TimestampHttp::Answer)
}
