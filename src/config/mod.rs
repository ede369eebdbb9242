//! Typed configuration: a TOML file (version 1, unknown keys refused) overridden by `QTSP_*`
//! environment variables, validated once at start. Only this module reads configuration files, secret
//! files and the environment.

mod error;
mod raw;
mod revocation;

pub use error::ConfigError;

use raw::RawConfig;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// The configuration file format this build reads.
pub const CONFIG_VERSION: u32 = 1;
/// Used when `--config` is not given and this file exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "qtsp.toml";
/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "var";
/// Label of the embedded SoftHSM2 token created by `qtsp init`.
pub const EMBEDDED_TOKEN_LABEL: &str = "qtsp";

/// Environment variables read by [`load`]. Each overrides the file's value.
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
    /// Hex SHA-256 of the admin bearer token (instead of `admin.token_sha256_file`).
    pub const ADMIN_TOKEN_SHA256: &str = "QTSP_ADMIN_TOKEN_SHA256";
    /// Read, not set, by qtsp: where SoftHSM2 finds its configuration.
    pub const SOFTHSM2_CONF: &str = "SOFTHSM2_CONF";
    /// Set by qtsp on the process it re-executes with `SOFTHSM2_CONF`, so that it never loops.
    pub const REEXECUTED: &str = "QTSP_REEXECUTED";
}

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

/// Reads a secret from a file; the content is zeroized when dropped.
pub fn read_secret_file(key: &str, path: &Path) -> Result<Zeroizing<String>, ConfigError> {
    let secret_error = |source| ConfigError::SecretFile {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(secret_error)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        secret_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8",
        ))
    })?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
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

/// 64 hex digits (any case) as 32 bytes.
fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
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

/// Loads the configuration of this process: `--config PATH`, else `./qtsp.toml` when present, else the
/// defaults; then the `QTSP_*` environment variables.
pub fn load(config_path: Option<&Path>) -> Result<Config, ConfigError> {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, _)| k.starts_with("QTSP_") || k == env::SOFTHSM2_CONF)
        .collect();
    let default = Path::new(DEFAULT_CONFIG_FILE);
    let path = match config_path {
        Some(path) => Some(path),
        None if default.is_file() => Some(default),
        None => None,
    };
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            load_from(Some((path, &text)), &env)
        }
        None => load_from(None, &env),
    }
}

/// Builds the configuration from a file's text (if any) and an environment snapshot. Pure: for tests.
pub fn load_from(
    file: Option<(&Path, &str)>,
    env: &BTreeMap<String, String>,
) -> Result<Config, ConfigError> {
    let raw = match file {
        Some((path, text)) => parse_file(path, text)?,
        None => RawConfig::default(),
    };
    let origin = |key: &str| match file {
        Some((path, _)) => Source::File(key.to_owned(), path.to_owned()),
        None => Source::Default,
    };
    let pick = |env_var: &str, file_key: &str, value: Option<String>| -> Option<(String, Source)> {
        match env.get(env_var) {
            Some(v) => Some((v.clone(), Source::Env(env_var.to_owned()))),
            None => value.map(|v| (v, origin(file_key))),
        }
    };
    let pick_path = |env_var: &str, file_key: &str, value: Option<PathBuf>| {
        pick(
            env_var,
            file_key,
            value.map(|p| p.to_string_lossy().into_owned()),
        )
        .map(|(v, s)| (PathBuf::from(v), s))
    };

    let data_dir = match pick_path(env::DATA_DIR, "data_dir", raw.data_dir) {
        Some((dir, source)) => {
            if dir.as_os_str().is_empty() {
                return Err(source.invalid("is empty", "name a directory, e.g. ./var"));
            }
            dir
        }
        None => PathBuf::from(DEFAULT_DATA_DIR),
    };

    let database = DatabaseSettings {
        url: match pick(env::DATABASE_URL, "database_url", raw.database_url) {
            Some((url, source)) => {
                let scheme_ok = ["sqlite:", "postgres:", "postgresql:"]
                    .iter()
                    .any(|scheme| url.starts_with(scheme));
                if !scheme_ok {
                    return Err(source.invalid(
                        &format!("`{}` is not a database URL", redact_url_password(&url)),
                        "use sqlite://PATH or postgres://USER@HOST:PORT/DATABASE",
                    ));
                }
                url
            }
            None => format!("sqlite://{}", data_dir.join("qtsp.db").display()),
        },
        max_connections: positive(
            raw.database.max_connections,
            origin("database.max_connections"),
            10,
            1..=1000,
        )? as u32,
    };

    let node_id = match pick(env::NODE_ID, "node_id", raw.node_id) {
        Some((id, source)) => {
            let valid = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
            if !valid {
                return Err(source.invalid(
                    &format!("`{id}` is not a node identifier"),
                    "use 1 to 64 letters, digits, '-', '_' or '.'",
                ));
            }
            id
        }
        None => "node-1".to_owned(),
    };

    let hsm = hsm_settings(raw.hsm, &data_dir, env, &pick, &pick_path, &origin)?;
    let server = server_settings(raw.server, &data_dir, &pick, &pick_path, &origin)?;

    let base_url =
        |env_var: &str, key: &str, value: Option<String>, default: String, https: bool| {
            let Some((url, source)) = pick(env_var, key, value) else {
                return Ok(default);
            };
            let scheme_ok = url.starts_with("https://") || (!https && url.starts_with("http://"));
            if !scheme_ok || url.ends_with('/') || url.contains(char::is_whitespace) {
                return Err(source.invalid(
                    &format!("`{url}` is not a base URL"),
                    if https {
                        "use https://HOST[:PORT][/PATH] without a trailing '/'"
                    } else {
                        "use http(s)://HOST[:PORT][/PATH] without a trailing '/'"
                    },
                ));
            }
            Ok(url)
        };
    let host_of = |addr: SocketAddr| {
        if addr.ip().is_unspecified() {
            format!("localhost:{}", addr.port())
        } else {
            addr.to_string()
        }
    };
    let pki = PkiSettings {
        public_base_url: base_url(
            env::PUBLIC_BASE_URL,
            "pki.public_base_url",
            raw.pki.public_base_url,
            format!("http://{}", host_of(server.public_listen)),
            false,
        )?,
        pds_base_url: base_url(
            env::PDS_BASE_URL,
            "pki.pds_base_url",
            raw.pki.pds_base_url,
            format!("https://{}/pds", host_of(server.api_listen)),
            true,
        )?,
    };

    let tsa = tsa_settings(raw.tsa, &pick, &origin)?;
    let crl = revocation::crl_settings(raw.crl, &origin)?;
    let ocsp = revocation::ocsp_settings(raw.ocsp, &origin)?;
    let admin = admin_settings(raw.admin, &origin, env)?;

    let log = LogSettings {
        format: match pick(env::LOG_FORMAT, "log.format", raw.log.format) {
            None => LogFormat::Text,
            Some((format, source)) => match format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                other => {
                    return Err(source.invalid(
                        &format!("`{other}` is not a log format"),
                        "use \"text\" or \"json\"",
                    ));
                }
            },
        },
        filter: pick(env::LOG, "log.filter", raw.log.filter)
            .map(|(f, _)| f)
            .unwrap_or_else(|| "info".to_owned()),
    };

    Ok(Config {
        source: file.map(|(path, _)| path.to_owned()),
        data_dir,
        database,
        node_id,
        hsm,
        server,
        pki,
        tsa,
        crl,
        ocsp,
        admin,
        log,
        softhsm2_conf_env: env.get(env::SOFTHSM2_CONF).map(PathBuf::from),
        reexecuted: env.contains_key(env::REEXECUTED),
    })
}

fn tsa_settings(
    raw: raw::RawTsa,
    pick: &Pick<'_>,
    origin: &Origin<'_>,
) -> Result<TsaSettings, ConfigError> {
    let require_clock_sync = match pick(
        env::TSA_REQUIRE_CLOCK_SYNC,
        "tsa.require_clock_sync",
        raw.require_clock_sync.map(|b| b.to_string()),
    ) {
        None => true,
        Some((text, source)) => match text.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            other => {
                return Err(
                    source.invalid(&format!("`{other}` is not a boolean"), "use true or false")
                );
            }
        },
    };
    let policy_oid = match pick(env::TSA_POLICY_OID, "tsa.policy_oid", raw.policy_oid) {
        None => None,
        Some((text, source)) => Some(text.trim().parse::<const_oid::ObjectIdentifier>().map_err(
            |_| {
                source.invalid(
                    &format!("`{text}` is not an object identifier"),
                    "use dotted decimal, e.g. 0.4.0.2023.1.1",
                )
            },
        )?),
    };
    let accuracy = match pick(
        env::TSA_ACCURACY_MS,
        "tsa.accuracy_ms",
        raw.accuracy_ms.map(|v| v.to_string()),
    ) {
        None => None,
        Some((text, source)) => Some(Duration::from_millis(parse_in_range(
            &text,
            &source,
            1..=1000,
        )?)),
    };
    let unit = match raw.unit {
        None => "tsu".to_owned(),
        Some(unit) => {
            let valid = !unit.is_empty()
                && unit.len() <= 32
                && unit
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !valid {
                return Err(origin("tsa.unit").invalid(
                    &format!("`{unit}` is not an entity name"),
                    "use the name of a time-stamping unit of policies/hierarchy.toml, e.g. tsu",
                ));
            }
            unit
        }
    };
    Ok(TsaSettings {
        require_clock_sync,
        policy_oid,
        accuracy,
        unit,
    })
}

fn admin_settings(
    raw: raw::RawAdmin,
    origin: &Origin<'_>,
    env: &BTreeMap<String, String>,
) -> Result<AdminSettings, ConfigError> {
    let file = raw
        .token_sha256_file
        .map(|path| (path, origin("admin.token_sha256_file")));
    let token_sha256 = match (env.get(env::ADMIN_TOKEN_SHA256), file) {
        (Some(hex), _) => {
            let source = Source::Env(env::ADMIN_TOKEN_SHA256.to_owned());
            match parse_sha256_hex(hex.trim()) {
                Some(digest) => Some(AdminTokenDigest::Digest(digest)),
                None => {
                    return Err(source.invalid(
                        "is not a hex SHA-256 (64 hex digits)",
                        "set the digest of the token, not the token: `printf %s \"$TOKEN\" | sha256sum`",
                    ));
                }
            }
        }
        (None, Some((path, source))) => {
            if path.as_os_str().is_empty() {
                return Err(source.invalid(
                    "is empty",
                    "name the file holding the token's SHA-256, or remove the key",
                ));
            }
            Some(AdminTokenDigest::File(path))
        }
        (None, None) => None,
    };
    Ok(AdminSettings { token_sha256 })
}

type Pick<'a> = dyn Fn(&str, &str, Option<String>) -> Option<(String, Source)> + 'a;
type PickPath<'a> = dyn Fn(&str, &str, Option<PathBuf>) -> Option<(PathBuf, Source)> + 'a;
type Origin<'a> = dyn Fn(&str) -> Source + 'a;

fn hsm_settings(
    raw: raw::RawHsm,
    data_dir: &Path,
    env: &BTreeMap<String, String>,
    pick: &Pick<'_>,
    pick_path: &PickPath<'_>,
    origin: &Origin<'_>,
) -> Result<HsmSettings, ConfigError> {
    let hsm_dir = data_dir.join("hsm");
    let backend = match pick_path(env::HSM_MODULE, "hsm.module", raw.module) {
        Some((path, source)) => {
            if !path.is_absolute() {
                return Err(source.invalid(
                    &format!("`{}` is not an absolute path", path.display()),
                    "give the full path of the PKCS#11 module (.so)",
                ));
            }
            HsmBackend::Module { path }
        }
        None => HsmBackend::EmbeddedSoftHsm {
            conf_path: data_dir.join("softhsm2.conf"),
            tokens_dir: data_dir.join("tokens"),
            so_pin_file: hsm_dir.join("so.pin"),
        },
    };
    let label = pick(env::HSM_TOKEN_LABEL, "hsm.token_label", raw.token_label);
    let serial = pick(env::HSM_TOKEN_SERIAL, "hsm.token_serial", raw.token_serial);
    let token = match (label, serial) {
        (Some((_, source)), Some(_)) => {
            return Err(source.invalid(
                "both a token label and a token serial are set",
                "keep only one of hsm.token_label / hsm.token_serial",
            ));
        }
        (Some((label, source)), None) => {
            // PKCS#11 token labels are 32 bytes, blank padded.
            if label.is_empty() || label.len() > 32 {
                return Err(source.invalid(
                    "a token label has 1 to 32 bytes",
                    "shorten or set the label",
                ));
            }
            TokenSelector::Label(label)
        }
        (None, Some((serial, source))) => {
            if serial.is_empty() || serial.len() > 16 {
                return Err(source.invalid(
                    "a token serial number has 1 to 16 characters",
                    "copy it from `pkcs11-tool -L` or the HSM's console",
                ));
            }
            TokenSelector::Serial(serial)
        }
        (None, None) => match backend {
            HsmBackend::EmbeddedSoftHsm { .. } => {
                TokenSelector::Label(EMBEDDED_TOKEN_LABEL.to_owned())
            }
            HsmBackend::Module { .. } => {
                return Err(origin("hsm.token_label").invalid(
                    "a PKCS#11 module is configured but no token is named",
                    "set hsm.token_label or hsm.token_serial (never a slot number: slots move)",
                ));
            }
        },
    };
    let user_pin = match env.get(env::HSM_USER_PIN) {
        Some(pin) => PinSource::Environment(Zeroizing::new(pin.clone())),
        None => match pick_path(
            env::HSM_USER_PIN_FILE,
            "hsm.user_pin_file",
            raw.user_pin_file,
        ) {
            Some((path, _)) => PinSource::File(path),
            None => match backend {
                HsmBackend::EmbeddedSoftHsm { .. } => PinSource::File(hsm_dir.join("user.pin")),
                HsmBackend::Module { .. } => {
                    return Err(origin("hsm.user_pin_file").invalid(
                        "a PKCS#11 module is configured but no user PIN is given",
                        "set hsm.user_pin_file (a file readable only by qtsp) or QTSP_HSM_USER_PIN",
                    ));
                }
            },
        },
    };
    let sessions = match pick(env::HSM_SESSIONS, "hsm.sessions", None) {
        Some((text, source)) => parse_in_range(&text, &source, 1..=256)?,
        None => positive(raw.sessions, origin("hsm.sessions"), 2, 1..=256)?,
    };
    Ok(HsmSettings {
        backend,
        token,
        user_pin,
        sessions: sessions as usize,
        queue_depth: positive(
            raw.queue_depth,
            origin("hsm.queue_depth"),
            4096,
            1..=1_000_000,
        )? as usize,
    })
}

fn server_settings(
    raw: raw::RawServer,
    data_dir: &Path,
    pick: &Pick<'_>,
    pick_path: &PickPath<'_>,
    origin: &Origin<'_>,
) -> Result<ServerSettings, ConfigError> {
    let listen = |env_var: &str, key: &str, value: Option<String>, default: &str| match pick(
        env_var, key, value,
    ) {
        None => default.parse().map_err(|_| {
            origin(key).invalid("the built-in default does not parse", "report this bug")
        }),
        Some((text, source)) => text.parse::<SocketAddr>().map_err(|_| {
            source.invalid(
                &format!("`{text}` is not an address and port"),
                "use IP:PORT such as 127.0.0.1:8443 or [::1]:8443",
            )
        }),
    };
    let public_listen = listen(
        env::PUBLIC_LISTEN,
        "server.public_listen",
        raw.public_listen,
        "127.0.0.1:8080",
    )?;
    let api_listen = listen(
        env::API_LISTEN,
        "server.api_listen",
        raw.api_listen,
        "127.0.0.1:8443",
    )?;
    // Port 0 (any free port, as tests use) may appear on both.
    if public_listen == api_listen && api_listen.port() != 0 {
        return Err(origin("server.api_listen").invalid(
            &format!("the public and API listeners both use {api_listen}"),
            "give them different ports",
        ));
    }
    let cert = pick_path(
        env::TLS_CERT_FILE,
        "server.tls_cert_file",
        raw.tls_cert_file,
    );
    let key = pick_path(env::TLS_KEY_FILE, "server.tls_key_file", raw.tls_key_file);
    let tls = match (cert, key) {
        (Some((cert_file, _)), Some((key_file, _))) => TlsSettings {
            cert_file,
            key_file,
            generated: false,
        },
        (None, None) => TlsSettings {
            cert_file: data_dir.join("tls").join("api.crt"),
            key_file: data_dir.join("tls").join("api.key"),
            generated: true,
        },
        (Some((_, source)), None) | (None, Some((_, source))) => {
            return Err(source.invalid(
                "only one of the TLS certificate and key files is set",
                "set both server.tls_cert_file and server.tls_key_file, or neither \
                 (qtsp init then generates a local pair)",
            ));
        }
    };
    let millis = |value: Option<i64>, key: &str, default: u64, range| {
        positive(value, origin(key), default, range).map(Duration::from_millis)
    };
    Ok(ServerSettings {
        public_listen,
        api_listen,
        tls,
        max_request_body_bytes: positive(
            raw.max_request_body_bytes,
            origin("server.max_request_body_bytes"),
            1 << 20,
            1..=(64 << 20),
        )? as usize,
        request_timeout: millis(
            raw.request_timeout_ms,
            "server.request_timeout_ms",
            30_000,
            1..=600_000,
        )?,
        shutdown_grace: millis(
            raw.shutdown_grace_ms,
            "server.shutdown_grace_ms",
            30_000,
            0..=600_000,
        )?,
        tls_handshake_timeout: millis(
            raw.tls_handshake_timeout_ms,
            "server.tls_handshake_timeout_ms",
            10_000,
            1..=120_000,
        )?,
    })
}

fn parse_file(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    // Read the version first, so that a file for another version gets that message rather than a
    // confusing unknown-key error.
    let table: toml::Table = toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    match table.get("version") {
        None => {
            return Err(ConfigError::MissingVersion {
                path: path.to_owned(),
                supported: CONFIG_VERSION,
            });
        }
        Some(toml::Value::Integer(v)) if *v == i64::from(CONFIG_VERSION) => {}
        Some(toml::Value::Integer(v)) => {
            return Err(ConfigError::UnsupportedVersion {
                path: path.to_owned(),
                found: *v,
                supported: CONFIG_VERSION,
            });
        }
        Some(_) => {
            return Err(Source::File("version".to_owned(), path.to_owned()).invalid(
                "is not an integer",
                &format!("write `version = {CONFIG_VERSION}`"),
            ));
        }
    }
    toml::from_str(text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

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

/// For the embedded SoftHSM2: the absolute configuration path to export as `SOFTHSM2_CONF` when the
/// environment does not already name it (`None` when nothing needs doing).
pub fn softhsm_conf_to_export(config: &Config) -> Option<PathBuf> {
    let HsmBackend::EmbeddedSoftHsm { conf_path, .. } = &config.hsm.backend else {
        return None;
    };
    if config.reexecuted {
        return None;
    }
    let wanted = std::path::absolute(conf_path).ok()?;
    let current = config
        .softhsm2_conf_env
        .as_ref()
        .and_then(|p| std::path::absolute(p).ok());
    (current.as_ref() != Some(&wanted)).then_some(wanted)
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests;
