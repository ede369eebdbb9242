//! `GET /crl/{ca}.crl`: the current CRL of a CA of the hierarchy (DER, `application/pkix-crl`),
//! the URL the certificates' cRLDistributionPoints name.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::ApiState;
use super::error::ApiError;
use crate::crl::CrlError;

/// Media type of a DER CRL (RFC 5280 section 4.2.1.13, RFC 2585).
pub const PKIX_CRL: &str = "application/pkix-crl";

/// Longest time an HTTP cache may keep a CRL: a revocation shows within this much (and the
/// service's own refresh) even through caches that honour max-age.
const MAX_AGE: Duration = Duration::from_secs(300);

pub(super) async fn crl(
    State(state): State<ApiState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let name = file.strip_suffix(".crl").ok_or(ApiError::NotFound)?;
    let service = state.crl.as_ref().ok_or_else(|| {
        ApiError::TemporarilyUnavailable("CRLs are not published by this node".into())
    })?;
    let crl = match service.current(name).await {
        Ok(Some(crl)) => crl,
        Ok(None) => return Err(ApiError::NotFound),
        Err(error) => {
            tracing::error!(%error, ca = name, "cannot publish a CRL");
            return Err(match error {
                CrlError::Hsm(_) => {
                    ApiError::TemporarilyUnavailable("the CRL cannot be signed now".into())
                }
                CrlError::Storage(e) if e.is_transient() => {
                    ApiError::TemporarilyUnavailable("the CRL cannot be built now".into())
                }
                _ => ApiError::ServerError,
            });
        }
    };
    let max_age = service
        .seconds_until_next_update(&crl)
        .min(MAX_AGE.as_secs());
    Ok((
        [
            (CONTENT_TYPE, PKIX_CRL.to_owned()),
            (CACHE_CONTROL, format!("public, max-age={max_age}")),
        ],
        crl.der.clone(),
    )
        .into_response())
}
