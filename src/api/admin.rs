//! Admin endpoints of the TLS API listener, authenticated with a bearer token whose SHA-256 is
//! configured (`[admin] token_sha256_file` or `QTSP_ADMIN_TOKEN_SHA256`). Without a configured
//! digest they do not exist (404). The token is never logged: only its digest is compared, in
//! constant time.
//!
//! `POST /admin/revocations` `{"serial": HEX, "reason": NAME, "invalidity_date": RFC3339?}` ->
//! 201 with the revocation.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ApiState;
use super::error::ApiError;
use crate::ca::{
    RevocationService, RevokeError, parse_invalidity_date, parse_reason, parse_serial,
};
use crate::storage::RevocationRecord;

/// The journal's actor for requests authenticated with the admin token.
pub const ADMIN_ACTOR: &str = "admin:api-token";

/// What the admin endpoints need: the token's digest and the services they drive.
#[derive(Clone)]
pub struct AdminState {
    token_sha256: [u8; 32],
    pub revocation: RevocationService,
}

impl std::fmt::Debug for AdminState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminState")
            .field("token_sha256", &"***")
            .finish_non_exhaustive()
    }
}

impl AdminState {
    pub fn new(token_sha256: [u8; 32], revocation: RevocationService) -> Self {
        Self {
            token_sha256,
            revocation,
        }
    }

    /// Whether `headers` carry `Authorization: Bearer <token>` with the configured digest.
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token)
        else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        constant_time_eq(&digest, &self.token_sha256)
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive, RFC 6750).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Compares two digests without a data-dependent early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The body of `POST /admin/revocations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationBody {
    serial: String,
    reason: String,
    #[serde(default)]
    invalidity_date: Option<String>,
}

/// The revocation as answered.
#[derive(Debug, Serialize)]
struct RevocationJson {
    id: u64,
    serial: String,
    issuer: String,
    reason: &'static str,
    revoked_at: String,
    invalidity_date: Option<String>,
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

impl From<RevocationRecord> for RevocationJson {
    fn from(r: RevocationRecord) -> Self {
        Self {
            id: r.id,
            serial: r.serial.to_hex(),
            issuer: r.issuer,
            reason: r.reason.as_str(),
            revoked_at: rfc3339(r.revoked_at),
            invalidity_date: r.invalidity_date.map(rfc3339),
        }
    }
}

/// `POST /admin/revocations`.
pub(super) async fn revoke(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let admin = state.admin.as_ref().ok_or(ApiError::NotFound)?;
    if !admin.authorized(&headers) {
        return Err(ApiError::Unauthorized);
    }
    let body: RevocationBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("invalid JSON body: {e}")))?;
    let parsed = (|| {
        let serial = parse_serial(&body.serial)?;
        let reason = parse_reason(&body.reason)?;
        let invalidity_date = body
            .invalidity_date
            .as_deref()
            .map(parse_invalidity_date)
            .transpose()?;
        Ok::<_, RevokeError>((serial, reason, invalidity_date))
    })();
    let (serial, reason, invalidity_date) = parsed.map_err(revoke_error)?;
    let record = admin
        .revocation
        .revoke(&serial, reason, invalidity_date, ADMIN_ACTOR)
        .await
        .map_err(revoke_error)?;
    Ok((StatusCode::CREATED, Json(RevocationJson::from(record))).into_response())
}

/// The API error of a refused or failed revocation.
fn revoke_error(error: RevokeError) -> ApiError {
    match error {
        RevokeError::UnknownReason { .. }
        | RevokeError::ReasonRefused { .. }
        | RevokeError::BadSerial { .. }
        | RevokeError::InvalidityDateInFuture { .. }
        | RevokeError::BadInvalidityDate { .. } => ApiError::InvalidRequest(error.to_string()),
        RevokeError::UnknownSerial { .. }
        | RevokeError::NotIssued { .. }
        | RevokeError::NotOurs { .. } => ApiError::UnknownResource(error.to_string()),
        RevokeError::AlreadyRevoked { .. } => ApiError::Conflict(error.to_string()),
        RevokeError::Storage(ref e) if e.is_transient() => {
            tracing::error!(%error, "cannot revoke");
            ApiError::TemporarilyUnavailable("the revocation cannot be recorded now".into())
        }
        _ => {
            tracing::error!(%error, "cannot revoke");
            ApiError::ServerError
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn bearer_tokens_are_read_from_the_header_value() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn digests_compare_whole() {
        let a = [7u8; 32];
        let mut b = a;
        assert!(constant_time_eq(&a, &b));
        b[31] ^= 1;
        assert!(!constant_time_eq(&a, &b));
    }
}
