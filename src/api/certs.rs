//! `GET /certs/{name}.crt`: the hierarchy's public certificates (DER, `application/pkix-cert`), the
//! caIssuers URLs that certificates name.

use super::ApiState;
use super::error::ApiError;
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

pub(super) async fn certificate(
    State(state): State<ApiState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let name = file.strip_suffix(".crt").ok_or(ApiError::NotFound)?;
    let der = state.certificates.get(name).ok_or(ApiError::NotFound)?;
    Ok((
        [
            (CONTENT_TYPE, "application/pkix-cert"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        der.clone(),
    )
        .into_response())
}
