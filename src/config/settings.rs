//! The validated configuration: the typed settings of every section.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

use super::secret::{parse_sha256_hex, read_secret_file, redact_url_password};
use super::{ConfigError, Source};

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it came from, if any.
    pub source: Option<PathBuf>,
    pub data_dir: PathBuf,
    pub database: DatabaseSettings,
    pub node_id: String,
    pub hsm: HsmSettings,
    pub server: ServerSettings,
    pub pki: PkiSettings,
    pub tsa: TsaSettings,
    pub crl: CrlSettings,
    pub ocsp: OcspSettings,
    pub admin: AdminSettings,
    pub log: LogSettings,
    /// `SOFTHSM2_CONF` as found in the environment (the embedded token needs it to name ours).
    pub softhsm2_conf_env: Option<PathBuf>,
    /// This process is qtsp re-executed with `SOFTHSM2_CONF` set.
    pub reexecuted: bool,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `sqlite:` or `postgres:` URL. May hold a password: print [`DatabaseSettings::redacted_url`].
    pub url: String,
    pub max_connections: u32,
}

impl DatabaseSettings {
    /// The URL with any password replaced, for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_url_password(&self.url)
    }
}

#[derive(Debug, Clone)]
pub struct HsmSettings {
    pub backend: HsmBackend,
    pub token: TokenSelector,
    pub user_pin: PinSource,
    pub sessions: usize,
    pub queue_depth: usize,
}

/// Which PKCS#11 module holds the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HsmBackend {
    /// SoftHSM2 with its configuration and token under the data directory (created by `qtsp init`).
    EmbeddedSoftHsm {
        /// `<data_dir>/softhsm2.conf`.
        conf_path: PathBuf,
        tokens_dir: PathBuf,
        so_pin_file: PathBuf,
    },
    /// Any PKCS#11 module, set up by its operator.
    Module { path: PathBuf },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelector {
    Label(String),
    Serial(String),
}

/// Where the user PIN comes from. The PIN is read only when the HSM is opened.
#[derive(Clone)]
pub enum PinSource {
    File(PathBuf),
    Environment(Zeroizing<String>),
}

impl std::fmt::Debug for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(path) => f.debug_tuple("File").field(path).finish(),
            Self::Environment(_) => f.write_str("Environment(***)"),
        }
    }
}

impl PinSource {
    /// Reads the PIN (trailing newline removed). Errors never contain the PIN.
    pub fn read(&self) -> Result<Zeroizing<String>, ConfigError> {
        match self {
            Self::Environment(pin) => Ok(pin.clone()),
            Self::File(path) => read_secret_file("hsm.user_pin_file", path),
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub public_listen: SocketAddr,
    pub api_listen: SocketAddr,
    pub tls: TlsSettings,
    pub max_request_body_bytes: usize,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub tls_handshake_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// True when the pair is ours to generate at `qtsp init` (no files were configured).
    pub generated: bool,
}

/// URLs written into certificates; they must be where relying parties can reach this service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PkiSettings {
    pub public_base_url: String,
    pub pds_base_url: String,
}

/// Time-stamping authority settings; what they leave unset comes from policies/tsa.toml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsaSettings {
    /// Refuse to stamp (timeNotAvailable) while the clock is not synchronized within the
    /// declared accuracy. Only a development machine turns this off.
    pub require_clock_sync: bool,
    /// Overrides the policy file's TSA policy.
    pub policy_oid: Option<const_oid::ObjectIdentifier>,
    /// Overrides the policy file's accuracy.
    pub accuracy: Option<Duration>,
    /// The time-stamping unit's name in the hierarchy.
    pub unit: String,
    /// How often the clock's status is journaled (`clock_status`; default 1 h).
    pub clock_report: Duration,
}

/// CRL publication settings (`[crl]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrlSettings {
    /// nextUpdate - thisUpdate (default 24 h, at most 7 days).
    pub next_update: Duration,
    /// Publish a new CRL when the current one is this old, even without a new revocation
    /// (default 1 h; shorter than `next_update`, so that a served CRL is never past its
    /// nextUpdate).
    pub refresh: Duration,
    /// How often the node's CRL publisher reads each CA's revocation mark, to publish a CRL
    /// after a revocation made by another process or node (default 5 s). Revocations made
    /// through this process are published at once; requests never get a CRL that lacks a
    /// recorded revocation, whatever this is.
    pub revocation_poll: Duration,
}

/// OCSP responder settings (`[ocsp]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcspSettings {
    /// nextUpdate - thisUpdate of every response (default 1 h, at most 7 days).
    pub next_update: Duration,
    /// The pre-signed response cache of each CA's responder: its bound (default 10000
    /// responses per responder, 0 disables it) and how long a CA's revocation mark may be
    /// trusted (default 0: read before every cached answer, so a revocation by any node shows
    /// at once; with N ms, at most N ms late).
    pub cache: crate::ocsp::OcspCacheSettings,
}

/// Admin endpoints (`[admin]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdminSettings {
    /// Where the SHA-256 of the admin bearer token comes from; `None` disables the admin
    /// endpoints (they answer 404).
    pub token_sha256: Option<AdminTokenDigest>,
}

/// The SHA-256 of the admin bearer token, or the file that holds it (read when the server
/// starts, like the HSM PIN). The token itself is never configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminTokenDigest {
    /// From `QTSP_ADMIN_TOKEN_SHA256`, checked at load.
    Digest([u8; 32]),
    /// `admin.token_sha256_file`.
    File(PathBuf),
}

impl AdminTokenDigest {
    /// The digest, reading and checking the file when it comes from one.
    pub fn read(&self) -> Result<[u8; 32], ConfigError> {
        match self {
            Self::Digest(digest) => Ok(*digest),
            Self::File(path) => {
                let text = read_secret_file("admin.token_sha256_file", path)?;
                // `sha256sum` output: the digest, then the file name.
                let first = text.split_whitespace().next().unwrap_or_default();
                parse_sha256_hex(first).ok_or_else(|| {
                    Source::File("admin.token_sha256_file".to_owned(), path.clone()).invalid(
                        "the file does not start with a hex SHA-256 (64 hex digits)",
                        "write the digest of the token, e.g. `printf %s \"$TOKEN\" | sha256sum > FILE`",
                    )
                })
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive such as `info` or `qtsp=debug,info`.
    pub filter: String,
}
