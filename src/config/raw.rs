//! The configuration file as written by the operator: every field optional, unknown keys refused.

use serde::Deserialize;
use std::path::PathBuf;

/// `qtsp.toml`, version 1.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    /// Checked before this struct is read (see `parse_file`); declared so that unknown keys stay refused.
    #[allow(dead_code)]
    pub version: Option<i64>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    /// An identifier of this node among several sharing one database (logs, records).
    pub node_id: Option<String>,
    #[serde(default)]
    pub hsm: RawHsm,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub log: RawLog,
    #[serde(default)]
    pub database: RawDatabase,
    #[serde(default)]
    pub pki: RawPki,
    #[serde(default)]
    pub tsa: RawTsa,
    #[serde(default)]
    pub crl: RawCrl,
    #[serde(default)]
    pub ocsp: RawOcsp,
    #[serde(default)]
    pub admin: RawAdmin,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOcsp {
    /// nextUpdate - thisUpdate of every OCSP response, in minutes (1..=10080); default 60.
    pub next_update_minutes: Option<i64>,
    /// The same in seconds (1..=604800), instead of next_update_minutes (short periods for
    /// tests and demonstrations).
    pub next_update_seconds: Option<i64>,
    /// Most pre-signed responses held in memory by each CA's responder (0..=1000000, 0 = no
    /// cache); default 10000.
    pub cache_max_entries: Option<i64>,
    /// How long, in milliseconds, a CA's revocation mark read from the database may be trusted
    /// before a cached response is served (0..=60000); default 0 = read before every one.
    pub revocation_check_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAdmin {
    /// File holding the lowercase or uppercase hex SHA-256 of the admin bearer token (e.g. the
    /// output of `sha256sum`); absent = admin endpoints disabled.
    pub token_sha256_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrl {
    /// nextUpdate - thisUpdate of every CRL, in hours (1..=168); default 24.
    pub next_update_hours: Option<i64>,
    /// A new CRL is published when the current one is this old, in minutes, even without a new
    /// revocation; default 60. Must be shorter than next_update_hours.
    pub refresh_minutes: Option<i64>,
    /// The same in seconds (1..=604800), instead of refresh_minutes.
    pub refresh_seconds: Option<i64>,
    /// How often, in milliseconds, the CRL publisher reads each CA's last revocation id to
    /// publish revocations made by other nodes (100..=600000); default 5000.
    pub revocation_poll_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTsa {
    /// Refuse to time-stamp while the kernel clock is not synchronized (default true).
    pub require_clock_sync: Option<bool>,
    /// TSA policy OID; absent = the one in policies/tsa.toml.
    pub policy_oid: Option<String>,
    /// Declared accuracy in milliseconds (1..=1000); absent = policies/tsa.toml.
    pub accuracy_ms: Option<i64>,
    /// Name of the time-stamping unit in the hierarchy (its key and certificate); default "tsu".
    pub unit: Option<String>,
    /// How often, in seconds, the clock's status is journaled (1..=86400); default 3600.
    pub clock_report_seconds: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPki {
    /// Where relying parties reach the public listener (CRLs, OCSP, CA certificates).
    pub public_base_url: Option<String>,
    /// Where the PKI disclosure statements are published (https).
    pub pds_base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHsm {
    /// Path of the PKCS#11 module; absent = the embedded SoftHSM2 token under the data dir.
    pub module: Option<PathBuf>,
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    pub user_pin_file: Option<PathBuf>,
    pub sessions: Option<i64>,
    pub queue_depth: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub public_listen: Option<String>,
    pub api_listen: Option<String>,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub max_request_body_bytes: Option<i64>,
    pub request_timeout_ms: Option<i64>,
    pub shutdown_grace_ms: Option<i64>,
    pub tls_handshake_timeout_ms: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub format: Option<String>,
    pub filter: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDatabase {
    pub max_connections: Option<i64>,
}
