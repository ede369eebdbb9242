//! Loading: the file (version first) and the environment merged, each section validated.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::admin::admin_settings;
use super::hsm::hsm_settings;
use super::raw::RawConfig;
use super::revocation;
use super::server::server_settings;
use super::tsa::tsa_settings;
use super::{
    CONFIG_VERSION, Config, ConfigError, DEFAULT_CONFIG_FILE, DEFAULT_DATA_DIR, DatabaseSettings,
    LogFormat, LogSettings, PkiSettings, Source, env, positive, redact_url_password,
};

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
