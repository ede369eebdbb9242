//! The one place where HTTP status codes are chosen for API errors. Bodies follow the Cloud Signature
//! Consortium error JSON: `{"error": code, "error_description": text}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answered to an HTTP client. Descriptions never carry secrets or internal details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("no such endpoint")]
    NotFound,
    /// Missing or wrong bearer token: 401 with `WWW-Authenticate: Bearer`.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// The thing the request names does not exist (e.g. an unknown certificate serial).
    #[error("{0}")]
    UnknownResource(String),
    /// The request conflicts with the current state (e.g. an already revoked certificate).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TemporarilyUnavailable(String),
    #[error("internal error")]
    ServerError,
}

/// The CSC error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub error: &'static str,
    pub error_description: String,
}

impl ApiError {
    /// The CSC error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_)
            | Self::NotFound
            | Self::UnknownResource(_)
            | Self::Conflict(_) => "invalid_request",
            Self::Unauthorized => "invalid_token",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
            Self::ServerError => "server_error",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound | Self::UnknownResource(_) => StatusCode::NOT_FOUND,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            error_description: self.to_string(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, Self::Unauthorized) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// Answers requests for paths no route knows.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

/// How an RFC 3161 reply goes out (RFC 3161 section 3.4): every answer, granted or refused,
/// is a `TimeStampResp` in an `application/timestamp-reply` body, so that clients read the
/// refusal in the protocol's own terms. The HTTP status only says whether the HTTP request was
/// understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampHttp {
    /// A protocol answer (granted or rejected): 200.
    Answer,
    /// The body was not labelled `application/timestamp-query`: 415.
    WrongContentType,
}

/// The HTTP response carrying a DER `TimeStampResp`.
pub fn timestamp_reply(der: Vec<u8>, kind: TimestampHttp) -> Response {
    let status = match kind {
        TimestampHttp::Answer => StatusCode::OK,
        TimestampHttp::WrongContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    // A static header value: a `&str` would be copied into a new buffer for every answer.
    (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(super::tsa::TIMESTAMP_REPLY),
        )],
        der,
    )
        .into_response()
}

/// How an OCSP answer goes out (RFC 6960 appendix A.1, RFC 9919 section 5): every answer,
/// successful or not, is an `OCSPResponse` in an `application/ocsp-response` body; the HTTP
/// status only says whether the HTTP request was understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OcspHttp {
    /// A protocol answer (`successful`, `malformedRequest`, `unauthorized`...): 200.
    Answer,
    /// The POST body was not labelled `application/ocsp-request`: 415, with a
    /// `malformedRequest` body.
    WrongContentType,
}

/// The HTTP response carrying a DER `OCSPResponse`, with the given caching headers.
pub fn ocsp_reply(
    der: Vec<u8>,
    kind: OcspHttp,
    headers: Vec<(axum::http::HeaderName, String)>,
) -> Response {
    let status = match kind {
        OcspHttp::Answer => StatusCode::OK,
        OcspHttp::WrongContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
    };
    let mut response = (
        status,
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(super::ocsp::OCSP_RESPONSE),
        )],
        der,
    )
        .into_response();
    for (name, value) in headers {
        if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
