//! Typed configuration: a TOML file (version 1, unknown keys refused) overridden by `QTSP_*`
//! environment variables, validated once at start. Only this module reads configuration files, secret
//! files and the environment.
//!
//! The file as written (`raw`) becomes the typed [`Config`] (`settings`) in `load`, one section at
//! a time (`hsm`, `server`, `tsa`, `revocation`, `admin`); `secret` reads secret files. The
//! helpers every section shares (where a value came from, numbers in range) are here.

mod admin;
mod error;
mod hsm;
mod load;
mod raw;
mod revocation;
mod secret;
mod server;
mod settings;
mod tsa;

pub use error::ConfigError;
pub use hsm::softhsm_conf_to_export;
pub use load::{load, load_from};
pub use secret::{read_secret_file, redact_url_password};
pub use settings::{
    AdminSettings, AdminTokenDigest, Config, CrlSettings, DatabaseSettings, HsmBackend,
    HsmSettings, LogFormat, LogSettings, OcspSettings, PinSource, PkiSettings, ServerSettings,
    TlsSettings, TokenSelector, TsaSettings,
};

use std::path::PathBuf;

/// The configuration file format this build reads.
pub const CONFIG_VERSION: u32 = 1;
/// Used when `--config` is not given and this file exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "qtsp.toml";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "var";
/// Label of the embedded SoftHSM2 token created by `qtsp init`.
pub const EMBEDDED_TOKEN_LABEL: &str = "qtsp";

/// Environment variables read by [`load()`]. Each overrides the file's value.
pub mod env {
    pub const DATA_DIR: &str = "QTSP_DATA_DIR";
    pub const DATABASE_URL: &str = "QTSP_DATABASE_URL";
    pub const NODE_ID: &str = "QTSP_NODE_ID";
    pub const PUBLIC_LISTEN: &str = "QTSP_PUBLIC_LISTEN";
    pub const API_LISTEN: &str = "QTSP_API_LISTEN";
    pub const TLS_CERT_FILE: &str = "QTSP_TLS_CERT_FILE";
    pub const TLS_KEY_FILE: &str = "QTSP_TLS_KEY_FILE";
    pub const PUBLIC_BASE_URL: &str = "QTSP_PUBLIC_BASE_URL";
    pub const PDS_BASE_URL: &str = "QTSP_PDS_BASE_URL";
    pub const HSM_MODULE: &str = "QTSP_HSM_MODULE";
    pub const HSM_TOKEN_LABEL: &str = "QTSP_HSM_TOKEN_LABEL";
    pub const HSM_TOKEN_SERIAL: &str = "QTSP_HSM_TOKEN_SERIAL";
    pub const HSM_USER_PIN_FILE: &str = "QTSP_HSM_USER_PIN_FILE";
    /// The PIN itself; prefer the file. Never logged.
    pub const HSM_USER_PIN: &str = "QTSP_HSM_USER_PIN";
    pub const HSM_SESSIONS: &str = "QTSP_HSM_SESSIONS";
    pub const LOG_FORMAT: &str = "QTSP_LOG_FORMAT";
    pub const LOG: &str = "QTSP_LOG";
    /// `false` lets the TSA stamp on a machine whose clock is not synchronized (development).
    pub const TSA_REQUIRE_CLOCK_SYNC: &str = "QTSP_TSA_REQUIRE_CLOCK_SYNC";
    pub const TSA_POLICY_OID: &str = "QTSP_TSA_POLICY_OID";
    pub const TSA_ACCURACY_MS: &str = "QTSP_TSA_ACCURACY_MS";
    pub const TSA_CLOCK_REPORT_SECONDS: &str = "QTSP_TSA_CLOCK_REPORT_SECONDS";
    /// Hex SHA-256 of the admin bearer token (instead of `admin.token_sha256_file`).
    pub const ADMIN_TOKEN_SHA256: &str = "QTSP_ADMIN_TOKEN_SHA256";
    /// Read, not set, by qtsp: where SoftHSM2 finds its configuration.
    pub const SOFTHSM2_CONF: &str = "SOFTHSM2_CONF";
    /// Set by qtsp on the process it re-executes with `SOFTHSM2_CONF`, so that it never loops.
    pub const REEXECUTED: &str = "QTSP_REEXECUTED";
}

type Pick<'a> = dyn Fn(&str, &str, Option<String>) -> Option<(String, Source)> + 'a;
type PickPath<'a> = dyn Fn(&str, &str, Option<PathBuf>) -> Option<(PathBuf, Source)> + 'a;
type Origin<'a> = dyn Fn(&str) -> Source + 'a;

/// Where a value came from, to name it in an error.
#[derive(Debug, Clone)]
enum Source {
    Default,
    File(String, PathBuf),
    Env(String),
}

impl Source {
    fn invalid(&self, problem: &str, fix: &str) -> ConfigError {
        let (key, origin) = match self {
            Source::Default => ("(default)".to_owned(), String::new()),
            Source::File(key, path) => (key.clone(), format!(" (in {})", path.display())),
            Source::Env(var) => (var.clone(), " (from the environment)".to_owned()),
        };
        ConfigError::Invalid {
            key,
            origin,
            problem: problem.to_owned(),
            fix: fix.to_owned(),
        }
    }
}

fn positive(
    value: Option<i64>,
    source: Source,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match u64::try_from(v) {
            Ok(v) if range.contains(&v) => Ok(v),
            _ => Err(source.invalid(
                &format!("{v} is out of range"),
                &format!(
                    "use a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        },
    }
}

fn parse_in_range(
    text: &str,
    source: &Source,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, ConfigError> {
    match text.trim().parse::<i64>() {
        Ok(v) => positive(Some(v), source.clone(), 0, range),
        Err(_) => Err(source.invalid(
            &format!("`{text}` is not a number"),
            &format!(
                "use a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
