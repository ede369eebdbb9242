//! Configuration errors: each names the key (or variable) at fault and how to fix it.

use std::path::PathBuf;

/// Why the configuration could not be loaded. Messages start with a stable code (`CFG0xx`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("CFG001 cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("CFG002 config file {path} is not valid TOML for qtsp: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("CFG003 config file {path} has no `version`: add `version = {supported}` at the top")]
    MissingVersion { path: PathBuf, supported: u32 },
    #[error(
        "CFG004 config file {path} has version = {found}, this qtsp reads version {supported}: \
         update the file (see README.md, Configuration) or run a matching qtsp"
    )]
    UnsupportedVersion {
        path: PathBuf,
        found: i64,
        supported: u32,
    },
    #[error("CFG005 invalid value for `{key}`{origin}: {problem}; {fix}")]
    Invalid {
        /// The TOML key (`server.api_listen`) or environment variable (`QTSP_API_LISTEN`).
        key: String,
        /// " (from the environment)" or " (in `<file>`)", for the reader.
        origin: String,
        problem: String,
        fix: String,
    },
    #[error("CFG006 cannot read secret file {path} named by `{key}`: {source}")]
    SecretFile {
        key: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
