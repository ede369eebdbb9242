//! OCSP over HTTP (RFC 6960 appendix A.1, RFC 9919 section 5): `POST /ocsp` with an
//! `application/ocsp-request` body, and `GET /ocsp/{base64 of the DER request}`. Every answer is
//! an `application/ocsp-response`.
//!
//! GET answers without a nonce may be cached (RFC 9919 section 6, RFC 5019 section 6): they carry
//! `Cache-Control: max-age` up to the response's nextUpdate, `Last-Modified` (thisUpdate) and
//! `Expires` (nextUpdate). Answers with a nonce, error answers and POST answers say `no-cache`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, EXPIRES, HeaderName, LAST_MODIFIED};
use axum::response::Response;
use base64::Engine as _;
use time::OffsetDateTime;

use super::ApiState;
use super::error::{OcspHttp, ocsp_reply};
use crate::ocsp::{OcspAnswer, OcspRefusal};
use crate::pki::ocsp::{OcspResponse, OcspResponseStatus};

/// Media type of a request.
pub const OCSP_REQUEST: &str = "application/ocsp-request";
/// Media type of a response.
pub const OCSP_RESPONSE: &str = "application/ocsp-response";

/// Whether the request's Content-Type is `application/ocsp-request` (parameters ignored).
fn is_ocsp_request(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OCSP_REQUEST))
}

/// The `tryLater` answer of a node that runs no responder.
fn not_running() -> Response {
    use der::Encode as _;
    ocsp_reply(
        OcspResponse::error(OcspResponseStatus::TryLater)
            .to_der()
            .unwrap_or_default(),
        OcspHttp::Answer,
        no_cache(),
    )
}

fn no_cache() -> Vec<(HeaderName, String)> {
    vec![(CACHE_CONTROL, "no-cache".to_owned())]
}

/// An HTTP-date (RFC 9110 section 5.6.7), `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(t: OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC).format(&format).ok()
}

fn refused(refusal: &OcspRefusal, kind: OcspHttp) -> Response {
    ocsp_reply(
        refusal.to_response_der().unwrap_or_default(),
        kind,
        no_cache(),
    )
}

pub(super) async fn post(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(ocsp) = state.ocsp.as_ref() else {
        return not_running();
    };
    if !is_ocsp_request(&headers) {
        return refused(&OcspRefusal::ContentType, OcspHttp::WrongContentType);
    }
    let answer = ocsp.respond(&body).await;
    log(&answer);
    ocsp_reply(answer.der, OcspHttp::Answer, no_cache())
}

pub(super) async fn get(State(state): State<ApiState>, Path(encoded): Path<String>) -> Response {
    let Some(ocsp) = state.ocsp.as_ref() else {
        return not_running();
    };
    // The path segment is already percent-decoded; standard base64, padding optional.
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let Ok(request) = engine.decode(encoded.trim_start_matches('/')) else {
        return refused(
            &OcspRefusal::Malformed(der::Error::from(der::ErrorKind::Failed)),
            OcspHttp::Answer,
        );
    };
    let answer = ocsp.respond(&request).await;
    log(&answer);
    let headers = match answer.validity {
        Some((this_update, next_update)) if !answer.nonce => {
            let max_age = (next_update - ocsp.now()).whole_seconds().max(0);
            let mut headers = vec![(
                CACHE_CONTROL,
                format!("public, max-age={max_age}, no-transform, must-revalidate"),
            )];
            if let (Some(last), Some(expires)) = (http_date(this_update), http_date(next_update)) {
                headers.push((LAST_MODIFIED, last));
                headers.push((EXPIRES, expires));
            }
            headers
        }
        _ => no_cache(),
    };
    ocsp_reply(answer.der, OcspHttp::Answer, headers)
}

fn log(answer: &OcspAnswer) {
    if let Some(code) = answer.error_code {
        tracing::debug!(
            status = answer.status.name(),
            code,
            "OCSP request not answered"
        );
    }
}
