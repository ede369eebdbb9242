//! Liveness (the process answers) and readiness (a logged-in HSM session and the database
//! answer; the time-stamping authority's clock is synchronized and its certificate valid; every
//! OCSP responder certificate is valid). A certificate close to its end is reported as a
//! warning without making the node unready.

use super::ApiState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

/// How long a readiness probe waits for each dependency.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, Serialize)]
struct Liveness {
    status: &'static str,
    node: String,
}

pub(super) async fn live(State(state): State<ApiState>) -> Json<impl Serialize> {
    Json(Liveness {
        status: "live",
        node: state.node_id.to_string(),
    })
}

#[derive(Debug, Serialize)]
struct Readiness {
    status: &'static str,
    node: String,
    checks: Checks,
}

#[derive(Debug, Serialize)]
struct Checks {
    hsm: Check,
    database: Check,
    /// When this node runs the time-stamping authority.
    #[serde(skip_serializing_if = "Option::is_none")]
    tsa: Option<Check>,
    /// When this node runs the OCSP responders.
    #[serde(skip_serializing_if = "Option::is_none")]
    ocsp: Option<Check>,
}

impl Checks {
    fn all_ok(&self) -> bool {
        self.hsm.ok
            && self.database.ok
            && self.tsa.as_ref().is_none_or(|c| c.ok)
            && self.ocsp.as_ref().is_none_or(|c| c.ok)
    }
}

#[derive(Debug, Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Ready, but something needs the operator's attention soon.
    #[serde(skip_serializing_if = "Option::is_none")]
    warning: Option<String>,
}

impl Check {
    /// A service's own verdict: `Err(reason)`, or `Ok` with an optional warning.
    fn from_service(verdict: Result<Option<String>, String>) -> Self {
        match verdict {
            Ok(warning) => Self {
                ok: true,
                error: None,
                warning,
            },
            Err(error) => Self {
                ok: false,
                error: Some(error),
                warning: None,
            },
        }
    }

    fn from_result<E: std::fmt::Display>(
        result: Result<Result<(), E>, tokio::time::error::Elapsed>,
    ) -> Self {
        match result {
            Ok(Ok(())) => Self {
                ok: true,
                error: None,
                warning: None,
            },
            Ok(Err(error)) => Self {
                ok: false,
                error: Some(error.to_string()),
                warning: None,
            },
            Err(_) => Self {
                ok: false,
                error: Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
                warning: None,
            },
        }
    }
}

pub(super) async fn ready(State(state): State<ApiState>) -> Response {
    let hsm = tokio::time::timeout(PROBE_TIMEOUT, async { state.hsm.check().await.map(|_| ()) });
    let database = tokio::time::timeout(PROBE_TIMEOUT, state.storage.ping());
    let (hsm, database) = tokio::join!(hsm, database);
    let checks = Checks {
        hsm: Check::from_result(hsm),
        database: Check::from_result(database),
        tsa: state
            .tsa
            .as_ref()
            .map(|tsa| Check::from_service(tsa.readiness())),
        ocsp: state
            .ocsp
            .as_ref()
            .map(|ocsp| Check::from_service(ocsp.readiness())),
    };
    let all_ok = checks.all_ok();
    if !all_ok {
        tracing::warn!(?checks, "not ready");
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = Readiness {
        status: if all_ok { "ready" } else { "not_ready" },
        node: state.node_id.to_string(),
        checks,
    };
    (status, Json(body)).into_response()
}
