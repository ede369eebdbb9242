//! HTTP only: routes, DTOs and the mapping of service errors to HTTP. Services know nothing of HTTP.

pub mod admin;
mod certs;
pub mod crl;
pub mod error;
mod health;
pub mod metrics;
pub mod ocsp;
pub mod tsa;

use axum::Router;
use axum::middleware;
use axum::routing::{get, post};
use metrics::{Listener, Metrics};
use qtsp_hsm::Hsm;
use std::sync::Arc;

use crate::storage::Storage;

/// What the handlers need, cheap to clone.
#[derive(Clone, Debug)]
pub struct ApiState {
    pub hsm: Hsm,
    pub storage: Storage,
    pub node_id: Arc<str>,
    pub metrics: Arc<Metrics>,
    /// Public certificates of the hierarchy by name (DER), served at `/certs/{name}.crt`.
    pub certificates: Arc<std::collections::BTreeMap<String, axum::body::Bytes>>,
    /// The time-stamping authority, when this node runs one.
    pub tsa: Option<crate::tsa::TimeStampAuthority>,
    /// The CRLs of the hierarchy's CAs, served at `/crl/{ca}.crl`, when this node publishes them.
    pub crl: Option<crate::crl::CrlService>,
    /// The OCSP responders (one per CA), served at `/ocsp`, when this node runs them.
    pub ocsp: Option<crate::ocsp::OcspService>,
    /// The admin endpoints, when an admin token digest is configured.
    pub admin: Option<Arc<admin::AdminState>>,
}

/// Routes of the public HTTP listener: TSA, OCSP, CRL, certificates (later issues), health, metrics.
pub fn public_router(state: ApiState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/metrics", get(metrics::render))
        .route("/certs/{file}", get(certs::certificate))
        .route("/crl/{file}", get(crl::crl))
        .route("/ocsp", post(ocsp::post))
        .route("/ocsp/{*request}", get(ocsp::get))
        .route(tsa::PATH, post(tsa::time_stamp))
        .fallback(error::not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            (metrics, Listener::Public),
            metrics::track,
        ))
}

/// Routes of the TLS API listener: CSC API, OAuth2, RA and admin (later issues), health.
pub fn api_router(state: ApiState) -> Router {
    let metrics = state.metrics.clone();
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/admin/revocations", post(admin::revoke))
        .fallback(error::not_found)
        .with_state(state)
        .layer(middleware::from_fn_with_state(
            (metrics, Listener::Api),
            metrics::track,
        ))
}
