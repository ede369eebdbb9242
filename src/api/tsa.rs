//! `POST /tsa`: RFC 3161 over HTTP (section 3.4).

use std::net::SocketAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_TYPE;
use axum::response::Response;

use super::ApiState;
use super::error::{ApiError, TimestampHttp, timestamp_reply};
use crate::pki::tsp::PkiFailureInfo;
use crate::tsa::Outcome;

/// Media type of a request.
pub const TIMESTAMP_QUERY: &str = "application/timestamp-query";
/// Media type of a reply.
pub const TIMESTAMP_REPLY: &str = "application/timestamp-reply";

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
    if !is_timestamp_query(&headers) {
        let refusal = crate::tsa::Refusal::content_type();
        state.metrics.record_timestamp(false);
        return Ok(timestamp_reply(
            refusal.to_response_der().unwrap_or_default(),
            TimestampHttp::WrongContentType,
        ));
    }
    let requester = peer.map(|Extension(ConnectInfo(addr))| addr.ip().to_string());
    let reply = tsa.stamp(&body, requester).await;
    match &reply.outcome {
        Outcome::Granted { .. } => state.metrics.record_timestamp(true),
        Outcome::Rejected { code, fail_info } => {
            state.metrics.record_timestamp(false);
            if fail_info.contains(PkiFailureInfo::SYSTEM_FAILURE) {
                tracing::warn!(code, "time-stamp request failed inside the service");
            }
        }
    }
    Ok(timestamp_reply(reply.der, TimestampHttp::Answer))
}
