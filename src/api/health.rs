//! Liveness (the process answers) and readiness (a logged-in HSM session and the database answer).

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
}

#[derive(Debug, Serialize)]
struct Check {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Check {
    fn from_result<E: std::fmt::Display>(
        result: Result<Result<(), E>, tokio::time::error::Elapsed>,
    ) -> Self {
        match result {
            Ok(Ok(())) => Self {
                ok: true,
                error: None,
            },
            Ok(Err(error)) => Self {
                ok: false,
                error: Some(error.to_string()),
            },
            Err(_) => Self {
                ok: false,
                error: Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
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
    };
    let all_ok = checks.hsm.ok && checks.database.ok;
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
